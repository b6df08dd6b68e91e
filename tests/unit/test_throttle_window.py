"""The login throttle's window arithmetic with an injected clock (SQLite in memory: no service needed)."""

from __future__ import annotations

import pytest

from app.errors import AppError

RULES = {"ip": "3 per minute", "conta": "100 per minute"}


@pytest.fixture
def app(tmp_path):
    from app import create_app
    from tests.conftest import migrate_to_head

    app = create_app({"APP_ENV": "testing", "DATABASE_URL": f"sqlite:///{tmp_path / 't.db'}", "LOG_LEVEL": "ERROR"})
    migrate_to_head(app)
    return app


def attempts(app, times: list[float]) -> list[int | None]:
    """Retry-After seconds per attempt at each instant (None when allowed)."""
    from app.services.throttle import check_login

    out: list[int | None] = []
    with app.app_context():
        for t in times:
            try:
                check_login("198.51.100.1", "ana", RULES, clock=lambda t=t: t)
                out.append(None)
            except AppError as exc:
                assert exc.status == 429
                out.append(int(exc.headers["Retry-After"]))
    return out


def test_the_limit_holds_across_a_window_boundary(app):
    # Three attempts at the end of one minute, then two right after it: a plain fixed window would allow both.
    assert attempts(app, [6057.0, 6058.0, 6059.0, 6060.5, 6061.0]) == [None, None, None, 60, 59]


def test_attempts_are_allowed_again_once_the_previous_window_is_gone(app):
    # Refused attempts count too: the 4th fills this window past the limit, so the wait covers the next window
    # as well (117 s), and two windows later the slate is clean.
    assert attempts(app, [6000.0, 6001.0, 6002.0, 6003.0, 6125.0]) == [None, None, None, 117, None]
