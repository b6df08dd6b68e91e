"""Helpers for the curator panel tests (server-side and browser): CSRF tokens, panel login, controlled comments."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

CSRF_FIELD = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')


def csrf_token(html: str) -> str:
    match = CSRF_FIELD.search(html)
    assert match, "page has no CSRF token"
    return match.group(1)


def panel_login(client, username: str, password: str, **extra: str):
    """Post the login form the way a browser does (token from the form); returns the response."""
    token = csrf_token(client.get("/curadoria/login").get_data(as_text=True))
    return client.post(
        "/curadoria/login", data={"username": username, "password": password, "csrf_token": token, **extra}
    )


def seed_comments(app, specs: list[dict[str, Any]]) -> list[str]:
    """Store comments with exactly the given labels (no classifier): text, category, confidence, artist, album,
    target, tags, minutes_ago. Each gets its model history event. Returns their ids in order."""
    from app.extensions import db
    from app.models.catalog import Album, Artist, name_key
    from app.models.comment import ClassificationEvent, Comment, CommentTag

    now = datetime.now(UTC)
    ids = []
    with app.app_context():
        artists: dict[str, Artist] = {a.name_key: a for a in db.session.query(Artist)}
        for n, spec in enumerate(specs):
            artist = None
            if spec.get("artist"):
                key = name_key(spec["artist"])
                artist = artists.get(key)
                if artist is None:
                    artist = artists[key] = Artist(name=spec["artist"], name_key=key)
                    db.session.add(artist)
                    db.session.flush()
            album = None
            if spec.get("album"):
                artist_key = artist.name_key if artist else ""
                title_key = name_key(spec["album"])
                album = db.session.query(Album).filter_by(artist_key=artist_key, title_key=title_key).first()
                if album is None:
                    album = Album(
                        artist_id=artist.id if artist else None,
                        artist_key=artist_key,
                        title=spec["album"],
                        title_key=title_key,
                    )
                    db.session.add(album)
                    db.session.flush()
            when = now - timedelta(minutes=spec.get("minutes_ago", n))
            cid = uuid.uuid4()
            model = spec.get("model", "local:teste")
            db.session.add(
                Comment(
                    id=cid,
                    text=spec["text"],
                    artist_id=artist.id if artist else None,
                    album_id=album.id if album else None,
                    target=spec.get("target"),
                    published_at=when,
                    occurred_at=when,
                    category=spec.get("category", "ELOGIO"),
                    confidence=spec.get("confidence", 0.9),
                    model_version=model,
                    classified_at=when,
                    created_at=when,
                    updated_at=when,
                )
            )
            db.session.flush()
            for pos, code in enumerate(spec.get("tags", [])):
                db.session.add(CommentTag(comment_id=cid, code=code, position=pos))
            db.session.add(
                ClassificationEvent(
                    comment_id=cid,
                    source="modelo",
                    category=spec.get("category", "ELOGIO"),
                    confidence=spec.get("confidence", 0.9),
                    tags=spec.get("tags", []),
                    model_version=model,
                    created_at=when,
                )
            )
            ids.append(str(cid))
        db.session.commit()
    return ids
