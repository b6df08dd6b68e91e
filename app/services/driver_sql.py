"""The ingest hot path's SQL on PostgreSQL, straight through psycopg on the session's own connection.

Every `POST /api/comentarios` looks up its ids, artists and albums and writes three tables. Through SQLAlchemy each
lookup costs ~0.4-0.9 ms of client CPU before the database sees it (statement building, cache key, execution
context, result proxy), and a list of UUIDs is dumped element by element; here a lookup is one prepared statement
with its keys as one text array literal, and the rows are written with COPY (benchmarks/RESULTS.md). The statements
run inside the session's transaction, so they commit or roll back with it, and driver errors surface as the same
SQLAlchemy exceptions (IntegrityError, OperationalError...) that callers and error handlers already expect.

Other databases (SQLite: `make run`, tests of the embedded path): `connection()` is None and callers use their
SQLAlchemy statement instead.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import orjson
from sqlalchemy import JSON, Table, insert
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError

from app.extensions import db


def connection() -> Connection | None:
    """The session's connection (its transaction begun) when it is PostgreSQL through psycopg, else None."""
    conn = db.session.connection()
    if conn.dialect.name != "postgresql" or conn.dialect.driver != "psycopg":
        return None
    return conn


@contextmanager
def _wrapped(conn: Connection, sql: str) -> Iterator[Any]:
    """The psycopg connection, with driver errors raised as SQLAlchemy raises them (a lost connection is
    invalidated, so the pool never hands it out again)."""
    import psycopg

    driver_conn = conn.connection.driver_connection
    try:
        yield driver_conn
    except psycopg.Error as exc:
        invalidated = conn.dialect.is_disconnect(exc, driver_conn, None)
        if invalidated:
            conn.invalidate(exc)
        raise DBAPIError.instance(
            sql, None, exc, psycopg.Error, connection_invalidated=invalidated, dialect=conn.dialect
        ) from exc


def rows(conn: Connection, sql: str, params: Sequence[Any]) -> list[tuple]:
    """Run one statement (psycopg `%s` placeholders) in the session's transaction and return its rows."""
    with _wrapped(conn, sql) as driver_conn, driver_conn.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def rows_of_each(conn: Connection, statements: Sequence[tuple[str, Sequence[Any]]]) -> list[list[tuple]]:
    """Run several independent statements in one round trip (psycopg's pipeline mode) and return each one's rows.

    Ingest's id, artist and album lookups need nothing from each other: sent together, the request waits for the
    database once instead of three times (a round trip costs the worker ~0.1-0.2 ms of CPU in the driver and the
    system calls, and a context switch each way on a machine shared with PostgreSQL)."""
    sql = "; ".join(s for s, _ in statements)
    with _wrapped(conn, sql) as driver_conn:
        cursors = []
        with driver_conn.pipeline():
            for statement, params in statements:
                cursor = driver_conn.cursor()
                cursor.execute(statement, params)
                cursors.append(cursor)
        try:
            return [cursor.fetchall() for cursor in cursors]
        finally:
            for cursor in cursors:
                cursor.close()


def text_array(values: Iterable[Any]) -> str:
    """A PostgreSQL array literal of these values as text (`'{"a","b"}'`), cast in SQL (`%s::uuid[]`).

    One string parameter instead of a list psycopg dumps element by element (~1.5 µs per UUID in Python): a
    batch's 100 ids cost one join. Every element is quoted, with `\\` and `"` escaped, so any text is safe."""
    parts = []
    for value in values:
        text = str(value)
        if "\\" in text or '"' in text:
            text = text.replace("\\", "\\\\").replace('"', '\\"')
        parts.append(f'"{text}"')
    return "{" + ",".join(parts) + "}"


# Tells two triggers that the next INSERT into comment_tags in this transaction holds the tags of comments it has just
# written (ingest, import), so they skip that one statement and clear their flag; any later statement runs them as
# usual. Ingest sends it with its lookups, in their round trip (app.services.comments._look_up); nothing to do on
# other databases (no triggers there).
# - the tag-codes trigger (migration 0012): each comment row already carries its `tag_codes` (~15 µs of PostgreSQL
#   CPU per stored comment to re-read them);
# - the tag rollup log (migration 0013): the comments' own statement trigger has logged their hours, which are the
#   tags' hours (one duplicate change-log row per distinct hour and batch).
OWN_TAGS_NEXT: tuple[str, tuple] = (
    "SELECT set_config('alumusic.tag_codes_written', 'on', true), set_config('alumusic.tag_hours_logged', 'on', true)",
    (),
)
_OWN_TAGS_OFF_SQL = (
    "SELECT set_config('alumusic.tag_codes_written', 'off', true), set_config('alumusic.tag_hours_logged', 'off', true)"
)


def own_tags_flag_off() -> None:
    """Clear OWN_TAGS_NEXT's flag: the writer that set it ahead wrote no tags, and a later tag INSERT in this
    transaction must run its triggers. One round trip; nothing to do on other databases."""
    conn = connection()
    if conn is None:
        return
    with _wrapped(conn, _OWN_TAGS_OFF_SQL) as driver_conn:
        driver_conn.execute(_OWN_TAGS_OFF_SQL)


def copy_rows(table: Table, columns: Sequence[str], rows: list[tuple]) -> None:
    """Insert rows (tuples in `columns` order) in the session's transaction.

    PostgreSQL with psycopg: one binary COPY per table instead of one INSERT per row (executemany). Binary, with the
    columns' types given, so psycopg dumps each value with its C dumper for that type: ~4-5 µs a row of client CPU
    against ~20 in COPY's text format (benchmarks/RESULTS.md). Same rows, same transaction. Other databases
    (SQLite, the embedded path): executemany.
    """
    if not rows:
        return
    conn = connection()
    if conn is None:
        db.session.execute(insert(table), [dict(zip(columns, row, strict=True)) for row in rows])
        return
    # JSON columns: SQLAlchemy's JSON type serialises every value (None included, as JSON null); do the same.
    json_at = [i for i, c in enumerate(columns) if isinstance(table.c[c].type, JSON)]
    quote = conn.dialect.identifier_preparer
    target = f"{quote.format_table(table)} ({', '.join(quote.quote(c) for c in columns)})"
    sql = f"COPY {target} FROM STDIN (FORMAT BINARY)"
    with _wrapped(conn, sql) as driver_conn:
        types = _copy_types(driver_conn, quote.format_table(table), tuple(columns))
        with driver_conn.cursor() as cursor, cursor.copy(sql) as copy:
            copy.set_types(types)
            for row in rows:
                if json_at:
                    row = list(row)
                    for i in json_at:
                        row[i] = orjson.dumps(row[i]).decode()
                copy.write_row(row)


# Type OIDs of the columns a process copies into, read from the database once per (table, columns): binary COPY
# needs the exact type (an int4 and an int8 are not written alike). json is sent as text, which is its binary form.
_TYPES: dict[tuple[str, tuple[str, ...]], list[int]] = {}
_TEXT_OID, _JSON_OID = 25, 114


def _copy_types(driver_conn: Any, table: str, columns: tuple[str, ...]) -> list[int]:
    key = (table, columns)
    types = _TYPES.get(key)
    if types is None:
        found = dict(
            driver_conn.execute(
                "SELECT attname, atttypid::int FROM pg_attribute"
                " WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped",
                (table,),
            ).fetchall()
        )
        types = [_TEXT_OID if found[c] == _JSON_OID else found[c] for c in columns]
        _TYPES[key] = types
    return types
