"""Integration fixtures on top of tests/conftest.py: cheap users per role, and extra apps on the test database."""

from __future__ import annotations

from functools import cache

import pytest
from sqlalchemy import text

from tests.conftest import PASSWORD, base_config

ROLES = ("admin", "curador", "leitor", "ingestao")


@cache
def password_hash() -> str:
    """One real hash of PASSWORD for the session: users created with it can log in, without hashing per test."""
    from werkzeug.security import generate_password_hash

    return generate_password_hash(PASSWORD)


def empty_database(app) -> None:
    from app.extensions import db

    with app.app_context():
        tables = ", ".join(t.name for t in db.metadata.sorted_tables)
        # TRUNCATE waits for the table locks of connections a previous test left behind: not an API statement,
        # so not the API's 5 s statement_timeout.
        db.session.execute(text("SET LOCAL statement_timeout = 120000"))
        db.session.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        db.session.commit()


def add_users(app, roles=ROLES) -> dict[str, int]:
    """One active user per role, named user_<role>, password PASSWORD; returns their ids."""
    from app.extensions import db
    from app.models.user import User

    with app.app_context():
        users = [User(username=f"user_{r}", role=r, active=True, password_hash=password_hash()) for r in roles]
        db.session.add_all(users)
        db.session.commit()
        return {u.role: u.id for u in users}


def issue_tokens(app, username: str) -> dict:
    """The same tokens /api/auth/login would return for this user (no password check, no rate limit)."""
    from sqlalchemy import select

    from app.extensions import db
    from app.models.user import User
    from app.services.users import issue_tokens as issue

    with app.app_context():
        return issue(db.session.scalar(select(User).where(User.username == username)))


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def role_tokens(app) -> dict[str, dict]:
    """Token pairs for user_admin, user_curador, user_leitor and user_ingestao (like conftest's `tokens`, faster)."""
    add_users(app)
    return {role: issue_tokens(app, f"user_{role}") for role in ROLES}


@pytest.fixture
def role_auth(role_tokens) -> dict[str, dict[str, str]]:
    """Authorization headers per role."""
    return {role: bearer(t["access_token"]) for role, t in role_tokens.items()}


@pytest.fixture
def app_factory(app, pg_database, model_dir, tmp_path):
    """Build extra apps on the test database with config overrides: make(SYNC_BATCH_LIMIT=5).

    Some extensions are process-wide singletons that keep the settings of the last app created (the rate-limit
    storage, Celery's default app), so on teardown a plain app is created again to give the session app back
    the settings it started with.
    """
    from app import create_app

    def make(**overrides):
        overrides.setdefault("DATABASE_URL", pg_database)
        return create_app(base_config(tmp_path, model_dir, **overrides))

    yield make
    create_app(base_config(tmp_path, model_dir, DATABASE_URL=pg_database))
