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
comments_cli = AppGroup("comments", help="Comentários: importação em massa.")


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


@comments_cli.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--formato", type=click.Choice(["csv", "jsonl", "json"]), help="Padrão: pela extensão do arquivo.")
@click.option("--fila", is_flag=True, help="Enfileira no worker (imports) em vez de processar aqui.")
def import_comments(path: Path, formato: str | None, fila: bool) -> None:
    """Import a CSV, JSONL or JSON-list file, the same job as POST /api/importacoes (good rows in, bad reported)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from app.services import imports

    fmt = formato or imports.format_for(path.name, None)
    if fmt is None:
        raise click.ClickException("formato não reconhecido pela extensão; use --formato csv|jsonl|json")
    with _as_click_error():
        job = imports.create_job(imports.Upload(format=fmt, data=path.read_bytes(), filename=path.name), run=fila)
    click.echo(f"importação {job.id}: {job.total} linhas")
    if fila:
        click.echo(f"enfileirada; acompanhe em /api/importacoes/{job.id}")
        return
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, transient=False) as bar:
        task = bar.add_task("importando", total=job.total)
        with _as_click_error():
            done = imports.run_job(job.id, progress=lambda j: bar.update(task, completed=j.processed))
    if done is None:
        raise click.ClickException("a importação está com outro worker")
    click.echo(f"{done.status}: {done.created} criados, {done.existing} já existiam, {done.failed} com erro")
    for error in done.errors[:20]:
        click.echo(f"  linha {error['linha']}: {error['mensagem']}", err=True)
    if done.failed > 20:
        click.echo(f"  ... e mais {done.failed - 20} (GET /api/importacoes/{done.id})", err=True)


def register_commands(app: Flask) -> None:
    app.cli.add_command(users_cli)
    app.cli.add_command(seed_cli)
    app.cli.add_command(comments_cli)
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
