"""The `emails` queue: the weekly summary run (Beat) and one delivery per recipient, retried with backoff."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from celery import shared_task
from flask import current_app
from sqlalchemy.exc import SQLAlchemyError

from app.services import deliveries
from app.services.weeks import IsoWeek
from app.tasks.dispatch import background_is_eager, dispatch

log = logging.getLogger(__name__)

DELIVER = "app.tasks.emails.deliver_summary"


# A database hiccup at 08:00 must not cost the week its summary: retried for about an hour.
@shared_task(
    name="app.tasks.emails.send_weekly_summary",
    soft_time_limit=300,
    time_limit=360,
    autoretry_for=(SQLAlchemyError,),
    retry_backoff=60,
    retry_backoff_max=900,
    max_retries=6,
)
def send_weekly_summary(week: str | None = None, force: bool = False) -> dict:
    """Store the summary of `week` (default: last ISO week in SUMMARY_TIMEZONE) and queue one delivery per
    recipient still to serve. Safe to run twice: served recipients are skipped."""
    week = week or str(IsoWeek.previous(datetime.now(UTC), current_app.config["SUMMARY_TIMEZONE"]))
    plan = deliveries.plan(week, force=force)
    for delivery_id in plan.pending:
        dispatch(DELIVER, delivery_id)
    log.info("weekly summary %s: %d deliveries queued, %d already served", week, len(plan.pending), len(plan.skipped))
    return {"semana": plan.summary.week, "enfileirados": len(plan.pending), "ignorados": len(plan.skipped)}


# The SMTP client's own timeout (MAIL_TIMEOUT) bounds each reply; the soft limit bounds the whole attempt.
@shared_task(name=DELIVER, bind=True, soft_time_limit=60, time_limit=90, max_retries=None)
def deliver_summary(self, delivery_id: int) -> str:
    """Send one send-log row; a failed attempt is retried after a growing delay until the attempts run out."""
    try:
        return deliveries.deliver(delivery_id)
    except deliveries.DeliveryFailed as exc:
        if exc.final or background_is_eager():
            # Eager (make run): no worker to retry later; the send log keeps the error for `flask summary send`.
            return "falhou" if exc.final else "pendente"
        raise self.retry(countdown=deliveries.retry_delay(exc.attempts), exc=exc) from None


@shared_task(name="app.tasks.emails.recover_stalled_deliveries", soft_time_limit=60, time_limit=90)
def recover_stalled_deliveries() -> dict:
    """Beat: send again what a dead worker claimed but never handed to SMTP; flag what it may have sent."""
    recovery = deliveries.recover_stalled()
    for delivery_id in recovery.requeued:
        dispatch(DELIVER, delivery_id)
    return {"retomados": len(recovery.requeued), "incertos": len(recovery.uncertain)}
