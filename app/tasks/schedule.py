"""Queue routing and the Beat schedule, as data. Exactly one Beat process runs this."""

from __future__ import annotations

TASK_ROUTES = {
    "app.tasks.classification.*": {"queue": "classification"},
    "app.tasks.training.*": {"queue": "training"},
    "app.tasks.imports.*": {"queue": "imports"},
    "app.tasks.reports.*": {"queue": "reports"},
    "app.tasks.emails.*": {"queue": "emails"},
}

BEAT_SCHEDULE: dict = {}
