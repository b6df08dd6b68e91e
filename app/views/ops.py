"""Operations: liveness, readiness, Prometheus metrics, the OpenAPI document and its local Swagger UI."""

from __future__ import annotations

import time

from flask import Blueprint, Response, current_app, render_template, send_from_directory
from sqlalchemy import text
from swagger_ui_bundle import swagger_ui_path

from app.extensions import db
from app.metrics import render_metrics
from app.openapi import openapi_document
from app.security import require_ops_access
from app.utils.json import json_response

bp = Blueprint("ops", __name__)


@bp.get("/health")
def health():
    """Liveness: the process answers. No dependency is touched."""
    return json_response({"status": "ok"})


def _check(fn) -> dict:
    started = time.perf_counter()
    try:
        fn()
    except Exception as exc:  # a readiness probe reports, it does not raise
        return {"ok": False, "erro": type(exc).__name__, "ms": round((time.perf_counter() - started) * 1000, 1)}
    return {"ok": True, "ms": round((time.perf_counter() - started) * 1000, 1)}


def _check_database() -> None:
    # A fresh connection with the configured connect timeout and a short statement timeout: a database that
    # accepts but never answers (or a pool held by stuck requests) is a fast 503, not a hung probe.
    timeout = current_app.config["READY_CHECK_TIMEOUT"]
    with db.engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text(f"SET LOCAL statement_timeout = {int(timeout * 1000)}"))
        conn.execute(text("SELECT 1"))


def _check_redis() -> None:
    import redis

    timeout = current_app.config["READY_CHECK_TIMEOUT"]
    client = redis.Redis.from_url(
        current_app.config["REDIS_URL"], socket_connect_timeout=timeout, socket_timeout=timeout
    )
    try:
        client.ping()
    finally:
        client.close()


def _check_broker() -> None:
    from kombu import Connection

    timeout = current_app.config["READY_CHECK_TIMEOUT"]
    with Connection(current_app.config["CELERY_BROKER_URL"], connect_timeout=timeout) as conn:
        conn.ensure_connection(max_retries=1, timeout=timeout)


@bp.get("/ready")
def ready():
    """Readiness: the database, and Redis and the broker when configured, answer (200) or not (503)."""
    checks = {"banco": _check(_check_database)}
    if current_app.config["REDIS_URL"]:
        checks["redis"] = _check(_check_redis)
    if current_app.config["CELERY_BROKER_URL"]:
        checks["broker"] = _check(_check_broker)
    ok = all(c["ok"] for c in checks.values())
    return json_response({"status": "ok" if ok else "indisponivel", "checks": checks}, 200 if ok else 503)


@bp.get("/metrics")
def metrics():
    require_ops_access()
    body, content_type = render_metrics()
    return Response(body, content_type=content_type)


@bp.get("/api/openapi.json")
def openapi_json():
    return json_response(openapi_document())


@bp.get("/api/docs")
@bp.get("/api/docs/")
def docs():
    require_ops_access()
    # Development keeps the token across reloads; elsewhere it dies with the tab (no bearer in localStorage).
    return render_template("swagger.html", persist_authorization=current_app.config["APP_ENV"] == "development")


@bp.get("/api/docs/assets/<path:filename>")
def docs_assets(filename: str):
    """Swagger UI assets from the installed package: no CDN."""
    return send_from_directory(swagger_ui_path, filename, max_age=86400)
