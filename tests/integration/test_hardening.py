"""Hardening that a client or an operator notices: retraining answers 202 and trains in the background, the app
sends its own security headers, /metrics and /api/docs are gated, the client address comes only from trusted
proxies, and commands print clean JSON on stdout."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from tests.integration.conftest import bearer, issue_tokens
from tests.support.envelope import assert_envelope

ROOT = Path(__file__).resolve().parents[2]


def test_retraining_answers_202_and_the_new_version_shows_up_when_training_ends(app_factory, role_tokens, tmp_path):
    from app.classifier.store import list_versions

    models = tmp_path / "models"
    shutil.copytree(os.environ.get("ALUMUSIC_TEST_MODEL_DIR") or app_factory().config["MODEL_DIR"], models)
    # No broker (the embedded `make run` path): the job runs in a background thread of this process.
    trainer = app_factory(MODEL_DIR=str(models), MODEL_TRAIN_SECOND_OPINION="off")
    client = trainer.test_client()
    admin = bearer(issue_tokens(trainer, "user_admin")["access_token"])
    known = {v["version"] for v in list_versions(trainer.config)}

    resp = client.post("/api/modelos/retreinar", headers=admin)

    assert resp.status_code == 202
    job = resp.get_json()
    assert job["status"] == "agendado" and job["modo"] == "thread"  # answered before training, not after
    assert resp.headers["Location"] == job["url"] == f"/api/modelos/tarefas/{job['tarefa']}"
    again = client.post("/api/modelos/retreinar", headers=admin).get_json()
    assert again["tarefa"] == job["tarefa"] and again["ja_em_andamento"]  # one training at a time

    deadline = time.monotonic() + 600
    state = job
    while state["status"] not in ("concluido", "falhou"):
        assert time.monotonic() < deadline, state
        time.sleep(0.5)
        state = client.get(job["url"], headers=admin).get_json()
    assert state["status"] == "concluido", state
    listed = client.get("/api/modelos", headers=admin).get_json()
    fresh = [v for v in listed["versoes"] if v["version"] not in known]
    assert [v["version"] for v in fresh] == [state["resultado"]["challenger"]]
    assert_envelope(client.get("/api/modelos/tarefas/nao-e-um-uuid", headers=admin), 404)


def test_the_app_sends_its_own_security_headers(client):
    for url in ("/health", "/api/comentarios", "/api/docs"):
        headers = client.get(url).headers
        csp = headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "'unsafe-inline'" not in csp and "frame-ancestors 'none'" in csp
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["Referrer-Policy"] == "no-referrer"


def test_metrics_and_docs_answer_only_allowed_networks_or_the_ops_token(app_factory):
    gated = app_factory(OPS_ALLOWED_NETWORKS="10.1.0.0/16", OPS_TOKEN="token-de-operacao-bem-longo").test_client()
    outside = {"REMOTE_ADDR": "192.0.2.10"}

    for url in ("/metrics", "/api/docs"):
        assert_envelope(gated.get(url, environ_base=outside), 403, "acesso_negado")
        assert gated.get(url, environ_base={"REMOTE_ADDR": "10.1.2.3"}).status_code == 200
        ok = gated.get(url, environ_base=outside, headers=bearer("token-de-operacao-bem-longo"))
        assert ok.status_code == 200
        assert_envelope(gated.get(url, environ_base=outside, headers=bearer("chute")), 403)
    assert gated.get("/health", environ_base=outside).status_code == 200  # probes stay open


def test_forwarded_for_counts_only_from_a_trusted_proxy(app_factory, role_tokens):
    from app.extensions import db
    from app.models.user import LoginThrottle

    behind = app_factory(TRUSTED_PROXIES="10.0.0.0/8", LOGIN_RATE_LIMIT="2 per minute")
    client = behind.test_client()
    wrong = {"username": "user_leitor", "password": "senha-errada-123"}

    def keys() -> set[str]:
        with behind.app_context():
            return {row.key.rsplit(":", 1)[0] for row in db.session.query(LoginThrottle)}

    # From the proxy: the client it names (right-most untrusted hop) is the address that is limited.
    client.post("/api/auth/login", json=wrong, environ_base={"REMOTE_ADDR": "10.0.0.5"},
                headers={"X-Forwarded-For": "198.51.100.7, 203.0.113.9"})  # fmt: skip
    assert "login:ip:203.0.113.9" in keys()
    # Straight from the internet: the header is ignored, the peer is the address.
    client.post("/api/auth/login", json=wrong, environ_base={"REMOTE_ADDR": "192.0.2.44"},
                headers={"X-Forwarded-For": "203.0.113.200"})  # fmt: skip
    assert "login:ip:192.0.2.44" in keys() and "login:ip:203.0.113.200" not in keys()


def test_model_list_json_is_clean_json_on_stdout(tmp_path):
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_URL", "REDIS_URL", "CELERY_"))},
        "FLASK_APP": "wsgi",
        "APP_ENV": "development",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}",
        "MODEL_DIR": os.environ.get("ALUMUSIC_TEST_MODEL_DIR") or str(tmp_path / "models"),
        "LOG_LEVEL": "INFO",
    }
    flask = [sys.executable, "-m", "flask"]
    subprocess.run([*flask, "db", "upgrade"], cwd=ROOT, env=env, capture_output=True, check=True, timeout=120)
    proc = subprocess.run(
        [*flask, "model", "list", "--json"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600
    )

    assert proc.returncode == 0, proc.stderr
    json.loads(proc.stdout)  # nothing but the JSON on stdout: logs go to stderr
    assert "Context impl" not in proc.stderr  # alembic's INFO noise is silenced
    assert "InsecureKeyLengthWarning" not in proc.stderr
