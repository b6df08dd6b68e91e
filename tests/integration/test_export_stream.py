"""The CSV export through the real server: a download that lasts longer than gunicorn's worker timeout is not cut
off while it keeps moving (the stream reports the worker alive; a sync worker otherwise only reports between
requests)."""

from __future__ import annotations

import csv
import io
import os
import socket
import sys
import time

import requests
from sqlalchemy import text

from tests.conftest import base_config
from tests.integration.conftest import add_users, bearer, empty_database, issue_tokens
from tests.support.processes import Process, wait_until

WORKER_TIMEOUT = 2
ROWS = 60_000  # ~20 MB of CSV: more than the socket buffers between server and client hold
SLOW_SECONDS = 3 * WORKER_TIMEOUT


def _healthy(base: str) -> bool:
    try:
        return requests.get(base + "/health", timeout=2).ok
    except requests.RequestException:
        return False


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_a_slow_download_outlasts_the_worker_timeout(pg_app, pg_database, model_dir, tmp_path):
    from app.extensions import db

    empty_database(pg_app)
    add_users(pg_app)
    with pg_app.app_context():
        db.session.execute(text("SET LOCAL statement_timeout = 120000"))
        db.session.execute(
            text(
                "INSERT INTO comments (id, text, occurred_at, category, confidence, model_version, classified_at, "
                "created_at, updated_at) SELECT gen_random_uuid(), 'comentário de carga número ' || n || "
                "repeat(' sobre o show', 12), now(), 'ELOGIO', 0.9, 'local:teste', now() - n * interval '1 second', "
                "now(), now() FROM generate_series(1, :rows) AS n"
            ),
            {"rows": ROWS},
        )
        db.session.commit()
    token = issue_tokens(pg_app, "user_leitor")["access_token"]

    cfg = base_config(tmp_path, model_dir)
    port = _free_port()
    log = tmp_path / "gunicorn.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GUNICORN_", "PROMETHEUS_"))}
    env.update(
        APP_ENV="production",
        SECRET_KEY=cfg["SECRET_KEY"],
        JWT_SECRET_KEY=cfg["JWT_SECRET_KEY"],
        ADMIN_PASSWORD="uma-senha-de-admin-bem-longa-42",
        DATABASE_URL=pg_database,
        MODEL_DIR=model_dir,
        REDIS_URL="",
        CELERY_BROKER_URL="",
        LOG_LEVEL="WARNING",
        GUNICORN_BIND=f"127.0.0.1:{port}",
        WEB_CONCURRENCY="1",
        GUNICORN_TIMEOUT=str(WORKER_TIMEOUT),
        GUNICORN_ACCESS_LOG="0",
    )
    server = Process("gunicorn", [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"], env, log)
    base = f"http://127.0.0.1:{port}"
    try:
        server.start()
        wait_until(lambda: _healthy(base), 90, "gunicorn /health", server)
        started = time.monotonic()
        body = bytearray()
        with requests.get(f"{base}/api/comentarios/export", headers=bearer(token), stream=True, timeout=60) as resp:
            assert resp.status_code == 200
            for chunk in resp.iter_content(64 * 1024):
                body += chunk
                # A slow client (~1 MB/s) for three worker timeouts: the server keeps producing all along. Then
                # fast, so gunicorn's lingering close after the last byte does not wait for a slow reader.
                if time.monotonic() - started < SLOW_SECONDS:
                    time.sleep(0.05)
        took = time.monotonic() - started
    finally:
        server.stop()

    rows = list(csv.reader(io.StringIO(body.decode())))
    assert took > SLOW_SECONDS
    assert len(rows) == ROWS + 1, server.text()[-3000:]
    assert "WORKER TIMEOUT" not in server.text()
    empty_database(pg_app)
