"""ISO weeks as the weekly summary sees them: "2026-W47", Monday 00:00 to Monday 00:00 in SUMMARY_TIMEZONE."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from app.errors import ValidationFailed

_WEEK = re.compile(r"(\d{4})-W(\d{2})")


@dataclass(frozen=True, slots=True)
class IsoWeek:
    year: int
    week: int

    @classmethod
    def parse(cls, value: str) -> IsoWeek:
        """`2026-W47` (a 422 in the envelope for anything else, or a week the year does not have)."""
        match = _WEEK.fullmatch((value or "").strip().upper())
        if match:
            try:
                date.fromisocalendar(int(match[1]), int(match[2]), 1)
                return cls(int(match[1]), int(match[2]))
            except ValueError:
                pass
        raise ValidationFailed(
            "Semana inválida.", [{"campo": "semana", "mensagem": "use o formato ISO AAAA-Www, ex.: 2026-W47"}]
        )

    @classmethod
    def of(cls, day: date) -> IsoWeek:
        year, week, _ = day.isocalendar()
        return cls(year, week)

    @classmethod
    def previous(cls, now: datetime, tz: str) -> IsoWeek:
        """The last complete ISO week before `now`, in the time zone's calendar."""
        local_day = now.astimezone(ZoneInfo(tz)).date()
        return cls.of(local_day - timedelta(days=7))

    def __str__(self) -> str:
        return f"{self.year}-W{self.week:02d}"

    @property
    def monday(self) -> date:
        return date.fromisocalendar(self.year, self.week, 1)

    @property
    def sunday(self) -> date:
        return self.monday + timedelta(days=6)

    def shift(self, weeks: int) -> IsoWeek:
        return IsoWeek.of(self.monday + timedelta(weeks=weeks))

    def bounds(self, tz: str) -> tuple[datetime, datetime]:
        """[start, end) in UTC: local midnights, so a DST change inside the week moves neither bound."""
        zone = ZoneInfo(tz)
        start = datetime.combine(self.monday, time.min, tzinfo=zone)
        end = datetime.combine(self.monday + timedelta(days=7), time.min, tzinfo=zone)
        return start.astimezone(UTC), end.astimezone(UTC)
