"""The weekly aggregate, computed in SQL (grouped counts; never rows loaded into Python) and stored as data."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import RowMapping, Select, case, desc, func, select
from sqlalchemy.orm import Session

from app.classifier.base import CATEGORIES
from app.models.catalog import Album, Artist
from app.models.comment import Comment, CommentTag
from app.services.weeks import IsoWeek

AGGREGATE_VERSION = 1
TOP_N = 5
# An artist or release needs this many comments in the week to be ranked (one loud comment is not a trend).
MIN_RANKED = 3
# Example comments are short quotes: a comment this long at most is quoted whole.
EXAMPLE_MAX_CHARS = 160
EXAMPLE_MIN_CHARS = 20
EXAMPLE_CATEGORIES = ("ELOGIO", "CRÍTICA", "SUGESTÃO", "DÚVIDA")


def pct(part: float, whole: float) -> float:
    """A share in percent with one decimal (what the text shows, so figures match exactly)."""
    return round(100.0 * part / whole, 1) if whole else 0.0


def _in(start: datetime, end: datetime):
    return (Comment.occurred_at >= start, Comment.occurred_at < end)


def _count_if(condition) -> Any:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def weekly_aggregate(session: Session, week: IsoWeek, *, tz: str, review_threshold: float) -> dict[str, Any]:
    """Everything the summary says about `week`, compared with the week before."""
    start, end = week.bounds(tz)
    prev_start, _ = week.shift(-1).bounds(tz)

    by_category = dict(
        session.execute(select(Comment.category, func.count()).where(*_in(start, end)).group_by(Comment.category)).all()
    )
    prev_by_category = dict(
        session.execute(
            select(Comment.category, func.count()).where(*_in(prev_start, start)).group_by(Comment.category)
        ).all()
    )
    total, prev_total = sum(by_category.values()), sum(prev_by_category.values())
    categories = []
    for category in CATEGORIES:
        share, prev_share = pct(by_category.get(category, 0), total), pct(prev_by_category.get(category, 0), prev_total)
        categories.append(
            {
                "categoria": category,
                "total": int(by_category.get(category, 0)),
                "participacao_pct": share,
                "participacao_anterior_pct": prev_share,
                "variacao_pp": round(share - prev_share, 1),
            }
        )

    # One grouped scan each; both rankings are read from the (small) grouped result.
    artists = session.execute(_artist_rows(start, end)).mappings().all()
    releases = session.execute(_release_rows(start, end)).mappings().all()
    mean_conf, unsure = session.execute(
        select(func.avg(Comment.confidence), _count_if(Comment.confidence < review_threshold)).where(*_in(start, end))
    ).one()

    return {
        "versao": AGGREGATE_VERSION,
        "semana": str(week),
        "inicio": week.monday.isoformat(),
        "fim": week.sunday.isoformat(),
        "fuso": tz,
        "volume": {
            "total": int(total),
            "anterior": int(prev_total),
            "variacao_pct": pct(total - prev_total, prev_total) if prev_total else None,
        },
        "categorias": categories,
        "artistas_hype": _ranked(artists, "ELOGIO"),
        "artistas_criticas": _ranked(artists, "CRÍTICA"),
        "lancamentos_hype": _ranked(releases, "ELOGIO"),
        "lancamentos_criticas": _ranked(releases, "CRÍTICA"),
        "tags_em_alta": _rising_tags(session, start, end, prev_start),
        "confianca": {
            "media": round(float(mean_conf), 2) if mean_conf is not None else None,
            "limiar": review_threshold,
            "abaixo_limiar": int(unsure or 0),
            "abaixo_limiar_pct": pct(unsure or 0, total),
        },
        "exemplos": _examples(session, start, end),
    }


def _artist_rows(start: datetime, end: datetime) -> Select:
    return (
        select(
            Artist.name.label("nome"),
            func.count().label("total"),
            _count_if(Comment.category == "ELOGIO").label("ELOGIO"),
            _count_if(Comment.category == "CRÍTICA").label("CRÍTICA"),
        )
        .join(Artist, Artist.id == Comment.artist_id)
        .where(*_in(start, end))
        .group_by(Artist.id, Artist.name)
        .having(func.count() >= MIN_RANKED)
    )


def _release_rows(start: datetime, end: datetime) -> Select:
    return (
        select(
            Album.title.label("nome"),
            func.max(Artist.name).label("artista"),
            func.count().label("total"),
            _count_if(Comment.category == "ELOGIO").label("ELOGIO"),
            _count_if(Comment.category == "CRÍTICA").label("CRÍTICA"),
        )
        .join(Album, Album.id == Comment.album_id)
        .outerjoin(Artist, Artist.id == Album.artist_id)
        .where(*_in(start, end))
        .group_by(Album.id, Album.title)
        .having(func.count() >= MIN_RANKED)
    )


def _ranked(rows: Sequence[RowMapping], category: str) -> list[dict[str, Any]]:
    """Top names by comments of `category` (ties: more comments overall, then name)."""
    picked = sorted((r for r in rows if r[category] > 0), key=lambda r: (-r[category], -r["total"], r["nome"]))
    key = "elogios" if category == "ELOGIO" else "criticas"
    out = []
    for row in picked[:TOP_N]:
        item = {"nome": row["nome"], key: int(row[category]), "total": int(row["total"])}
        item["participacao_pct"] = pct(row[category], row["total"])
        if row.get("artista"):
            item["artista"] = row["artista"]
        out.append(item)
    return out


def _rising_tags(session: Session, start: datetime, end: datetime, prev_start: datetime) -> list[dict[str, Any]]:
    this_week = _count_if(Comment.occurred_at >= start).label("total")
    last_week = _count_if(Comment.occurred_at < start).label("anterior")
    rows = session.execute(
        select(CommentTag.code, this_week, last_week)
        .join(Comment, Comment.id == CommentTag.comment_id)
        .where(Comment.occurred_at >= prev_start, Comment.occurred_at < end)
        .group_by(CommentTag.code)
        .having(this_week > last_week)
        .order_by(desc(this_week - last_week), CommentTag.code)
        .limit(TOP_N)
    ).all()
    return [
        {"codigo": code, "total": int(now), "anterior": int(before), "variacao": int(now) - int(before)}
        for code, now, before in rows
    ]


def _examples(session: Session, start: datetime, end: datetime) -> list[dict[str, Any]]:
    """One short, confidently classified comment per category: quotes that show what the numbers mean."""
    out = []
    for category in EXAMPLE_CATEGORIES:
        row = session.execute(
            select(Comment.text, Artist.name)
            .outerjoin(Artist, Artist.id == Comment.artist_id)
            .where(*_in(start, end), Comment.category == category)
            .where(func.length(Comment.text).between(EXAMPLE_MIN_CHARS, EXAMPLE_MAX_CHARS))
            .order_by(desc(Comment.confidence), Comment.id)
            .limit(1)
        ).first()
        if row is not None:
            out.append({"categoria": category, "texto": " ".join(row[0].split()), "artista": row[1]})
    return out
