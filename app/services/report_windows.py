"""The report's time windows: every instant a report needs, derived from one `now` in one time zone.

Shared by the charts (app/services/reports.py) and the rollups that feed them (app/services/report_rollup.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, Date, cast, func
from sqlalchemy.orm import Session

HOUR = timedelta(hours=1)


@dataclass(frozen=True)
class Windows:
    """Every instant a report needs, derived from one `now` in one time zone.

    `rollup` says where the charts read comment counts: the rollup tables for closed days/hours plus raw rows for
    the open hour (PostgreSQL), or raw rows only (SQLite, and the reference path the consistency test compares).
    """

    now: datetime
    tz: ZoneInfo
    today: date
    rollup: bool = False

    @classmethod
    def at(cls, now: datetime, tz_name: str, rollup: bool = False) -> Windows:
        tz = ZoneInfo(tz_name)
        return cls(now=now.astimezone(UTC), tz=tz, today=now.astimezone(tz).date(), rollup=rollup)

    def day_start(self, day: date) -> datetime:
        """The UTC instant a local calendar day starts."""
        return datetime.combine(day, time.min, tzinfo=self.tz).astimezone(UTC)

    @property
    def current_hour(self) -> datetime:
        """The start of the open UTC hour (the one `now` is in)."""
        return floor_hour(self.now)

    @property
    def last_7_days(self) -> list[date]:
        return [self.today - timedelta(days=n) for n in range(6, -1, -1)]

    @property
    def week_start(self) -> date:
        """The local Monday of the current ISO week."""
        return self.today - timedelta(days=self.today.isoweekday() - 1)

    @property
    def iso_week(self) -> str:
        year, week, _ = self.today.isocalendar()
        return f"{year}-W{week:02d}"

    def local_days_of_hour(self, hour: datetime) -> set[date]:
        """The local days a UTC hour touches (two where the zone's offset is not whole hours)."""
        return {hour.astimezone(self.tz).date(), (hour + HOUR - timedelta(microseconds=1)).astimezone(self.tz).date()}


def floor_hour(at: datetime) -> datetime:
    return at.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def ceil_hour(at: datetime) -> datetime:
    floor = floor_hour(at)
    return floor if floor == at else floor + HOUR


def local_day(column: Any, session: Session, windows: Windows) -> ColumnElement:
    """The local calendar date of a timestamp column, in SQL."""
    if session.get_bind().dialect.name == "postgresql":
        return cast(func.timezone(windows.tz.key, column), Date)
    # SQLite has no time zones: shift by the zone's current offset (exact for zones without DST, such as
    # America/Sao_Paulo since 2019).
    offset = windows.now.astimezone(windows.tz).utcoffset() or timedelta()
    return func.date(column, f"{int(offset.total_seconds() // 60):+d} minutes")


def utc_hour(column: Any, session: Session) -> ColumnElement:
    """The UTC hour a timestamp column falls in, in SQL."""
    if session.get_bind().dialect.name == "postgresql":
        return func.date_trunc("hour", column, "UTC")
    return func.strftime("%Y-%m-%d %H:00:00", column)


def as_date(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def as_utc_hour(value: Any) -> datetime:
    key = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return key.replace(tzinfo=UTC) if key.tzinfo is None else key.astimezone(UTC)
