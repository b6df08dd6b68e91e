"""Artists and albums named in comments: resolved to ids, created when new (race-safe)."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select, tuple_
from sqlalchemy.dialects import postgresql, sqlite

from app.extensions import db
from app.models.catalog import Album, Artist, name_key


def _insert_ignoring_conflicts(model: type, rows: list[dict]) -> None:
    """INSERT ... ON CONFLICT DO NOTHING, so concurrent ingests naming the same artist do not fail."""
    if not rows:
        return
    dialect = db.session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    db.session.execute(insert(model).on_conflict_do_nothing(), rows)


def resolve_artists(names: Iterable[str]) -> dict[str, Artist]:
    """Map each name_key to its Artist, creating the missing ones (no commit)."""
    wanted: dict[str, str] = {}
    for name in names:
        wanted.setdefault(name_key(name), " ".join(name.split()))
    if not wanted:
        return {}
    found = {a.name_key: a for a in db.session.scalars(select(Artist).where(Artist.name_key.in_(wanted)))}
    missing = [{"name": wanted[k], "name_key": k} for k in wanted if k not in found]
    if missing:
        _insert_ignoring_conflicts(Artist, missing)
        keys = [m["name_key"] for m in missing]
        found.update({a.name_key: a for a in db.session.scalars(select(Artist).where(Artist.name_key.in_(keys)))})
    return found


def resolve_albums(pairs: Iterable[tuple[str | None, str]], artists: dict[str, Artist]) -> dict[tuple[str, str], Album]:
    """Map (artist_key, title_key) to its Album, creating the missing ones (no commit)."""
    wanted: dict[tuple[str, str], tuple[str | None, str]] = {}
    for artist_name, title in pairs:
        key = (name_key(artist_name) if artist_name else "", name_key(title))
        wanted.setdefault(key, (artist_name, " ".join(title.split())))
    if not wanted:
        return {}

    def fetch(keys: list[tuple[str, str]]) -> dict[tuple[str, str], Album]:
        stmt = select(Album).where(tuple_(Album.artist_key, Album.title_key).in_(keys))
        return {(a.artist_key, a.title_key): a for a in db.session.scalars(stmt)}

    found = fetch(list(wanted))
    missing = []
    for key, (_artist_name, title) in wanted.items():
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
        _insert_ignoring_conflicts(Album, missing)
        found.update(fetch([(m["artist_key"], m["title_key"]) for m in missing]))
    return found
