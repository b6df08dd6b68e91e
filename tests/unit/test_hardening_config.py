"""Settings that keep the service safe wherever it is started (no service needed)."""

from __future__ import annotations

import pytest

from app.auth.passwords import password_problem
from app.config import DEV_SECRET, ConfigError, load_config

PG = "postgresql://alumusic:pw@db:5432/alumusic"
STRONG = {
    "SECRET_KEY": "s" * 20 + "ecret-key-0123456789abc",
    "JWT_SECRET_KEY": "j" * 20 + "wt-key-0123456789abcdef",
    "ADMIN_PASSWORD": "uma-senha-de-admin-bem-longa-42",
}


def test_without_app_env_a_postgresql_database_means_production_and_refuses_development_secrets(monkeypatch):
    monkeypatch.delenv("APP_ENV", raising=False)
    with pytest.raises(ConfigError):
        load_config({"DATABASE_URL": PG})
    cfg = load_config({"DATABASE_URL": PG, **STRONG})
    assert cfg["APP_ENV"] == "production" and not cfg["TESTING"]


def test_development_is_explicit_or_sqlite(monkeypatch):
    monkeypatch.delenv("APP_ENV", raising=False)
    assert load_config({"DATABASE_URL": "sqlite:///x.db"})["APP_ENV"] == "development"
    assert load_config({"DATABASE_URL": PG, "APP_ENV": "development"})["APP_ENV"] == "development"


def test_the_development_secret_is_long_enough_for_hs256():
    assert len(DEV_SECRET.encode()) >= 32


@pytest.mark.parametrize("password", ["aaaaaaaaaaaa", "abababababab", "1234567890", "Password123", "adminadmin"])
def test_production_refuses_a_trivial_admin_password(password):
    with pytest.raises(ConfigError):
        load_config({"APP_ENV": "production", "DATABASE_URL": PG, **STRONG, "ADMIN_PASSWORD": password})


@pytest.mark.parametrize(
    ("password", "username", "ok"),
    [
        ("aaaaaaaaaaaa", None, False),
        ("1q2w3e4r5t", None, False),
        ("senha12345!", None, False),
        ("curto", None, False),
        ("joao.silva", "joao.silva", False),
        ("JOAO.SILVA1", "joao.silva", False),
        ("admin-alumusic", "admin", True),  # the `make run` default: the name is part, not the password
        ("uma-senha-longa-123", "coletor", True),
    ],
)
def test_password_policy(password, username, ok):
    assert (password_problem(password, username) is None) is ok


def test_database_waits_are_bounded_on_postgresql():
    options = load_config({"APP_ENV": "testing", "DATABASE_URL": PG, "DB_STATEMENT_TIMEOUT_MS": 1234})[
        "SQLALCHEMY_ENGINE_OPTIONS"
    ]
    assert options["connect_args"]["connect_timeout"] == 3
    assert "statement_timeout=1234" in options["connect_args"]["options"]
    assert options["pool_timeout"] == 5 and options["hide_parameters"] is True


def test_a_bad_trusted_proxy_network_stops_the_start():
    from app import create_app

    with pytest.raises(ConfigError):
        create_app({"APP_ENV": "testing", "DATABASE_URL": "sqlite://", "TRUSTED_PROXIES": "10.0.0.0/8,nginx"})
