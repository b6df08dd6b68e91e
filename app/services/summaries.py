"""Weekly summaries: generate (aggregate + text) and store once per ISO week, list and read them, and know who
receives them (SUMMARY_RECIPIENTS plus the stakeholders an admin manages)."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime

from flask import current_app
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from app.errors import Conflict, NotFound, ValidationFailed
from app.extensions import db
from app.llm.client import REASON_OVER_BUDGET
from app.llm.runtime import insights_llm, llm_configured
from app.models.summary import Stakeholder, WeeklySummary
from app.services.summary_aggregate import weekly_aggregate
from app.services.summary_text import DETERMINISTIC, deterministic_text, llm_text
from app.services.weeks import IsoWeek

log = logging.getLogger(__name__)

# Deliberately simple: one @, no spaces, a dot in the domain. SMTP has the final word.
_EMAIL = re.compile(r"[^@\s,;<>]+@[^@\s,;<>]+\.[^@\s,;<>]+")


def normalise_email(value: str) -> str:
    """Lower-cased, trimmed address, or a 422."""
    address = (value or "").strip().lower()
    if not _EMAIL.fullmatch(address) or len(address) > 320:
        raise ValidationFailed("Endereço de e-mail inválido.", [{"campo": "email", "mensagem": "e-mail inválido"}])
    return address


# ---------------------------------------------------------------------------------------------- generation


def _write_text(aggregate: dict, use_llm: bool) -> tuple[str, str]:
    if not use_llm:
        return deterministic_text(aggregate), DETERMINISTIC
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    if not llm_configured(app):
        return deterministic_text(aggregate), f"{DETERMINISTIC} (fallback: openai não configurado)"
    client, budget = insights_llm(app)
    if not budget.reserve(1):
        return deterministic_text(aggregate), f"{DETERMINISTIC} (fallback: {REASON_OVER_BUDGET})"
    return llm_text(client, aggregate)


def generate(week: str, *, use_llm: bool | None = None, regenerate: bool = True) -> WeeklySummary:
    """Aggregate the week and write its text; store it (one row per ISO week) and return it.

    `regenerate=False` returns the stored summary untouched when there is one (the scheduled run); the CLI
    regenerates on purpose. Two concurrent first runs cannot both insert: the loser re-reads the winner's row.
    """
    iso = IsoWeek.parse(week)
    cfg = current_app.config
    existing = db.session.scalar(select(WeeklySummary).where(WeeklySummary.week == str(iso)))
    if existing is not None and not regenerate:
        return existing
    aggregate = weekly_aggregate(
        db.session, iso, tz=cfg["SUMMARY_TIMEZONE"], review_threshold=float(cfg["REVIEW_THRESHOLD"])
    )
    text, generator = _write_text(aggregate, cfg["SUMMARY_USE_LLM"] if use_llm is None else use_llm)
    if existing is not None:
        existing.aggregate, existing.text, existing.generator = aggregate, text, generator
        existing.updated_at = datetime.now(UTC)
        db.session.commit()
        return existing
    summary = WeeklySummary(
        week=str(iso), starts_on=iso.monday, ends_on=iso.sunday, aggregate=aggregate, text=text, generator=generator
    )
    db.session.add(summary)
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        winner = db.session.scalar(select(WeeklySummary).where(WeeklySummary.week == str(iso)))
        if winner is None:
            raise
        return winner
    log.info("weekly summary %s stored (%s, %d comments)", iso, generator, aggregate["volume"]["total"])
    return summary


# -------------------------------------------------------------------------------------------------- reading


def get_summary(week: str) -> WeeklySummary:
    iso = IsoWeek.parse(week)
    summary = db.session.scalar(select(WeeklySummary).where(WeeklySummary.week == str(iso)))
    if summary is None:
        raise NotFound(f"Não há resumo da semana {iso}. Gere com `flask summary generate --week {iso}`.")
    return summary


@dataclass(frozen=True, slots=True)
class SummaryPage:
    items: list[WeeklySummary]
    total: int


def list_summaries(page: int, per_page: int) -> SummaryPage:
    """Newest week first."""
    total = db.session.scalar(select(func.count()).select_from(WeeklySummary)) or 0
    items = db.session.scalars(
        select(WeeklySummary)
        .options(selectinload(WeeklySummary.deliveries))
        .order_by(WeeklySummary.week.desc())
        .offset((page - 1) * per_page)
        .limit(per_page)
    ).all()
    return SummaryPage(list(items), int(total))


def recent_summaries(now: datetime, *, window_weeks: int, limit: int) -> list[WeeklySummary]:
    """The `limit` most recent summaries whose week started within the last `window_weeks` weeks of `now`."""
    first = IsoWeek.of(now.date()).shift(-window_weeks).monday
    return list(
        db.session.scalars(
            select(WeeklySummary)
            .where(WeeklySummary.starts_on > first, WeeklySummary.starts_on <= now.date())
            .order_by(WeeklySummary.starts_on.desc())
            .limit(limit)
        )
    )


# ----------------------------------------------------------------------------------------------- recipients


def configured_recipients() -> list[str]:
    """SUMMARY_RECIPIENTS (comma-separated); invalid entries are logged and skipped, not fatal."""
    out = []
    for raw in (current_app.config.get("SUMMARY_RECIPIENTS") or "").split(","):
        if not raw.strip():
            continue
        try:
            out.append(normalise_email(raw))
        except ValidationFailed:
            log.error("SUMMARY_RECIPIENTS has an invalid address, skipped: %r", raw.strip())
    return out


def recipients() -> list[str]:
    """Settings' recipients and active stakeholders, deduplicated, sorted."""
    managed = db.session.scalars(select(Stakeholder.email).where(Stakeholder.active.is_(True))).all()
    return sorted(set(configured_recipients()) | set(managed))


def list_stakeholders() -> list[Stakeholder]:
    return list(db.session.scalars(select(Stakeholder).order_by(Stakeholder.email)))


def add_stakeholder(email: str, name: str | None = None) -> Stakeholder:
    """Add (or reactivate) a stakeholder; a 409 when the address is already active."""
    address = normalise_email(email)
    existing = db.session.scalar(select(Stakeholder).where(Stakeholder.email == address))
    if existing is not None:
        if existing.active:
            raise Conflict(f"{address} já recebe o resumo semanal.")
        existing.active, existing.name = True, name or existing.name
        db.session.commit()
        return existing
    stakeholder = Stakeholder(email=address, name=name, active=True)
    db.session.add(stakeholder)
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise Conflict(f"{address} já recebe o resumo semanal.") from None
    return stakeholder


def remove_stakeholder(email_or_id: str | int) -> Stakeholder:
    """Deactivate a stakeholder (kept for the send log's history)."""
    if isinstance(email_or_id, int) or str(email_or_id).isdigit():
        stakeholder = db.session.get(Stakeholder, int(email_or_id))
    else:
        try:
            email = normalise_email(email_or_id)
        except ValidationFailed:
            raise NotFound("Stakeholder não encontrado.") from None  # neither an id nor an address: nobody to remove
        stakeholder = db.session.scalar(select(Stakeholder).where(Stakeholder.email == email))
    if stakeholder is None or not stakeholder.active:
        raise NotFound("Stakeholder não encontrado.")
    stakeholder.active = False
    db.session.commit()
    return stakeholder
