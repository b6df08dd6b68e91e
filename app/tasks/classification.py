"""Classification follow-ups that must not slow the ingest request."""

from __future__ import annotations

import uuid

from celery import shared_task


@shared_task(
    name="app.tasks.classification.refine_low_confidence",
    # Idempotent (refined or corrected comments are skipped): a lost worker's message is redelivered.
    acks_late=True,
    time_limit=600,
    soft_time_limit=570,
    autoretry_for=(ConnectionError, TimeoutError),
    retry_backoff=True,
    max_retries=3,
)
def refine_low_confidence(comment_ids: list[str]) -> dict[str, int]:
    """Second opinion on comments the fast path was unsure about (idempotent: refined ones are skipped)."""
    from app.services.comments import refine

    return refine([uuid.UUID(c) for c in comment_ids])
