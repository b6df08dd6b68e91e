"""/api/comentarios: ingest, list, detail, history and curator corrections."""

from __future__ import annotations

import uuid

from flask import current_app, url_for
from flask_jwt_extended import current_user

from app.api.base import ALL_READERS, BaseResource, link_header, page_params, query_args, roles_required
from app.errors import NotFound, PayloadTooLarge, ValidationFailed
from app.models.user import Role
from app.schemas.comments import (
    CommentBatch,
    CommentFilters,
    CommentIn,
    CommentOne,
    CommentOut,
    CorrectionIn,
    HistoryEventOut,
)
from app.schemas.common import parse, read_json_body
from app.serializers.comments import comment_json
from app.services import comments
from app.utils.json import json_response


def _uuid(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise NotFound("Comentário não encontrado (id não é um UUID válido).") from None


class CommentList(BaseResource):
    openapi = {
        "post": {
            "summary": "Classifica e armazena um comentário ou um lote (lista); idempotente por id",
            "body": CommentIn,
            "body_list": True,
            "response": CommentOut,
            "response_list_or_object": True,
            "status": 201,
            "errors": [400, 409, 413, 415, 422],
        },
        "get": {
            "summary": "Lista comentários com filtros, ordenação e paginação (cabeçalho Link)",
            "query": CommentFilters,
            "paginated": CommentOut,
        },
    }

    @roles_required(Role.INGESTAO)
    def post(self):
        body = read_json_body()
        limit = current_app.config["SYNC_BATCH_LIMIT"]
        if isinstance(body, list):
            if len(body) > limit:
                raise PayloadTooLarge(
                    f"Lote com {len(body)} itens excede o limite síncrono de {limit}. "
                    "Use POST /api/importacoes para importações grandes.",
                    {"limite": limit, "recebidos": len(body), "importacao": "/api/importacoes"},
                )
            if not body:
                raise ValidationFailed("A lista de comentários está vazia.")
            result = comments.ingest(parse(CommentBatch, body))
            payload = result.items
        else:
            result = comments.ingest([parse(CommentOne, body)])
            payload = result.items[0]
        headers = {}
        if not isinstance(body, list):
            headers["Location"] = url_for("api.comment_detail", comment_id=payload["id"])
        return json_response(payload, 200 if result.all_existing else 201, headers)

    @roles_required(*ALL_READERS)
    def get(self):
        filters = parse(CommentFilters, query_args(multi=("tag",), comma_separated=("categoria",)))
        cfg = current_app.config
        page, per_page = page_params(cfg["PAGE_SIZE_DEFAULT"], cfg["PAGE_SIZE_MAX"])
        rows, total = comments.search(filters, page, per_page)
        body = {"items": [comment_json(c) for c in rows], "total": total, "page": page, "per_page": per_page}
        return json_response(body, headers={"Link": link_header(page, per_page, total), "X-Total-Count": str(total)})


class CommentDetail(BaseResource):
    openapi = {
        "get": {"summary": "Um comentário classificado", "response": CommentOut, "errors": [404]},
        "patch": {
            "summary": "Correção do curador (categoria e/ou tags), registrada no histórico",
            "body": CorrectionIn,
            "response": CommentOut,
            "roles": ["curador", "admin"],
            "errors": [404, 415, 422],
        },
    }

    @roles_required(*ALL_READERS)
    def get(self, comment_id: str):
        return json_response(comment_json(comments.get(_uuid(comment_id))))

    @roles_required(Role.CURADOR)
    def patch(self, comment_id: str):
        cid = _uuid(comment_id)
        correction = parse(CorrectionIn, read_json_body())
        return json_response(comment_json(comments.correct(cid, correction, current_user)))


class CommentHistory(BaseResource):
    openapi = {
        "get": {
            "summary": "Histórico de classificações e correções (quem/qual modelo, quando)",
            "response": HistoryEventOut,
            "response_list": True,
            "errors": [404],
        }
    }

    @roles_required(*ALL_READERS)
    def get(self, comment_id: str):
        return json_response(comments.history(_uuid(comment_id)))
