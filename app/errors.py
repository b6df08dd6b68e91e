"""The AppError hierarchy and the one place that turns any error into the JSON envelope (or an HTML page).

Envelope: {"erro": {"codigo": "...", "mensagem": "...", "detalhes": ...}}. No stack trace or SQL reaches a client.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, render_template, request
from pydantic import ValidationError
from werkzeug.exceptions import HTTPException

from app.utils.json import json_response

log = logging.getLogger(__name__)


class AppError(Exception):
    """A domain error with an HTTP status and a stable machine-readable code."""

    status = 400
    code = "requisicao_invalida"
    message = "Requisição inválida."

    def __init__(self, message: str | None = None, details: Any = None, *, headers: dict[str, str] | None = None):
        super().__init__(message or self.message)
        self.message = message or self.message
        self.details = details
        self.headers = headers or {}


class BadRequest(AppError):
    status, code, message = 400, "requisicao_invalida", "Requisição inválida."


class Unauthorized(AppError):
    status, code, message = 401, "nao_autenticado", "Autenticação necessária."


class Forbidden(AppError):
    status, code, message = 403, "acesso_negado", "Seu perfil não tem permissão para esta operação."


class NotFound(AppError):
    status, code, message = 404, "nao_encontrado", "Recurso não encontrado."


class Conflict(AppError):
    status, code, message = 409, "conflito", "Conflito com o estado atual do recurso."


class PayloadTooLarge(AppError):
    status, code, message = 413, "carga_muito_grande", "A requisição é grande demais."


class UnsupportedMediaType(AppError):
    status, code, message = 415, "tipo_de_midia_nao_suportado", "Envie o corpo como application/json."


class ValidationFailed(AppError):
    status, code, message = 422, "validacao", "Os dados enviados não passaram na validação."


class DependencyUnavailable(AppError):
    status, code, message = 503, "dependencia_indisponivel", "Um serviço necessário está indisponível."


class RequestTimeout(Exception):
    """Raised into a request by gunicorn's worker_abort hook (gunicorn.conf.py) when it ran past the worker
    timeout: the client gets the 503 envelope instead of gunicorn's HTML page, then the worker is recycled."""


# Codes for plain HTTP errors raised by Flask/Werkzeug (routing, method, size, rate limit).
_HTTP_CODES = {
    400: ("requisicao_invalida", "Requisição inválida."),
    401: ("nao_autenticado", "Autenticação necessária."),
    403: ("acesso_negado", "Acesso negado."),
    404: ("nao_encontrado", "Recurso não encontrado."),
    405: ("metodo_nao_permitido", "Método não permitido para este recurso."),
    406: ("nao_aceitavel", "Formato de resposta não suportado."),
    409: ("conflito", "Conflito com o estado atual do recurso."),
    413: ("carga_muito_grande", "A requisição é grande demais."),
    415: ("tipo_de_midia_nao_suportado", "Tipo de conteúdo não suportado."),
    422: ("validacao", "Os dados enviados não passaram na validação."),
    429: ("limite_de_requisicoes", "Muitas requisições. Tente novamente mais tarde."),
    500: ("erro_interno", "Erro interno. A equipe foi notificada."),
    503: ("dependencia_indisponivel", "Serviço temporariamente indisponível."),
}


def error_body(status: int, code: str, message: str, details: Any = None) -> dict[str, Any]:
    return {"erro": {"codigo": code, "mensagem": message, "detalhes": details}}


# pt-BR messages for the pydantic error types clients hit; others fall back to pydantic's text.
_PT_MESSAGES = {
    "missing": "campo obrigatório",
    "extra_forbidden": "campo não permitido",
    "string_type": "deve ser um texto",
    "string_too_short": "deve ter pelo menos {min_length} caractere(s) (sem contar espaços nas pontas)",
    "string_too_long": "deve ter no máximo {max_length} caracteres",
    "too_short": "deve ter pelo menos {min_length} caractere(s) ou item(ns) (sem contar espaços nas pontas)",
    "too_long": "deve ter no máximo {max_length} itens",
    "string_pattern_mismatch": "formato inválido",
    "uuid_parsing": "deve ser um UUID válido",
    "uuid_type": "deve ser um UUID válido",
    "datetime_parsing": "deve ser uma data/hora ISO-8601 (ex.: 2026-11-20T14:30:00-03:00)",
    "datetime_from_date_parsing": "deve ser uma data ISO-8601 (ex.: 2026-11-20)",
    "datetime_type": "deve ser uma data/hora ISO-8601",
    "date_from_datetime_parsing": "deve ser uma data ISO-8601 (ex.: 2026-11-20)",
    "literal_error": "valor inválido; use um de: {expected}",
    "enum": "valor inválido; use um de: {expected}",
    "list_type": "deve ser uma lista",
    "model_type": "deve ser um objeto JSON",
    "model_attributes_type": "deve ser um objeto JSON",
    "dict_type": "deve ser um objeto JSON",
    "float_parsing": "deve ser um número",
    "float_type": "deve ser um número",
    "int_parsing": "deve ser um número inteiro",
    "greater_than_equal": "deve ser >= {ge}",
    "less_than_equal": "deve ser <= {le}",
    "bool_parsing": "deve ser verdadeiro ou falso",
}


