"""Alembic migrations on PostgreSQL: one head, upgrade/downgrade on an empty database, and no model drift."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from sqlalchemy import inspect

from tests.support import services

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"
# The trigram index on the raw text (0001), dropped by 0008 (no query reads it since 0004): downgrades bring it back.
HAND_MADE_INDEX = "ix_comments_text_trgm"
# The accent-insensitive text search (migration 0004): an expression index the models cannot declare.
UNACCENT_INDEX = "ix_comments_text_unaccent_trgm"


def env_include_object():
    """The `include_object` rule of migrations/env.py (which only runs inside Alembic: read, not imported)."""
    tree = ast.parse((MIGRATIONS / "env.py").read_text(encoding="utf-8"))
    wanted = [
        node
        for node in tree.body
        if (isinstance(node, ast.FunctionDef) and node.name == "include_object")
        or (isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "HAND_MANAGED_INDEXES" for t in node.targets))
    ]
    assert len(wanted) == 2, "migrations/env.py should define HAND_MANAGED_INDEXES and include_object"
    namespace: dict = {}
    exec(compile(ast.Module(body=wanted, type_ignores=[]), "env.py", "exec"), namespace)
    return namespace["include_object"]


@pytest.fixture
def empty_db_app(app_factory):
    """An app on a brand-new, empty PostgreSQL database (dropped afterwards)."""
    from app.extensions import db

    url, name = services.create_pg_database()
    app = app_factory(DATABASE_URL=url)
    yield app
    with app.app_context():
        db.engine.dispose()
    services.drop_pg_database(name)


def _tables(app) -> set[str]:
    from app.extensions import db

    with app.app_context():
        return set(inspect(db.engine).get_table_names())


def test_there_is_exactly_one_head():
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    script = ScriptDirectory.from_config(config)

    assert len(script.get_heads()) == 1
    assert len(script.get_bases()) == 1


def test_upgrade_downgrade_and_upgrade_again_on_an_empty_database(empty_db_app):
    from flask_migrate import downgrade, upgrade

    from app.extensions import db

    model_tables = {t.name for t in db.metadata.sorted_tables}
    assert _tables(empty_db_app) == set()

    with empty_db_app.app_context():
        upgrade(directory=str(MIGRATIONS))
    assert _tables(empty_db_app) == model_tables | {"alembic_version"}

    with empty_db_app.app_context():
        downgrade(directory=str(MIGRATIONS), revision="base")
    assert _tables(empty_db_app) == {"alembic_version"}

    with empty_db_app.app_context():
        upgrade(directory=str(MIGRATIONS))
        indexes = {i["name"] for i in inspect(db.engine).get_indexes("comments")}
        downgrade(directory=str(MIGRATIONS), revision="a1c0rollup001")
        before_0008 = {i["name"] for i in inspect(db.engine).get_indexes("comments")}
        upgrade(directory=str(MIGRATIONS))
    assert _tables(empty_db_app) == model_tables | {"alembic_version"}
    assert HAND_MADE_INDEX not in indexes and "ix_comments_classified_at" not in indexes
    assert UNACCENT_INDEX in indexes and "ix_comments_classified_at_id" in indexes
    assert {HAND_MADE_INDEX, "ix_comments_classified_at"} <= before_0008


def test_migrated_schema_matches_the_models(empty_db_app):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from flask_migrate import upgrade

    from app.extensions import db

    with empty_db_app.app_context():
        upgrade(directory=str(MIGRATIONS))
        with db.engine.connect() as conn:
            rule = env_include_object()
            diff = compare_metadata(
                MigrationContext.configure(conn, opts={"compare_type": True, "include_object": rule}), db.metadata
            )
            unruled = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), db.metadata)

    assert diff == []
    # The rule hides exactly the hand-made trigram index, nothing else.
    assert sorted((d[0], d[1].name) for d in unruled) == [("remove_index", UNACCENT_INDEX)]
