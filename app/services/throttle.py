"""Login throttling kept in the database: one counter per key and time window, shared by every gunicorn worker
and replica, and independent of Redis (so a Redis outage neither multiplies the limit nor locks users out).

An attempt is refused when this window's and the previous window's attempts together exceed the limit, so no span
of one window ever holds more than `limit` accepted attempts (a plain fixed window lets 2 x limit through around
a boundary, and made tests depend on the second they started)."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from datetime import UTC, datetime

from limits import parse
from sqlalchemy import delete, select
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


def check_login(address: str, username: str, rules: dict[str, str], clock: Callable[[], float] = time.time) -> None:
    """Count a login attempt per address and per account; raise 429 (with Retry-After) over any limit.

    `rules` maps a scope ("ip", "conta") to a limits-syntax rule such as "10 per minute". The counter commits
    on its own, before the password is checked, so a refused or failed attempt is still counted.
    """
    now = clock()
    values = {"ip": address or "-", "conta": username.casefold()}
    retry_after = 0.0
    try:
        for scope, rule in rules.items():
            limit = parse(rule)
            window = limit.get_expiry()
            current, previous, window_end = _hit(f"login:{scope}:{values[scope]}", window, now)
            if current + previous > limit.amount:
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
