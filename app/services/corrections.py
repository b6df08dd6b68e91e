"""Curator corrections as training data."""

from __future__ import annotations

from sqlalchemy import select

from app.extensions import db
from app.models.comment import Comment


def corrected_rows() -> list[tuple[str, str]]:
    """(text, category) of every comment whose current label came from a curator (for retraining)."""
    stmt = select(Comment.text, Comment.category).where(Comment.model_version.like("curador:%"))
    return [(t, c) for t, c in db.session.execute(stmt)]
