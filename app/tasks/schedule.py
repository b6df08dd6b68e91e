"""Queue routing and the Beat schedule, as data. Exactly one Beat process runs this."""

from __future__ import annotations

TASK_ROUTES = {
    "app.tasks.classification.*": {"queue": "classification"},
    "app.tasks.training.*": {"queue": "training"},
    "app.tasks.imports.*": {"queue": "imports"},
    "app.tasks.reports.*": {"queue": "reports"},
    "app.tasks.emails.*": {"queue": "emails"},
}

# Every entry expires before the next run: a backlog never piles up copies of the same periodic work.
BEAT_SCHEDULE: dict = {
    # Takes over imports whose worker died (heartbeat older than IMPORT_STALE_SECONDS).
    "resume-stalled-imports": {
        "task": "app.tasks.imports.resume_stalled_imports",
        "schedule": 30.0,
        "options": {"queue": "imports", "expires": 25},
    },
}
