"""Accuracy of the answer a client gets synchronously from POST /api/comentarios (default settings, no broker).

    .venv/bin/python benchmarks/api_accuracy.py [--model-dir DIR] [--batch 1 --batch 100] [--no-write]

Builds the app exactly as `make run` configures it (SQLite under a temporary folder, the embedded SQLite Celery
broker of scripts/run_local.sh, no Redis, CLASSIFIER_PROVIDER=local, LOCAL_SECOND_OPINION off, the inline e5 budget
at its default), posts every labelled set with fresh ids in
batches of each `--batch` size, and scores the `categoria`/`confianca` that come back: macro-F1, per-class F1,
accuracy of answers at confidence >= 0.8, ECE. Sets: data/eval/eval.csv, data/eval/fora_do_projeto.csv and every
CSV under the external folder (reported, never trained or tuned on). Writes the "## Classifier through the API"
section of benchmarks/RESULTS.md (`make bench-api-accuracy`).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import uuid
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks import results  # noqa: E402

TITLE = "## Classifier through the API"


def _sets(config: dict) -> list[tuple[str, Path]]:
    from app.classifier import evals

    out = [("project", evals.eval_path(config)), (evals.OUTSIDE_SET, evals.outside_path(config))]
    ext = evals.external_dir(config)
    out += [(f"external:{p.stem}", p) for p in sorted(ext.glob("*.csv"))] if ext.is_dir() else []
    return [(name, path) for name, path in out if path.is_file()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", help="MODEL_DIR to serve (default: the configured one; trained if empty)")
    parser.add_argument("--batch", type=int, action="append", help="batch sizes to post (default: 1 and 100)")
    parser.add_argument("--no-write", action="store_true", help="print the section, do not touch RESULTS.md")
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore", module="jwt")  # the throwaway local signing key is short, on purpose
    batches = args.batch or [1, 100]

    from app import create_app
    from app.classifier import evals
    from app.classifier.base import CATEGORIES
    from app.config import load_config
    from app.services.users import create_user

    work = Path(tempfile.mkdtemp(prefix="alumusic-api-accuracy-"))
    # scripts/run_local.sh: no Redis, Celery on a SQLite broker file (queued refinements simply wait here).
    broker = f"sqla+sqlite:///{work / 'celery-broker.sqlite'}"
    overrides = {"DATABASE_URL": f"sqlite:///{work / 'alumusic.db'}", "REDIS_URL": "", "CELERY_BROKER_URL": broker}
    if args.model_dir:
        overrides["MODEL_DIR"] = args.model_dir
    app = create_app(load_config(overrides))
    from flask_migrate import upgrade

    with app.app_context():
        upgrade(directory=str(ROOT / "migrations"))
        create_user("bench-ingest", "senha-do-benchmark-123", "ingestao")
    client = app.test_client()
    token = client.post(
        "/api/auth/login", json={"username": "bench-ingest", "password": "senha-do-benchmark-123"}
    ).get_json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    cfg = dict(app.config)

    lines = [
        TITLE,
        "",
        "What a client receives synchronously from `POST /api/comentarios` with `make run`'s defaults "
        f"(embedded SQLite broker, no Redis, local provider, `LOCAL_SECOND_OPINION` off, inline e5 for at most "
        f"{cfg.get('LOCAL_SYNC_SECOND_OPINION_MAX')} unsure comments per request), fresh ids, in-process app "
        "(same request path as gunicorn). `acc≥0.8`: accuracy of the answers with confidence ≥ 0.8 (`share`: how "
        "many they are). Command: `make bench-api-accuracy`.",
        "",
        "Machine: " + ", ".join(f"{k} {v}" for k, v in results.machine_facts(ROOT).items()),
        "",
        "| set | batch | n | macro-F1 | " + " | ".join(f"{c} F1" for c in CATEGORIES) + " | acc≥0.8 | share | ECE |"
        " answers by e5 | s |",
        "|---" * (9 + len(CATEGORIES)) + "|",
    ]
    for name, path in _sets(cfg):
        rows = evals.load_labelled_csv(path)
        for batch in batches:
            started = time.perf_counter()
            got: list[dict] = []
            for i in range(0, len(rows), batch):
                body = [{"id": str(uuid.uuid4()), "texto": r.texto} for r in rows[i : i + batch]]
                resp = client.post("/api/comentarios", json=body, headers=headers)
                assert resp.status_code == 201, resp.get_json()
                got += resp.get_json()
            seconds = time.perf_counter() - started
            m = evals.classification_metrics(
                [r.categoria for r in rows], [g["categoria"] for g in got], [g["confianca"] for g in got], 0.8
            )
            cal = m["calibration"]
            e5 = sum(1 for g in got if str(g.get("modelo", "")).endswith("+e5"))
            lines.append(
                f"| {name} | {batch} | {m['n']} | {m['macro_f1']:.4f} | "
                + " | ".join(f"{m['per_class'][c]['f1']:.4f}" for c in CATEGORIES)
                + f" | {cal['accuracy_above_threshold']:.4f} | {cal['share_above_threshold']:.2f} | "
                f"{cal['expected_calibration_error']:.4f} | {e5} | {seconds:.1f} |"
            )
            print(lines[-1], flush=True)
    section = "\n".join(lines) + "\n"
    if args.no_write:
        print(section)
    else:
        results.write_section(TITLE, section)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
