"""The curator panel's use cases: keyset pages of comments, the review queue, bulk corrections, retraining.

Filters go through app.services.queries (the same as the API and the export); single corrections through
app.services.comments.correct (the same as PATCH /api/comentarios/<id>).
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time
from typing import Any

from flask import current_app
from sqlalchemy import ColumnElement, func, literal, select, update
from sqlalchemy.orm import lazyload

from app.errors import ValidationFailed
from app.extensions import db
from app.models.catalog import Artist
from app.models.comment import ClassificationEvent, Comment, CommentTag
from app.models.user import User
from app.schemas.comments import CommentFilters
from app.services.queries import (
    Cursor,
    capped_count,
    comment_conditions,
    estimated_count,
    keyset_page,
    prefer_custom_plans,
)
from app.tasks.dispatch import dispatch

REVIEW_ORDERING = "confianca"  # least sure first
CURATED_PREFIX = "curador:"
IN_CHUNKS = 1000  # ids per IN (...) list: well under every driver's parameter limit


@dataclass(slots=True)
class Page:
    items: list[Comment]
    next_cursor: str | None
    prev_cursor: str | None
    count: int
    count_capped: bool
    # True when `count` is the planner's estimate (text searches on PostgreSQL), not a count.
    count_estimated: bool = False


def comments_page(
    filters: CommentFilters, size: int, *, after: Cursor | None = None, before: Cursor | None = None
) -> Page:
    """One page of the panel's table, with the cursors of its neighbours and a capped count of the matches."""
    if filters.q:
        prefer_custom_plans()
    rows = list(db.session.scalars(keyset_page(filters, size, after=after, before=before)).unique())
    more = len(rows) > size
    rows = rows[:size]
    if before is not None:
        rows.reverse()
        has_next, has_prev = True, more
    else:
        has_next, has_prev = more, after is not None
    cap = current_app.config["PANEL_COUNT_CAP"]
    conditions = comment_conditions(filters)
    estimate = estimated_count(conditions) if filters.q else None
    count = estimate if estimate is not None and estimate > cap else capped_count(conditions, cap)
    estimated = count == estimate and count > cap
    return Page(
        items=rows,
        next_cursor=Cursor.of(rows[-1], filters.ordenar).encode() if rows and has_next else None,
        prev_cursor=Cursor.of(rows[0], filters.ordenar).encode() if rows and has_prev else None,
        count=count if estimated else min(count, cap),
        count_capped=not estimated and count > cap,
        count_estimated=estimated,
    )


def artist_names(limit: int = 500) -> list[str]:
    """Artist names for the filter's suggestions."""
    return list(db.session.scalars(select(Artist.name).order_by(Artist.name_key).limit(limit)))


# --- Review queue ------------------------------------------------------------------------------------------------


def queue_conditions() -> list[ColumnElement[bool]]:
    """Comments waiting for a person: below the review threshold. A correction sets the confidence to 1.0, so a
    reviewed comment leaves the queue by the same condition, and the queue is one range of the confidence index
    (its next item and its capped count stay fast however much of it has been reviewed)."""
    return [Comment.confidence < current_app.config["REVIEW_THRESHOLD"]]


def queue_item(*, after: Cursor | None = None, before: Cursor | None = None) -> Comment | None:
    """The next comment to review after `after` (or the one before `before`); the first one without either."""
    filters = CommentFilters(ordenar=REVIEW_ORDERING)
    stmt = keyset_page(filters, 0, after=after, before=before).where(*queue_conditions())
    # The review card shows no tags: skip their second query (the item is fetched once per keystroke).
    return db.session.scalars(stmt.options(lazyload(Comment.tags))).unique().first()


def second_opinion_disagreed(comment: Comment) -> bool:
    """True when the e5 second opinion changed the fast model's category for this comment."""
    if not comment.model_version.endswith("+e5"):
        return False
    stmt = select(func.count(func.distinct(ClassificationEvent.category))).where(
        ClassificationEvent.comment_id == comment.id, ClassificationEvent.source == "modelo"
    )
    return (db.session.scalar(stmt) or 0) > 1


def queue_cursor(comment: Comment) -> str:
    return Cursor.of(comment, REVIEW_ORDERING).encode()


def decode_queue_cursor(token: str | None) -> Cursor | None:
    return Cursor.decode(token, REVIEW_ORDERING) if token else None


# Curator events, with the value written into the SQL: the index over them is partial (source = 'curador', migration
# a1c0ingest003), and only a plan that knows the value can use it (a prepared statement's generic plan does not).
BY_CURATOR = ClassificationEvent.source == literal("curador", literal_execute=True)


def _today_start() -> datetime:
    return datetime.combine(datetime.now(UTC).date(), time.min, tzinfo=UTC)


def _corrections_count():
    # Counted on the history (indexed by source) rather than a LIKE over every comment: a corrected comment keeps
    # its curator label (the second opinion never revisits it), so both say the same.
    return select(func.count(func.distinct(ClassificationEvent.comment_id))).where(BY_CURATOR).scalar_subquery()


