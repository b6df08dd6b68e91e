"""`make run`'s process set (scripts/run_local.sh) with nothing installed: SQLite database, the embedded SQLite
broker, gunicorn + one worker + one Beat. An import posted over HTTP completes on the worker, Beat's schedule
reaches the worker, and one Ctrl-C stops all three."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess

import pytest
import requests

from tests.support.processes import BIN, ROOT, Process, app_env, wait_until

pytestmark = pytest.mark.timeout(240)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def test_make_run_processes_deliver_schedule_and_stop_together(tmp_path, model_dir):
    port = free_port()
    env = app_env(
        DATABASE_URL=f"sqlite:///{tmp_path / 'alumusic.db'}",
        MODEL_DIR=model_dir,
        ADMIN_USERNAME="admin",
        ADMIN_PASSWORD="senha-do-admin-local-123",
        PORT=str(port),
        RUN_STATE_DIR=str(tmp_path / "state"),
        FLASK_APP="wsgi",
        WEB_CONCURRENCY="1",
        APP_ENV="development",
    )
    for step in (["db", "upgrade"], ["users", "ensure-admin"]):
        subprocess.run([str(BIN / "flask"), *step], cwd=ROOT, env=env, check=True, capture_output=True, timeout=120)
    stack = Process("make-run", ["bash", str(ROOT / "scripts" / "run_local.sh")], {**env, "BIN": str(BIN)},
                    tmp_path / "run.log").start()  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:

        def healthy() -> bool:
            with contextlib.suppress(requests.RequestException):
                return requests.get(f"{base}/health", timeout=2).status_code == 200
            return False

        wait_until(healthy, 90, "gunicorn /health", stack)
        stack.wait_for_log(r"\S+@\S+ ready\.", timeout=90)
        login = requests.post(f"{base}/api/auth/login", json={"username": "admin", "password": env["ADMIN_PASSWORD"]})
        headers = {"Authorization": f"Bearer {login.json()['access_token']}"}

        resp = requests.post(
            f"{base}/api/importacoes",
            data=b"texto\nque hino maravilhoso\no app trava toda hora\n",
            headers={**headers, "Content-Type": "text/csv"},
            timeout=10,
        )
        assert resp.status_code == 202, resp.text
        assert resp.json()["status"] == "pendente"  # handed to the worker, not run inside the request
        url = base + resp.json()["url"]
        wait_until(lambda: requests.get(url, headers=headers, timeout=5).json()["status"] == "concluida", 60,
                   "the import to complete on the worker", stack)  # fmt: skip
        assert requests.get(url, headers=headers, timeout=5).json()["contagens"]["criados"] == 2

        # Beat (exactly one) schedules the sweep and the worker runs it, through the same embedded broker.
        stack.wait_for_log(r"Task app\.tasks\.imports\.resume_stalled_imports\[[^\]]+\] succeeded", timeout=90)
        assert stack.text().count("beat: Starting...") == 1
    finally:
        pgid = stack.popen.pid
        # Ctrl-C in a terminal: SIGINT to the whole foreground process group.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGINT)
        try:
            # poll() reaps the script itself (a zombie still counts as a member of its group).
            wait_until(lambda: stack.popen.poll() is not None and not group_alive(pgid), 45,
                       "every make run process to exit")  # fmt: skip
        finally:
            stack.kill()
