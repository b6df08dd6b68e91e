"""Flask-JWT-Extended wiring: user loading, revocation checks, and every JWT error in the one envelope."""

from __future__ import annotations

from flask import g
from sqlalchemy import select

from app.errors import _respond
from app.extensions import db, jwt
from app.models.user import User
from app.services.users import revoked_and_user


def _user_id(payload: dict) -> int | None:
    """The integer user id in `sub`, or None: a validly signed token with any other subject names no user."""
    sub = payload.get("sub")
    if isinstance(sub, str) and sub.isascii() and sub.isdigit() and len(sub) < 10:
        return int(sub)
    return None


@jwt.token_in_blocklist_loader
def _revoked(_header, payload) -> bool:
    """Asked first by Flask-JWT-Extended; loads the token's user in the same round trip for `_load_user`."""
    if not isinstance(payload.get("jti"), str):
        return True  # not one of ours: refused like a revoked token
    revoked, user = revoked_and_user(payload, _user_id(payload))
    g.alumusic_token_user = (payload["jti"], user)
    return revoked


@jwt.user_lookup_loader
def _load_user(_header, payload):
    user_id = _user_id(payload)
    if user_id is None:
        return None
    loaded = g.pop("alumusic_token_user", None)
    if loaded is not None and loaded[0] == payload.get("jti"):
        user = loaded[1]
    else:
        user = db.session.scalar(select(User).where(User.id == user_id))
    return user if user is not None and user.active else None


@jwt.expired_token_loader
def _expired(_header, _payload):
    return _respond(401, "token_expirado", "O token expirou. Renove com /api/auth/refresh ou faça login.")


@jwt.invalid_token_loader
def _invalid(reason: str):
    # Flask-JWT-Extended routes WrongTokenError here too: name the mistake instead of "malformed".
    if reason.startswith("Only refresh tokens"):
        return _respond(
            401, "token_de_tipo_errado", "Esta rota exige o refresh_token (não o access_token) no Authorization."
        )
    if reason.startswith("Only non-refresh tokens"):
        return _respond(
            401, "token_de_tipo_errado", "Esta rota exige o access_token (não o refresh_token) no Authorization."
        )
    return _respond(401, "token_invalido", "Token inválido ou malformado.")


@jwt.unauthorized_loader
def _missing(reason: str):
    return _respond(401, "nao_autenticado", "Envie o cabeçalho Authorization: Bearer <token>.")


@jwt.revoked_token_loader
def _revoked_response(_header, _payload):
    return _respond(401, "token_revogado", "Este token foi revogado (logout).")


@jwt.needs_fresh_token_loader
def _not_fresh(_header, _payload):
    return _respond(401, "token_nao_recente", "Esta operação exige um login recente.")


@jwt.user_lookup_error_loader
def _user_gone(_header, _payload):
    return _respond(401, "usuario_inativo", "Usuário inexistente ou desativado.")


@jwt.token_verification_failed_loader
def _verification_failed(_header, _payload):
    return _respond(401, "token_invalido", "Token inválido.")
