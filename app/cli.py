"""Flask command groups: users, seed, model, evals."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import click
from flask import Flask, current_app
from flask.cli import AppGroup

from app.config import DATA_DIR
from app.models.user import ROLES


@contextmanager
def _as_click_error() -> Iterator[None]:
    """A domain error (duplicate user, unknown user) is a one-line message and exit code 1, not a traceback."""
    from app.errors import AppError

    try:
        yield
    except AppError as exc:
        raise click.ClickException(exc.message) from None


users_cli = AppGroup("users", help="Gerenciar usuários (não há cadastro aberto).")
seed_cli = AppGroup("seed", help="Dados de demonstração.")


@users_cli.command("create")
@click.argument("username")
@click.option("--role", type=click.Choice(ROLES), required=True)
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
def create_user(username: str, role: str, password: str) -> None:
    """Create a user with a role."""
    from app.services.users import create_user as create

    with _as_click_error():
        user = create(username, password, role)
    click.echo(f"criado: {user.username} ({user.role})")


@users_cli.command("list")
def list_users() -> None:
    from app.services.users import list_users as all_users

    for user in all_users():
        click.echo(f"{user.id}\t{user.username}\t{user.role}\t{'ativo' if user.active else 'inativo'}")


@users_cli.command("deactivate")
@click.argument("username")
def deactivate(username: str) -> None:
    """Deactivate a user: their tokens stop working at once."""
    from app.services.users import set_active

    with _as_click_error():
        set_active(username, False)
    click.echo(f"desativado: {username}")


@users_cli.command("ensure-admin")
def ensure_admin() -> None:
    """Create the admin from ADMIN_USERNAME/ADMIN_PASSWORD when absent."""
    from app.services.users import ensure_user

    cfg = current_app.config
    user, created = ensure_user(cfg["ADMIN_USERNAME"], cfg["ADMIN_PASSWORD"], "admin")
    click.echo(f"admin {'criado' if created else 'já existe'}: {user.username}")


@seed_cli.command("demo")
@click.option("--file", "path", type=click.Path(exists=True, path_type=Path), default=DATA_DIR / "demo.json")
def seed_demo(path: Path) -> None:
    """Load the demo comments (idempotent: fixed ids), dated relative to now so reports have recent data."""
    from app.schemas.comments import CommentBatch
    from app.services.comments import ingest

    now = datetime.now(UTC)
    rows = json.loads(path.read_text(encoding="utf-8"))
    for row in rows:
        row["publicado_em"] = (now - timedelta(hours=row.pop("horas_atras", 0))).isoformat()
    items = CommentBatch.validate_python(rows)
    result = ingest(items)
    click.echo(f"demo: {result.created} novos, {len(items) - result.created} já existiam")


def register_commands(app: Flask) -> None:
    app.cli.add_command(users_cli)
    app.cli.add_command(seed_cli)
    from app.classifier.commands import evals_cli, model_cli

    if "ensure" not in model_cli.commands:
        model_cli.add_command(ensure_model)
    app.cli.add_command(model_cli)
    app.cli.add_command(evals_cli)


@click.command("ensure")
def ensure_model() -> None:
    """Train the local model if there is no active version (used by make run and boot.sh)."""
    from app.classifier.local import LocalClassifier

    clf = LocalClassifier.from_config(current_app.config)
    click.echo(f"modelo ativo: {getattr(clf, 'version', clf.name)}")
