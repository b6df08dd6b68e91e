"""User accounts and tokens: login, refresh, logout, admin-created users."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import current_app
from flask_jwt_extended import create_access_token, create_refresh_token, decode_token
from sqlalchemy import bindparam, exists, func, select
from sqlalchemy.exc import IntegrityError
from werkzeug.security import check_password_hash, generate_password_hash

from app.auth.passwords import password_problem
from app.errors import Conflict, NotFound, Unauthorized, ValidationFailed
from app.extensions import db
from app.models.user import ROLES, TokenBlocklist, User
from app.services.throttle import check_login, login_succeeded

# A real hash to compare against when the user does not exist, so login timing does not reveal usernames.
_DUMMY_HASH = generate_password_hash("not-a-real-password")


def _by_username(username: str) -> User | None:
    """Usernames are case-insensitive ("Ana" is "ana"); the lower(username) unique index serves this lookup."""
    return db.session.scalar(select(User).where(func.lower(User.username) == username.lower()))


def issue_tokens(user: User, *, with_refresh: bool = True, refresh_jti: str | None = None) -> dict[str, Any]:
    """Access (and refresh) tokens; the access token names its refresh token (`rjti`), so revoking the refresh
    token also revokes the access tokens issued with it."""
    claims = {"role": user.role}
    identity = str(user.id)
    out: dict[str, Any] = {"token_type": "Bearer", "expires_in": int(current_app.config["JWT_ACCESS_TOKEN_SECONDS"])}
    if with_refresh:
        out["refresh_token"] = create_refresh_token(identity=identity, additional_claims=claims)
        refresh_jti = decode_token(out["refresh_token"])["jti"]
    access_claims = {**claims, "rjti": refresh_jti} if refresh_jti else claims
    out["access_token"] = create_access_token(identity=identity, additional_claims=access_claims)
    return out


def authenticate(username: str, password: str) -> User:
    """The active user with these credentials, or a 401 that does not say which part was wrong."""
    user = _by_username(username)
    if user is None:
        check_password_hash(_DUMMY_HASH, password)
        raise Unauthorized("Usuário ou senha inválidos.")
    if not user.check_password(password) or not user.active:
        raise Unauthorized("Usuário ou senha inválidos.")
    return user


def login(username: str, password: str, address: str) -> dict[str, Any]:
    """Tokens for valid credentials; attempts are throttled per address, per account on that address and per
    account first (429; see app/services/throttle.py)."""
    cfg = current_app.config
    rules = {
        "ip": cfg["LOGIN_RATE_LIMIT"],
        "conta_ip": cfg["LOGIN_ACCOUNT_RATE_LIMIT"],
        "conta": cfg["LOGIN_ACCOUNT_GLOBAL_RATE_LIMIT"],
    }
    attempt = check_login(address, username, rules)
    user = authenticate(username, password)
    login_succeeded(attempt, cfg["LOGIN_KNOWN_ADDRESS_DAYS"])
    return issue_tokens(user)


def refresh(user: User, refresh_payload: dict[str, Any]) -> dict[str, Any]:
    return issue_tokens(user, with_refresh=False, refresh_jti=refresh_payload["jti"])


def revoke(jwt_payload: dict[str, Any], extra_tokens: list[str] | None = None) -> None:
    """Blocklist this token (and optionally its refresh token, when the client sends it)."""
    payloads = [jwt_payload]
    for raw in extra_tokens or []:
        try:
            other = decode_token(raw)
        except Exception:  # an invalid extra token is simply not revoked
            continue
        if other.get("sub") == jwt_payload.get("sub"):
            payloads.append(other)
    for payload in payloads:
        if db.session.get(TokenBlocklist, payload["jti"]) is None:
            db.session.add(
                TokenBlocklist(
                    jti=payload["jti"],
                    token_type=payload.get("type", "access"),
                    user_id=int(payload["sub"]),
                    expires_at=datetime.fromtimestamp(payload["exp"], UTC),
                )
            )
    db.session.commit()


def is_revoked(payload: dict[str, Any]) -> bool:
    """The token itself, or (for an access token) the refresh token it was issued with, is revoked."""
    return db.session.scalar(select(func.count()).where(TokenBlocklist.jti.in_(_token_jtis(payload)))) > 0


def _token_jtis(payload: dict[str, Any]) -> list[str]:
    """The token's own jti, and for an access token the jti of the refresh token it was issued with."""
    return [payload["jti"]] + ([payload["rjti"]] if isinstance(payload.get("rjti"), str) else [])


# Built once: every authenticated request runs it, and building a statement (and its cache key) costs about as
# much client CPU as running it.
_USER_AND_REVOKED = select(User, exists().where(TokenBlocklist.jti.in_(bindparam("jtis", expanding=True)))).where(
    User.id == bindparam("user_id")
)


def revoked_and_user(payload: dict[str, Any], user_id: int | None) -> tuple[bool, User | None]:
    """`is_revoked(payload)` and the user with this id, in one round trip: every authenticated request asks both
    (a second query only when the user does not exist)."""
    if user_id is None:
        return is_revoked(payload), None
    row = db.session.execute(_USER_AND_REVOKED, {"user_id": user_id, "jtis": _token_jtis(payload)}).first()
    if row is None:
        return is_revoked(payload), None
    return bool(row[1]), row[0]


def create_user(username: str, password: str, role: str) -> User:
    """Create an active user; the same password policy applies to the API and the CLI."""
    if role not in ROLES:
        raise ValidationFailed(f"Perfil inválido; use um de {', '.join(ROLES)}.")
    problem = password_problem(password, username)
    if problem:
        raise ValidationFailed(problem, [{"campo": "password", "mensagem": problem}])
    username = username.lower()
    if _by_username(username) is not None:
        raise Conflict(f"O usuário '{username}' já existe.")
    user = User(username=username, role=role, active=True)
    user.set_password(password)
    db.session.add(user)
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise Conflict(f"O usuário '{username}' já existe.") from None
    return user


def ensure_user(username: str, password: str, role: str) -> tuple[User, bool]:
    """Create the user if absent; returns (user, created)."""
    user = _by_username(username)
    if user is not None:
        return user, False
    return create_user(username, password, role), True


def set_active(username: str, active: bool) -> User:
    user = _by_username(username)
    if user is None:
        raise NotFound(f"Usuário '{username}' não encontrado.")
    user.active = active
    db.session.commit()
    return user


def list_users() -> list[User]:
    return list(db.session.scalars(select(User).order_by(User.username)))
