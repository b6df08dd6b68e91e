"""Filter criteria shared by every reader of comments: the API listing, the CSV export, the reports and the
curator panel. One implementation of each filter, so a filtered view means the same thing everywhere."""

from __future__ import annotations

import base64
import unicodedata
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import orjson
from sqlalchemy import ColumnElement, Select, String, any_, bindparam, event, exists, func, select, text, tuple_
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import Engine
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import aliased
from sqlalchemy.sql.functions import FunctionElement

from app.extensions import db
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


def one_of(column: Any, values: Any) -> ColumnElement[bool]:
    """`column IN (values)` for a lookup by many keys. On PostgreSQL `column = ANY(:array)`: one bound parameter
    whatever the count, so the statement is compiled and parsed once, where an IN list renders, binds and parses
    a parameter per value on every call (ingest looks up a batch's ids and names on every request)."""
    values = list(values)
    if db.session.get_bind().dialect.name == "postgresql":
        return column == any_(bindparam(None, values, type_=ARRAY(column.type)))
    return column.in_(values)


def like_pattern(text: str) -> str:
    """`%text%` with LIKE's wildcards escaped (escape character `\\`)."""
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def fold(text: str) -> str:
    """Lower-case and strip accents ("Crítica" -> "critica"): how text search compares, in Python and SQL."""
    decomposed = unicodedata.normalize("NFD", text.lower())
    return unicodedata.normalize("NFC", "".join(ch for ch in decomposed if not unicodedata.combining(ch)))


class folded(FunctionElement):
    """`fold(column)` in SQL. PostgreSQL: `alumusic_unaccent(lower(x))`, the expression of the trigram index made
    by migration 0004; SQLite: the Python `fold` registered on each connection (see `_register_sqlite_fold`)."""

    type = String()
    inherit_cache = True
    name = "folded"


@compiles(folded, "postgresql")
def _folded_pg(element: folded, compiler: Any, **kw: Any) -> str:
    return f"alumusic_unaccent(lower({compiler.process(element.clauses, **kw)}))"


@compiles(folded)
def _folded_default(element: folded, compiler: Any, **kw: Any) -> str:
    return f"alumusic_fold({compiler.process(element.clauses, **kw)})"


@event.listens_for(Engine, "connect")
def _register_sqlite_fold(dbapi_connection: Any, _record: Any) -> None:
    if type(dbapi_connection).__module__.startswith("sqlite3"):
        dbapi_connection.create_function(
            "alumusic_fold", 1, lambda v: None if v is None else fold(v), deterministic=True
        )


def text_matches(column: Any, q: str) -> ColumnElement[bool]:
    """Accent- and case-insensitive substring match ("critica" finds "CRÍTICA")."""
    return folded(column).like(like_pattern(fold(q)), escape="\\")


def comment_conditions(filters: CommentFilters) -> list[ColumnElement[bool]]:
    """WHERE clauses on `Comment` for the filters (all must hold)."""
    where: list[ColumnElement[bool]] = []
    if filters.categoria:
        where.append(Comment.category.in_(filters.categoria))
    tag_range = _tag_range(filters)
    for code in filters.tag:
        if tag_range:
            # PostgreSQL: the tag's own copy of category/date narrows it in one index range (see CommentTag).
            where.append(Comment.id.in_(select(CommentTag.comment_id).where(CommentTag.code == code, *tag_range)))
        else:
            where.append(exists().where(CommentTag.comment_id == Comment.id, CommentTag.code == code))
    if filters.artista:
        # name_key is unique: "= (scalar subquery)" lets PostgreSQL use the artist's id as an index key (and walk
        # the artist + category index in order), where "IN (subquery)" planned a scan of the whole category.
        artist_id = select(Artist.id).where(Artist.name_key == name_key(filters.artista)).scalar_subquery()
        where.append(Comment.artist_id == artist_id)
    if filters.album:
        where.append(Comment.album_id.in_(select(Album.id).where(Album.title_key == name_key(filters.album))))
    if filters.alvo:
        where.append(Comment.target == filters.alvo)
    if filters.q:
        where.append(text_matches(Comment.text, filters.q))
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


