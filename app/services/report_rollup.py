"""The report's rollups: kept exact by the database, folded by the refresh, read instead of raw comments.

Why: a refresh that aggregates every comment of the last five weeks grows with the table (2.45 s at 1M rows).
The charts only need counts per local day (and, for the 48 h charts and today, per UTC hour), so those counts are
stored once (app/models/report_rollup.py) and a refresh reads, per window:
- closed local days from `report_rollup_daily`,
- closed UTC hours of today and of the 48 h windows from `report_rollup_hourly` / `report_rollup_tags_hourly`,
- raw comments only for the open hour (and, in a zone whose offset is not whole hours, the part-hour at midnight).

How they stay exact (corrections, imports, late `publicado_em`, deletes): PostgreSQL statement triggers (migration
0007) append the UTC hour of every comment that was inserted, deleted or moved between cells (category,
confidence, occurred_at, artist, album; tags too) to `report_rollup_changes`, in the writer's own transaction.
`fold` (run at the start of every refresh, serialised by an advisory lock) takes those hours out of the log,
plus every hour/day that closed since the last fold, and recomputes exactly those cells from the raw rows. A
writer that commits while a fold runs leaves its log row behind (the fold's DELETE did not see it), so the next
fold picks it up: nothing is lost, at worst an hour is refolded twice. TRUNCATE or a change of REPORT_TIMEZONE /
REVIEW_THRESHOLD clears the state and the next fold rebuilds the window (ROLLUP_DAYS days).

SQLite (`make run`) has the tables but no triggers: the charts read raw rows there (`uses_rollup`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import (
    Date,
    Select,
    and_,
    case,
    delete,
    func,
    insert,
    literal,
    or_,
    select,
    text,
    union_all,
)
from sqlalchemy.orm import Session

from app.models.catalog import Album, Artist
from app.models.comment import Comment, CommentTag
from app.models.report_rollup import (
    ReportRollupChange,
    ReportRollupDaily,
    ReportRollupHourly,
    ReportRollupState,
    ReportRollupTagHourly,
)
from app.schemas.comments import CommentFilters
from app.schemas.reports import ReportFilters
from app.services.queries import comment_conditions
from app.services.report_windows import HOUR, Windows, ceil_hour, local_day, utc_hour

ROLLUP_DAYS = 40  # closed days kept: the charts reach 34 days back (4 ISO weeks before this one, D0..D30)
ROLLUP_HOURS = 72  # closed hours kept: the 48 h windows plus today's hours in any zone
ADVISORY_LOCK = 7_411_203  # pg_advisory_xact_lock key: one fold at a time across processes

Conditions = Callable[[Any], list]  # columns (artist_id, album_id, category) -> WHERE conditions


def uses_rollup(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def filter_conditions(f: ReportFilters) -> Conditions:
    """The report filters (`artista`, `album`) on raw comments or on a rollup table (the same criteria)."""

    def conditions(cols: Any) -> list:
        if cols is Comment:  # raw rows: the listing's own query builder
            return comment_conditions(CommentFilters(artista=f.artista, album=f.album))
        where = []
        if f.artista:
            where.append(cols.artist_id == select(Artist.id).where(Artist.name_key == f.artista_key).scalar_subquery())
        if f.album:
            where.append(cols.album_id.in_(select(Album.id).where(Album.title_key == f.album_key)))
        return where

    return conditions


Ranges = list[tuple[datetime, datetime]]


def _ranges(points: Iterable[Any], step: timedelta, start: Callable[[Any], datetime]) -> Ranges:
    """Contiguous runs of days/hours as [from, to) UTC instants (one range per run, not one per point)."""
    out: list[tuple[datetime, datetime]] = []
    previous = None
    for point in sorted(points):
        if previous is not None and point - previous == step:
            out[-1] = (out[-1][0], start(point + step))
        else:
            out.append((start(point), start(point + step)))
        previous = point
    return out


def _in_ranges(column: Any, ranges: list[tuple[datetime, datetime]]) -> Any:
    return or_(*[and_(column >= lo, column < hi) for lo, hi in ranges])


def _below(threshold: float) -> Any:
    return func.sum(case((Comment.confidence < threshold, 1), else_=0))


def _fold_days(session: Session, w: Windows, days: set[date], threshold: float) -> None:
    if not days:
        return
    session.execute(delete(ReportRollupDaily).where(ReportRollupDaily.dia.in_(sorted(days))))
    day = local_day(Comment.occurred_at, session, w)
    artist, album = func.coalesce(Comment.artist_id, 0), func.coalesce(Comment.album_id, 0)
    rows = (
        select(day, artist, album, Comment.category, func.count(), func.sum(Comment.confidence), _below(threshold))
        .where(_in_ranges(Comment.occurred_at, _ranges(days, timedelta(days=1), w.day_start)))
        .group_by(day, artist, album, Comment.category)
    )
    cols = ["dia", "artist_id", "album_id", "category", "n", "conf_sum", "below"]
    session.execute(insert(ReportRollupDaily).from_select(cols, rows))


def _fold_hours(session: Session, hours: set[datetime], threshold: float) -> None:
    if not hours:
        return
    ranges = _ranges(hours, HOUR, lambda h: h)
    for table in (ReportRollupHourly, ReportRollupTagHourly):
        session.execute(delete(table).where(_in_ranges(table.hora, ranges)))
    hour = utc_hour(Comment.occurred_at, session)
    artist, album = func.coalesce(Comment.artist_id, 0), func.coalesce(Comment.album_id, 0)
    in_hours = _in_ranges(Comment.occurred_at, ranges)
    rows = (
        select(hour, artist, album, Comment.category, func.count(), func.sum(Comment.confidence), _below(threshold))
        .where(in_hours)
        .group_by(hour, artist, album, Comment.category)
    )
    cols = ["hora", "artist_id", "album_id", "category", "n", "conf_sum", "below"]
    session.execute(insert(ReportRollupHourly).from_select(cols, rows))
    tags = (
        select(hour, CommentTag.code, artist, album, func.count())
        .join(Comment, Comment.id == CommentTag.comment_id)
        .where(in_hours)
        .group_by(hour, CommentTag.code, artist, album)
    )
    session.execute(insert(ReportRollupTagHourly).from_select(["hora", "code", "artist_id", "album_id", "n"], tags))


def fold(session: Session, w: Windows, cfg: Mapping[str, Any]) -> dict[str, Any]:
    """Bring the rollups up to `w.now` (commits its own transaction): refold changed and newly closed hours/days."""
    threshold = float(cfg["REVIEW_THRESHOLD"])
    current_hour = w.current_hour
    hour_floor = current_hour - ROLLUP_HOURS * HOUR
    day_floor = w.today - timedelta(days=ROLLUP_DAYS)
    session.rollback()
    try:
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": ADVISORY_LOCK})
        state = session.get(ReportRollupState, 1)
        # Log rows for the open hour are dropped too: that hour is folded anyway once it closes (open_hour).
        consumed = delete(ReportRollupChange).where(ReportRollupChange.hora < current_hour + HOUR)
        rebuild = state is None or state.timezone != w.tz.key or state.threshold != threshold
        if rebuild:
            for table in (ReportRollupDaily, ReportRollupHourly, ReportRollupTagHourly):
                session.execute(delete(table))
            session.execute(consumed)
            hours = {hour_floor + n * HOUR for n in range(ROLLUP_HOURS)}
            days = {day_floor + timedelta(days=n) for n in range((w.today - day_floor).days)}
        else:
            changed = session.scalars(consumed.returning(ReportRollupChange.hora)).all()
            hours, days = set(), set()
            for at in set(changed):
                at = at.astimezone(UTC)
                hours.add(at)
                days |= w.local_days_of_hour(at)
            open_hour = max(state.open_hour.astimezone(UTC), hour_floor)
            hours |= {open_hour + n * HOUR for n in range(int((current_hour - open_hour) / HOUR))}
            open_day = max(state.open_day, day_floor)
            days |= {open_day + timedelta(days=n) for n in range((w.today - open_day).days)}
        hours = {h for h in hours if hour_floor <= h < current_hour}
        days = {d for d in days if day_floor <= d < w.today}
        _fold_days(session, w, days, threshold)
        _fold_hours(session, hours, threshold)
        session.execute(delete(ReportRollupDaily).where(ReportRollupDaily.dia < day_floor))
        for table in (ReportRollupHourly, ReportRollupTagHourly):
            session.execute(delete(table).where(table.hora < hour_floor))
        if state is None:
            state = ReportRollupState(id=1)
            session.add(state)
        state.timezone, state.threshold = w.tz.key, threshold
        state.open_hour, state.open_day, state.built_at = current_hour, w.today, datetime.now(UTC)
        if rebuild:  # fresh tables have no statistics yet: the charts' plans need them
            session.execute(text("ANALYZE report_rollup_daily, report_rollup_hourly, report_rollup_tags_hourly"))
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return {"rebuilt": rebuild, "days": len(days), "hours": len(hours)}


# --- reading ------------------------------------------------------------------------------------------------------
def _raw_day_cells(session: Session, w: Windows, pieces: list[tuple[datetime, datetime]], where: Conditions,
                   threshold: float) -> Select:  # fmt: skip
    """Raw comments of the given [from, to] pieces as day cells (the last piece includes `now`)."""
    day = local_day(Comment.occurred_at, session, w).label("dia")
    bounds = [
        and_(Comment.occurred_at >= lo, Comment.occurred_at <= hi if hi == w.now else Comment.occurred_at < hi)
        for lo, hi in pieces
    ]
    return (
        select(
            day,
            Comment.artist_id.label("artist_id"),
            Comment.album_id.label("album_id"),
            Comment.category.label("category"),
            func.count().label("n"),
            func.sum(Comment.confidence).label("conf_sum"),
            _below(threshold).label("below"),
        )
        .where(or_(*bounds), *where(Comment))
        .group_by(day, Comment.artist_id, Comment.album_id, Comment.category)
    )


def open_pieces(start: datetime, w: Windows) -> tuple[datetime, datetime, list[tuple[datetime, datetime]]]:
    """Split [start, now] into whole closed hours [h0, h1) (rollup) and the raw pieces around them."""
    h0 = ceil_hour(start)
    h1 = max(w.current_hour, h0)
    pieces = []
    if start < h0:
        pieces.append((start, min(h0, w.now)))
    if h1 <= w.now and not (pieces and pieces[-1][1] == w.now):
        pieces.append((h1, w.now))
    return h0, h1, pieces


def day_cells(session: Session, w: Windows, start_day: date, where: Conditions, threshold: float) -> Select:
    """(dia, artist_id, album_id, category, n, conf_sum, below) for local days start_day..today, up to `now`."""
    if not w.rollup:
        return _raw_day_cells(session, w, [(w.day_start(start_day), w.now)], where, threshold)
    d, h = ReportRollupDaily, ReportRollupHourly
    closed_days = select(
        d.dia.label("dia"),
        func.nullif(d.artist_id, 0).label("artist_id"),
        func.nullif(d.album_id, 0).label("album_id"),
        d.category.label("category"),
        d.n.label("n"),
        d.conf_sum.label("conf_sum"),
        d.below.label("below"),
    ).where(d.dia >= start_day, d.dia < w.today, *where(d))
    h0, h1, pieces = open_pieces(w.day_start(max(start_day, w.today)), w)
    parts = [closed_days]
    if h0 < h1:
        parts.append(
            select(
                literal(w.today, Date).label("dia"),
                func.nullif(h.artist_id, 0),
                func.nullif(h.album_id, 0),
                h.category,
                func.sum(h.n),
                func.sum(h.conf_sum),
                func.sum(h.below),
            )
            .where(h.hora >= h0, h.hora < h1, *where(h))
            .group_by(h.artist_id, h.album_id, h.category)
        )
    if pieces:
        parts.append(_raw_day_cells(session, w, pieces, where, threshold))
    return union_all(*parts)


def hour_counts(session: Session, w: Windows, start: datetime, where: Conditions) -> Select:
    """(hora, n): comments per UTC hour from an hour-aligned `start` to `now`."""
    hour = utc_hour(Comment.occurred_at, session).label("hora")

    def raw(lo: datetime) -> Select:
        return (
            select(hour, func.count().label("n"))
            .where(Comment.occurred_at >= lo, Comment.occurred_at <= w.now, *where(Comment))
            .group_by(hour)
        )

    if not w.rollup:
        return raw(start)
    h = ReportRollupHourly
    closed = (
        select(h.hora.label("hora"), func.sum(h.n).label("n"))
        .where(h.hora >= start, h.hora < w.current_hour, *where(h))
        .group_by(h.hora)
    )
    return union_all(closed, raw(max(start, w.current_hour)))


def tag_counts(session: Session, w: Windows, start: datetime, where: Conditions) -> Select:
    """(code, n) rows to be summed per code: tag citations of comments in [start, now]."""

    def raw(pieces: list[tuple[datetime, datetime]]) -> Select:
        bounds = [
            and_(Comment.occurred_at >= lo, Comment.occurred_at <= hi if hi == w.now else Comment.occurred_at < hi)
            for lo, hi in pieces
        ]
        return (
            select(CommentTag.code.label("code"), func.count().label("n"))
            .join(Comment, Comment.id == CommentTag.comment_id)
            .where(or_(*bounds), *where(Comment))
            .group_by(CommentTag.code)
        )

    if not w.rollup:
        return raw([(start, w.now)])
    t = ReportRollupTagHourly
    h0, h1, pieces = open_pieces(start, w)
    parts = [
        select(t.code.label("code"), func.sum(t.n).label("n"))
        .where(t.hora >= h0, t.hora < h1, *where(t))
        .group_by(t.code)
    ]
    if pieces:
        parts.append(raw(pieces))
    return union_all(*parts)
