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
            "request_content": {
                "application/json": {"type": "array", "items": {"type": "object"}, "minItems": 1},
                "multipart/form-data": {
                    "type": "object",
                    "properties": {
                        "arquivo": {"type": "string", "format": "binary"},
                        "formato": {"type": "string", "enum": ["csv", "jsonl", "json"]},
                    },
                    "required": ["arquivo"],
                },
                "text/csv": {"type": "string"},
                "application/x-ndjson": {"type": "string"},
            },
            "status": 202,
            "errors": [400, 413, 415, 422, 503],
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
