"""Filter criteria shared by every reader of comments: the API listing, the CSV export, the reports and the
curator panel. One implementation of each filter, so a filtered view means the same thing everywhere."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import ColumnElement, Select, exists, select

from app.models.catalog import Album, Artist, name_key
from app.models.comment import Comment, CommentTag
from app.schemas.comments import ORDERINGS, CommentFilters


def day_bound(value: datetime | date, *, end: bool) -> datetime:
    """A datetime is an instant; a plain date starts at its midnight (UTC), or ends at the next one."""
    if isinstance(value, datetime):
        return value
    if end and value == date.max:  # the day after 9999-12-31 does not exist: the end of that day is the bound
        return datetime.max.replace(tzinfo=UTC)
    return datetime.combine(value + timedelta(days=1) if end else value, time.min, tzinfo=UTC)


def like_pattern(text: str) -> str:
    """`%text%` with LIKE's wildcards escaped (escape character `\\`)."""
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def comment_conditions(filters: CommentFilters) -> list[ColumnElement[bool]]:
    """WHERE clauses on `Comment` for the filters (all must hold)."""
    where: list[ColumnElement[bool]] = []
    if filters.categoria:
        where.append(Comment.category.in_(filters.categoria))
    for code in filters.tag:
        where.append(exists().where(CommentTag.comment_id == Comment.id, CommentTag.code == code))
    if filters.artista:
        where.append(Comment.artist_id.in_(select(Artist.id).where(Artist.name_key == name_key(filters.artista))))
    if filters.album:
        where.append(Comment.album_id.in_(select(Album.id).where(Album.title_key == name_key(filters.album))))
    if filters.alvo:
        where.append(Comment.target == filters.alvo)
    if filters.q:
        where.append(Comment.text.ilike(like_pattern(filters.q), escape="\\"))
    if filters.desde:
        where.append(Comment.occurred_at >= day_bound(filters.desde, end=False))
    if filters.ate:
        bound = day_bound(filters.ate, end=True)
        # A datetime is an inclusive instant; a date's bound is the next midnight (exclusive).
        where.append(Comment.occurred_at <= bound if isinstance(filters.ate, datetime) else Comment.occurred_at < bound)
    if filters.confianca_min is not None:
        where.append(Comment.confidence >= filters.confianca_min)
    if filters.confianca_max is not None:
        where.append(Comment.confidence <= filters.confianca_max)
    return where


def order_clauses(ordenar: str) -> list[ColumnElement]:
    """ORDER BY for an allow-listed ordering (`-` prefix: descending), with the id as a stable tie-break."""
    column = getattr(Comment, ORDERINGS[ordenar.lstrip("-")])
    if ordenar.startswith("-"):
        return [column.desc(), Comment.id.desc()]
    return [column.asc(), Comment.id.asc()]


def comments_select(filters: CommentFilters) -> Select:
    """SELECT of the comments matching the filters, in the requested order."""
    return select(Comment).where(*comment_conditions(filters)).order_by(*order_clauses(filters.ordenar))
