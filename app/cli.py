"""Flask command groups: users, seed, model, evals, summary."""

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
summary_cli = AppGroup("summary", help="Resumo semanal: gerar, enviar, pré-visualizar; stakeholders.")
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
    app.cli.add_command(summary_cli)
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


# ------------------------------------------------------------------------------------- weekly summary (issue 9)


def _week_option(fn):
    return click.option(
        "--week",
        help="Semana ISO, ex.: 2026-W47 (padrão: a semana passada em SUMMARY_TIMEZONE).",
        default=None,
    )(fn)


def _week_or_last(week: str | None) -> str:
    from app.services.weeks import IsoWeek

    if week:
        return str(IsoWeek.parse(week))
    return str(IsoWeek.previous(datetime.now(UTC), current_app.config["SUMMARY_TIMEZONE"]))


@summary_cli.command("generate")
@_week_option
@click.option("--llm/--no-llm", "use_llm", default=None, help="Texto pelo LLM (padrão: SUMMARY_USE_LLM).")
def summary_generate(week: str | None, use_llm: bool | None) -> None:
    """Aggregate the week and (re)write its stored summary."""
    from app.services.summaries import generate

    with _as_click_error():
        summary = generate(_week_or_last(week), use_llm=use_llm)
    click.echo(f"resumo {summary.week} ({summary.generator}):\n\n{summary.text}")


@summary_cli.command("send")
@_week_option
@click.option("--force", is_flag=True, help="Reenviar mesmo a quem já recebeu (de propósito).")
@click.option("--to", "only", multiple=True, help="Enviar só a este endereço (repetível).")
def summary_send(week: str | None, force: bool, only: tuple[str, ...]) -> None:
    """Send the week's summary now (stored first if missing); already served recipients are skipped."""
    from app.models.summary import SummaryDelivery
    from app.services import deliveries
    from app.tasks.dispatch import background_is_eager, dispatch

    with _as_click_error():
        plan = deliveries.plan(_week_or_last(week), force=force, only=list(only) or None)
        for delivery_id in plan.pending:
            dispatch("app.tasks.emails.deliver_summary", delivery_id)
    if not plan.pending and not plan.skipped:
        click.echo("sem destinatários: defina SUMMARY_RECIPIENTS ou `flask summary stakeholders add EMAIL`")
    for recipient in plan.skipped:
        click.echo(f"já atendido (use --force para reenviar): {recipient}")
    if not background_is_eager():
        click.echo(f"{len(plan.pending)} envio(s) enfileirado(s) na fila emails")
        return
    from app.extensions import db

    failed = 0
    for delivery_id in plan.pending:
        row = db.session.get(SummaryDelivery, delivery_id)
        db.session.refresh(row)
        failed += row.state != "enviado"
        click.echo(f"{row.state}: {row.recipient}" + (f" ({row.last_error})" if row.last_error else ""))
    if not current_app.config.get("MAIL_SERVER"):
        from app.services.mailer import outbox_dir

        click.echo(f"sem MAIL_SERVER: mensagens gravadas em {outbox_dir()}")
    if failed:
        raise click.ClickException(f"{failed} envio(s) falharam; o resumo continua salvo")


@summary_cli.command("preview")
@_week_option
@click.option("--out", "out", type=click.Path(dir_okay=False, path_type=Path), default=None)
def summary_preview(week: str | None, out: Path | None) -> None:
    """Write the e-mail's HTML (chart embedded as a data URI) to a file to open in a browser."""
    import base64

    from app.services.mailer import render_summary_email
    from app.services.summaries import generate

    with _as_click_error():
        summary = generate(_week_or_last(week), regenerate=False)
    _, _, html, png, cid = render_summary_email(summary)
    html = html.replace(f"cid:{cid}", "data:image/png;base64," + base64.b64encode(png).decode("ascii"))
    target = out or Path(current_app.instance_path) / f"resumo-{summary.week}.html"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(html, encoding="utf-8")
    click.echo(f"pré-visualização: {target}")


stakeholders_cli = AppGroup("stakeholders", help="Quem recebe o resumo semanal (além de SUMMARY_RECIPIENTS).")
summary_cli.add_command(stakeholders_cli)


@stakeholders_cli.command("add")
@click.argument("email")
@click.option("--name", default=None)
def stakeholder_add(email: str, name: str | None) -> None:
    from app.services.summaries import add_stakeholder

    with _as_click_error():
        person = add_stakeholder(email, name)
    click.echo(f"adicionado: {person.email}")


@stakeholders_cli.command("list")
def stakeholder_list() -> None:
    from app.services.summaries import configured_recipients, list_stakeholders

    for person in list_stakeholders():
        click.echo(f"{person.id}\t{person.email}\t{person.name or ''}\t{'ativo' if person.active else 'inativo'}")
    for address in configured_recipients():
        click.echo(f"-\t{address}\t(SUMMARY_RECIPIENTS)\tativo")


@stakeholders_cli.command("remove")
@click.argument("email")
def stakeholder_remove(email: str) -> None:
    from app.services.summaries import remove_stakeholder

    with _as_click_error():
        person = remove_stakeholder(email)
    click.echo(f"removido: {person.email}")
