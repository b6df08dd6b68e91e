"""Schema helpers shared by every endpoint."""

from __future__ import annotations

from typing import Any, TypeVar

import orjson
from flask import request
from pydantic import BaseModel, ConfigDict, TypeAdapter

from app.errors import BadRequest, UnsupportedMediaType

T = TypeVar("T")


class Schema(BaseModel):
    """Base request schema: unknown fields are refused (no mass assignment), strings trimmed."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, frozen=True)


def read_json_body() -> Any:
    """The request body parsed as JSON, or a 415/400 in the envelope."""
    mimetype = request.mimetype or ""
    if mimetype != "application/json" and not mimetype.endswith("+json"):
        raise UnsupportedMediaType("Envie o corpo como application/json.")
    raw = request.get_data(cache=False)
    if not raw.strip():
        raise BadRequest("O corpo da requisição está vazio.")
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise BadRequest("JSON malformado.", {"posicao": exc.pos}) from None


def parse(adapter: TypeAdapter[T] | type[T], data: Any) -> T:
    """Validate data against a schema class or TypeAdapter (pydantic errors become 422 in the envelope)."""
    if isinstance(adapter, TypeAdapter):
        return adapter.validate_python(data)
    return adapter.model_validate(data)  # type: ignore[attr-defined]
