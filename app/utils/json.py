"""Fast JSON responses (orjson) shared by the API and the error handlers."""

from __future__ import annotations

from typing import Any

import orjson
from flask import Response

_OPTIONS = orjson.OPT_NON_STR_KEYS | orjson.OPT_UTC_Z


def dumps(data: Any) -> bytes:
    return orjson.dumps(data, option=_OPTIONS)


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    resp = Response(dumps(data), status=status, mimetype="application/json")
    for key, value in (headers or {}).items():
        resp.headers[key] = value
    return resp
