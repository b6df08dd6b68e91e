"""Bulk import schemas: one row of a file (the ingest item itself) and the job as the API shows it."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import Field

from app.models.job import JOB_STATUSES
from app.schemas.common import Schema

JobStatusName = Literal["pendente", "processando", "concluida", "falhou"]
assert set(JOB_STATUSES) == set(JobStatusName.__args__)  # type: ignore[attr-defined]

# Columns a CSV (or keys a JSON/JSONL row) may carry: the ingest fields of CommentIn.
INPUT_COLUMNS = ("id", "texto", "artista", "album", "alvo", "publicado_em")


class ImportAccepted(Schema):
    id: uuid.UUID
    status: JobStatusName
    url: str
    total: int = Field(description="Linhas de dados encontradas no arquivo")
    tarefa: str | None = Field(default=None, description="Id da tarefa Celery que processa o job")


class RowError(Schema):
    linha: int = Field(description="Linha do arquivo (CSV/JSONL, o cabeçalho é a linha 1) ou posição na lista JSON")
    mensagem: str


class ImportCounts(Schema):
    total: int
    processados: int
    criados: int
    ja_existentes: int
    falhas: int


class ImportJobOut(Schema):
    id: uuid.UUID
    status: JobStatusName
    formato: Literal["json", "csv", "jsonl"]
    arquivo: str | None
    contagens: ImportCounts
    erros: list[RowError]
    erros_omitidos: int = Field(description="Erros além do limite guardado (a contagem em falhas é completa)")
    mensagem: str | None
    tentativas: int
    tarefa: str | None
    criado_em: datetime
    iniciado_em: datetime | None
    atualizado_em: datetime | None
    concluido_em: datetime | None
    url: str
