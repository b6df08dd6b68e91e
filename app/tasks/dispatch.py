"""How work is handed to the background: one policy for every caller (services, resources, CLI).

Services never import task modules directly for queuing; they call `dispatch(...)` with the task's registered
name, so there is no import cycle and one place decides what a broker failure means (a 503 the client may retry,
never a 500, and never a lost write: callers dispatch after their transaction commits).
"""

from __future__ import annotations

import logging
from typing import Any

from celery import current_app as current_celery
from celery.result import AsyncResult

from app.errors import DependencyUnavailable

log = logging.getLogger(__name__)


def _broker_errors() -> tuple[type[Exception], ...]:
    import kombu.exceptions
    import redis

    return (kombu.exceptions.OperationalError, redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OSError)


def dispatch(task_name: str, *args: Any, **options: Any) -> AsyncResult:
    """Queue `task_name(*args)` (apply_async options such as `queue`, `countdown`, `task_id` pass through).

    Raises DependencyUnavailable when the broker cannot take the message.
    """
    try:
        # The registered task, not send_task: apply_async honours eager mode and the queue routes.
        return current_celery.tasks[task_name].apply_async(args=list(args), **options)
    except _broker_errors() as exc:
        log.warning("broker unavailable for %s: %s: %s", task_name, type(exc).__name__, exc)
        raise DependencyUnavailable(
            "A fila de tarefas em segundo plano está indisponível. Tente novamente em instantes."
        ) from exc


def dispatch_quietly(task_name: str, *args: Any, **options: Any) -> AsyncResult | None:
    """Queue optional follow-up work: a broker failure is logged and swallowed (the main write already landed)."""
    try:
        return dispatch(task_name, *args, **options)
    except DependencyUnavailable:
        return None


def background_is_eager() -> bool:
    """True when tasks run inline (tests that set CELERY_TASK_ALWAYS_EAGER); then heavy work is not queued."""
    return bool(current_celery.conf.task_always_eager)
