"""`flask evals run` with the LLM providers, end to end: the real CLI in a subprocess, the real `openai` client
talking HTTP to the fake OpenAI-compatible server, the session's trained local model as fallback / first pass.

The eval set is a dozen hand-written rows in tmp_path; the external set is pointed at an empty folder. The report
must name the provider, carry the usual metrics, and account for the LLM exactly: the tokens it reports are the
ones the fake server answered with, and `hibrido` sends only the comments the local model is unsure about.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from app.classifier.base import CATEGORIES
from tests.support.fake_openai import Behaviour, FakeOpenAI, _completion, keyword_answer
from tests.support.fake_openai import fake_openai as fake_openai  # the fixture

ROOT = Path(__file__).resolve().parents[2]
MODEL = "modelo-evals-teste"
REVIEW_THRESHOLD = 0.6
CLI_TIMEOUT = 180

# (texto, categoria, tags): clear comments first, then four the local model was unsure about (confidence < 0.6
# when written; see split_threshold).
ROWS: list[tuple[str, str, str]] = [
    ("que pedrada meu deus, hino demais 🔥🔥", "ELOGIO", "-"),
    ("esse refrão é perfeito, não canso de ouvir", "ELOGIO", "musica_refrao"),
    ("o app trava toda hora no modo offline, ruim demais", "CRÍTICA", "app_modo_offline"),
    ("deviam lançar uma versão acústica dessa", "SUGESTÃO", ""),
    ("podiam colocar a letra no app, seria top", "SUGESTÃO", ""),
    ("quando sai o álbum novo?", "DÚVIDA", ""),
    ("onde compro ingresso pro show de sábado?", "DÚVIDA", "show_ingresso"),
    ("sigam meu canal, link na bio", "SPAM", "-"),
    ("interessante a letra", "ELOGIO", ""),
    ("a batida lembra muito outra música", "CRÍTICA", ""),
    ("o app mudou o layout", "CRÍTICA", ""),
    ("achei a capa do álbum diferente", "ELOGIO", ""),
]
TEXTS = [r[0] for r in ROWS]


def _write_thresholds(path: Path, project: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump({"version": 1, "sets": {"project": project, "external": {}}}), encoding="utf-8")
    return path


@pytest.fixture
def evals_env(tmp_path: Path, model_dir: str, fake_openai: FakeOpenAI) -> dict[str, str]:
    """The environment of a `flask evals run` against the fake endpoint, with every path in tmp_path."""
    eval_csv = tmp_path / "eval.csv"
    with eval_csv.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["texto", "categoria", "tags"])
        writer.writerows(ROWS)
    external = tmp_path / "external"
    external.mkdir()
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DATABASE_URL", "REDIS_URL", "CELERY_", "PROMETHEUS_", "APP_ENV", "OPENAI_", "LLM_"))
    }
    env.update(
        {
            "FLASK_APP": "wsgi",
            "PYTHONPATH": str(ROOT),
            "APP_ENV": "testing",
            "DATABASE_URL": f"sqlite:///{tmp_path / 'alumusic.db'}",
            "MODEL_DIR": model_dir,
            "LOCAL_SECOND_OPINION": "0",
            "REVIEW_THRESHOLD": str(REVIEW_THRESHOLD),
            "LOG_LEVEL": "WARNING",
            "OMP_NUM_THREADS": "1",
            "OPENAI_BASE_URL": fake_openai.base_url,
            "OPENAI_API_KEY": "sk-dummy-evals",
            "LLM_MODEL": MODEL,
            "LLM_TIMEOUT": "2",
            "LLM_MAX_RETRIES": "0",
            "LLM_DAILY_BUDGET": "0",
            "EVAL_DATA_PATH": str(eval_csv),
            "EVAL_THRESHOLDS_PATH": str(_write_thresholds(tmp_path / "thresholds.yaml", {"macro_f1": 0.3})),
            "EXTERNAL_EVAL_DIR": str(external),
            "REPORT_DIR": str(tmp_path / "reports"),
        }
    )
    return env


def run_cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "flask", "evals", "run", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT,
        check=False,
    )


def read_reports(env: dict[str, str]) -> tuple[dict[str, Any], str]:
    folder = Path(env["REPORT_DIR"])
    assert (folder / "evals.json").is_file() and (folder / "evals.md").is_file()
    return (
        json.loads((folder / "evals.json").read_text(encoding="utf-8")),
        (folder / "evals.md").read_text(encoding="utf-8"),
    )


def served_usage(fake: FakeOpenAI) -> dict[str, int]:
    """The token counts the fake answered with, summed over every request it received (recomputed: deterministic)."""
    totals = {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}
    for request in fake.requests:
        usage = _completion(request.body, request.behaviour)["usage"]
        for key in totals:
            totals[key] += usage[key]
    return totals


def local_results(model_dir: str) -> list[Any]:
    from app.classifier.local import LocalClassifier

    clf = LocalClassifier.from_config({"MODEL_DIR": model_dir, "LOCAL_SECOND_OPINION": False})
    return clf.classify_many(TEXTS)


def split_threshold(confidences: list[float]) -> float:
    """REVIEW_THRESHOLD (0.6) when it leaves some rows below and some above; otherwise a cut between two of the
    local model's confidences, so the test does not hinge on how sure a retrained model is about four rows."""
    if 0 < sum(c < REVIEW_THRESHOLD for c in confidences) < len(confidences):
        return REVIEW_THRESHOLD
    ordered = sorted(confidences)
    cuts = [k for k in range(1, len(ordered)) if ordered[k - 1] < ordered[k]]
    assert cuts, f"the local model gives every row the same confidence: {ordered}"
    k = min(cuts, key=lambda k: abs(k - len(ordered) // 3))
    return (ordered[k - 1] + ordered[k]) / 2


def assert_common_report(report: dict[str, Any], md: str, provider: str) -> dict[str, Any]:
    assert report["provider"] == provider
    assert f"provider: `{provider}`" in md
    assert report["skipped"] and "external eval sets skipped" in report["skipped"][0]
    assert list(report["sets"]) == ["project"]
    s = report["sets"]["project"]
    assert s["n"] == len(ROWS)
    assert 0 <= s["accuracy"] <= 1 and 0 <= s["macro_f1"] <= 1
    assert set(s["per_class"]) == set(CATEGORIES)
    assert sum(pc["support"] for pc in s["per_class"].values()) == len(ROWS)
    assert sum(map(sum, s["confusion_matrix"]["rows"])) == len(ROWS)
    assert s["tags"]["annotated_rows"] == 5
    assert s["throughput"]["comments_per_second"] > 0
    for needle in ("macro-F1", "Confusion matrix", "| SPAM |", "## LLM usage", f"`{MODEL}`", "tokens"):
        assert needle in md, needle
    assert "LLM: não usado" not in md
    return s


def assert_tokens(llm: dict[str, Any], fake: FakeOpenAI, md: str) -> None:
    served = served_usage(fake)
    assert served["total_tokens"] > 0
    assert llm["tokens"] == {
        "prompt": served["prompt_tokens"],
        "completion": served["completion_tokens"],
        "total": served["total_tokens"],
    }
    assert f"| {served['total_tokens']:,} |" in md


def test_openai_provider_report_accounts_for_every_call_and_token(evals_env, fake_openai):
    result = run_cli(evals_env, "--provider", "openai", "--no-fail")

    assert result.returncode == 0, result.stderr[-3000:]
    assert sorted(fake_openai.comments) == sorted(TEXTS)  # one call per comment, no retries needed
    assert {r.body["model"] for r in fake_openai.requests} == {MODEL}
    report, md = read_reports(evals_env)
    s = assert_common_report(report, md, "openai")
    # The answers are the fake's (keyword rules), not the local model's.
    expected_accuracy = sum(keyword_answer(t)[0] == c for t, c, _ in ROWS) / len(ROWS)
    assert s["accuracy"] == pytest.approx(expected_accuracy, abs=1e-4)
    assert s["modelo"] == [f"openai:{MODEL}"]

    llm = s["llm"]
    assert llm["items"] == llm["sent_to_llm"] == llm["answered_by_llm"] == len(ROWS)
    assert llm["stayed_local"] == 0 and llm["fallbacks"] == 0
    assert llm["calls"] == {"requests": len(ROWS), "ok": len(ROWS), "invalid": 0, "errors": 0, "circuit_open": 0}
    assert llm["throughput"]["llm"]["items"] == len(ROWS) and llm["throughput"]["llm"]["items_per_second"] > 0
    assert llm["throughput"]["local"]["items"] == 0  # no fallback: the local model never ran
    assert_tokens(llm, fake_openai, md)
    assert report["llm"]["used"] is True and report["llm"]["model"] == MODEL
    assert report["llm"]["totals"]["tokens"] == llm["tokens"]  # one set: the run's total is the set's
    assert f"project (LLM): sent={len(ROWS)}" in result.stdout


def test_hibrido_sends_only_the_low_confidence_comments(evals_env, fake_openai, model_dir):
    local = local_results(model_dir)
    threshold = split_threshold([r.confianca for r in local])
    evals_env["REVIEW_THRESHOLD"] = str(threshold)
    unsure = [t for t, r in zip(TEXTS, local, strict=True) if r.confianca < threshold]
    assert 0 < len(unsure) < len(ROWS)

    result = run_cli(evals_env, "--provider", "hibrido", "--no-fail")

    assert result.returncode == 0, result.stderr[-3000:]
    assert sorted(fake_openai.comments) == sorted(unsure)
    report, md = read_reports(evals_env)
    s = assert_common_report(report, md, "hibrido")
    # Confident comments keep the local answer, unsure ones take the fake's.
    expected = [
        keyword_answer(t)[0] if r.confianca < threshold else r.categoria for t, r in zip(TEXTS, local, strict=True)
    ]
    expected_accuracy = sum(e == c for e, (_, c, _) in zip(expected, ROWS, strict=True)) / len(ROWS)
    assert s["accuracy"] == pytest.approx(expected_accuracy, abs=1e-4)
    assert f"openai:{MODEL}" in s["modelo"] and any(m.startswith("local:") for m in s["modelo"])

    llm = s["llm"]
    assert llm["sent_to_llm"] == llm["answered_by_llm"] == len(unsure)
    assert llm["stayed_local"] == len(ROWS) - len(unsure)
    assert llm["fallbacks"] == 0 and llm["over_budget"] == 0
    assert llm["calls"]["requests"] == llm["calls"]["ok"] == len(unsure) < len(ROWS)
    assert llm["throughput"]["local"]["items"] == len(ROWS)  # the local model saw every comment first
    assert llm["throughput"]["llm"]["items"] == len(unsure)
    assert_tokens(llm, fake_openai, md)
    assert "hibrido" in md and report["modelo"].endswith(f"openai:{MODEL}")


def test_a_missed_threshold_fails_the_command(evals_env, fake_openai):
    _write_thresholds(Path(evals_env["EVAL_THRESHOLDS_PATH"]), {"macro_f1": 1.01})

    failed = run_cli(evals_env, "--provider", "openai")

    assert failed.returncode != 0
    assert "FAIL project: macro_f1" in failed.stdout
    report, md = read_reports(evals_env)  # the report is written even when the gate fails
    assert report["thresholds"]["passed"] is False and "**FAIL**" in md
    assert report["sets"]["project"]["llm"]["tokens"]["total"] > 0


def test_an_unavailable_endpoint_shows_up_as_fallbacks_in_the_report(evals_env, fake_openai):
    fake_openai.default = Behaviour.error(500)
    evals_env.update(LLM_CONCURRENCY="1", LLM_CIRCUIT_FAILURES="5")

    result = run_cli(evals_env, "--provider", "openai", "--no-fail")

    assert result.returncode == 0, result.stderr[-3000:]
    assert fake_openai.request_count == 5  # then the breaker opens and the other comments make no call
    report, md = read_reports(evals_env)
    assert "| 0 | 0 | 0 |" in md  # prompt, completion and total tokens
    llm = report["sets"]["project"]["llm"]
    assert llm["sent_to_llm"] == llm["fallbacks"] == len(ROWS) and llm["answered_by_llm"] == 0
    assert llm["calls"] == {"requests": 5, "ok": 0, "invalid": 0, "errors": 5, "circuit_open": len(ROWS) - 5}
    assert llm["tokens"] == {"prompt": 0, "completion": 0, "total": 0}
    assert llm["throughput"]["local"]["items"] == len(ROWS)  # every comment got the local answer
    assert all(m.startswith("local:") and "fallback" in m for m in report["sets"]["project"]["modelo"])
    assert "atenção: 12 comentários sem resposta do LLM" in result.stderr
