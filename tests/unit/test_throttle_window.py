"""The login throttle's window arithmetic with an injected clock (SQLite in memory: no service needed)."""

from __future__ import annotations

import pytest

from app.errors import AppError

RULES = {"ip": "3 per minute", "conta": "100 per minute"}
# The account rules alone: the attacker's own address limit is out of the way, as it is for a botnet.
ACCOUNT_RULES = {"conta_ip": "3 per minute", "conta": "10 per minute"}


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


def login(app, address: str, t: float, *, password_ok: bool, rules=ACCOUNT_RULES) -> int | None:
    """One login for "ana" at instant t from `address`, as app.services.users.login runs it: None when the
    throttle lets it through (and, with the right password, records the success), else the Retry-After."""
    from app.services.throttle import check_login, login_succeeded

    with app.app_context():
        try:
            attempt = check_login(address, "Ana", rules, clock=lambda: t)
        except AppError as exc:
            assert exc.status == 429
            return int(exc.headers["Retry-After"])
        if password_ok:
            login_succeeded(attempt, known_days=30)
        return None


def test_failing_logins_in_someones_name_do_not_lock_them_out_of_their_usual_address(app):
    assert login(app, "198.51.100.7", 1000.0, password_ok=True) is None  # ana's usual address, known from now
    # A botnet fails 40 times on ana's account, 2 tries per address: under every per-address limit.
    refused = [login(app, f"203.0.113.{i // 2}", 1010.0 + i, password_ok=False) for i in range(40)]
    assert refused[:10] == [None] * 10 and all(r is not None for r in refused[10:])  # the account-wide limit
    # ana, from her usual address, still gets in (and does not have to wait for the attack to end)...
    assert login(app, "198.51.100.7", 1060.0, password_ok=True) is None
    # ...while a new address (the attacker's next one, or ana travelling) waits for the account-wide window.
    assert login(app, "192.0.2.50", 1061.0, password_ok=True) is not None
    # Once the attack's windows are gone, any address gets in again.
    assert login(app, "192.0.2.50", 1200.0, password_ok=True) is None


def test_guesses_on_one_account_from_one_address_are_limited_tightly_and_a_success_clears_them(app):
    # Two typos, then the right password: the success wipes the pair's count...
    assert [login(app, "198.51.100.9", 2000.0 + i, password_ok=False) for i in range(2)] == [None, None]
    assert login(app, "198.51.100.9", 2002.0, password_ok=True) is None
    # ...so three more typos are still allowed; the fourth guess from this address is refused,
    assert [login(app, "198.51.100.9", 2003.0 + i, password_ok=False) for i in range(3)] == [None, None, None]
    assert login(app, "198.51.100.9", 2006.0, password_ok=True) is not None
    # even though it is a known address (the account-wide exemption never lifts the per-address limits),
    # while ana logs in from another address: the account is not locked.
    assert login(app, "192.0.2.10", 2007.0, password_ok=True) is None


def test_a_known_address_is_forgotten_after_the_configured_days(app):
    assert login(app, "198.51.100.7", 0.0, password_ok=True) is None
    later = 31 * 86400.0  # past LOGIN_KNOWN_ADDRESS_DAYS (30)
    assert [login(app, f"203.0.113.{i}", later + i, password_ok=False) for i in range(11)][-1] is not None
    assert login(app, "198.51.100.7", later + 20, password_ok=True) is not None
