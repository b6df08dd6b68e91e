"""Weekly summary, stakeholder and insights Q&A schemas (requests validated here; responses for OpenAPI)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

from pydantic import BaseModel, Field, StringConstraints

from app.schemas.common import NAME_CONTROLS, Schema, _text_check, text_type


class QuestionIn(Schema):
    # At least 3 characters once trimmed, at most 500 as sent: the pattern says the first, maxLength the second.
    pergunta: Annotated[
        str,
        _text_check("", 500),
        StringConstraints(strip_whitespace=True, min_length=3, max_length=500),
        Field(json_schema_extra={"pattern": r"^\s*\S[\s\S]+\S\s*$"}),
    ]


class AnswerOut(BaseModel):
    resposta: str
    semanas: list[str]
    modelo: str


# The address rule of app.services.summaries.normalise_email (one @, no spaces, a dot in the domain), stated in the
# document; no control character anywhere, and surrounding (non-control) whitespace is trimmed.
_PART = r"[^@\s,;<>\x00-\x1f\x7f-\x9f]+"
_SPACE = r"[^\S\x00-\x1f\x7f-\x9f]*"
EMAIL_PATTERN = f"^{_SPACE}{_PART}@{_PART}\\.{_PART}{_SPACE}$"


class StakeholderIn(Schema):
    email: Annotated[
        str,
        # No control character (a NUL would reach PostgreSQL): refused here, before the address rule.
        _text_check(NAME_CONTROLS, 320),
        StringConstraints(strip_whitespace=True, min_length=3, max_length=320),
        Field(json_schema_extra={"pattern": EMAIL_PATTERN}),
    ]
    nome: text_type(200, required=False) | None = None


class StakeholderOut(BaseModel):
    id: int
    email: str
    nome: str | None
    ativo: bool
    criado_em: datetime


class DeliveryOut(BaseModel):
    destinatario: str
    estado: str
    tentativas: int
    ultimo_erro: str | None
    message_id: str | None
    enviado_em: datetime | None
    reenvios: int


class SummaryOut(BaseModel):
    semana: str
    inicio: date
    fim: date
    texto: str
    gerador: str
    criado_em: datetime
    atualizado_em: datetime
    envios: dict[str, int]


class SummaryDetailOut(SummaryOut):
    agregado: dict[str, Any]
    log_envios: list[DeliveryOut]
