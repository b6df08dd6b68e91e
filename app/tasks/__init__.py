"""Celery integration (Flask's pattern): tasks run inside an app context and never import the app."""

from __future__ import annotations

import logging
from typing import Any

from celery import Celery, Task
from celery.signals import worker_init
from flask import Flask, has_app_context

from app.tasks.schedule import TASK_ROUTES, beat_schedule

QUEUES = ("default", "classification", "imports", "reports", "emails", "training")

log = logging.getLogger(__name__)


@worker_init.connect
def preload_before_the_pool_forks(sender: Any = None, **_: Any) -> None:
    """A Celery worker's main process, before its prefork pool starts: load the active model (and every module) once,
    as gunicorn's master does, so each pool process takes that copy, shared with this process, instead of loading
    its own on its first classification."""
    from app import preload_for_fork

    try:
        version = preload_for_fork()
    except Exception:  # an optimisation only: each pool process then loads the model itself
        log.exception("preload before the pool forks failed; pool processes will load the model themselves")
        return
    log.info("preloaded the app's modules and model %s for the pool", version)


def celery_init_app(app: Flask) -> Celery:
    class FlaskTask(Task):
        def __call__(self, *args, **kwargs):
            # Push a context only when none is active (eager tasks already run inside one).
            if has_app_context():
                return self.run(*args, **kwargs)
            with app.app_context():
                return self.run(*args, **kwargs)

    cfg = app.config
    broker = cfg["CELERY_BROKER_URL"] or cfg["REDIS_URL"]
    celery_app = Celery(app.name, task_cls=FlaskTask)
    celery_app.config_from_object(
        {
            "broker_url": broker or "memory://",
            "broker_transport_options": _transport_options(broker, cfg),
            "result_backend": cfg["REDIS_URL"] or None,
            # No broker configured (tests, a one-off script): run tasks in-process. `make run` configures an
            # embedded broker instead (a SQLite file), so it runs a real worker and Beat like production.
            "task_always_eager": not broker,
            "task_eager_propagates": True,
            "task_ignore_result": True,
            # Late acknowledgement only where a task says it is idempotent (acks_late=True on the task).
            "task_acks_late": False,
            "task_reject_on_worker_lost": True,
            # Every task has a hard limit, even one that forgets to declare it.
            "task_time_limit": cfg["CELERY_TASK_TIME_LIMIT"],
            "task_annotations": {
                "app.tasks.imports.run_import": {
                    "time_limit": cfg["IMPORT_TASK_TIME_LIMIT"],
                    "soft_time_limit": cfg["IMPORT_TASK_TIME_LIMIT"] - 30,
                }
            },
            "worker_prefetch_multiplier": 1,
            "task_default_queue": "default",
            "task_routes": TASK_ROUTES,
            "beat_schedule": beat_schedule(app.config),
            "timezone": "America/Sao_Paulo",
            "broker_connection_retry_on_startup": True,
        }
    )
    celery_app.set_default()
    app.extensions["celery"] = celery_app
    from app.tasks import classification, emails, imports, reports, training  # noqa: F401  - registers the tasks; `import app.tasks.x` would rebind `app`

    return celery_app


def _transport_options(broker: str, cfg) -> dict:
    if broker.startswith(("redis://", "rediss://")):
        return {"visibility_timeout": cfg["CELERY_VISIBILITY_TIMEOUT"]}
    if broker.startswith("sqla+"):
        # The embedded broker (make run): these go to SQLAlchemy's create_engine. Web, worker and Beat write the
        # same SQLite file; wait for its lock instead of failing at once.
        return {"connect_args": {"timeout": 30}}
    return {}
