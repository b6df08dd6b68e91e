"""Streaming CSV export of filtered comments: constant memory whatever the size (server-side cursor, rows
written as they arrive), the same filters as the listing (app.services.queries), cells neutralised against
spreadsheet formula injection (app.serializers.comments)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator

from sqlalchemy import Select, func, literal, select

from app.extensions import db
from app.models.catalog import Album, Artist
from app.models.comment import Comment, CommentTag
from app.schemas.comments import CommentFilters
from app.serializers.comments import CSV_COLUMNS, TAG_SEPARATOR, csv_row
from app.services.queries import comment_conditions, order_clauses

# Rows fetched per round trip from the server-side cursor, and rows per chunk written to the client.
FETCH_ROWS = 2000
UTF8_BOM = "\ufeff"


def _tags_subquery(dialect: str):
    """The comment's tag codes joined by `|`, in the order the model gave them (one correlated subquery)."""
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import aggregate_order_by

        agg = func.string_agg(CommentTag.code, aggregate_order_by(literal(TAG_SEPARATOR), CommentTag.position))
        return select(agg).where(CommentTag.comment_id == Comment.id).scalar_subquery()
    ordered = select(CommentTag.code).where(CommentTag.comment_id == Comment.id).order_by(CommentTag.position)
    inner = ordered.subquery()
    return select(func.group_concat(inner.c.code, TAG_SEPARATOR)).scalar_subquery()


def export_select(filters: CommentFilters) -> Select:
    """Flat rows in CSV_COLUMNS order (no ORM objects: an export never loads relationships per row)."""
    dialect = db.session.get_bind().dialect.name
    return (
        select(
            Comment.id,
            Comment.text,
            Comment.category,
            _tags_subquery(dialect),
            Comment.confidence,
            Artist.name,
            Album.title,
            Comment.target,
            Comment.published_at,
            Comment.classified_at,
            Comment.model_version,
        )
        .outerjoin(Artist, Artist.id == Comment.artist_id)
        .outerjoin(Album, Album.id == Comment.album_id)
        .where(*comment_conditions(filters))
        .order_by(*order_clauses(filters.ordenar))
    )


def stream_csv(filters: CommentFilters, *, bom: bool = False, fetch_rows: int = FETCH_ROWS) -> Iterator[str]:
    """The CSV text in chunks: header row first, then the rows as the cursor yields them."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    if bom:
        buffer.write(UTF8_BOM)
    writer.writerow(CSV_COLUMNS)
    yield buffer.getvalue()
    buffer.seek(0)
    buffer.truncate()
    result = db.session.execute(export_select(filters).execution_options(stream_results=True, yield_per=fetch_rows))
    try:
        for partition in result.partitions():
            writer.writerows(csv_row(*row) for row in partition)
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    finally:
        result.close()
