"""Finding the real services tests talk to. Outside CI an absent service skips with a reason; with CI=true it fails."""

from __future__ import annotations

import os
import uuid

import pytest

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/postgres"
DEFAULT_REDIS = "redis://127.0.0.1:6379/0"


def unavailable(reason: str):
    """Skip locally, fail in CI: a CI run must exercise every real service."""
    if IN_CI:
        pytest.fail(f"CI=true but {reason}", pytrace=False)
    pytest.skip(reason)


def admin_pg_url() -> str:
    return os.environ.get("TEST_DATABASE_URL") or DEFAULT_PG


def redis_url() -> str:
    return os.environ.get("REDIS_URL") or DEFAULT_REDIS


def create_pg_database() -> tuple[str, str]:
    """Create a throwaway database on the test server; returns (its URL, its name)."""
    import psycopg

    base = admin_pg_url()
    name = f"alumusic_test_{uuid.uuid4().hex[:10]}"
    try:
        with psycopg.connect(_plain(base), autocommit=True, connect_timeout=3) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
    except psycopg.OperationalError as exc:
        unavailable(f"PostgreSQL unreachable at {base}: {exc}")
    return _with_db(base, name), name


def drop_pg_database(name: str) -> None:
    import psycopg

    with psycopg.connect(_plain(admin_pg_url()), autocommit=True, connect_timeout=3) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def check_redis(url: str) -> None:
    import redis

    try:
        redis.Redis.from_url(url, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        unavailable(f"Redis unreachable at {url}: {exc}")


def _plain(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


def _with_db(url: str, name: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(_plain(url)).set(database=name).render_as_string(hide_password=False)
