"""Streaming CSV export of filtered comments: constant memory whatever the size (rows leave as the database
produces them), the same filters as the listing (app.services.queries), cells neutralised against spreadsheet
formula injection (the rules of app.serializers.comments).

On PostgreSQL the rows are written by the server itself (`COPY (SELECT ...) TO STDOUT WITH CSV`): the SELECT
formats every cell in SQL exactly as `csv_row` does (a test compares both on the same rows), so Python only
forwards bytes; that is what makes 1,000,000 rows a matter of seconds (benchmarks/RESULTS.md). Other databases
(SQLite, the embedded path) stream a server-side cursor through `csv_row`.
"""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Iterator

from flask import current_app
from sqlalchemy import ColumnElement, Float, Select, case, func, literal, select

from app.extensions import db
from app.models.catalog import Album, Artist
from app.models.comment import Comment, CommentTag
from app.schemas.comments import CommentFilters
from app.serializers.comments import CONFIDENCE_SCALE, CSV_COLUMNS, FORMULA_PREFIXES, TAG_SEPARATOR, csv_row
from app.services.db_limits import set_statement_timeout
from app.services.queries import comment_conditions, order_clauses

# Rows fetched per round trip from the server-side cursor, and rows per chunk written to the client.
FETCH_ROWS = 2000
UTF8_BOM = "\ufeff"
# Bytes gathered before handing a chunk to the WSGI server (COPY hands over one row at a time).
COPY_CHUNK_BYTES = 128 * 1024
LINE_END = "\n"  # what PostgreSQL's COPY writes; the cursor path writes the same
HEARTBEAT_SECONDS = 1.0


def _tags_subquery(dialect: str):
    """The comment's tag codes joined by `|`, in the order the model gave them (one correlated subquery)."""
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import aggregate_order_by

        agg = func.string_agg(CommentTag.code, aggregate_order_by(literal(TAG_SEPARATOR), CommentTag.position))
        return select(agg).where(CommentTag.comment_id == Comment.id).scalar_subquery()
    # Ordered in a derived table (SQLite's group_concat takes no ORDER BY before 3.44). SQLAlchemy correlates only a
    # subquery's own WHERE to the enclosing query, not one nested in a FROM: without correlate() it adds `comments`
    # to the inner FROM and every row gets every tag in the database.
    ordered = (
        select(CommentTag.code)
        .where(CommentTag.comment_id == Comment.id)
        .order_by(CommentTag.position)
        .correlate(Comment)
    )
    inner = ordered.subquery()
    return select(func.group_concat(inner.c.code, TAG_SEPARATOR)).scalar_subquery()


def export_select(filters: CommentFilters) -> Select:
    """Flat rows in CSV_COLUMNS order (no ORM objects: an export never loads relationships per row)."""
    dialect = db.session.get_bind().dialect.name
    return (
        select(
            Comment.id,
            Comment.text,
            Comment.category,
            _tags_subquery(dialect),
            Comment.confidence,
            Artist.name,
            Album.title,
            Comment.target,
            Comment.published_at,
            Comment.classified_at,
            Comment.model_version,
        )
        .outerjoin(Artist, Artist.id == Comment.artist_id)
        .outerjoin(Album, Album.id == Comment.album_id)
        .where(*comment_conditions(filters))
        .order_by(*order_clauses(filters.ordenar))
    )


# Character codes of FORMULA_PREFIXES: `ascii(x) IN (...)` tests the first character without building a substring.
_FORMULA_CODES = tuple(ord(p) for p in FORMULA_PREFIXES)
# `datetime.isoformat()` with `Z`: six fraction digits, none when the microseconds are zero (as Python prints it).
# One to_char per cell (in the transaction's UTC zone, see _copy_csv); the previous date_part/CASE/second to_char
# per timestamp cost about 0.4 s of PostgreSQL CPU per million rows and column.
_ISO_UTC_FORMAT = 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'


def _neutralised(column: ColumnElement) -> ColumnElement:
    """`neutralise_cell` in SQL."""
    return case((func.ascii(column).in_(_FORMULA_CODES), literal("'") + column), else_=column)


def _iso_utc(column: ColumnElement) -> ColumnElement:
    """`csv_value` of a datetime in SQL (the session's time zone must be UTC)."""
    return func.replace(func.to_char(column, _ISO_UTC_FORMAT), ".000000Z", "Z")


