"""OpenAPI 3 document built from the routing table, the resources' metadata and the pydantic schemas."""

from __future__ import annotations

import re
from functools import cache
from typing import Any

from apispec import APISpec
from pydantic import BaseModel

from app.api import ROUTES, URL_PREFIX
from app.api.base import MAX_PAGE

ERROR_DESCRIPTIONS = {
    400: "Requisição malformada",
    401: "Token ausente, inválido, expirado ou revogado",
    403: "Perfil sem permissão",
    404: "Não encontrado",
    409: "Conflito",
    413: "Carga grande demais",
    415: "Tipo de conteúdo não suportado",
    422: "Falha de validação",
    429: "Limite de requisições",
    503: "Dependência indisponível (banco, Redis ou fila) ou tempo esgotado; tente de novo (Retry-After)",
}

ERROR_SCHEMA = {
    "type": "object",
    "required": ["erro"],
    "properties": {
        "erro": {
            "type": "object",
            "required": ["codigo", "mensagem"],
            "properties": {
                "codigo": {"type": "string", "example": "validacao"},
                "mensagem": {"type": "string"},
                "detalhes": {},
            },
        }
    },
}

_REF = "#/components/schemas/{model}"


def _oas30(node: Any) -> Any:
    """pydantic writes JSON Schema 2020-12; OpenAPI 3.0 (what the bundled Swagger UI renders) has no "null" type
    and marks optional values `nullable: true` instead."""
    if isinstance(node, list):
        return [_oas30(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {k: _oas30(v) for k, v in node.items()}
    for key in ("anyOf", "oneOf"):
        branches = out.get(key)
        if not isinstance(branches, list) or {"type": "null"} not in branches:
            continue
        rest = [b for b in branches if b != {"type": "null"}]
        del out[key]
        if len(rest) == 1 and "$ref" not in rest[0]:
            out = {**rest[0], **out}
        elif len(rest) == 1:
            out["allOf"] = rest  # a $ref cannot carry siblings such as nullable
        else:
            out[key] = rest
        out["nullable"] = True
    return out


def _register(spec: APISpec, model: type[BaseModel], mode: str = "serialization") -> dict[str, str]:
    """Add a schema (request bodies in pydantic's input form, responses in its output form); return its $ref."""
    schema = _oas30(model.model_json_schema(ref_template=_REF, mode=mode))
    for name, sub in schema.pop("$defs", {}).items():
        if name not in spec.components.schemas:
            spec.components.schema(name, sub)
    if model.__name__ not in spec.components.schemas:
        spec.components.schema(model.__name__, schema)
    return {"$ref": _REF.format(model=model.__name__)}


def _query_params(model: type[BaseModel]) -> list[dict[str, Any]]:
    schema = _oas30(model.model_json_schema(ref_template=_REF))
    params = []
    for name, prop in schema.get("properties", {}).items():
        params.append(
            {"in": "query", "name": name, "required": False, "schema": prop, "description": prop.get("description", "")}
        )
    return params


def _error_responses(codes: list[int], descriptions: dict[int, str] | None = None) -> dict[str, Any]:
    """The envelope for each status; an operation may say more precisely when it answers one."""
    descriptions = descriptions or {}
    return {
        str(c): {
            "description": descriptions.get(c, ERROR_DESCRIPTIONS[c]),
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Erro"}}},
        }
        for c in codes
    }


def _default_setting(name: str) -> int:
    from app.config import Settings

    return int(Settings.model_fields[name].default)


def _page_size_max() -> int:
    return _default_setting("PAGE_SIZE_MAX")


def _sync_batch_limit() -> int:
    """Above it the answer is 413 (SYNC_BATCH_LIMIT; the document states the shipped default)."""
    return _default_setting("SYNC_BATCH_LIMIT")


def _statuses(meta: dict[str, Any], is_public: bool, has_path_params: bool) -> list[int]:
    """Every error status the operation can answer, so a client (and the fuzzer) is never surprised."""
    codes = set(meta.get("errors", []))
    codes.add(503)  # every operation reads the database (or Redis, or the broker)
    if not is_public:
        codes |= {401, 403}
    if meta.get("body"):
        codes |= {400, 413, 415, 422}  # malformed JSON, body too large, not JSON, validation
    if meta.get("query") or meta.get("paginated"):
        codes.add(422)
    if has_path_params:
        codes.add(404)
    return sorted(codes)


def build_spec(extra_paths: list[tuple[str, dict[str, Any]]] | None = None) -> dict[str, Any]:
    spec = APISpec(
        title="AluMusic Insights API",
        version="1.0.0",
        openapi_version="3.0.3",
        info={
            "description": "Recebe, classifica e analisa comentários de ouvintes. Erros: envelope único "
            '{"erro": {"codigo", "mensagem", "detalhes"}}.'
        },
    )
    spec.components.schema("Erro", ERROR_SCHEMA)
    spec.components.security_scheme("bearer", {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"})

    for url, resource, _endpoint in ROUTES:
        path = URL_PREFIX + re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"{\1}", url)
        operations: dict[str, Any] = {}
        for method, meta in resource.openapi.items():
            op: dict[str, Any] = {"summary": meta["summary"], "tags": [url.strip("/").split("/")[0]]}
            view = getattr(resource, method)
            roles = meta.get("roles") or list(getattr(view, "roles", ()))
            is_public = bool(meta.get("public") or getattr(view, "public", False))
            description = [meta["description"]] if meta.get("description") else []
            if not is_public:
                op["security"] = [{"bearer": []}]
                if roles:
                    description.append("Perfis: " + ", ".join(roles))
            if description:
                op["description"] = "\n\n".join(description)
            # A resource may say more about a path parameter (e.g. a pattern); anything else is a string.
            path_schemas = meta.get("path", {})
            params = [
                {"in": "path", "name": p, "required": True, "schema": path_schemas.get(p, {"type": "string"})}
                for p in re.findall(r"{([^}]+)}", path)
            ]
            if meta.get("query"):
                params += _query_params(meta["query"])
            if meta.get("paginated"):
                params += [
                    {"in": "query", "name": "page", "schema": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE}},
                    {
                        "in": "query",
                        "name": "per_page",
                        "schema": {"type": "integer", "minimum": 1, "maximum": _page_size_max()},
                    },
                ]
            if params:
                op["parameters"] = params
            if meta.get("body"):
                ref = _register(spec, meta["body"], mode="validation")
                limit = _sync_batch_limit()
                batch = {"type": "array", "items": ref, "minItems": 1, "maxItems": limit}
                body_schema = {"oneOf": [ref, batch]} if meta.get("body_list") else ref
                op["requestBody"] = {"required": True, "content": {"application/json": {"schema": body_schema}}}
            if meta.get("request_content"):  # non-JSON bodies (uploads): {media type: schema}
                content = {k: {"schema": v} for k, v in meta["request_content"].items()}
                op["requestBody"] = {"required": True, "content": content}
            responses: dict[str, Any] = {}
            status = str(meta.get("status", 200))
            if meta.get("response"):
                ref = _register(spec, meta["response"])
                if meta.get("response_list"):
                    schema: dict[str, Any] = {"type": "array", "items": ref}
                elif meta.get("response_list_or_object"):
                    schema = {"oneOf": [ref, {"type": "array", "items": ref}]}
                else:
                    schema = ref
                responses[status] = {"description": "OK", "content": {"application/json": {"schema": schema}}}
                if meta.get("response_list_or_object"):
                    responses["200"] = {
                        "description": "Já existia (mesmo id e texto): resultado armazenado",
                        "content": {"application/json": {"schema": schema}},
                    }
            elif meta.get("paginated"):
                ref = _register(spec, meta["paginated"])
                responses["200"] = {
                    "description": "Página de resultados",
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "properties": {
                                    "items": {"type": "array", "items": ref},
                                    "total": {"type": "integer"},
                                    "page": {"type": "integer"},
                                    "per_page": {"type": "integer"},
                                },
                            }
                        }
                    },
                }
            elif meta.get("produces"):
                responses[status] = {"description": "OK", "content": {meta["produces"]: {"schema": {"type": "string"}}}}
            else:
                responses[status] = {"description": "OK"}
            statuses = _statuses(meta, is_public, bool(params and "{" in path))
            responses.update(_error_responses(statuses, meta.get("error_descriptions")))
            op["responses"] = responses
            operations[method] = op
        spec.path(path=path, operations=operations)

    for path, operations in extra_paths or []:
        spec.path(path=path, operations=operations)
    return spec.to_dict()


