"""Session login for people (the curator panel); the API keeps JWT (app/auth/jwt.py).

Flask's cookie holds a random session token; the server keeps its SHA-256 in `panel_sessions`. So a login rotates
the token (nothing from before login survives), logout and deactivation end the session server-side (a copied
cookie stops working), and the idle and absolute lifetimes are checked on every request.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import wraps
from typing import Any
from urllib.parse import urlsplit

from flask import Flask, current_app, flash, redirect, request, session, url_for
from flask_login import current_user, login_user, logout_user

from app.errors import Forbidden, Unauthorized
from app.extensions import db, login_manager
from app.models.session import LoginEvent, PanelSession
from app.models.user import Role, User
from app.services import users
from app.services.throttle import TooManyAttempts, check_login, login_succeeded

SESSION_KEY = "painel_sid"
# last_seen_at is written at most this often: the idle check needs minutes, not a write per request.
TOUCH_EVERY = timedelta(seconds=60)
PANEL_ROLES = (Role.ADMIN.value, Role.CURADOR.value, Role.LEITOR.value)
CORRECTOR_ROLES = (Role.ADMIN.value, Role.CURADOR.value)
GENERIC_FAILURE = "Usuário ou senha inválidos."


def init_app(app: Flask) -> None:
    login_manager.init_app(app)
    # Our own token check replaces Flask-Login's IP/user-agent hash (it breaks behind changing proxies).
    login_manager.session_protection = None
    login_manager.login_view = "curation.login"


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _now() -> datetime:
    return datetime.now(UTC)


def client_address() -> str | None:
    return (request.remote_addr or "")[:64] or None


def _user_agent() -> str | None:
    return (request.headers.get("User-Agent") or "")[:300] or None


def _record(username: str, user: User | None, success: bool, reason: str) -> None:
    db.session.add(
        LoginEvent(
            username=username[:80],
            user_id=user.id if user else None,
            success=success,
            reason=reason,
            address=client_address(),
            user_agent=_user_agent(),
            created_at=_now(),
        )
    )


def log_in(username: str, password: str) -> User:
    """Check the credentials (same answer and timing for an unknown user and a wrong password), start a fresh
    session and record the attempt. Raises Unauthorized (or Forbidden for a role without panel access)."""
    username = username.strip()
    cfg = current_app.config
    # The API's throttle (app/services/throttle.py), with the panel's own per-address and per-account-on-address
    # limits and the shared account-wide limit: kept in the database, so it holds across workers and without Redis,
    # and failing logins in someone's name cannot keep them out from an address they use.
    rules = {
        "ip": cfg["PANEL_LOGIN_RATE_LIMIT"],
        "conta_ip": cfg["PANEL_LOGIN_ACCOUNT_RATE_LIMIT"],
        "conta": cfg["LOGIN_ACCOUNT_GLOBAL_RATE_LIMIT"],
    }
    try:
        attempt = check_login(client_address() or "-", username, rules)
    except TooManyAttempts:
        _record(username, None, False, "limite_excedido")
        db.session.commit()
        raise
    try:
        user = users.authenticate(username, password)
    except Unauthorized:
        db.session.rollback()
        _record(username, None, False, "credenciais_invalidas")
        db.session.commit()
        raise Unauthorized(GENERIC_FAILURE) from None
    login_succeeded(attempt, cfg["LOGIN_KNOWN_ADDRESS_DAYS"])
    if user.role not in PANEL_ROLES:
        _record(username, user, False, "perfil_sem_acesso")
        db.session.commit()
        raise Forbidden("Seu perfil não tem acesso ao painel de curadoria.")
    session.clear()  # rotation: nothing set before login (e.g. by a fixation attempt) survives it
    token = secrets.token_urlsafe(32)
    now = _now()
    db.session.add(
        PanelSession(
            token_hash=_hash(token),
            user_id=user.id,
            created_at=now,
            last_seen_at=now,
            address=client_address(),
            user_agent=_user_agent(),
        )
    )
    _record(username, user, True, "ok")
    db.session.commit()
    session.permanent = True  # the cookie expires with the absolute lifetime
    session[SESSION_KEY] = token
    login_user(user)
    return user


def log_out() -> None:
    """End the session server-side and drop the cookie's content."""
    token = session.get(SESSION_KEY)
    if token:
        row = db.session.get(PanelSession, _hash(token))
        if row is not None and row.ended_at is None:
            row.ended_at = _now()
            _record(row.user.username, row.user, True, "logout")
            db.session.commit()
    logout_user()
    session.clear()


@login_manager.user_loader
def _load_user(user_id: str) -> User | None:
    """The logged-in user when the session token is live; otherwise the session ends (and why is flashed)."""
    token = session.get(SESSION_KEY)
    row = db.session.get(PanelSession, _hash(token)) if token else None
    if row is None or row.ended_at is not None or str(row.user_id) != user_id:
        session.clear()
        return None
    now = _now()
    cfg = current_app.config
    expired = now - row.created_at > timedelta(seconds=cfg["SESSION_ABSOLUTE_SECONDS"])
    idle = now - row.last_seen_at > timedelta(seconds=cfg["SESSION_IDLE_SECONDS"])
    if expired or idle or not row.user.active:
        row.ended_at = now
        db.session.commit()
        session.clear()
        flash("Sua sessão terminou. Entre novamente." if row.user.active else "Seu usuário foi desativado.", "aviso")
        return None
    if now - row.last_seen_at > TOUCH_EVERY:
        row.last_seen_at = now
        db.session.commit()
    return row.user


@login_manager.unauthorized_handler
def _unauthorized() -> Any:
    target = request.full_path if request.method == "GET" else None
    return redirect(url_for("curation.login", next=target.rstrip("?") if target else None))


def safe_next(target: str | None, default: str) -> str:
    """`target` when it is a path on this site (never another host, scheme or protocol-relative URL)."""
    if not target or any(ch in target for ch in "\\\r\n\t") or not target.startswith("/") or target.startswith("//"):
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return default
    return target


def panel_login_required(*roles: str) -> Callable:
    """A panel page for a logged-in user whose role is in `roles` (default: every panel role)."""
    allowed = roles or PANEL_ROLES

    def decorator(fn: Callable) -> Callable:
        @wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if not current_user.is_authenticated:
                return login_manager.unauthorized()
            if current_user.role not in allowed:
                raise Forbidden("Seu perfil não pode fazer isto (somente leitura).")
            return fn(*args, **kwargs)

        return wrapper

    return decorator


def redirect_after_login(default_endpoint: str) -> Any:
    return redirect(safe_next(request.values.get("next"), url_for(default_endpoint)))
