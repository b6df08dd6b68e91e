"""Report refresh on the `reports` queue: Beat runs it every REPORT_REFRESH_SECONDS (minus a lead)."""

from __future__ import annotations

from typing import Any

from celery import shared_task
from celery.signals import beat_init

REFRESH_TASK = "app.tasks.reports.refresh_reports"


@shared_task(name=REFRESH_TASK, time_limit=55, soft_time_limit=50, ignore_result=True)
def refresh_reports() -> dict[str, Any]:
    """Recompute every feed (the unfiltered report and the filtered variants in use) into the cache region.

    Idempotent (it overwrites snapshots) and guarded by a region lock, so an overlapping run is skipped.
    """
    from app.services.report_snapshots import refresh_all

    return refresh_all()


@beat_init.connect
def refresh_when_beat_starts(sender: Any = None, **_: Any) -> None:
    """A (re)started Beat would wait a whole period before its first run: queue one refresh right away."""
    entry = sender.app.conf.beat_schedule.get("refresh-reports") if sender is not None else None
    if entry:
        sender.app.send_task(entry["task"], **entry.get("options", {}))