def validation_details(exc: ValidationError) -> list[dict[str, Any]]:
    """Pydantic errors as [{"campo": "0.texto", "mensagem": "..."}] without echoing input values."""
    out = []
    for err in exc.errors(include_url=False, include_input=False):
        loc = ".".join(str(p) for p in err["loc"] if not str(p).startswith(("function-", "union["))) or "corpo"
        template = _PT_MESSAGES.get(err["type"])
        if err["type"] == "value_error":
            message = err["msg"].removeprefix("Value error, ")
        elif template:
            try:
                message = template.format(**(err.get("ctx") or {}))
            except (KeyError, IndexError):
                message = template
        else:
            message = err["msg"]
        out.append({"campo": loc, "mensagem": message, "tipo": err["type"]})
    return out


def _wants_json() -> bool:
    if request.path.startswith("/api/") or request.path in ("/health", "/ready", "/metrics"):
        return True
    # Machine feeds (the report's .json/.csv and ?format=json|csv) answer errors in the envelope too.
    if request.path.endswith((".json", ".csv")) or request.args.get("format", "html") != "html":
        return True
    best = request.accept_mimetypes.best_match(["application/json", "text/html"])
    return best == "application/json" or request.is_json


def _respond(status: int, code: str, message: str, details: Any = None, headers: dict[str, str] | None = None):
    if _wants_json():
        return json_response(error_body(status, code, message, details), status, headers)
    page = render_template("error.html", status=status, message=message)
    return Response(page, status=status, mimetype="text/html", headers=headers)


def _dependency_errors() -> tuple[type[Exception], ...]:
    """Exceptions that mean a backing service is unreachable (connection refused, timeout, lost connection)."""
    import kombu.exceptions
    import redis
    from sqlalchemy.exc import OperationalError
    from sqlalchemy.exc import TimeoutError as PoolTimeout

    return (
        OperationalError,  # includes statement_timeout (QueryCanceled) and connect timeouts
        PoolTimeout,  # every pooled connection busy for DB_POOL_TIMEOUT seconds
        redis.exceptions.ConnectionError,
        redis.exceptions.TimeoutError,
        kombu.exceptions.OperationalError,  # the broker, when something queues without app.tasks.dispatch
    )


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(AppError)
    def handle_app_error(exc: AppError):
        return _respond(exc.status, exc.code, exc.message, exc.details, exc.headers)

    @app.errorhandler(ValidationError)
    def handle_validation_error(exc: ValidationError):
        return _respond(422, ValidationFailed.code, ValidationFailed.message, validation_details(exc))

    @app.errorhandler(HTTPException)
    def handle_http_error(exc: HTTPException):
        status = exc.code or 500
        code, message = _HTTP_CODES.get(status, ("erro_http", exc.name))
        if status == 429:
            message = f"Muitas requisições ({exc.description}). Tente novamente mais tarde."
        headers = {k: v for k, v in exc.get_headers() if k.lower() in ("allow", "retry-after")}
        return _respond(status, code, message, None, headers)

    def handle_dependency_down(exc: Exception):
        # The database or Redis (rate limits, cache, blocklist) does not answer: a 503 the client may retry,
        # not a 500 (SPEC §1 Errors).
        # The exception's text is not logged: a driver error carries the SQL and its parameters (the user's text).
        log.error("dependency unavailable on %s %s: %s", request.method, request.path, type(exc).__name__)
        return _respond(503, DependencyUnavailable.code, DependencyUnavailable.message, None, {"Retry-After": "5"})

    for dependency_error in _dependency_errors():
        app.register_error_handler(dependency_error, handle_dependency_down)

    @app.errorhandler(RequestTimeout)
    def handle_request_timeout(exc: RequestTimeout):
        # The request was interrupted mid-statement: its connection is unusable (a rollback would fail and turn
        # this answer into gunicorn's HTML 500), so it is dropped, not returned to the pool.
        from app.extensions import db

        try:
            db.session().invalidate()  # the Session itself (scoped_session does not proxy invalidate)
        except Exception:  # the connection is being thrown away anyway
            log.warning("could not invalidate the interrupted request's connection")
        log.error("request timed out on %s %s", request.method, request.path)
        return _respond(
            503, "tempo_esgotado", "A requisição excedeu o tempo limite. Tente de novo.", None, {"Retry-After": "5"}
        )

    @app.errorhandler(Exception)
    def handle_unexpected(exc: Exception):
        log.exception("unhandled error on %s %s", request.method, request.path)
        code, message = _HTTP_CODES[500]
        return _respond(500, code, message)
