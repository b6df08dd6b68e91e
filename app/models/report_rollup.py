"""The report's rollups: comment counts per local day and per UTC hour, kept exact by PostgreSQL triggers.

A refresh reads closed days and closed hours from these tables and raw comments only for the open hour, so its
cost follows the number of rollup cells (days x artists x albums x categories), not the number of comments.
How they are kept right is in `app/services/report_rollup.py`: triggers on `comments`/`comment_tags` append the
UTC hour of every changed comment to `report_rollup_changes` (migration 0007), and the refresh refolds exactly
those hours and days from the raw rows. Missing artist/album is stored as 0 so the cell can be a primary key.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, Date, Float, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.models._types import UTCDateTime


class ReportRollupDaily(db.Model):
    """One cell per local day (REPORT_TIMEZONE) x artist x album x category."""

    __tablename__ = "report_rollup_daily"

    dia: Mapped[date] = mapped_column(Date, primary_key=True)
    artist_id: Mapped[int] = mapped_column(Integer, primary_key=True)  # 0 = none
    album_id: Mapped[int] = mapped_column(Integer, primary_key=True)  # 0 = none
    category: Mapped[str] = mapped_column(String(20), primary_key=True)
    n: Mapped[int] = mapped_column(Integer)
    conf_sum: Mapped[float] = mapped_column(Float)
    below: Mapped[int] = mapped_column(Integer)  # comments under REVIEW_THRESHOLD


class ReportRollupHourly(db.Model):
    """One cell per UTC hour x artist x album x category (the last REPORT_ROLLUP_HOURS hours only)."""

    __tablename__ = "report_rollup_hourly"

    hora: Mapped[datetime] = mapped_column(UTCDateTime, primary_key=True)
    artist_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    album_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    category: Mapped[str] = mapped_column(String(20), primary_key=True)
    n: Mapped[int] = mapped_column(Integer)
    conf_sum: Mapped[float] = mapped_column(Float)
    below: Mapped[int] = mapped_column(Integer)


class ReportRollupTagHourly(db.Model):
    """Tag citations per UTC hour x tag x artist x album (the last REPORT_ROLLUP_HOURS hours only)."""

    __tablename__ = "report_rollup_tags_hourly"

    hora: Mapped[datetime] = mapped_column(UTCDateTime, primary_key=True)
    code: Mapped[str] = mapped_column(String(80), primary_key=True)
    artist_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    album_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    n: Mapped[int] = mapped_column(Integer)


class ReportRollupChange(db.Model):
    """An hour whose comments changed since the last fold (appended by triggers, consumed by the refresh)."""

    __tablename__ = "report_rollup_changes"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    hora: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class ReportRollupState(db.Model):
    """What the rollups were built with and up to where (one row; missing or different settings = rebuild)."""

    __tablename__ = "report_rollup_state"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    timezone: Mapped[str] = mapped_column(String(64))
    threshold: Mapped[float] = mapped_column(Float)
    # Every hour before open_hour (every day before open_day) is folded, except hours listed in the changes.
    open_hour: Mapped[datetime] = mapped_column(UTCDateTime)
    open_day: Mapped[date] = mapped_column(Date)
    built_at: Mapped[datetime] = mapped_column(UTCDateTime)
