"""Bulk import jobs: the uploaded rows, where the worker got to, the counts and the per-row errors.

The job lives here (not in Celery's result backend) so its state survives a broker flush, a worker restart and a
deploy, and `GET /api/importacoes/<id>` reads one row.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, Integer, LargeBinary, String, Uuid
from sqlalchemy.orm import Mapped, deferred, mapped_column

from app.extensions import db
from app.models._types import UTCDateTime, utcnow


class JobStatus(StrEnum):
    PENDENTE = "pendente"
    PROCESSANDO = "processando"
    CONCLUIDA = "concluida"
    FALHOU = "falhou"


JOB_STATUSES = tuple(s.value for s in JobStatus)
IMPORT_FORMATS = ("json", "csv", "jsonl")


class ImportJob(db.Model):
    __tablename__ = "import_jobs"
    __table_args__ = (
        CheckConstraint(f"status IN {JOB_STATUSES!r}", name="status_valid"),
        CheckConstraint(f"format IN {IMPORT_FORMATS!r}", name="format_valid"),
        # The stalled-job sweep: unfinished jobs by heartbeat.
        Index("ix_import_jobs_status_heartbeat_at", "status", "heartbeat_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    status: Mapped[str] = mapped_column(String(20), default=JobStatus.PENDENTE.value)
    format: Mapped[str] = mapped_column(String(10))
    filename: Mapped[str | None] = mapped_column(String(255))
    # The upload as received (deferred: reading the status never loads it); cleared when the job finishes.
    payload: Mapped[bytes | None] = deferred(mapped_column(LargeBinary))
    total: Mapped[int] = mapped_column(Integer, default=0)
    # Rows handled so far (created + already present + failed), committed with each chunk: the restart point.
    processed: Mapped[int] = mapped_column(Integer, default=0)
    created: Mapped[int] = mapped_column(Integer, default=0)
    existing: Mapped[int] = mapped_column(Integer, default=0)
    failed: Mapped[int] = mapped_column(Integer, default=0)
    # [{"linha": n, "mensagem": "..."}], capped at IMPORT_MAX_ERRORS (`failed` keeps the full count).
    errors: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    message: Mapped[str | None] = mapped_column(String(500))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    task_id: Mapped[str | None] = mapped_column(String(64))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Refreshed by the worker after every chunk; a job whose heartbeat is old is taken over (worker died).
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    @property
    def finished(self) -> bool:
        return self.status in (JobStatus.CONCLUIDA.value, JobStatus.FALHOU.value)
