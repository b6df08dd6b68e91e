"""Structured JSON logs, one line per request, carrying the request id propagated from NGINX."""

from __future__ import annotations

import logging
import re
import sys
import time
import uuid

from flask import Flask, g, has_request_context, request
from pythonjsonlogger.json import JsonFormatter

REQUEST_ID_OK = _REQUEST_ID_OK = re.compile(r"^[A-Za-z0-9._-]{1,128}$")


class RequestContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if has_request_context():
            record.request_id = g.get("request_id", "-")
        elif not hasattr(record, "request_id"):  # the feed fast path passes its own (no request context)
            record.request_id = "-"
        return True


def configure_logging(app: Flask) -> None:
    # stderr: stdout belongs to commands' output (`flask model list --json | python -m json.tool`).
    handler = logging.StreamHandler(sys.stderr)
    if app.config["LOG_JSON"]:
        handler.setFormatter(
            JsonFormatter(
                "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s",
                rename_fields={"asctime": "ts", "levelname": "level", "name": "logger"},
            )
        )
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s [%(request_id)s] %(name)s: %(message)s"))
    handler.addFilter(RequestContextFilter())
    root = logging.getLogger()
    # Replace (not stack) handlers so tests creating many apps do not multiply log lines.
    root.handlers = [h for h in root.handlers if not getattr(h, "_alumusic", False)]
    handler._alumusic = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(app.config["LOG_LEVEL"])
    # Alembic's "Context impl PostgresqlImpl" / "Will assume transactional DDL" lines on every command are noise.
    for noisy in ("alembic.runtime.migration", "alembic.runtime.plugins", "alembic.env"):
        logging.getLogger(noisy).setLevel(logging.WARNING)

    access = logging.getLogger("alumusic.access")

    @app.before_request
    def _request_id():
        incoming = request.headers.get("X-Request-ID", "")
        g.request_id = incoming if _REQUEST_ID_OK.match(incoming) else uuid.uuid4().hex
        g._log_started = time.perf_counter()

    @app.after_request
    def _access_log(response):
        response.headers["X-Request-ID"] = g.get("request_id", "")
        started = g.get("_log_started")
        if started is not None and request.endpoint not in ("ops.health", "ops.metrics"):
            access.info(
                "request",
                extra={
                    "method": request.method,
                    "path": request.path,
                    "status": response.status_code,
                    "ms": round((time.perf_counter() - started) * 1000, 2),
                    "remote": request.remote_addr,
                },
            )
        return response