def review_progress(user: User) -> dict[str, Any]:
    """Reviewed today (by this user and by everyone), what is left in the queue (capped count) and how many
    corrections the next retraining would use: one round trip, as the queue shows them with every item."""
    today = (BY_CURATOR, ClassificationEvent.created_at >= _today_start())
    cap = current_app.config["PANEL_COUNT_CAP"]
    queue = select(Comment.id).where(*queue_conditions()).limit(cap + 1).subquery()
    stmt = select(
        select(func.count()).where(*today).scalar_subquery(),
        select(func.count()).where(*today, ClassificationEvent.user_id == user.id).scalar_subquery(),
        select(func.count()).select_from(queue).scalar_subquery(),
        _corrections_count(),
    )
    today_all, today_mine, left, corrections = db.session.execute(stmt).one()
    return {
        "hoje_meus": int(today_mine or 0),
        "hoje_todos": int(today_all or 0),
        "restantes": min(int(left), cap),
        "limitado": left > cap,
        "correcoes": int(corrections or 0),
    }


def corrections_for_retraining() -> int:
    """How many corrected comments the next retraining would add (app.services.corrections.corrected_rows)."""
    return db.session.scalar(select(_corrections_count())) or 0


# --- Bulk corrections --------------------------------------------------------------------------------------------


def matching_ids(filters: CommentFilters, limit: int) -> list[uuid.UUID]:
    """Ids of the comments matching the filters, at most `limit` (in the listing's order)."""
    stmt = select(Comment.id).where(*comment_conditions(filters)).limit(limit)
    return list(db.session.scalars(stmt))


def bulk_correct(comment_ids: Sequence[uuid.UUID], category: str, reason: str | None, curator: User) -> int:
    """Set one category on many comments: one history event each, all in one transaction. Tags are kept."""
    ids = list(dict.fromkeys(comment_ids))
    maximum = current_app.config["PANEL_BULK_MAX"]
    if not ids:
        raise ValidationFailed("Selecione pelo menos um comentário.")
    if len(ids) > maximum:
        raise ValidationFailed(f"Uma ação em lote altera no máximo {maximum} comentários; refine o filtro.")
    now = datetime.now(UTC)
    found: list[uuid.UUID] = []
    tags: dict[uuid.UUID, list[str]] = defaultdict(list)
    for start in range(0, len(ids), IN_CHUNKS):
        chunk = ids[start : start + IN_CHUNKS]
        found.extend(db.session.scalars(select(Comment.id).where(Comment.id.in_(chunk)).with_for_update()))
        rows = db.session.execute(
            select(CommentTag.comment_id, CommentTag.code)
            .where(CommentTag.comment_id.in_(chunk))
            .order_by(CommentTag.comment_id, CommentTag.position)
        )
        for comment_id, code in rows:
            tags[comment_id].append(code)
    if not found:
        raise ValidationFailed("Nenhum dos comentários selecionados existe mais.")
    for start in range(0, len(found), IN_CHUNKS):
        db.session.execute(
            update(Comment)
            .where(Comment.id.in_(found[start : start + IN_CHUNKS]))
            .values(
                category=category,
                confidence=1.0,
                model_version=f"{CURATED_PREFIX}{curator.username}",
                classified_at=now,
                updated_at=now,
            )
            .execution_options(synchronize_session=False)
        )
    db.session.add_all(
        ClassificationEvent(
            comment_id=cid,
            source="curador",
            category=category,
            confidence=None,
            tags=tags.get(cid, []),
            model_version=None,
            user_id=curator.id,
            note=reason or "correção em lote",
            created_at=now,
        )
        for cid in found
    )
    db.session.commit()
    db.session.expire_all()
    return len(found)


# --- Retraining and models ---------------------------------------------------------------------------------------


def start_retraining() -> dict[str, Any]:
    """Queue the retraining with the curators' corrections; in eager mode the decision is already there."""
    result = dispatch("app.tasks.training.retrain_with_corrections")
    if result.ready():
        return {"status": "concluido", "resultado": result.get()}
    return {"status": "agendado", "tarefa": result.id}


def model_versions() -> list[dict[str, Any]]:
    """Stored model versions, newest first."""
    from app.classifier.store import list_versions

    return list(reversed(list_versions(current_app.config)))


def last_training(versions: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The newest promotion decision (promoted or not, with the metrics it was decided on)."""
    for meta in versions:
        if meta.get("promotion"):
            return {"version": meta["version"], **meta["promotion"]}
    return None


def latest_summaries(limit: int = 3) -> list[dict[str, Any]]:
    """The newest weekly summaries (app.services.summaries), as the overview shows them."""
    from app.services.summaries import list_summaries

    return [{"semana": row.week, "texto": row.text[:400]} for row in list_summaries(1, limit).items]
