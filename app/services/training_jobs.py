"""Retraining jobs: queued on the `training` queue when a broker exists, otherwise run in a background thread of
this process (the embedded `make run`), so POST /api/modelos/retreinar always answers 202 at once.

A job's state lives in a small JSON file under MODEL_DIR/jobs/ (the model volume web and worker already share),
so any web worker can answer GET /api/modelos/tarefas/<id> whichever process ran the training.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from flask import Flask, current_app

from app.errors import DependencyUnavailable, NotFound
from app.tasks.dispatch import background_is_eager, dispatch

log = logging.getLogger(__name__)

TASK_NAME = "app.tasks.training.retrain_with_corrections"
# One retraining at a time per process in the embedded path: a second request gets the running job's id.
_thread_lock = threading.Lock()
_running: dict[str, str] = {}


def _jobs_dir(config: dict[str, Any]) -> Path:
    return Path(config["MODEL_DIR"]) / "jobs"


def _write(config: dict[str, Any], job_id: str, **fields: Any) -> dict[str, Any]:
    folder = _jobs_dir(config)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{job_id}.json"
    state = json.loads(path.read_text()) if path.is_file() else {"tarefa": job_id}
    state.update(fields, atualizado_em=datetime.now(UTC).isoformat())
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(state, ensure_ascii=False, default=str))
    tmp.replace(path)  # atomic: a reader never sees half a file
    return state


def record(config: dict[str, Any], job_id: str | None, **fields: Any) -> None:
    """Update a job's state (called by whoever runs it: the Celery task or the thread)."""
    if job_id:
        _write(config, job_id, **fields)


def status(config: dict[str, Any], job_id: str) -> dict[str, Any]:
    try:
        uuid.UUID(job_id)
    except ValueError:
        raise NotFound("Tarefa de treino não encontrada.") from None
    path = _jobs_dir(config) / f"{job_id}.json"
    if not path.is_file():
        raise NotFound("Tarefa de treino não encontrada.")
    return json.loads(path.read_text())


def run(config: dict[str, Any], job_id: str | None) -> dict[str, Any]:
    """Train a challenger with the curators' corrections and record the decision (inside an app context)."""
    from app.classifier.training import train_challenger_and_maybe_promote
    from app.services.corrections import corrected_rows

    record(config, job_id, status="em_andamento")
    try:
        decision = train_challenger_and_maybe_promote(config, corrected_rows())
    except Exception as exc:
        record(config, job_id, status="falhou", erro=type(exc).__name__)
        raise
    record(config, job_id, status="concluido", resultado=decision)
    return decision


def _run_in_thread(app: Flask, job_id: str) -> None:
    try:
        with app.app_context():
            run(app.config, job_id)
    except Exception:
        log.exception("retraining job %s failed", job_id)
    finally:
        with _thread_lock:
            _running.pop("job", None)


def start_retraining() -> dict[str, Any]:
    """Queue (or start in the background) a retraining job; returns its initial state."""
    config = current_app.config
    if not background_is_eager():
        job_id = str(uuid.uuid4())
        state = _write(config, job_id, status="agendado", modo="celery")
        try:
            dispatch(TASK_NAME, job_id, task_id=job_id)  # a broker failure is the 503 envelope
        except DependencyUnavailable:
            (_jobs_dir(config) / f"{job_id}.json").unlink(missing_ok=True)  # never queued: no job to poll
            raise
        return state
    with _thread_lock:
        if "job" in _running:
            return {**status(config, _running["job"]), "ja_em_andamento": True}
        job_id = str(uuid.uuid4())
        state = _write(config, job_id, status="agendado", modo="thread")
        _running["job"] = job_id
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    threading.Thread(target=_run_in_thread, args=(app, job_id), name=f"retrain-{job_id[:8]}", daemon=True).start()
    return state
