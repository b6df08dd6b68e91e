"""Artists and albums/releases named in comments (upserted on ingest)."""

from __future__ import annotations

from datetime import date, datetime
from functools import lru_cache

from sqlalchemy import Date, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db
from app.models._types import UTCDateTime, utcnow


@lru_cache(maxsize=4096)
def name_key(name: str) -> str:
    """Case- and space-insensitive key so "Anitta" and " anitta " are one artist (memoised: ingest keys every
    comment's artist and album names, and a catalogue repeats the same few thousand)."""
    return " ".join(name.split()).casefold()


class Artist(db.Model):
    __tablename__ = "artists"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    name_key: Mapped[str] = mapped_column(String(200), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    albums: Mapped[list[Album]] = relationship(back_populates="artist")


class Album(db.Model):
    """An album or release. `artist_id` is null when a comment names an album without its artist."""

    __tablename__ = "albums"
    __table_args__ = (UniqueConstraint("artist_key", "title_key", name="uq_albums_artist_title"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    artist_id: Mapped[int | None] = mapped_column(ForeignKey("artists.id", ondelete="SET NULL"), index=True)
    # Denormalised artist key ("" when unknown) so the unique constraint also covers artist-less albums.
    artist_key: Mapped[str] = mapped_column(String(200), default="")
    title: Mapped[str] = mapped_column(String(200))
    title_key: Mapped[str] = mapped_column(String(200))
    release_date: Mapped[date | None] = mapped_column(Date, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    artist: Mapped[Artist | None] = relationship(back_populates="albums")
