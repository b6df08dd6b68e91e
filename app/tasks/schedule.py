"""Queue routing and the Beat schedule, as data. Exactly one Beat process runs this."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from celery.schedules import crontab

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
    # Summary deliveries a dead worker left in `enviando` (older than SUMMARY_SEND_STALE_SECONDS).
    "recover-stalled-deliveries": {
        "task": "app.tasks.emails.recover_stalled_deliveries",
        "schedule": 300.0,
        "options": {"queue": "emails", "expires": 240},
    },
}


class zoned_crontab(crontab):
    """A crontab read on the wall clock of its own time zone (not Celery's `timezone`): "Monday 08:00 in
    America/Sao_Paulo" stays 08:00 local across DST changes. Picklable for Beat's schedule file."""

    def __init__(self, *args: Any, zone: str, **kwargs: Any) -> None:
        self.zone = zone
        super().__init__(*args, **kwargs)

    @property
    def tz(self) -> ZoneInfo:  # type: ignore[override]
        return ZoneInfo(self.zone)

    def now(self) -> datetime:
        return datetime.now(self.tz)

    def __reduce__(self):  # type: ignore[override]
        args = (self._orig_minute, self._orig_hour, self._orig_day_of_week, self._orig_day_of_month)
        return (_zoned, (*args, self._orig_month_of_year, self.zone))


def _zoned(minute: Any, hour: Any, day_of_week: Any, day_of_month: Any, month_of_year: Any, zone: str):
    return zoned_crontab(minute, hour, day_of_week, day_of_month, month_of_year, zone=zone)


def weekly_summary_entry(config: Mapping[str, Any]) -> dict[str, Any]:
    """Beat entry: last ISO week's summary, SUMMARY_SCHEDULE_* wall-clock time in SUMMARY_TIMEZONE."""
    return {
        "task": "app.tasks.emails.send_weekly_summary",
        "schedule": zoned_crontab(
            minute=config["SUMMARY_SCHEDULE_MINUTE"],
            hour=config["SUMMARY_SCHEDULE_HOUR"],
            day_of_week=config["SUMMARY_SCHEDULE_DAY_OF_WEEK"],
            zone=config["SUMMARY_TIMEZONE"],
        ),
        "options": {"queue": "emails", "expires": 6 * 3600},
    }


def report_refresh_entry(config: Mapping[str, Any]) -> dict[str, Any]:
    """Beat entry: recompute every feed a little before the current snapshot's validity ends."""
    # Start the recompute early so a fresh snapshot always lands first and no reader ever sees data older than
    # REPORT_REFRESH_SECONDS.
    every = max(1, config["REPORT_REFRESH_SECONDS"] - config["REPORT_REFRESH_LEAD_SECONDS"])
    return {
        "task": "app.tasks.reports.refresh_reports",
        "schedule": float(every),
        # A refresh still queued when the next one is due is pointless: drop it.
        "options": {"queue": "reports", "expires": float(every)},
    }


def beat_schedule(config: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """BEAT_SCHEDULE plus the entries that depend on settings."""
    return BEAT_SCHEDULE | {
        "refresh-reports": report_refresh_entry(config),
        "resumo-semanal": weekly_summary_entry(config),
    }
