"""/api/importacoes: bulk import (JSON list, CSV or JSONL upload) as a job on the `imports` queue."""

from __future__ import annotations

import uuid

from flask import current_app, request, url_for
from flask_jwt_extended import current_user

from app.api.base import BaseResource, roles_required
from app.errors import BadRequest, NotFound, PayloadTooLarge, UnsupportedMediaType
from app.models.user import Role
from app.schemas.imports import ImportAccepted, ImportJobOut
from app.serializers.imports import job_json
from app.services import imports
from app.utils.json import json_response

# Raw bodies accepted besides multipart: `curl --data-binary @file.csv -H 'Content-Type: text/csv'`.
_RAW_TYPES = ("application/json", "text/csv", "application/csv", "application/x-ndjson", "application/jsonl")
FILE_FIELDS = ("arquivo", "file")
# What the document says about the file's content: rules a JSON Schema cannot state about a file's bytes.
UPLOAD_RULES = (
    "O arquivo é validado inteiro antes do 202 (nada é gravado se for recusado): texto UTF-8 (BOM opcional, "
    "sem NUL), CSV com cabeçalho contendo a coluna `texto` (separador , ou ;), JSONL com um objeto por linha ou "
    "uma lista JSON. Cada linha/item que não for um comentário válido vira um erro por linha no job, sem recusar "
    "o resto. Binário, outro formato ou outra codificação: 415; cabeçalho ou estrutura inválida: 422."
)


def _job_id(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise NotFound("Importação não encontrada (id não é um UUID válido).") from None


def _read_upload() -> imports.Upload:
    """The upload from a multipart file field or a raw body, within IMPORT_MAX_BYTES (checked before reading)."""
    limit = current_app.config["IMPORT_MAX_BYTES"]
    if request.content_length is not None and request.content_length > limit + 64 * 1024:  # multipart overhead
        raise PayloadTooLarge(f"O arquivo excede o limite de {limit} bytes.", {"limite_bytes": limit})
    request.max_content_length = limit + 64 * 1024
    mimetype = (request.mimetype or "").lower()
    if mimetype == "multipart/form-data":
        files = [request.files[f] for f in FILE_FIELDS if f in request.files]
        if not files:
            raise BadRequest("Envie o arquivo no campo 'arquivo' (multipart/form-data).")
        part = files[0]
        chosen = request.form.get("formato") or imports.format_for(part.filename, part.mimetype)
        if chosen is None:
            raise UnsupportedMediaType(
                "Formato do arquivo não reconhecido: use .csv, .jsonl ou .json (ou o campo 'formato')."
            )
        data = part.stream.read(limit + 1)
        return imports.Upload(format=chosen, data=data, filename=part.filename)
    fmt = imports.format_for(None, mimetype) if mimetype in _RAW_TYPES else None
    if fmt is None:
        raise UnsupportedMediaType(
            "Envie uma lista JSON (application/json), um CSV (text/csv), JSONL (application/x-ndjson) ou um arquivo "
            "em multipart/form-data no campo 'arquivo'."
        )
    return imports.Upload(format=fmt, data=request.get_data(cache=False), filename=None)


class ImportList(BaseResource):
    openapi = {
        "post": {
            "summary": "Importação em massa (lista JSON, CSV ou JSONL): 202 com o id do job para acompanhar",
            "response": ImportAccepted,
            "description": UPLOAD_RULES,
            "request_content": {
                # Any item: one that is not a comment object is a per-row error in the job, not a refusal.
                "application/json": {"type": "array", "items": {}, "minItems": 1},
                "multipart/form-data": {
                    "type": "object",
                    "properties": {
                        "arquivo": {
                            "type": "string",
                            "format": "binary",
                            "description": "CSV, JSONL ou lista JSON em UTF-8 (formato pela extensão .csv/.jsonl/"
                            ".json, pelo Content-Type da parte ou pelo campo formato)",
                        },
                        "formato": {"type": "string", "enum": ["csv", "jsonl", "json"]},
                    },
                    "required": ["arquivo"],
                },
                "text/csv": {"type": "string", "description": "UTF-8, cabeçalho com a coluna texto"},
                "application/x-ndjson": {"type": "string", "description": "UTF-8, um objeto JSON por linha"},
            },
            "status": 202,
            "errors": [400, 413, 415, 422, 503],
            "error_descriptions": {
                400: "Arquivo vazio, JSON malformado ou multipart sem o campo arquivo",
                415: "Formato não reconhecido (sem extensão, Content-Type nem formato), arquivo binário (NUL) ou "
                "fora de UTF-8",
                422: "CSV sem a coluna texto ou com colunas desconhecidas/repetidas, JSON que não é uma lista, "
                "arquivo sem linhas de dados",
            },
        }
    }

    @roles_required(Role.INGESTAO)
    def post(self):
        job = imports.create_job(_read_upload(), user_id=current_user.id)
        url = url_for("api.import_detail", job_id=job.id)
        body = {"id": str(job.id), "status": job.status, "url": url, "total": job.total, "tarefa": job.task_id}
        return json_response(body, 202, {"Location": url})


class ImportDetail(BaseResource):
    openapi = {"get": {"summary": "Status, contagens e erros por linha de uma importação", "response": ImportJobOut,
                       "errors": [404]}}  # fmt: skip

    @roles_required(Role.INGESTAO)
    def get(self, job_id: str):
        job = imports.get_job(_job_id(job_id))
        return json_response(job_json(job, url_for("api.import_detail", job_id=job.id)))
