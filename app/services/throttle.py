"""Login throttling kept in the database: one counter per key and time window, shared by every gunicorn worker
and replica, and independent of Redis (so a Redis outage neither multiplies the limit nor locks users out).

Three counters, so that guessing is bounded but nobody can lock a user out by failing logins in their name:
- `ip`: every attempt from one address (LOGIN_RATE_LIMIT);
- `conta_ip`: attempts on one account from one address, tight (LOGIN_ACCOUNT_RATE_LIMIT); a successful login
  clears it, so a user's own typos do not linger;
- `conta`: attempts on one account from anywhere, looser (LOGIN_ACCOUNT_GLOBAL_RATE_LIMIT), against guessing
  spread over many addresses; a successful login gives its attempt back. Over this limit only addresses that
  logged into the account successfully in the last LOGIN_KNOWN_ADDRESS_DAYS days get through (still under their
  own `ip` and `conta_ip` limits): an attacker elsewhere can hold the account for unknown addresses only.

An attempt is refused when this window's and the previous window's attempts together exceed the limit, so no span
of one window ever holds more than `limit` accepted attempts (a plain fixed window lets 2 x limit through around
a boundary, and made tests depend on the second they started)."""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from limits import parse
from sqlalchemy import delete, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from app.errors import AppError
from app.extensions import db
from app.models.user import LoginThrottle


class TooManyAttempts(AppError):
    status, code, message = 429, "limite_de_requisicoes", "Muitas tentativas de login. Tente novamente mais tarde."


def _hit(key: str, window_seconds: int, now: float) -> tuple[int, int, float]:
    """Count one attempt for `key`; returns (attempts in this window, in the previous one, this window's end)."""
    window_end = (math.floor(now / window_seconds) + 1) * window_seconds
    row_key = f"{key}:{window_end}"
    # Kept one window past its end: the next window still reads it.
    expires = datetime.fromtimestamp(window_end + window_seconds, UTC)
    previous = db.session.scalar(
        select(LoginThrottle.attempts).where(LoginThrottle.key == f"{key}:{window_end - window_seconds}")
    )
    insert = pg_insert if db.engine.dialect.name == "postgresql" else sqlite_insert
    stmt = insert(LoginThrottle).values(key=row_key, attempts=1, expires_at=expires)
    stmt = stmt.on_conflict_do_update(
        index_elements=[LoginThrottle.key], set_={"attempts": LoginThrottle.attempts + 1}
    ).returning(LoginThrottle.attempts)
    return int(db.session.execute(stmt).scalar_one()), int(previous or 0), window_end


def _pair(account: str, address: str) -> str:
    """A fixed-length key for one account on one address (user names may be 80 characters of any text)."""
    return hashlib.sha256(f"{account}\x00{address}".encode()).hexdigest()[:40]


@dataclass(frozen=True, slots=True)
class LoginAttempt:
    """A counted attempt: what `login_succeeded` needs to give it back."""

    account: str
    address: str
    now: float
    account_row: str | None  # the `conta` window row this attempt was counted in


def _known_address(account: str, address: str, now: float) -> bool:
    expires = db.session.scalar(
        select(LoginThrottle.expires_at).where(LoginThrottle.key == f"login:conhecido:{_pair(account, address)}")
    )
    return expires is not None and expires.timestamp() > now


def check_login(
    address: str,
    username: str,
    rules: dict[str, str],
    clock: Callable[[], float] = time.time,
) -> LoginAttempt:
    """Count a login attempt per address, per account on this address and per account; 429 (with Retry-After)
    over a limit. `rules` maps a scope ("ip", "conta_ip", "conta") to a limits-syntax rule such as
    "10 per minute"; a scope left out is not limited.

    The counters commit on their own, before the password is checked, so a refused or failed attempt is still
    counted (and concurrent guesses cannot all slip under the limit). Call `login_succeeded` after a good password.
    """
    now = clock()
    account = username.casefold()
    address = address or "-"
    keys = {"ip": f"login:ip:{address}", "conta_ip": f"login:conta-ip:{_pair(account, address)}",
            "conta": f"login:conta:{account}"}  # fmt: skip
    retry_after = 0.0
    account_row = None
    try:
        for scope, rule in rules.items():
            limit = parse(rule)
            window = limit.get_expiry()
            current, previous, window_end = _hit(keys[scope], window, now)
            if scope == "conta":
                account_row = f"{keys[scope]}:{window_end}"
            if current + previous <= limit.amount:
                continue
            if scope == "conta" and _known_address(account, address, now):
                continue  # the account is under attack from elsewhere; its usual address still gets in
            # The previous window stops counting at this window's end; this one a window later.
            wait = window_end - now + (window if current > limit.amount else 0)
            retry_after = max(retry_after, wait)
        db.session.execute(delete(LoginThrottle).where(LoginThrottle.expires_at < datetime.fromtimestamp(now, UTC)))
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
    if retry_after:
        seconds = max(1, math.ceil(retry_after))
        raise TooManyAttempts(details={"tente_em_segundos": seconds}, headers={"Retry-After": str(seconds)})
    return LoginAttempt(account, address, now, account_row)


def login_succeeded(attempt: LoginAttempt, known_days: int) -> None:
    """The password was right: clear this account's count on this address, give the account-wide count its
    attempt back, and remember the address as one this account logs in from."""
    pair = _pair(attempt.account, attempt.address)
    try:
        db.session.execute(delete(LoginThrottle).where(LoginThrottle.key.like(f"login:conta-ip:{pair}:%")))
        if attempt.account_row:
            db.session.execute(
                update(LoginThrottle)
                .where(LoginThrottle.key == attempt.account_row, LoginThrottle.attempts > 0)
                .values(attempts=LoginThrottle.attempts - 1)
            )
        if known_days > 0:
            expires = datetime.fromtimestamp(attempt.now + known_days * 86400, UTC)
            insert = pg_insert if db.engine.dialect.name == "postgresql" else sqlite_insert
            stmt = insert(LoginThrottle).values(key=f"login:conhecido:{pair}", attempts=1, expires_at=expires)
            db.session.execute(
                stmt.on_conflict_do_update(index_elements=[LoginThrottle.key], set_={"expires_at": expires})
            )
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
