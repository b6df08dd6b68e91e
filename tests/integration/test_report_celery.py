"""The report refreshes by itself: a real Celery worker (reports queue) and one Beat, on real Redis and PostgreSQL.

Beat runs the refresh every REPORT_REFRESH_SECONDS - REPORT_REFRESH_LEAD_SECONDS (4 - 1 s here, to keep the test
short; production: 60 - 5 s); a new comment must show up in the feed within the freshness bound without any
request recomputing it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import pytest

from tests.support import services
from tests.support.report_data import REDIS_TEST_URL, add_comments, flush_redis, hours_ago

ROOT = Path(__file__).resolve().parents[2]
REFRESH_SECONDS = 4
pytestmark = pytest.mark.timeout(180)


@pytest.fixture
def celery_stack(app, pg_database, model_dir, tmp_path):
    """A worker on the `reports` queue and one Beat, both started like docker-compose.yml starts them."""
    services.check_redis(REDIS_TEST_URL)
    flush_redis()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("CELERY_", "REPORT_", "PROMETHEUS_"))},
        "APP_ENV": "development",
        "DATABASE_URL": pg_database,
        "REDIS_URL": REDIS_TEST_URL,
        "CELERY_BROKER_URL": REDIS_TEST_URL,
        "MODEL_DIR": model_dir,
        "REPORT_REFRESH_SECONDS": str(REFRESH_SECONDS),
        "REPORT_REFRESH_LEAD_SECONDS": "1",
        "REPORT_CACHE_DIR": str(tmp_path / "cache"),
        "LOG_LEVEL": "INFO",
        "LOG_JSON": "false",
        "PYTHONUNBUFFERED": "1",
    }
    celery = [sys.executable, "-m", "celery", "-A", "make_celery"]
    logs = {name: tmp_path / f"{name}.log" for name in ("worker", "beat")}
    argv = {
        "worker": [
            *celery,
            "worker",
            "-Q",
            "reports",
            "--concurrency=1",
            f"--hostname=reports-{os.getpid()}@%h",
            "--loglevel=INFO",
        ],
        "beat": [*celery, "beat", f"--schedule={tmp_path / 'celerybeat-schedule'}", "--loglevel=INFO"],
    }
    procs = {}
    for name in ("worker", "beat"):
        with logs[name].open("wb") as out:
            procs[name] = subprocess.Popen(argv[name], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                                           start_new_session=True)  # fmt: skip
    yield {"logs": logs, "procs": procs}
    for proc in procs.values():
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
    for proc in procs.values():
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    flush_redis()


def _poll(check, timeout: float, procs: dict, logs: dict, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for name, proc in procs.items():
            assert proc.poll() is None, f"{name} exited:\n{logs[name].read_text()[-3000:]}"
        result = check()
        if result:
            return result
        time.sleep(0.25)
    tails = "\n".join(f"--- {n} ---\n{p.read_text()[-2000:]}" for n, p in logs.items())
    raise AssertionError(f"timed out after {timeout}s waiting for {what}\n{tails}")


def test_the_report_reflects_new_comments_by_itself_within_the_bound(celery_stack, app, app_factory):
    add_comments(app, [("ELOGIO", "Lua Serena", hours_ago(1))] * 2)
    reader = app_factory(REDIS_URL=REDIS_TEST_URL, REPORT_REFRESH_SECONDS=REFRESH_SECONDS)
    procs, logs = celery_stack["procs"], celery_stack["logs"]

    def stored_snapshot():
        from app.services.report_snapshots import ENVELOPE, report_region

        with reader.app_context():
            reg = report_region()
            return reg.get(reg.key(_default_hash(), ENVELOPE))

    # Cold start: the worker's first refresh (not a request) writes the snapshot.
    _poll(stored_snapshot, 90, procs, logs, "the first refresh by the worker")
    client = reader.test_client()

    def praise_count() -> int:
        rows = client.get("/relatorio/semana/categorias_por_artista.json").get_json()
        return next(r["comentarios"] for r in rows if r["artista"] == "Lua Serena" and r["categoria"] == "ELOGIO")

    assert praise_count() == 2
    first = client.get("/api/relatorio/semana").get_json()["gerado_em"]
    add_comments(app, [("ELOGIO", "Lua Serena", hours_ago(0.5))])
    added = time.monotonic()
    _poll(lambda: praise_count() == 3, 60, procs, logs, "the new comment in the feed")
    assert time.monotonic() - added <= REFRESH_SECONDS + 2
    resp = client.get("/api/relatorio/semana")
    assert resp.headers["X-Relatorio-Fonte"] == "cache"
    generated = datetime.fromisoformat(resp.get_json()["gerado_em"])
    assert generated > datetime.fromisoformat(first)
    worker_log = logs["worker"].read_text()
    assert "app.tasks.reports.refresh_reports" in worker_log and "succeeded" in worker_log
    beat_log = logs["beat"].read_text()
    assert "Sending due task refresh-reports" in beat_log


def _default_hash() -> str:
    from app.cache import params_hash
    from app.schemas.reports import ReportFilters

    return params_hash(ReportFilters().cache_params())
