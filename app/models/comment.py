"""Comments, their tags and the classification history."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    Uuid,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.classifier.base import CATEGORIES
from app.extensions import db
from app.models._types import UTCDateTime, utcnow

TARGETS = ("musica", "album", "clipe", "show", "artista", "plataforma")


class Comment(db.Model):
    __tablename__ = "comments"
    __table_args__ = (
        CheckConstraint(f"category IN {CATEGORIES!r}", name="category_valid"),
        CheckConstraint(f"target IS NULL OR target IN {TARGETS!r}", name="target_valid"),
        CheckConstraint("confidence >= 0 AND confidence <= 1", name="confidence_range"),
        Index("ix_comments_category_occurred_at", "category", "occurred_at"),
        Index("ix_comments_artist_id_occurred_at", "artist_id", "occurred_at"),
        # The default listing: one category, newest classification first.
        Index("ix_comments_category_classified_at", "category", "classified_at"),
        # The panel's commonest view: one artist, one category, newest first (page and capped count from one index).
        Index("ix_comments_artist_id_category_classified_at", "artist_id", "category", "classified_at"),
        # The default order of the listing and the export (newest first, id as tie-break) read straight from the
        # index: the export's first byte leaves without sorting the whole table.
        Index("ix_comments_classified_at_id", "classified_at", "id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    text: Mapped[str] = mapped_column(Text)
    artist_id: Mapped[int | None] = mapped_column(ForeignKey("artists.id", ondelete="SET NULL"))
    album_id: Mapped[int | None] = mapped_column(ForeignKey("albums.id", ondelete="SET NULL"), index=True)
    target: Mapped[str | None] = mapped_column(String(20), index=True)
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # published_at when given, otherwise when we received it: the date filters and reports use this.
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    category: Mapped[str] = mapped_column(String(20))
    confidence: Mapped[float] = mapped_column(Float, index=True)
    # Who produced the current label: "local:<version>", "openai:<model>", "curador:<username>".
    model_version: Mapped[str] = mapped_column(String(120))
    # Indexed through ix_comments_classified_at_id (a separate one-column index would only slow writes down).
    classified_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    # The tag codes joined by "|" in order, as the CSV shows them: the export reads one table instead of
    # aggregating comment_tags per row. Written by ingest; on PostgreSQL triggers on comment_tags keep it exact
    # whoever changes the tags (migration a1c0imports01). Only the PostgreSQL export reads it.
    tag_codes: Mapped[str | None] = mapped_column(Text)

    artist = relationship("Artist", lazy="joined")
    album = relationship("Album", lazy="joined")
    tags: Mapped[list[CommentTag]] = relationship(
        back_populates="comment", cascade="all, delete-orphan", order_by="CommentTag.position", lazy="selectin"
    )


class CommentTag(db.Model):
    """One tag of a comment: a normalised row so "top tags" and "filter by tag" are indexed queries."""

    __tablename__ = "comment_tags"
    __table_args__ = (
        Index("ix_comment_tags_code_comment_id", "code", "comment_id"),
        Index(
            "ix_comment_tags_code_category_occurred_at",
            "code",
            "category",
            "occurred_at",
            "comment_id",
            postgresql_include=["classified_at"],
        ),
    )

    comment_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("comments.id", ondelete="CASCADE"), primary_key=True)
    code: Mapped[str] = mapped_column(String(80), primary_key=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    # Copies of the comment's category and date so "tag + category + period" (the commonest curator filter) is
    # one index range instead of a join over the whole period. On PostgreSQL triggers keep them in step with the
    # comment whoever writes (migration a1c0imports01); only PostgreSQL queries read them (app.services.queries).
    category: Mapped[str | None] = mapped_column(String(20))
    occurred_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # ...and of its classified_at (migration a1c0listing01): the listing's default order, so "tag + category +
    # period, newest first" picks its page from the index alone (app.services.queries.tag_page).
    classified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    comment: Mapped[Comment] = relationship(back_populates="tags")


class ClassificationEvent(db.Model):
    """Every classification and correction of a comment, in order: the comment's history.

    On PostgreSQL a comment's first answer is its own row until something changes it: ingest writes no event, the
    history shows the row (services.comments.first_answer), and a trigger copies it here, tags included, before the
    first UPDATE of category, confidence or model_version (migration a1c0ingest006). So whoever records a change
    updates those columns first and flushes, before touching the tags or adding the event, as correct(), refine()
    and curation.bulk_correct() do."""

    __tablename__ = "classification_events"
    __table_args__ = (
        CheckConstraint("source IN ('modelo', 'curador')", name="source_valid"),
        Index("ix_classification_events_comment_id_created_at", "comment_id", "created_at"),
        # The panel's "reviewed today" and "corrections for the next retraining" counts: curator events only, so
        # ingest's `modelo` events add no entry (queries name the value as a literal: curation.BY_CURATOR).
        Index(
            "ix_classification_events_curator_created_at",
            "created_at",
            "user_id",
            "comment_id",
            postgresql_where=text("source = 'curador'"),
            sqlite_where=text("source = 'curador'"),
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    comment_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("comments.id", ondelete="CASCADE"))
    source: Mapped[str] = mapped_column(String(10))  # modelo | curador
    category: Mapped[str] = mapped_column(String(20))
    confidence: Mapped[float | None] = mapped_column(Float)
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    model_version: Mapped[str | None] = mapped_column(String(120))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    note: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    user = relationship("User", lazy="joined")