OPS_PATHS: list[tuple[str, dict[str, Any]]] = [
    ("/health", {"get": {"summary": "Liveness", "tags": ["operacao"], "responses": {"200": {"description": "OK"}}}}),
    (
        "/ready",
        {
            "get": {
                "summary": "Readiness: banco, Redis e broker",
                "tags": ["operacao"],
                "responses": {
                    "200": {"description": "Pronto"},
                    "503": {"description": "Dependência fora (ou sem resposta dentro de READY_CHECK_TIMEOUT)"},
                },
            }
        },
    ),
    (
        "/metrics",
        {
            "get": {
                "summary": "Métricas Prometheus (redes em OPS_ALLOWED_NETWORKS ou Bearer OPS_TOKEN)",
                "tags": ["operacao"],
                "responses": {
                    "200": {"description": "text/plain; version=0.0.4"},
                    "403": {
                        "description": "Fora das redes autorizadas e sem OPS_TOKEN",
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Erro"}}},
                    },
                },
            }
        },
    ),
    (
        "/api/openapi.json",
        {
            "get": {
                "summary": "Este documento",
                "tags": ["operacao"],
                "responses": {"200": {"description": "OpenAPI 3"}},
            }
        },
    ),
]


@cache
def openapi_document() -> dict[str, Any]:
    return build_spec(OPS_PATHS)
