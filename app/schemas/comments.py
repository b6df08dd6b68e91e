"""Comment schemas: ingest items, list filters, corrections and the response shape."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BeforeValidator, Field, StringConstraints, TypeAdapter, field_validator

from app.classifier.base import CATEGORIES, normalize_category
from app.models.comment import TARGETS
from app.schemas.common import Schema

Target = Literal["musica", "album", "clipe", "show", "artista", "plataforma"]
assert set(TARGETS) == set(Target.__args__)  # type: ignore[attr-defined]

CommentText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=5000)]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


def _aware(value: datetime) -> datetime:
    """Naive timestamps are taken as UTC; everything is stored in UTC."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _category(value: Any) -> Any:
    if isinstance(value, str):
        norm = normalize_category(value)
        if norm is None:
            raise ValueError(f"categoria desconhecida; use uma de {', '.join(CATEGORIES)}")
        return norm
    return value


def _empty_to_none(value: Any) -> Any:
    return None if isinstance(value, str) and not value.strip() else value


_DATE_ONLY = re.compile(r"\d{4}-\d{2}-\d{2}")


def _plain_date(value: Any) -> Any:
    # "2026-11-20" is a day, not midnight: without this pydantic reads it as a datetime first, and
    # `ate=2026-11-20` would stop at 00:00 instead of including the whole day.
    if isinstance(value, str) and _DATE_ONLY.fullmatch(value.strip()):
        return date.fromisoformat(value.strip())
    return value


Category = Annotated[str, BeforeValidator(_category)]
AwareDatetime = Annotated[datetime, AfterValidator(_aware)]
DateOrDatetime = Annotated[AwareDatetime | date, BeforeValidator(_plain_date)]


class CommentIn(Schema):
    id: uuid.UUID | None = None
    texto: CommentText
    artista: Annotated[Name | None, BeforeValidator(_empty_to_none)] = None
    album: Annotated[Name | None, BeforeValidator(_empty_to_none)] = None
    alvo: Target | None = None
    publicado_em: AwareDatetime | None = None


CommentBatch = TypeAdapter(list[CommentIn])
CommentOne = TypeAdapter(CommentIn)


class TagOut(Schema):
    codigo: str
    explicacao: str


class CommentOut(Schema):
    id: uuid.UUID
    texto: str
    categoria: str
    tags_funcionalidades: list[TagOut]
    confianca: float = Field(ge=0, le=1)
    artista: str | None
    album: str | None
    alvo: Target | None
    publicado_em: datetime | None
    classificado_em: datetime
    modelo: str


ORDERINGS = {
    "classificado_em": "classified_at",
    "publicado_em": "occurred_at",
    "confianca": "confidence",
    "criado_em": "created_at",
}


class CommentFilters(Schema):
    """Query-string filters of GET /api/comentarios and the export."""

    categoria: list[Category] = Field(
        default_factory=list, description="Uma ou mais (repetida ou separada por vírgula): qualquer uma delas"
    )
    tag: list[Annotated[str, StringConstraints(min_length=1, max_length=80)]] = Field(
        default_factory=list, description="Código(s) de tag; com várias, o comentário precisa ter todas"
    )
    artista: Name | None = None
    album: Name | None = None
    alvo: Target | None = None
    q: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)] | None = None
    desde: DateOrDatetime | None = None
    ate: DateOrDatetime | None = None
    confianca_min: float | None = Field(default=None, ge=0, le=1)
    confianca_max: float | None = Field(default=None, ge=0, le=1)
    ordenar: str = "-classificado_em"

    @field_validator("ordenar")
    @classmethod
    def _ordering(cls, value: str) -> str:
        if value.lstrip("-") not in ORDERINGS:
            raise ValueError(f"ordenação inválida; use um de {', '.join(ORDERINGS)} (prefixo - para decrescente)")
        return value


class CorrectionIn(Schema):
    categoria: Category | None = None
    tags_funcionalidades: list[Annotated[str, StringConstraints(min_length=1, max_length=80)]] | None = None
    motivo: Annotated[str, StringConstraints(max_length=500)] | None = None

    @field_validator("tags_funcionalidades", mode="before")
    @classmethod
    def _tag_codes(cls, value: Any) -> Any:
        # Accept ["code", ...] or [{"codigo": "code", ...}, ...] (the shape the API returns).
        if isinstance(value, list):
            return [v.get("codigo") if isinstance(v, dict) else v for v in value]
        return value


class HistoryEventOut(Schema):
    fonte: Literal["modelo", "curador"]
    categoria: str
    confianca: float | None
    tags_funcionalidades: list[TagOut]
    modelo: str | None
    usuario: str | None
    motivo: str | None
    em: datetime
