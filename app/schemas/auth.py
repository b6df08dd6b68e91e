"""Auth request schemas."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, StringConstraints

from app.models.user import Role
from app.schemas.common import Schema

Username = Annotated[str, StringConstraints(min_length=3, max_length=80, pattern=r"^[A-Za-z0-9_.@-]+$")]


class LoginIn(Schema):
    username: Annotated[str, StringConstraints(min_length=1, max_length=80)]
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