def copy_select(filters: CommentFilters) -> Select:
    """PostgreSQL: the CSV cells, formatted in SQL as `csv_row` formats them, in CSV_COLUMNS order.

    Every expression here was chosen for its cost per row (benchmarks/RESULTS.md): float arithmetic instead of a
    numeric round trip for the confidence, `ascii()` for the formula test, one to_char per timestamp."""
    columns = [
        Comment.id,
        _neutralised(Comment.text),
        Comment.category,
        Comment.tag_codes,  # kept by triggers on PostgreSQL: no per-row aggregate
        func.round(Comment.confidence * CONFIDENCE_SCALE, type_=Float) / float(CONFIDENCE_SCALE),  # as csv_row rounds
        _neutralised(Artist.name),
        _neutralised(Album.title),
        Comment.target,
        _iso_utc(Comment.published_at),
        _iso_utc(Comment.classified_at),
        _neutralised(Comment.model_version),
    ]
    return (
        select(*(c.label(name) for c, name in zip(columns, CSV_COLUMNS, strict=True)))
        .outerjoin(Artist, Artist.id == Comment.artist_id)
        .outerjoin(Album, Album.id == Comment.album_id)
        .where(*comment_conditions(filters))
        .order_by(*order_clauses(filters.ordenar))
    )


def _copy_csv(filters: CommentFilters) -> Iterator[bytes]:
    conn = db.session.connection()
    compiled = copy_select(filters).compile(dialect=conn.dialect, compile_kwargs={"render_postcompile": True})
    sql = f"COPY ({compiled}) TO STDOUT WITH (FORMAT csv, HEADER true)"
    with conn.connection.driver_connection.cursor() as cursor:
        # A whole-table query crosses the JIT cost thresholds: compiling it delays the first byte by about a second
        # and buys nothing for a plan that is one scan (transaction-local: the pooled connection keeps its setting).
        cursor.execute("SET LOCAL jit = off")
        # Prefer reading in index order over sorting the whole result first: rows leave from the first one on
        # (the planner otherwise picks a full sort for a whole-table export and the first byte waits for it).
        cursor.execute("SET LOCAL enable_sort = off")
        # One backend streams in order: a parallel plan merges the workers' rows (Gather Merge) at ~1.5x the CPU
        # per row, and the web worker and the client need the other core (benchmarks/RESULTS.md).
        cursor.execute("SET LOCAL max_parallel_workers_per_gather = 0")
        # Timestamps are formatted in UTC by to_char (see _iso_utc).
        cursor.execute("SET LOCAL timezone = 'UTC'")
        yield from _copy_rows(cursor, sql, compiled.params)


def _copy_rows(cursor, sql: str, params: dict) -> Iterator[bytes]:
    alive = _Heartbeat()
    with cursor.copy(sql, params) as copy:
        buffer, flush_at = bytearray(), 4096  # the first chunk leaves early: the client sees the download start
        for data in copy:
            buffer += data
            if len(buffer) >= flush_at:
                yield bytes(buffer)
                buffer.clear()
                flush_at = COPY_CHUNK_BYTES
                alive()
        if buffer:
            yield bytes(buffer)


class _Heartbeat:
    """Tell gunicorn's arbiter the worker is alive while chunks keep leaving (at most once a second).

    A sync worker only reports between requests, so any response longer than GUNICORN_TIMEOUT was killed
    mid-stream: a 1M-row export on a loaded machine, or any export to a slow client. A stream that stops moving
    still times out (nothing is yielded, nothing is reported), and the COPY itself stays bounded by
    DB_LONG_STATEMENT_TIMEOUT_MS. `gunicorn.conf.py` puts the worker's `notify` in `app.extensions`; other
    servers (tests, `flask run`) have none and this does nothing."""

    def __init__(self) -> None:
        self.notify = current_app.extensions.get("worker_heartbeat")
        self.last = 0.0

    def __call__(self) -> None:
        now = time.monotonic()
        if self.notify is not None and now - self.last >= HEARTBEAT_SECONDS:
            self.notify()
            self.last = now


def _cursor_csv(filters: CommentFilters, fetch_rows: int) -> Iterator[bytes]:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator=LINE_END)
    writer.writerow(CSV_COLUMNS)
    yield buffer.getvalue().encode()
    buffer.seek(0)
    buffer.truncate()
    stmt = export_select(filters).execution_options(stream_results=True, yield_per=fetch_rows)
    result = db.session.execute(stmt)
    alive = _Heartbeat()
    try:
        for partition in result.partitions():
            writer.writerows(csv_row(*row) for row in partition)
            yield buffer.getvalue().encode()
            buffer.seek(0)
            buffer.truncate()
            alive()
    finally:
        result.close()


def stream_csv(filters: CommentFilters, *, bom: bool = False, fetch_rows: int = FETCH_ROWS) -> Iterator[bytes]:
    """The CSV as UTF-8 chunks: header row first, then the rows as the database yields them."""
    # One statement reads the whole selection: it gets the long limit of exports, not the API's.
    set_statement_timeout(current_app.config["DB_LONG_STATEMENT_TIMEOUT_MS"])
    if bom:
        yield UTF8_BOM.encode()
    if db.session.get_bind().dialect.name == "postgresql":
        yield from _copy_csv(filters)
    else:
        yield from _cursor_csv(filters, fetch_rows)
