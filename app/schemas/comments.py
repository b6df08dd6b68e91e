"""Comment schemas: ingest items, list filters, corrections and the response shape."""

from __future__ import annotations

import re
import unicodedata
import uuid
from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BeforeValidator, Field, TypeAdapter, field_validator

from app.classifier.base import CATEGORIES, normalize_category
from app.models.comment import TARGETS
from app.schemas.common import Schema, iso_string, text_type, to_utc

Target = Literal["musica", "album", "clipe", "show", "artista", "plataforma"]
assert set(TARGETS) == set(Target.__args__)  # type: ignore[attr-defined]

CommentText = text_type(5000, free_text=True)
Name = text_type(200)
OptionalName = text_type(200, required=False)
TagCode = text_type(80)
# A multi-valued filter costs planning time per value (each tag is a semi-join): a reader cannot pin a core.
MAX_FILTER_VALUES = 10


def _category(value: Any) -> Any:
    if isinstance(value, str):
        norm = normalize_category(value)
        if norm is None:
            raise ValueError(f"categoria desconhecida; use uma de {', '.join(CATEGORIES)}")
        return norm
    return value


def _unaccent(value: str) -> str:
    return unicodedata.normalize("NFKD", value).encode("ascii", "ignore").decode()


def _empty_to_none(value: Any) -> Any:
    return None if isinstance(value, str) and not value.strip() else value


_DATE_ONLY = re.compile(r"\d{4}-\d{2}-\d{2}")


def _plain_date(value: Any) -> Any:
    # "2026-11-20" is a day, not midnight: without this pydantic reads it as a datetime first, and
    # `ate=2026-11-20` would stop at 00:00 instead of including the whole day.
    if isinstance(value, str) and _DATE_ONLY.fullmatch(value.strip()):
        return date.fromisoformat(value.strip())
    return value


# Every spelling accepted on input (accents optional, any case), so the OpenAPI document lists exactly those.
CATEGORY_SPELLINGS = sorted({s for c in CATEGORIES for s in (c, c.lower(), _unaccent(c), _unaccent(c).lower())})
Category = Annotated[str, BeforeValidator(_category), Field(json_schema_extra={"enum": CATEGORY_SPELLINGS})]
AwareDatetime = Annotated[datetime, AfterValidator(to_utc), BeforeValidator(iso_string)]
DateOrDatetime = Annotated[AwareDatetime | date, BeforeValidator(_plain_date), BeforeValidator(iso_string)]


class CommentIn(Schema):
    id: uuid.UUID | None = None
    texto: CommentText
    artista: Annotated[OptionalName | None, AfterValidator(_empty_to_none)] = None
    album: Annotated[OptionalName | None, AfterValidator(_empty_to_none)] = None
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
        default_factory=list,
        max_length=MAX_FILTER_VALUES,
        description="Uma ou mais (repetida ou separada por vírgula): qualquer uma delas",
    )
    tag: list[TagCode] = Field(
        default_factory=list,
        max_length=MAX_FILTER_VALUES,
        description=f"Código(s) de tag (até {MAX_FILTER_VALUES}); com várias, o comentário precisa ter todas",
    )
    artista: Name | None = None
    album: Name | None = None
    alvo: Target | None = None
    q: text_type(200) | None = None
    desde: DateOrDatetime | None = None
    ate: DateOrDatetime | None = None
    confianca_min: float | None = Field(default=None, ge=0, le=1)
    confianca_max: float | None = Field(default=None, ge=0, le=1)
    ordenar: str = Field("-classificado_em", json_schema_extra={"enum": [p + k for k in ORDERINGS for p in ("", "-")]})

    @field_validator("ordenar")
    @classmethod
    def _ordering(cls, value: str) -> str:
        if value.lstrip("-") not in ORDERINGS:
            raise ValueError(f"ordenação inválida; use um de {', '.join(ORDERINGS)} (prefixo - para decrescente)")
        return value


class CorrectionIn(Schema):
    categoria: Category | None = None
    tags_funcionalidades: list[TagCode] | None = Field(default=None, max_length=50)
    motivo: text_type(500, required=False, free_text=True) | None = None

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
