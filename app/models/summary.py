"""Weekly summaries (`resumos_semanais`), their send log per recipient, and the stakeholders list."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Boolean, CheckConstraint, Date, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db
from app.models._types import UTCDateTime, utcnow

# pendente: to send (or to retry); enviando: claimed by a worker right before SMTP (never sent twice, even if
# the worker dies after sending); enviado: delivered; falhou: gave up after the last attempt.
DELIVERY_STATES = ("pendente", "enviando", "enviado", "falhou")


class WeeklySummary(db.Model):
    """One ISO week's aggregate (data) and the summary text written from it."""

    __tablename__ = "resumos_semanais"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # ISO week, e.g. "2026-W47": the natural key (unique) of a summary.
    week: Mapped[str] = mapped_column(String(8), unique=True)
    starts_on: Mapped[date] = mapped_column(Date)  # Monday
    ends_on: Mapped[date] = mapped_column(Date)  # Sunday
    aggregate: Mapped[dict[str, Any]] = mapped_column(JSON)
    text: Mapped[str] = mapped_column(Text)
    # Who wrote the text: "deterministico:v1" or "openai:<model> (summary_v1)", with a fallback reason if any.
    generator: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    deliveries: Mapped[list[SummaryDelivery]] = relationship(
        back_populates="summary", cascade="all, delete-orphan", order_by="SummaryDelivery.recipient"
    )


class SummaryDelivery(db.Model):
    """The send log of one summary to one recipient: the unique (summary, recipient) key makes sending idempotent."""

    __tablename__ = "resumos_envios"
    __table_args__ = (
        UniqueConstraint("summary_id", "recipient", name="uq_resumos_envios_summary_recipient"),
        CheckConstraint(f"state IN {DELIVERY_STATES!r}", name="state_valid"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    summary_id: Mapped[int] = mapped_column(ForeignKey("resumos_semanais.id", ondelete="CASCADE"), index=True)
    recipient: Mapped[str] = mapped_column(String(320))
    state: Mapped[str] = mapped_column(String(10), default="pendente")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    message_id: Mapped[str | None] = mapped_column(String(300))
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # How many times an operator forced a resend (`flask summary send --force`).
    forced: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    summary: Mapped[WeeklySummary] = relationship(back_populates="deliveries")


class Stakeholder(db.Model):
    """A person who receives the weekly summary, managed by an admin (API or CLI)."""

    __tablename__ = "stakeholders"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)  # stored lower-cased
    name: Mapped[str | None] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
