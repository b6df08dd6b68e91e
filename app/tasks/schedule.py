"""Queue routing and the Beat schedule, as data. Exactly one Beat process runs this."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

TASK_ROUTES = {
    "app.tasks.classification.*": {"queue": "classification"},
    "app.tasks.training.*": {"queue": "training"},
    "app.tasks.imports.*": {"queue": "imports"},
    "app.tasks.reports.*": {"queue": "reports"},
    "app.tasks.emails.*": {"queue": "emails"},
}

BEAT_SCHEDULE: dict = {}


def beat_schedule(config: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """BEAT_SCHEDULE plus the entries whose period comes from settings."""
    # Start the recompute a little before the current snapshot's validity ends, so a fresh one always lands first
    # and no reader ever sees data older than REPORT_REFRESH_SECONDS.
    every = max(1, config["REPORT_REFRESH_SECONDS"] - config["REPORT_REFRESH_LEAD_SECONDS"])
    return {
        **BEAT_SCHEDULE,
        "refresh-reports": {
            "task": "app.tasks.reports.refresh_reports",
            "schedule": float(every),
            # A refresh still queued when the next one is due is pointless: drop it.
            "options": {"queue": "reports", "expires": float(every)},
        },
    }