def _tag_range(filters: CommentFilters) -> list[ColumnElement[bool]]:
    """Category/date conditions on the tag rows' copies (PostgreSQL, where triggers keep them exact), or []."""
    if not filters.tag or not (filters.categoria or filters.desde or filters.ate):
        return []
    from app.extensions import db

    if db.session.get_bind().dialect.name != "postgresql":
        return []
    out: list[ColumnElement[bool]] = []
    if filters.categoria:
        out.append(CommentTag.category.in_(filters.categoria))
    if filters.desde:
        out.append(CommentTag.occurred_at >= day_bound(filters.desde, end=False))
    if filters.ate:
        bound = day_bound(filters.ate, end=True)
        out.append(
            CommentTag.occurred_at <= bound if isinstance(filters.ate, datetime) else CommentTag.occurred_at < bound
        )
    return out


# --- Pages picked from tag rows ----------------------------------------------------------------------------------
# On PostgreSQL a tag row carries exact copies of its comment's category, occurred_at and classified_at (triggers,
# migrations a1c0imports01/a1c0listing01), in one index: (code, category, occurred_at, comment_id) INCLUDE
# (classified_at). When every filter is a tag, category or period and the order is one of the copied dates, the
# count and the page's ids come from that index alone; only the page's own comments are then read. The general
# path (comment_conditions) reads every matching comment to re-check and sort it: ~1,700 random row reads for a
# common tag in a 10-day CRÍTICA window at 1M comments, against ~25 index pages here.

_TAG_ORDERS = ("classified_at", "occurred_at")


def tag_driven(filters: CommentFilters) -> bool:
    """Whether the tag rows alone answer these filters (see above)."""
    return (
        bool(_tag_range(filters))
        and not (filters.artista or filters.album or filters.alvo or filters.q)
        and filters.confianca_min is None
        and filters.confianca_max is None
        and ORDERINGS[filters.ordenar.lstrip("-")] in _TAG_ORDERS
    )


def _tag_rows(filters: CommentFilters, *columns: Any) -> Select:
    """One row per matching comment: the first tag's rows in the range, holding every other tag too."""
    first, *others = filters.tag
    stmt = select(*columns).where(CommentTag.code == first, *_tag_range(filters))
    for code in others:
        other = aliased(CommentTag)
        stmt = stmt.where(exists().where(other.comment_id == CommentTag.comment_id, other.code == code))
    return stmt


def tag_count(filters: CommentFilters) -> int:
    """How many comments match `tag_driven` filters (exact)."""
    from app.extensions import db

    return int(db.session.scalar(_tag_rows(filters, func.count())) or 0)


def tag_page(filters: CommentFilters, limit: int, offset: int) -> Select:
    """SELECT of the comments on one page for `tag_driven` filters, in the requested order."""
    column = getattr(CommentTag, ORDERINGS[filters.ordenar.lstrip("-")])
    if filters.ordenar.startswith("-"):
        keys = [column.desc(), CommentTag.comment_id.desc()]
    else:
        keys = [column.asc(), CommentTag.comment_id.asc()]
    ids = _tag_rows(filters, CommentTag.comment_id).order_by(*keys).limit(limit).offset(offset).subquery()
    return select(Comment).join(ids, Comment.id == ids.c.comment_id).order_by(*order_clauses(filters.ordenar))


def order_clauses(ordenar: str) -> list[ColumnElement]:
    """ORDER BY for an allow-listed ordering (`-` prefix: descending), with the id as a stable tie-break."""
    column = getattr(Comment, ORDERINGS[ordenar.lstrip("-")])
    if ordenar.startswith("-"):
        return [column.desc(), Comment.id.desc()]
    return [column.asc(), Comment.id.asc()]


def comments_select(filters: CommentFilters) -> Select:
    """SELECT of the comments matching the filters, in the requested order."""
    return select(Comment).where(*comment_conditions(filters)).order_by(*order_clauses(filters.ordenar))


# --- Keyset pagination -----------------------------------------------------------------------------------------
# A page is "the N rows after (or before) this row in the ordering": the cost does not grow with the depth, unlike
# OFFSET, which reads and throws away every earlier row.


