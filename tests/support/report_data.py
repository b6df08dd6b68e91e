"""Comments with known categories, artists, albums and instants, written straight to the database: the report
tests need exact counts, which classifying real texts would not give."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta

REDIS_TEST_URL = "redis://127.0.0.1:6379/10"  # this suite's own Redis database number


def add_comments(
    app,
    specs: Iterable[tuple[str, str | None, datetime]],
    *,
    album: str | None = None,
    release: date | None = None,
    tags: tuple[str, ...] = (),
    confidence: float = 0.9,
) -> list[uuid.UUID]:
    """One comment per (category, artist, occurred_at); optional album (with release date) and tags for all."""
    from app.extensions import db
    from app.models.catalog import Album, Artist, name_key
    from app.models.comment import Comment, CommentTag

    ids = []
    with app.app_context():
        artists: dict[str, Artist] = {}
        albums: dict[str, Album] = {}
        for category, artist_name, at in specs:
            artist = None
            if artist_name:
                artist = (
                    artists.get(artist_name)
                    or db.session.query(Artist).filter_by(name_key=name_key(artist_name)).one_or_none()
                )
                if artist is None:
                    artist = Artist(name=artist_name, name_key=name_key(artist_name))
                    db.session.add(artist)
                    db.session.flush()
                artists[artist_name] = artist
            album_row = None
            if album:
                key = (artist.name if artist else "") + "|" + album
                album_row = (
                    albums.get(key)
                    or db.session.query(Album)
                    .filter_by(artist_key=name_key(artist.name) if artist else "", title_key=name_key(album))
                    .one_or_none()
                )
                if album_row is None:
                    album_row = Album(
                        artist_id=artist.id if artist else None,
                        artist_key=name_key(artist.name) if artist else "",
                        title=album,
                        title_key=name_key(album),
                        release_date=release,
                    )
                    db.session.add(album_row)
                    db.session.flush()
                albums[key] = album_row
            comment = Comment(
                id=uuid.uuid4(),
                text=f"comentário {category} {uuid.uuid4().hex[:6]}",
                artist_id=artist.id if artist else None,
                album_id=album_row.id if album_row else None,
                occurred_at=at,
                published_at=at,
                category=category,
                confidence=confidence,
                model_version="local:teste",
                classified_at=datetime.now(UTC),
            )
            db.session.add(comment)
            for position, code in enumerate(tags):
                db.session.add(CommentTag(comment_id=comment.id, code=code, position=position))
            ids.append(comment.id)
        db.session.commit()
    return ids


def hours_ago(hours: float) -> datetime:
    return datetime.now(UTC) - timedelta(hours=hours)


def flush_redis(url: str = REDIS_TEST_URL) -> None:
    import redis

    client = redis.Redis.from_url(url, socket_connect_timeout=2)
    try:
        client.flushdb()
    finally:
        client.close()
