"""An import job as the API and the CLI show it."""

from __future__ import annotations

from typing import Any

from app.models.job import ImportJob


def job_json(job: ImportJob, url: str) -> dict[str, Any]:
    errors = list(job.errors or [])
    return {
        "id": str(job.id),
        "status": job.status,
        "formato": job.format,
        "arquivo": job.filename,
        "contagens": {
            "total": job.total,
            "processados": job.processed,
            "criados": job.created,
            "ja_existentes": job.existing,
            "falhas": job.failed,
        },
        "erros": errors,
        "erros_omitidos": max(0, job.failed - len(errors)),
        "mensagem": job.message,
        "tentativas": job.attempts,
        "tarefa": job.task_id,
        "criado_em": job.created_at,
        "iniciado_em": job.started_at,
        "atualizado_em": job.heartbeat_at,
        "concluido_em": job.finished_at,
        "url": url,
    }
