"""Fixtures: the app on real PostgreSQL (integration) or SQLite (embedded path), clients, users per role."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from tests.support import services


def pytest_collection_modifyitems(config, items) -> None:
    """Markers follow folders: tests/integration is `integration`, tests/e2e is `e2e`, tests/unit needs neither
    (so `pytest -m "not integration and not e2e"` runs with no service at all)."""
    for item in items:
        parts = Path(str(item.fspath)).parts
        if "integration" in parts:
            item.add_marker(pytest.mark.integration)
        elif "e2e" in parts:
            item.add_marker(pytest.mark.e2e)


# A trained model shared by the session (training once keeps the suite fast).
MODEL_DIR_ENV = "ALUMUSIC_TEST_MODEL_DIR"


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory) -> str:
    """A model directory trained once per test session (or an existing one given by env)."""
    existing = os.environ.get(MODEL_DIR_ENV)
    if existing:
        return existing
    path = tmp_path_factory.mktemp("models")
    from app.classifier.local import LocalClassifier

    LocalClassifier.from_config({"MODEL_DIR": str(path), "REVIEW_THRESHOLD": 0.6})
    return str(path)


def base_config(tmp_path: Path, model_dir: str, **overrides) -> dict:
    cfg = {
        "APP_ENV": "testing",
        "SECRET_KEY": "test-secret-key-for-the-suite-only-0123456789",
        "JWT_SECRET_KEY": "test-jwt-key-for-the-suite-only-0123456789",
        "MODEL_DIR": model_dir,
        "LOGIN_RATE_LIMIT": "1000 per minute",
        "LOGIN_ACCOUNT_RATE_LIMIT": "1000 per minute",
        "LOGIN_ACCOUNT_GLOBAL_RATE_LIMIT": "1000 per minute",
        "LOG_LEVEL": "WARNING",
        "REDIS_URL": "",
        "CELERY_BROKER_URL": "",
        "REPORT_CACHE_DIR": str(tmp_path / "report-cache"),
    }
    cfg.update(overrides)
    return cfg


def migrate_to_head(app) -> None:
    from flask_migrate import upgrade

    with app.app_context():
        upgrade(directory=str(Path(__file__).resolve().parent.parent / "migrations"))


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    url, name = services.create_pg_database()
    yield url
    services.drop_pg_database(name)


@pytest.fixture(scope="session")
def pg_app(pg_database, model_dir, tmp_path_factory):
    """The app on a fresh, migrated PostgreSQL database (session-wide; tables emptied per test)."""
    from app import create_app

    app = create_app(base_config(tmp_path_factory.mktemp("pg"), model_dir, DATABASE_URL=pg_database))
    migrate_to_head(app)
    return app


@pytest.fixture
def app(pg_app):
    """Default app for API tests: real PostgreSQL, emptied before each test."""
    from app.extensions import db

    with pg_app.app_context():
        tables = ", ".join(t.name for t in db.metadata.sorted_tables)
        # TRUNCATE waits for the table locks of connections a previous test left behind: not an API statement,
        # so not the API's 5 s statement_timeout.
        db.session.execute(text("SET LOCAL statement_timeout = 120000"))
        db.session.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        db.session.commit()
    from app.extensions import limiter

    limiter.reset()
    return pg_app


@pytest.fixture
def sqlite_app(tmp_path, model_dir):
    """The embedded path: SQLite file, migrated with the same migrations."""
    from app import create_app

    app = create_app(base_config(tmp_path, model_dir, DATABASE_URL=f"sqlite:///{tmp_path / 'alumusic.db'}"))
    migrate_to_head(app)
    return app


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


PASSWORD = "senha-forte-de-teste-123"


def make_user(app, username: str, role: str, password: str = PASSWORD):
    from app.services.users import create_user

    with app.app_context():
        return create_user(username, password, role).id


def login(client, username: str, password: str = PASSWORD) -> dict:
    resp = client.post("/api/auth/login", json={"username": username, "password": password})
    assert resp.status_code == 200, resp.get_json()
    return resp.get_json()


@pytest.fixture
def tokens(app, client) -> dict[str, dict]:
    """Login responses for one user of each role."""
    out = {}
    for role in ("admin", "curador", "leitor", "ingestao"):
        make_user(app, f"user_{role}", role)
        out[role] = login(client, f"user_{role}")
    return out


@pytest.fixture
def auth(tokens) -> dict[str, dict[str, str]]:
    """Authorization headers per role: auth['curador'] -> {'Authorization': 'Bearer ...'}."""
    return {role: {"Authorization": f"Bearer {t['access_token']}"} for role, t in tokens.items()}
