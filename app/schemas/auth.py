"""Auth request schemas."""

from __future__ import annotations

from typing import Annotated

from pydantic import BeforeValidator, Field, StringConstraints

from app.models.user import Role
from app.schemas.common import Schema, exact_text, text_type

Username = Annotated[
    str,
    # Checked on the raw value: trimming first would accept " ana " although the pattern (and the OpenAPI
    # document) refuse spaces.
    BeforeValidator(exact_text),
    StringConstraints(min_length=3, max_length=80, pattern=r"^[A-Za-z0-9_.@-]+$"),
]


class LoginIn(Schema):
    # Any text without control characters: a NUL would reach PostgreSQL (the throttle's key) and fail there.
    username: text_type(80)
    password: Annotated[str, StringConstraints(min_length=1, max_length=200, strip_whitespace=False)]


class RegisterIn(Schema):
    username: Username
    password: Annotated[str, StringConstraints(min_length=10, max_length=200, strip_whitespace=False)]
    role: Role = Field(description="admin | curador | leitor | ingestao")


class TokenOut(Schema):
    access_token: str
    refresh_token: str | None = None
    token_type: str = "Bearer"
    expires_in: int


class UserOut(Schema):
    id: int
    username: str
    role: str
    active: bool
