"""A comment as the API, the export and the pages show it (SPEC §1): one function per shape, no copies elsewhere.

`tests/unit/test_serializers.py` checks `comment_json` against the pydantic `CommentOut` schema and keeps the CSV
columns in step with it.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from app.classifier.taxonomy import explain
from app.models.comment import ClassificationEvent, Comment


def tags_json(codes: Iterable[str]) -> list[dict[str, str]]:
    """Tag codes as `[{"codigo", "explicacao"}]`, explanations from the curated taxonomy."""
    return [{"codigo": c, "explicacao": explain(c)} for c in codes]


def comment_wire(
    *,
    id: uuid.UUID | str,
    text: str,
    category: str,
    tag_codes: Sequence[str],
    confidence: float,
    artist: str | None,
    album: str | None,
    target: str | None,
    published_at: datetime | None,
    classified_at: datetime,
    model_version: str,
) -> dict[str, Any]:
    """The comment JSON object from plain values (used by ingest before any ORM object exists)."""
    return {
        "id": str(id),
        "texto": text,
        "categoria": category,
        "tags_funcionalidades": tags_json(tag_codes),
        "confianca": round(float(confidence), 4),
        "artista": artist,
        "album": album,
        "alvo": target,
        "publicado_em": published_at,
        "classificado_em": classified_at,
        "modelo": model_version,
    }


def comment_json(comment: Comment) -> dict[str, Any]:
    """A stored comment in the wire shape."""
    return comment_wire(
        id=comment.id,
        text=comment.text,
        category=comment.category,
        tag_codes=[t.code for t in comment.tags],
        confidence=comment.confidence,
        artist=comment.artist.name if comment.artist else None,
        album=comment.album.title if comment.album else None,
        target=comment.target,
        published_at=comment.published_at,
        classified_at=comment.classified_at,
        model_version=comment.model_version,
    )


def history_json(event: ClassificationEvent) -> dict[str, Any]:
    """One classification or correction event of a comment's history."""
    return {
        "fonte": event.source,
        "categoria": event.category,
        "confianca": round(event.confidence, 4) if event.confidence is not None else None,
        "tags_funcionalidades": tags_json(event.tags or []),
        "modelo": event.model_version,
        "usuario": event.user.username if event.user else None,
        "motivo": event.note,
        "em": event.created_at,
    }


# CSV export: the JSON fields, flat. Tags are their codes joined by TAG_SEPARATOR.
CSV_COLUMNS: tuple[str, ...] = (
    "id",
    "texto",
    "categoria",
    "tags_funcionalidades",
    "confianca",
    "artista",
    "album",
    "alvo",
    "publicado_em",
    "classificado_em",
    "modelo",
)
TAG_SEPARATOR = "|"
# A spreadsheet evaluates a cell starting with one of these as a formula (CSV injection, OWASP).
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
# The CSV shows the confidence rounded to 4 places as round(x * 10,000) / 10,000 in float arithmetic: the same
# operations in PostgreSQL (the export's COPY) give the same double, so both paths print the same digits.
CONFIDENCE_SCALE = 10_000


def neutralise_cell(value: str) -> str:
    """Prefix a quote so Excel/Sheets/LibreOffice show the text instead of evaluating it."""
    return "'" + value if value.startswith(FORMULA_PREFIXES) else value


def _csv_value(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, float):
        # As PostgreSQL prints a float8 (the export's COPY path formats in SQL): 1.0 -> "1", 0.25 -> "0.25".
        text = repr(round(value * CONFIDENCE_SCALE) / CONFIDENCE_SCALE)
        return text[:-2] if text.endswith(".0") else text
    return neutralise_cell(str(value))


def csv_row(
    id: Any,
    text: str,
    category: str,
    tag_codes: str | Sequence[str] | None,
    confidence: float,
    artist: str | None,
    album: str | None,
    target: str | None,
    published_at: datetime | None,
    classified_at: datetime,
    model_version: str,
) -> list[str]:
    """One CSV row in CSV_COLUMNS order, every cell neutralised (tags may come pre-joined from SQL)."""
    tags = tag_codes if isinstance(tag_codes, str) or tag_codes is None else TAG_SEPARATOR.join(tag_codes)
    values = (id, text, category, tags, confidence, artist, album, target, published_at, classified_at, model_version)
    return [_csv_value(v) for v in values]


def comment_csv_row(comment: Comment) -> list[str]:
    """A stored comment as a CSV row (the export streams rows from SQL with `csv_row` directly)."""
    return csv_row(
        comment.id,
        comment.text,
        comment.category,
        [t.code for t in comment.tags],
        comment.confidence,
        comment.artist.name if comment.artist else None,
        comment.album.title if comment.album else None,
        comment.target,
        comment.published_at,
        comment.classified_at,
        comment.model_version,
    )
