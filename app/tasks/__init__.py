"""Celery integration (Flask's pattern): tasks run inside an app context and never import the app."""

from __future__ import annotations

from celery import Celery, Task
from flask import Flask, has_app_context

from app.tasks.schedule import TASK_ROUTES, beat_schedule

QUEUES = ("default", "classification", "imports", "reports", "emails", "training")


def celery_init_app(app: Flask) -> Celery:
    class FlaskTask(Task):
        def __call__(self, *args, **kwargs):
            # Push a context only when none is active (eager tasks already run inside one).
            if has_app_context():
                return self.run(*args, **kwargs)
            with app.app_context():
                return self.run(*args, **kwargs)

    broker = app.config["CELERY_BROKER_URL"] or app.config["REDIS_URL"]
    celery_app = Celery(app.name, task_cls=FlaskTask)
    celery_app.config_from_object(
        {
            "broker_url": broker or "memory://",
            "result_backend": app.config["REDIS_URL"] or None,
            # Embedded default (no broker configured): run tasks in-process.
            "task_always_eager": not broker,
            "task_eager_propagates": True,
            "task_ignore_result": True,
            "task_acks_late": True,
            "task_reject_on_worker_lost": True,
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
    from app.tasks import classification, emails, reports, training  # noqa: F401  - registers the tasks; `import app.tasks.x` would rebind `app`

    return celery_app
