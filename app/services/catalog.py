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


def resolve_artists(names: Iterable[str]) -> dict[str, Named]:
    """Map each name_key to its artist, creating the missing ones (no commit)."""
    wanted: dict[str, str] = {}
    for name in dict.fromkeys(names):  # first spelling of a new name wins (its display name), in batch order
        wanted.setdefault(name_key(name), " ".join(name.split()))
    if not wanted:
        return {}

    def fetch(keys: list[str]) -> dict[str, Named]:
        conn = driver_sql.connection()
        if conn is not None:
            rows = driver_sql.rows(conn, _ARTISTS_SQL, (driver_sql.text_array(keys),))
        else:
            rows = db.session.execute(
                select(Artist.name_key, Artist.id, Artist.name).where(one_of(Artist.name_key, keys))
            ).tuples()
        return {key: Named(artist_id, name) for key, artist_id, name in rows}

    found = fetch(list(wanted))
    missing = [{"name": wanted[k], "name_key": k} for k in wanted if k not in found]
    if missing:
        _insert_ignoring_conflicts(Artist, missing, key=itemgetter("name_key"))
        found.update(fetch([m["name_key"] for m in missing]))
    return found


def resolve_albums(pairs: Iterable[tuple[str | None, str]], artists: dict[str, Named]) -> dict[tuple[str, str], Named]:
    """Map (artist_key, title_key) to its album, creating the missing ones (no commit)."""
    wanted: dict[tuple[str, str], str] = {}
    for artist_name, title in dict.fromkeys(pairs):
        key = (name_key(artist_name) if artist_name else "", name_key(title))
        wanted.setdefault(key, " ".join(title.split()))
    if not wanted:
        return {}

    def fetch(keys: list[tuple[str, str]]) -> dict[tuple[str, str], Named]:
        # Both columns of the unique index as arrays (one range scan of it), the exact pairs kept in Python: an IN
        # over (artist_key, title_key) tuples costs bound parameters and planning per pair on every request.
        wanted_keys = set(keys)
        artist_keys, title_keys = sorted({a for a, _ in keys}), sorted({t for _, t in keys})
        conn = driver_sql.connection()
        if conn is not None:
            params = (driver_sql.text_array(artist_keys), driver_sql.text_array(title_keys))
            rows = driver_sql.rows(conn, _ALBUMS_SQL, params)
        else:
            rows = db.session.execute(
                select(Album.artist_key, Album.title_key, Album.id, Album.title).where(
                    one_of(Album.artist_key, artist_keys), one_of(Album.title_key, title_keys)
                )
            ).tuples()
        return {(a, t): Named(album_id, title) for a, t, album_id, title in rows if (a, t) in wanted_keys}

    found = fetch(list(wanted))
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
