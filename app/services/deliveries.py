"""Sending a stored weekly summary: one send-log row per (summary, recipient), claimed before SMTP.

Exactly one e-mail per week and recipient: the row is created once (unique key), and a worker must move it from
`pendente` to `enviando` in a committed UPDATE before it talks to SMTP, so a second Beat run, a second worker
or a redelivered task finds nothing to claim. A worker that dies after SMTP accepted the message leaves the row
in `enviando`: it is not resent (at most once), only `--force` sends again. A failed attempt puts the row back
in `pendente` with the error, for the task to retry with backoff; after the last attempt it is `falhou`.

Rows left in `enviando` by a dead worker are swept by Beat (`recover_stalled`): a row whose message id was never
recorded cannot have reached SMTP (the id is committed first), so it goes back to `pendente` and is sent; a row
with a message id may or may not have been delivered, so it stays `enviando` (no second e-mail) and is flagged
once in `last_error` and the logs for an operator to check and `--force` if needed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from flask import current_app
from prometheus_client import Counter
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from app.extensions import db
from app.models.summary import SummaryDelivery, WeeklySummary
from app.services import mailer
from app.services.summaries import generate, normalise_email, recipients

log = logging.getLogger(__name__)

SUMMARY_EMAILS = Counter(
    "alumusic_summary_emails_total",
    "Weekly summary deliveries by outcome (enviado, erro = attempt failed and will be retried, falhou = gave up, "
    "retomado = a dead worker's unsent row requeued, incerto = a dead worker's row that may have been sent).",
    ["outcome"],
)


class DeliveryFailed(Exception):
    """An attempt failed; `final` when no attempt is left (the row is `falhou`)."""

    def __init__(self, message: str, *, attempts: int, final: bool) -> None:
        super().__init__(message)
        self.attempts = attempts
        self.final = final


@dataclass(frozen=True, slots=True)
class DeliveryPlan:
    summary: WeeklySummary
    pending: list[int]  # send-log ids to hand to workers
    skipped: list[str]  # recipients already served (or being served) for this week


def plan(week: str, *, force: bool = False, only: list[str] | None = None) -> DeliveryPlan:
    """Store the week's summary if missing, ensure a send-log row per recipient, and return those to send.

    `force` puts the rows of the targeted recipients back to `pendente` (a resend on purpose); `only` targets
    the given addresses instead of every configured recipient.
    """
    summary = generate(week, regenerate=False)
    targets = sorted({normalise_email(a) for a in only}) if only else recipients()
    if not targets:
        log.warning("weekly summary %s: no recipients (SUMMARY_RECIPIENTS and stakeholders are empty)", summary.week)
    for recipient in targets:
        try:
            with db.session.begin_nested():
                db.session.add(SummaryDelivery(summary_id=summary.id, recipient=recipient, state="pendente"))
        except IntegrityError:
            pass  # already in the send log: the unique key keeps one row per week and recipient
    if force and targets:
        db.session.execute(
            update(SummaryDelivery)
            .where(SummaryDelivery.summary_id == summary.id, SummaryDelivery.recipient.in_(targets))
            .values(state="pendente", attempts=0, last_error=None, forced=SummaryDelivery.forced + 1)
        )
    db.session.commit()
    rows = db.session.execute(
        select(SummaryDelivery.id, SummaryDelivery.recipient, SummaryDelivery.state).where(
            SummaryDelivery.summary_id == summary.id, SummaryDelivery.recipient.in_(targets)
        )
    ).all()
    pending = [row.id for row in rows if row.state == "pendente"]
    skipped = [row.recipient for row in rows if row.state != "pendente"]
    return DeliveryPlan(summary, pending, skipped)


def _claim(delivery_id: int) -> bool:
    result = db.session.execute(
        update(SummaryDelivery)
        .where(SummaryDelivery.id == delivery_id, SummaryDelivery.state == "pendente")
        .values(state="enviando", attempts=SummaryDelivery.attempts + 1, claimed_at=datetime.now(UTC))
    )
    db.session.commit()
    return result.rowcount == 1


def deliver(delivery_id: int) -> str:
    """Send one send-log row if it is still ours to send: "enviado", or "ignorado" when another run has it.

    Raises DeliveryFailed after recording the error (the caller retries with backoff unless `final`).
    """
    if not _claim(delivery_id):
        return "ignorado"
    delivery = db.session.get(SummaryDelivery, delivery_id)
    assert delivery is not None
    max_attempts = int(current_app.config["SUMMARY_SEND_MAX_ATTEMPTS"])
    try:
        message = mailer.summary_message(delivery.summary, delivery.recipient)
        delivery.message_id = message.msgId
        db.session.commit()  # the id is on record before SMTP sees the message
        mailer.send(message)
    except Exception as exc:  # SMTP refusals, 4xx/5xx, timeouts, a soft time limit, or a bug: record, then retry
        db.session.rollback()
        delivery = db.session.get(SummaryDelivery, delivery_id)
        assert delivery is not None
        final = delivery.attempts >= max_attempts
        delivery.state = "falhou" if final else "pendente"
        delivery.last_error = f"{type(exc).__name__}: {exc}"[:2000]
        db.session.commit()
        SUMMARY_EMAILS.labels(outcome="falhou" if final else "erro").inc()
        level = logging.ERROR if final else logging.WARNING
        log.log(level, "summary %s to %s: attempt %d/%d failed: %s", delivery.summary.week, delivery.recipient,
                delivery.attempts, max_attempts, delivery.last_error)  # fmt: skip
        raise DeliveryFailed(delivery.last_error, attempts=delivery.attempts, final=final) from exc
    delivery.state, delivery.sent_at, delivery.last_error = "enviado", datetime.now(UTC), None
    db.session.commit()
    SUMMARY_EMAILS.labels(outcome="enviado").inc()
    log.info("summary %s sent to %s (%s)", delivery.summary.week, delivery.recipient, delivery.message_id)
    return "enviado"


def retry_delay(attempts: int) -> float:
    """Seconds before the next attempt: SUMMARY_SEND_BACKOFF_SECONDS doubled per failed attempt, at most 1 h."""
    return min(3600.0, float(current_app.config["SUMMARY_SEND_BACKOFF_SECONDS"]) * 2 ** max(0, attempts - 1))


UNCERTAIN = "incerto: o worker parou durante o envio; confira a caixa do destinatário e use --force se não chegou"


@dataclass(frozen=True, slots=True)
class Recovery:
    requeued: list[int]  # never reached SMTP: back to `pendente`, to hand to workers again
    uncertain: list[int]  # may have been delivered: left in `enviando`, flagged for an operator


def recover_stalled(now: datetime | None = None) -> Recovery:
    """Deal with rows a dead worker left in `enviando` for longer than SUMMARY_SEND_STALE_SECONDS."""
    now = now or datetime.now(UTC)
    cutoff = now - timedelta(seconds=float(current_app.config["SUMMARY_SEND_STALE_SECONDS"]))
    stalled = (SummaryDelivery.state == "enviando", SummaryDelivery.claimed_at < cutoff)
    requeued = db.session.scalars(
        update(SummaryDelivery)
        .where(*stalled, SummaryDelivery.message_id.is_(None))
        .values(state="pendente", last_error="retomado: o worker parou antes de entregar a mensagem ao SMTP")
        .returning(SummaryDelivery.id)
    ).all()
    uncertain = db.session.scalars(
        update(SummaryDelivery)
        .where(*stalled, SummaryDelivery.message_id.is_not(None), SummaryDelivery.last_error.is_(None))
        .values(last_error=UNCERTAIN)
        .returning(SummaryDelivery.id)
    ).all()
    db.session.commit()
    for delivery_id in requeued:
        SUMMARY_EMAILS.labels(outcome="retomado").inc()
        log.warning("summary delivery %d: worker died before SMTP; requeued", delivery_id)
    for delivery_id in uncertain:
        SUMMARY_EMAILS.labels(outcome="incerto").inc()
        log.error("summary delivery %d: worker died while sending; left as sent once, check and --force", delivery_id)
    return Recovery(list(requeued), list(uncertain))
