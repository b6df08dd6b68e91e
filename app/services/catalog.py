"""Artists and albums named in comments: resolved to ids, created when new (race-safe).

Ingest resolves the names of every batch, so this is on the hot path of `POST /api/comentarios`: rows are read as
plain (id, name) tuples, not ORM objects, and on PostgreSQL the keys travel as one text array through the driver
(app/services/driver_sql.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from operator import itemgetter
from typing import Any, NamedTuple

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite

from app.extensions import db
from app.models.catalog import Album, Artist, name_key
from app.services import driver_sql
from app.services.queries import one_of


class Named(NamedTuple):
    """What ingest needs of an artist or album: its id, and its stored name (artist) or title (album)."""

    id: int
    name: str


def _insert_ignoring_conflicts(model: type, rows: list[dict], key: Callable[[dict], Any]) -> None:
    """INSERT ... ON CONFLICT DO NOTHING, so concurrent ingests naming the same artist do not fail.

    Rows go in in `key` order: a transaction waits on another's uncommitted row with the same key, so two batches
    inserting the same new names in opposite orders would each wait on the other (a deadlock, aborted after
    PostgreSQL's deadlock_timeout); in one order, the later one just waits for the earlier to commit."""
    if not rows:
        return
    rows = sorted(rows, key=key)
    dialect = db.session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    db.session.execute(insert(model).on_conflict_do_nothing(), rows)


# The lookups on PostgreSQL, through the driver (app/services/driver_sql.py): keys as one text array each.
_ARTISTS_SQL = "SELECT name_key, id, name FROM artists WHERE name_key = ANY(%s::text[])"
_ALBUMS_SQL = (
    "SELECT artist_key, title_key, id, title FROM albums"
    " WHERE artist_key = ANY(%s::text[]) AND title_key = ANY(%s::text[])"
)


def artist_keys(names: Iterable[str]) -> dict[str, str]:
    """name_key -> display name; the first spelling of a name wins, in batch order."""
    wanted: dict[str, str] = {}
    for name in dict.fromkeys(names):
        wanted.setdefault(name_key(name), " ".join(name.split()))
    return wanted


def album_keys(pairs: Iterable[tuple[str | None, str]]) -> dict[tuple[str, str], str]:
    """(artist_key, title_key) -> display title; the first spelling wins, in batch order."""
    wanted: dict[tuple[str, str], str] = {}
    for artist_name, title in dict.fromkeys(pairs):
        key = (name_key(artist_name) if artist_name else "", name_key(title))
        wanted.setdefault(key, " ".join(title.split()))
    return wanted


def artists_statement(keys: Iterable[str]) -> tuple[str, tuple[str]]:
    """The PostgreSQL lookup of these artist keys (driver_sql.rows or rows_of_each); rows for `resolve_artists`."""
    return _ARTISTS_SQL, (driver_sql.text_array(keys),)


def albums_statement(keys: Iterable[tuple[str, str]]) -> tuple[str, tuple[str, str]]:
    """The PostgreSQL lookup of these album keys: both columns of the unique index as arrays (one range scan of it),
    the exact pairs kept in Python; an IN over (artist_key, title_key) tuples costs bound parameters and planning per
    pair on every request. Rows for `resolve_albums`."""
    artist_keys_, title_keys = _key_columns(keys)
    return _ALBUMS_SQL, (driver_sql.text_array(artist_keys_), driver_sql.text_array(title_keys))


def _key_columns(keys: Iterable[tuple[str, str]]) -> tuple[list[str], list[str]]:
    """The distinct artist keys and title keys of these album keys, each sorted."""
    keys = list(keys)
    return sorted({a for a, _ in keys}), sorted({t for _, t in keys})


def resolve_artists(names: Iterable[str], rows: list[tuple] | None = None) -> dict[str, Named]:
    """Map each name_key to its artist, creating the missing ones (no commit). `rows`: what `artists_statement` of
    these keys (or more) returned, when the caller already ran it with other lookups."""
    wanted = artist_keys(names)
    if not wanted:
        return {}

    def found_in(found_rows: Iterable[tuple]) -> dict[str, Named]:
        return {key: Named(artist_id, name) for key, artist_id, name in found_rows}

    def fetch(keys: list[str]) -> dict[str, Named]:
        conn = driver_sql.connection()
        if conn is not None:
            return found_in(driver_sql.rows(conn, *artists_statement(keys)))
        return found_in(
            db.session.execute(
                select(Artist.name_key, Artist.id, Artist.name).where(one_of(Artist.name_key, keys))
            ).tuples()
        )

    found = fetch(list(wanted)) if rows is None else found_in(rows)
    missing = [{"name": wanted[k], "name_key": k} for k in wanted if k not in found]
    if missing:
        _insert_ignoring_conflicts(Artist, missing, key=itemgetter("name_key"))
        found.update(fetch([m["name_key"] for m in missing]))
    return found


def resolve_albums(
    pairs: Iterable[tuple[str | None, str]], artists: dict[str, Named], rows: list[tuple] | None = None
) -> dict[tuple[str, str], Named]:
    """Map (artist_key, title_key) to its album, creating the missing ones (no commit). `rows`: what
    `albums_statement` of these keys (or more) returned, when the caller already ran it with other lookups."""
    wanted = album_keys(pairs)
    if not wanted:
        return {}

    def found_in(found_rows: Iterable[tuple], keys: set[tuple[str, str]]) -> dict[tuple[str, str], Named]:
        return {(a, t): Named(album_id, title) for a, t, album_id, title in found_rows if (a, t) in keys}

    def fetch(keys: list[tuple[str, str]]) -> dict[tuple[str, str], Named]:
        conn = driver_sql.connection()
        if conn is not None:
            return found_in(driver_sql.rows(conn, *albums_statement(keys)), set(keys))
        artist_keys_, title_keys = _key_columns(keys)
        found_rows = db.session.execute(
            select(Album.artist_key, Album.title_key, Album.id, Album.title).where(
                one_of(Album.artist_key, artist_keys_), one_of(Album.title_key, title_keys)
            )
        ).tuples()
        return found_in(found_rows, set(keys))

    found = fetch(list(wanted)) if rows is None else found_in(rows, set(wanted))
    missing = []
    for key, title in wanted.items():
        if key not in found:
            artist = artists.get(key[0]) if key[0] else None
            missing.append(
                {
                    "artist_id": artist.id if artist else None,
                    "artist_key": key[0],
                    "title": title,
                    "title_key": key[1],
                }
            )
    if missing:
        _insert_ignoring_conflicts(Album, missing, key=itemgetter("artist_key", "title_key"))
        found.update(fetch([(m["artist_key"], m["title_key"]) for m in missing]))
    return found
