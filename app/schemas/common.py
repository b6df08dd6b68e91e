"""Schema helpers shared by every endpoint."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any, TypeVar

import orjson
from flask import request
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, TypeAdapter

from app.errors import BadRequest, UnsupportedMediaType

T = TypeVar("T")


class Schema(BaseModel):
    """Base request schema: unknown fields are refused (no mass assignment), strings trimmed."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, frozen=True)


# C0 controls (but tab, newline, carriage return), DEL and the C1 block. NUL above all: PostgreSQL refuses it
# in text and the classifier uses it as a separator, so it must never get past validation.
FREE_TEXT_CONTROLS = "\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f"
# In names, codes and filters no control character at all.
NAME_CONTROLS = "\x00-\x1f\x7f-\x9f"


def exact_text(value: Any) -> Any:
    """For identifiers: no surrounding whitespace to trim away (the value is taken exactly as sent)."""
    if isinstance(value, str) and value != value.strip():
        raise ValueError("não pode ter espaços no início ou no fim")
    return value


def _text_check(controls: str, max_length: int | None = None) -> BeforeValidator:
    """Refuse non-strings (no coercion of numbers) and control characters before trimming; the minimum length
    counts after trimming (SPEC: 1..5000 characters of text), the maximum also before it, as the document
    states `maxLength` of the value sent."""
    bad = re.compile(f"[{controls}]") if controls else None

    def check(value: Any) -> Any:
        if not isinstance(value, str):
            raise ValueError("deve ser um texto")
        if bad is not None and bad.search(value):
            raise ValueError("contém caracteres de controle (como NUL); remova-os")
        if max_length is not None and len(value) > max_length:
            raise ValueError(f"deve ter no máximo {max_length} caracteres")
        return value

    return BeforeValidator(check)


def text_type(max_length: int, *, required: bool = True, free_text: bool = False) -> Any:
    """A trimmed string type: `required` needs a non-blank value; free text may hold tabs and newlines.

    Lengths count after trimming (SPEC: texto is 1..5000 characters after trimming), so the document states them in
    the pattern rather than as minLength/maxLength (which a client would apply to the value as sent): surrounding
    whitespace, then at most `max_length` characters from the first to the last non-blank one."""
    controls = FREE_TEXT_CONTROLS if free_text else NAME_CONTROLS
    space = f"[^\\S{controls}]*"  # whitespace that is not a control character: trimmed away
    edge = f"[^\\s{controls}]"  # the first and the last character kept
    kept = f"{edge}(?:[^{controls}]{{0,{max_length - 2}}}{edge})?"
    pattern = f"^{space}{kept}{space}$" if required else f"^{space}(?:{kept})?{space}$"

    def document(schema: dict[str, Any]) -> None:
        schema.pop("minLength", None)
        schema.pop("maxLength", None)
        schema["pattern"] = pattern

    return Annotated[
        str,
        _text_check(controls),
        Field(min_length=1 if required else 0, max_length=max_length, json_schema_extra=document),
    ]


# Dates a client may send: ISO-8601 strings only (no epoch numbers). Python (and so the app) cannot represent
# instants past year 9999 or before year 1; a value whose UTC form falls outside is clamped to the edge.
_FAR_FUTURE = datetime.max.replace(tzinfo=UTC)
_FAR_PAST = datetime.min.replace(tzinfo=UTC)


_ISO_START = re.compile(r"\d{4}-\d{2}-\d{2}")


def iso_string(value: Any) -> Any:
    """Only ISO-8601 text: pydantic would also read numbers (and numeric strings) as epoch seconds."""
    if isinstance(value, datetime | date) or (isinstance(value, str) and _ISO_START.match(value.strip())):
        return value
    raise ValueError("deve ser uma data/hora ISO-8601 em texto (ex.: 2026-11-20T14:30:00-03:00)")


def to_utc(value: datetime) -> datetime:
    """Naive timestamps are taken as UTC; an instant beyond what Python can hold in UTC is clamped."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except OverflowError:
        return _FAR_FUTURE if value.utcoffset() < timedelta(0) else _FAR_PAST


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
