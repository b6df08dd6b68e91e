"""The real server (gunicorn, 2 workers, PostgreSQL, production settings) under hostile clients and crashes:
login throttling that a forged X-Forwarded-For, a Redis outage or a second worker cannot bypass; a worker killed
with SIGKILL under load loses no acknowledged comment; a request past the worker timeout gets the envelope."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from sqlalchemy import select, text

from tests.conftest import base_config
from tests.integration.conftest import PASSWORD, add_users, bearer, empty_database, issue_tokens
from tests.support.envelope import assert_envelope
from tests.support.processes import children, memory_kb

ROOT = Path(__file__).resolve().parents[2]
WORKER_TIMEOUT = 4


@dataclass
class Server:
    url: str
    proc: subprocess.Popen
    log: Path

    def workers(self) -> list[int]:
        return children(self.proc.pid)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for_workers(server: Server, count: int, deadline: float) -> None:
    while time.monotonic() < deadline:
        assert server.proc.poll() is None, server.log.read_text()[-3000:]
        try:
            if len(server.workers()) == count and requests.get(server.url + "/health", timeout=2).ok:
                return
        except requests.RequestException:
            pass
        time.sleep(0.1)
    raise AssertionError("gunicorn did not come up:\n" + server.log.read_text()[-3000:])


@pytest.fixture(scope="module")
def users(pg_app):
    empty_database(pg_app)
    add_users(pg_app)
    yield
    empty_database(pg_app)


def _start(pg_app, pg_database, model_dir, tmp_path: Path, **env: str) -> Server:
    cfg = base_config(tmp_path, model_dir)
    port = _free_port()
    log = tmp_path / f"gunicorn-{port}.log"
    base = {k: v for k, v in os.environ.items() if not k.startswith(("GUNICORN_", "PROMETHEUS_"))}
    full_env = {
        **base,
        "APP_ENV": "production",
        "SECRET_KEY": cfg["SECRET_KEY"],
        "JWT_SECRET_KEY": cfg["JWT_SECRET_KEY"],  # the suite's tokens are valid here
        "ADMIN_PASSWORD": "uma-senha-de-admin-bem-longa-42",
        "DATABASE_URL": pg_database,
        "MODEL_DIR": model_dir,
        "REDIS_URL": "",
        "CELERY_BROKER_URL": "",
        "LOG_LEVEL": "WARNING",
        "GUNICORN_BIND": f"127.0.0.1:{port}",
        "WEB_CONCURRENCY": "2",
        "GUNICORN_TIMEOUT": str(WORKER_TIMEOUT),
        "GUNICORN_ACCESS_LOG": "0",
        "TRUSTED_PROXIES": "",
        **env,
    }
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"],
            cwd=ROOT,
            env=full_env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    server = Server(f"http://127.0.0.1:{port}", proc, log)
    _wait_for_workers(server, 2, time.monotonic() + 90)
    return server


def _stop(server: Server) -> None:
    server.proc.send_signal(signal.SIGTERM)
    try:
        server.proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        server.proc.kill()
        server.proc.wait()


@pytest.fixture(scope="module")
def server(pg_app, pg_database, model_dir, tmp_path_factory, users) -> Iterator[Server]:
    """gunicorn with Redis configured but down (port 1): limits, cache and blocklist must cope."""
    srv = _start(
        pg_app,
        pg_database,
        model_dir,
        tmp_path_factory.mktemp("gunicorn"),
        REDIS_URL="redis://127.0.0.1:1/0",
        CELERY_BROKER_URL="redis://127.0.0.1:1/1",
        LOGIN_RATE_LIMIT="10 per minute",
        LOGIN_ACCOUNT_RATE_LIMIT="10 per minute",
        LOGIN_ACCOUNT_GLOBAL_RATE_LIMIT="10 per minute",
        DB_STATEMENT_TIMEOUT_MS="60000",  # long, so the worker timeout is what ends the stuck request below
    )
    yield srv
    _stop(srv)


def test_forged_forwarded_for_across_workers_with_redis_down_cannot_bypass_login_limits(pg_app, server):
    from app.extensions import db

    with pg_app.app_context():
        db.session.execute(text("DELETE FROM login_throttle"))
        db.session.commit()
    statuses = []
    for i in range(40):
        # A new session per attempt: connections land on either worker; each attempt claims another address.
        with requests.Session() as attempt:
            resp = attempt.post(
                server.url + "/api/auth/login",
                json={"username": "user_leitor", "password": f"chute-{i}-errado"},
                headers={"X-Forwarded-For": f"203.0.113.{i}", "Connection": "close"},
                timeout=30,
            )
        statuses.append(resp.status_code)
        if resp.status_code == 429:
            assert_envelope(resp, 429, "limite_de_requisicoes")
            assert int(resp.headers["Retry-After"]) >= 1

    assert statuses[:10] == [401] * 10
    assert statuses[10:] == [429] * 30  # the 11th attempt and every one after: one global limit, not 10 x workers
    # The right password is refused too while the account is throttled (no oracle for the attacker).
    good = requests.post(
        server.url + "/api/auth/login", json={"username": "user_leitor", "password": PASSWORD}, timeout=30
    )
    assert good.status_code == 429


def test_a_request_past_the_worker_timeout_gets_the_envelope(pg_app, server):
    from app.extensions import db

    token = issue_tokens(pg_app, "user_leitor")["access_token"]
    with pg_app.app_context():
        blocker = db.engine.connect()
        blocker.execute(text("LOCK TABLE comments IN ACCESS EXCLUSIVE MODE"))
        try:
            resp = requests.get(server.url + "/api/comentarios", headers=bearer(token), timeout=WORKER_TIMEOUT * 10)
        finally:
            blocker.rollback()
            blocker.close()

    assert_envelope(resp, 503, "tempo_esgotado")
    assert resp.headers["Content-Type"].startswith("application/json")
    # The aborted worker is replaced and the service answers again.
    _wait_for_workers(server, 2, time.monotonic() + 90)
    assert requests.get(server.url + "/api/comentarios", headers=bearer(token), timeout=30).status_code == 200


def test_kill_9_of_a_worker_under_load_loses_no_acknowledged_comment(pg_app, server):
    from app.extensions import db
    from app.models import Comment

    token = issue_tokens(pg_app, "user_ingestao")["access_token"]
    acknowledged: list[str] = []
    outcomes: list[str] = []
    lock = threading.Lock()
    stop = threading.Event()

    def post_batches() -> None:
        with requests.Session() as session:
            while not stop.is_set():
                batch = [{"id": str(uuid.uuid4()), "texto": f"que show incrível {i}"} for i in range(25)]
                try:
                    resp = session.post(server.url + "/api/comentarios", json=batch, headers=bearer(token), timeout=30)
                except requests.ConnectionError:
                    with lock:
                        outcomes.append("connection-lost")  # the killed worker's request: never acknowledged
                    continue
                with lock:
                    outcomes.append(str(resp.status_code))
                    if resp.status_code == 201:
                        acknowledged.extend(item["id"] for item in batch)

    clients = [threading.Thread(target=post_batches) for _ in range(4)]
    for client in clients:
        client.start()
    try:
        deadline = time.monotonic() + 60
        while len(acknowledged) < 500 and time.monotonic() < deadline:
            time.sleep(0.05)
        os.kill(server.workers()[0], signal.SIGKILL)
        _wait_for_workers(server, 2, time.monotonic() + 90)
        before = len(outcomes)
        while len(outcomes) < before + 20 and time.monotonic() < deadline + 60:
            time.sleep(0.05)
    finally:
        stop.set()
        for client in clients:
            client.join(timeout=60)

    assert set(outcomes) <= {"201", "503", "connection-lost"}, sorted(set(outcomes))
    assert len(acknowledged) >= 500
    with pg_app.app_context():
        stored = {str(i) for i in db.session.scalars(select(Comment.id).where(Comment.id.in_(acknowledged)))}
    assert len(stored) == len(acknowledged), "an acknowledged comment is missing"


def _raw_request(url: str, request_line_target: str, extra_headers: str = "") -> tuple[int, dict[str, str], bytes]:
    """Send one request with a hand-made request line (requests would refuse some): status, headers, body."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(
            f"GET {request_line_target} HTTP/1.1\r\nHost: x\r\n{extra_headers}Connection: close\r\n\r\n".encode()
        )
        raw = b""
        while chunk := sock.recv(65536):
            raw += chunk
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    return int(lines[0].split()[1]), headers, body