@dataclass(frozen=True, slots=True)
class Cursor:
    """The position of one row in an ordering: its sort value and id (the tie-break)."""

    value: Any
    id: uuid.UUID

    def encode(self) -> str:
        value = self.value.isoformat() if isinstance(self.value, datetime) else self.value
        raw = orjson.dumps([value, str(self.id)])
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, token: str, ordenar: str) -> Cursor | None:
        """The cursor in `token`, or None when it is not one of ours (a tampered or stale link starts over)."""
        try:
            value, raw_id = orjson.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
            numeric = ORDERINGS[ordenar.lstrip("-")] == "confidence"
            value = float(value) if numeric else datetime.fromisoformat(value)
            return cls(value, uuid.UUID(raw_id))
        except (ValueError, TypeError, orjson.JSONDecodeError):
            return None

    @classmethod
    def of(cls, comment: Comment, ordenar: str) -> Cursor:
        return cls(getattr(comment, ORDERINGS[ordenar.lstrip("-")]), comment.id)


def keyset_condition(ordenar: str, cursor: Cursor, *, backwards: bool = False) -> ColumnElement[bool]:
    """Rows strictly after `cursor` in the ordering (before it with `backwards`)."""
    column = getattr(Comment, ORDERINGS[ordenar.lstrip("-")])
    key, at = tuple_(column, Comment.id), tuple_(cursor.value, cursor.id)
    descending = ordenar.startswith("-")
    return key < at if descending != backwards else key > at


def reversed_ordering(ordenar: str) -> str:
    return ordenar[1:] if ordenar.startswith("-") else "-" + ordenar


def keyset_page(
    filters: CommentFilters, size: int, *, after: Cursor | None = None, before: Cursor | None = None
) -> Select:
    """SELECT of up to `size + 1` comments after `after` (or, reversed, before `before`): the extra row says
    whether there is another page. Rows fetched with `before` come in reverse order; the caller flips them."""
    ordenar = filters.ordenar
    stmt = select(Comment).where(*comment_conditions(filters))
    if before is not None:
        stmt = stmt.where(keyset_condition(ordenar, before, backwards=True))
        return stmt.order_by(*order_clauses(reversed_ordering(ordenar))).limit(size + 1)
    if after is not None:
        stmt = stmt.where(keyset_condition(ordenar, after))
    return stmt.order_by(*order_clauses(ordenar)).limit(size + 1)


def prefer_custom_plans() -> None:
    """Plan this transaction's queries for their actual values. psycopg prepares a statement after a few runs and
    PostgreSQL may then reuse one generic plan for every search word: fine for `= value`, but for a text search a
    plan chosen without the word reads 30x more rows for a common one (e.g. 12 ms -> 400 ms on 1M comments)."""
    from app.extensions import db

    if db.session.connection().dialect.name == "postgresql":
        db.session.execute(text("SET LOCAL plan_cache_mode = force_custom_plan"))


def capped_count(conditions: list[ColumnElement[bool]], cap: int) -> int:
    """How many comments match, counting at most `cap + 1` (a result above `cap` reads "more than cap")."""
    from app.extensions import db

    inner = select(Comment.id).where(*conditions).limit(cap + 1).subquery()
    return int(db.session.scalar(select(func.count()).select_from(inner)) or 0)


def estimated_count(conditions: list[ColumnElement[bool]]) -> int | None:
    """PostgreSQL's planner estimate of how many comments match (None elsewhere). Used for text searches, where
    counting even a capped number of matches can mean reading tens of thousands of rows for a common word."""
    from app.extensions import db

    conn = db.session.connection()
    if conn.dialect.name != "postgresql":
        return None
    stmt = select(Comment.id).where(*conditions)
    compiled = stmt.compile(dialect=conn.dialect, compile_kwargs={"render_postcompile": True})
    plan = conn.exec_driver_sql("EXPLAIN (FORMAT JSON) " + compiled.string, compiled.params).scalar_one()
    plan = orjson.loads(plan) if isinstance(plan, str | bytes) else plan
    return int(plan[0]["Plan"]["Plan Rows"])
