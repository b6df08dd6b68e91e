"""Bulk import on the `imports` queue: tasks take a job id and are idempotent (safe to deliver twice)."""

from __future__ import annotations

import logging
import uuid

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded
from sqlalchemy.exc import OperationalError

log = logging.getLogger(__name__)

# Generous: a 20 MB file is ~200k comments, about a minute at the measured rate (benchmarks/RESULTS.md).
IMPORT_TIME_LIMIT = 3600


@shared_task(
    bind=True,
    name="app.tasks.imports.run_import",
    # Acknowledged only after it returns: a worker killed mid-job leaves the message for another one. Safe
    # because the job resumes from its last committed chunk and ids are derived per row.
    acks_late=True,
    reject_on_worker_lost=True,
    time_limit=IMPORT_TIME_LIMIT,
    soft_time_limit=IMPORT_TIME_LIMIT - 30,
    autoretry_for=(OperationalError, ConnectionError),
    retry_backoff=True,
    max_retries=5,
)
def run_import(self, job_id: str) -> dict:
    """Classify and store an import job's rows in chunks, from where it stopped."""
    from app.services.imports import fail_job, run_job

    jid = uuid.UUID(job_id)
    try:
        job = run_job(jid, task_id=self.request.id)
    except SoftTimeLimitExceeded:
        fail_job(jid, "tempo limite da importação excedido; as linhas já processadas foram mantidas")
        raise
    except (OperationalError, ConnectionError):
        raise  # the database or broker blinked: retried with backoff, the job resumes where it stopped
    except Exception as exc:
        log.exception("import %s failed", job_id)
        fail_job(jid, f"erro interno ao importar: {type(exc).__name__}")
        raise
    return {"id": job_id, "status": job.status if job else "ignorada"}


@shared_task(name="app.tasks.imports.resume_stalled_imports", time_limit=60, soft_time_limit=50, acks_late=True)
def resume_stalled_imports() -> list[str]:
    """Beat sweep: queue again the jobs whose worker died (any broker, with or without message redelivery)."""
    from app.services.imports import resume_stalled

    return resume_stalled()