def test_gunicorns_own_errors_use_the_envelope(server):
    # A request line over 8,190 bytes: gunicorn refuses it before the app runs, in the envelope, not HTML.
    status, headers, body = _raw_request(server.url, "/api/comentarios?q=" + "a" * 8200)
    assert status == 414 and headers["content-type"] == "application/json"
    error = json.loads(body)["erro"]
    assert error["codigo"] == "uri_muito_longa" and error["detalhes"] == {"limite_bytes": 8190}
    # Just under the bound the app answers (401: no token) — the limit is gunicorn's, not lower.
    status, headers, body = _raw_request(server.url, "/api/comentarios?q=" + "a" * 8000)
    assert status == 401 and json.loads(body)["erro"]["codigo"] == "nao_autenticado"
    # A header over limit_request_field_size, and a malformed request line: the envelope too.
    status, headers, body = _raw_request(server.url, "/health", f"X-Grande: {'b' * 9000}\r\n")
    assert status == 431 and json.loads(body)["erro"]["codigo"] == "cabecalhos_muito_grandes"
    status, headers, body = _raw_request(server.url, "/health nada")
    assert status == 400 and json.loads(body)["erro"]["codigo"] == "requisicao_invalida"
    # The worker that answered is still serving.
    assert requests.get(server.url + "/health", timeout=30).status_code == 200


