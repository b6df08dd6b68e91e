"""Weekly summary, stakeholder and insights Q&A schemas (requests validated here; responses for OpenAPI)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

from pydantic import BaseModel, StringConstraints

from app.schemas.common import Schema


class QuestionIn(Schema):
    pergunta: Annotated[str, StringConstraints(strip_whitespace=True, min_length=3, max_length=500)]


class AnswerOut(BaseModel):
    resposta: str
    semanas: list[str]
    modelo: str


class StakeholderIn(Schema):
    email: Annotated[str, StringConstraints(strip_whitespace=True, min_length=3, max_length=320)]
    nome: Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)] | None = None


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