def test_workers_fork_from_a_master_that_preloaded_the_app_and_a_recycled_worker_serves_a_newly_promoted_model(
    pg_app, pg_database, model_dir, tmp_path, users
):
    """GUNICORN_PRELOAD (on by default): the master imports the app and loads the active model once, holds no
    connection of its own, and the workers share those pages. A worker recycled after a promotion serves the new
    version from disk, never the master's copy of the old one."""
    from app.classifier import store, training
    from app.classifier.local import LocalClassifier

    folder = tmp_path / "models"  # this test promotes a version: its own copy, not the session's shared folder
    shutil.copytree(model_dir, folder)
    first = store.read_active_version(folder)
    srv = _start(
        pg_app,
        pg_database,
        str(folder),
        tmp_path,
        LOG_LEVEL="INFO",
        GUNICORN_MAX_REQUESTS="3",
        GUNICORN_MAX_REQUESTS_JITTER="0",
        MODEL_RELOAD_SECONDS="3600",  # only a recycle can switch versions here
    )
    try:
        assert f"preloaded the app's modules and model {first} in the master" in srv.log.read_text()
        fds = [os.readlink(fd) for fd in Path(f"/proc/{srv.proc.pid}/fd").iterdir()]
        assert sum(link.startswith("socket:") for link in fds) == 1, fds  # the listening socket, nothing else
        for pid in srv.workers():
            memory = memory_kb(pid)
            # The model and the imported modules are the master's pages, not a copy per worker.
            assert memory["Shared_Dirty"] > memory["Private_Dirty"], memory

        token = issue_tokens(pg_app, "user_ingestao")["access_token"]
        textos = ["quando sai o clipe novo?", "achei ok, nada demais", "o show foi bom mas o som estava baixo"]

        def classify() -> tuple[str, list[float]]:
            resp = requests.post(
                srv.url + "/api/comentarios",
                json=[{"id": str(uuid.uuid4()), "texto": texto} for texto in textos],
                headers={**bearer(token), "Connection": "close"},
                timeout=60,
            )
            assert resp.status_code == 201, resp.text
            assert len({item["modelo"] for item in resp.json()}) == 1
            return resp.json()[0]["modelo"], [item["confianca"] for item in resp.json()]

        def apart(a: list[float], b: list[float]) -> float:
            return max(abs(x - y) for x, y in zip(a, b, strict=True))

        before = classify()
        assert before[0].startswith(f"local:{first}")
        # A different model (word n-grams only, another C) is promoted while the master still holds the first one.
        config = {"MODEL_DIR": str(folder), "EMBEDDING_CACHE_DIR": str(tmp_path / "emb")}
        second = training.train_model(
            config, params={"second_opinion": {"enabled": False}, "C": 0.1, "featurizer": {"use_char": False}}
        )["version"]
        store.activate(config, second)
        expected = [c.confianca for c in LocalClassifier(folder).classify_many(textos)]
        assert apart(expected, before[1]) > 0.01  # the two models tell apart on these texts
        booted = set(srv.workers())
        served = [classify() for _ in range(12)]
        # Both workers recycled (3 requests each) and came back serving the promoted model itself, from disk.
        assert served[-1][0] == f"local:{second}", served
        assert all(model == served[-1][0] and apart(conf, expected) < 1e-3 for model, conf in served[-4:]), served
        _wait_for_workers(srv, 2, time.monotonic() + 90)
        assert not booted & set(srv.workers())
    finally:
        _stop(srv)
