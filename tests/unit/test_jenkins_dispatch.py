"""jenkins/dispatch_workflow.py against a local fake of the GitHub REST API.

The fake (stdlib ThreadingHTTPServer on 127.0.0.1:0) records the dispatch, lists the run it creates next to a
decoy run somebody else dispatched, and moves the run queued -> in_progress -> completed as it is polled.
The script runs as Jenkins runs it: a subprocess, configured by arguments and environment, judged by its exit
code and its console output.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "jenkins" / "dispatch_workflow.py"
REPO = "alumusic/insights"
TOKEN = "ghp_test_token_123"


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _job(job_id: int, name: str, conclusion: str | None, steps: list[tuple[str, str | None]]) -> dict:
    status = "completed" if conclusion else "in_progress"
    return {
        "id": job_id,
        "name": name,
        "status": status,
        "conclusion": conclusion,
        "started_at": "2026-01-05T10:00:00Z",
        "completed_at": "2026-01-05T10:01:05Z" if conclusion else None,
        "steps": [
            {
                "number": n,
                "name": step_name,
                "status": "completed" if step_result else "in_progress",
                "conclusion": step_result,
            }
            for n, (step_name, step_result) in enumerate(steps, start=1)
        ],
    }


class FakeGitHub:
    """State of the fake API; `outcome` is success, failure or never (the run stays in progress)."""

    def __init__(self, outcome: str = "success", workflows: tuple[str, ...] = ("ci.yml",)) -> None:
        self.outcome = outcome
        self.workflows = set(workflows)
        self.requests: list[dict] = []
        self.dispatches: list[dict] = []
        self.run: dict | None = None
        self.run_polls = 0
        self.lock = threading.Lock()

    # -- what the handler serves ------------------------------------------------------------------------------------
    def dispatch(self, workflow: str, body: dict) -> tuple[int, dict | None]:
        if workflow not in self.workflows:
            return 404, {"message": "Not Found", "documentation_url": "https://docs.github.com/rest"}
        self.dispatches.append(body)
        dispatch_id = body.get("inputs", {}).get("dispatch_id", "")
        self.run = {
            "id": 9001,
            "run_number": 77,
            "name": "CI",
            "display_title": f"CI dispatch {dispatch_id}",
            "event": "workflow_dispatch",
            "head_branch": body["ref"],
            "status": "queued",
            "conclusion": None,
            "created_at": _now(),
            "html_url": f"https://github.example/{REPO}/actions/runs/9001",
        }
        return 204, None

    def list_runs(self) -> dict:
        decoy = {
            "id": 8999,
            "run_number": 76,
            "name": "CI",
            "display_title": "CI dispatch someone-else",
            "event": "workflow_dispatch",
            "head_branch": "main",
            "status": "in_progress",
            "conclusion": None,
            "created_at": _now(),
            "html_url": f"https://github.example/{REPO}/actions/runs/8999",
        }
        runs = [decoy] + ([dict(self.run)] if self.run else [])
        return {"total_count": len(runs), "workflow_runs": runs}

    def get_run(self, run_id: int) -> tuple[int, dict]:
        if not self.run or run_id != self.run["id"]:
            return 404, {"message": "Not Found"}
        self.run_polls += 1
        if self.outcome != "never":
            if self.run_polls == 2:
                self.run["status"] = "in_progress"
            elif self.run_polls >= 3:
                self.run["status"] = "completed"
                self.run["conclusion"] = "success" if self.outcome == "success" else "failure"
        elif self.run_polls >= 2:
            self.run["status"] = "in_progress"
        return 200, dict(self.run)

    def jobs(self) -> dict:
        assert self.run is not None
        done = self.run["status"] == "completed"
        failed = self.outcome == "failure"
        jobs = [
            _job(1, "lint", "success" if done else None, [("Set up job", "success"), ("ruff check", "success")]),
            _job(
                2,
                "test",
                ("failure" if failed else "success") if done else None,
                [
                    ("Set up job", "success"),
                    ("make test", ("failure" if failed else "success") if done else None),
                    ("Post checkout", "success" if done else None),
                ],
            ),
            _job(3, "e2e", ("skipped" if failed else "success") if done else None, []),
        ]
        return {"total_count": len(jobs), "jobs": jobs}


def _handler(fake: FakeGitHub):
    class Handler(BaseHTTPRequestHandler):
        def _send(self, status: int, payload: dict | None) -> None:
            body = json.dumps(payload).encode() if payload is not None else b""
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _record(self, body: dict | None) -> tuple[list[str], dict]:
            url = urlsplit(self.path)
            with fake.lock:
                fake.requests.append(
                    {"method": self.command, "path": url.path, "query": parse_qs(url.query), "body": body,
                     "headers": {k.lower(): v for k, v in self.headers.items()}}
                )  # fmt: skip
            return url.path.strip("/").split("/"), parse_qs(url.query)

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length) or b"{}")
            parts, _ = self._record(body)
            if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                return self._send(401, {"message": "Bad credentials"})
            # /repos/{owner}/{name}/actions/workflows/{wf}/dispatches
            if len(parts) == 7 and parts[4] == "workflows" and parts[6] == "dispatches":
                with fake.lock:
                    status, payload = fake.dispatch(parts[5], body)
                return self._send(status, payload)
            # /repos/{owner}/{name}/actions/runs/{id}/cancel
            if len(parts) == 7 and parts[4] == "runs" and parts[6] == "cancel":
                return self._send(202, {})
            return self._send(404, {"message": "Not Found"})

        def do_GET(self) -> None:
            parts, _ = self._record(None)
            if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                return self._send(401, {"message": "Bad credentials"})
            with fake.lock:
                if len(parts) == 7 and parts[4] == "workflows" and parts[6] == "runs":
                    return self._send(200, fake.list_runs())
                if len(parts) == 6 and parts[4] == "runs":
                    return self._send(*fake.get_run(int(parts[5])))
                if len(parts) == 7 and parts[4] == "runs" and parts[6] == "jobs":
                    return self._send(200, fake.jobs())
            return self._send(404, {"message": "Not Found"})

        def log_message(self, *args) -> None:  # keep pytest output clean
            pass

    return Handler


@pytest.fixture
def github():
    """Start a fake GitHub API; yields (fake, base_url)."""
    servers = []

    def start(outcome: str = "success", workflows: tuple[str, ...] = ("ci.yml",)) -> tuple[FakeGitHub, str]:
        fake = FakeGitHub(outcome, workflows)
        server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(fake))
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return fake, f"http://127.0.0.1:{server.server_address[1]}"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def run_script(api_url: str, *args: str, token: str = TOKEN, timeout: float = 30) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in {"GITHUB_TOKEN", "REPO", "WORKFLOW", "REF"}}
    env.update(GITHUB_API_URL=api_url, GITHUB_TOKEN=token, POLL_INTERVAL_SECONDS="0.05")
    argv = [sys.executable, str(SCRIPT), "--repo", REPO, "--workflow", "ci.yml", "--ref", "main", *args]
    return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=timeout, check=False)


def test_success_dispatches_follows_and_prints_every_job_and_step(github):
    fake, url = github("success")
    proc = run_script(url)

    assert proc.returncode == 0, proc.stdout + proc.stderr
    # The dispatch asked for the ref and carried an id that the run's title echoes.
    assert len(fake.dispatches) == 1
    dispatch = fake.dispatches[0]
    assert dispatch["ref"] == "main"
    dispatch_id = dispatch["inputs"]["dispatch_id"]
    assert dispatch_id and dispatch_id in proc.stdout
    # It followed our run (9001), not the decoy another dispatcher started (8999).
    polled = {r["path"] for r in fake.requests if r["method"] == "GET"}
    assert f"/repos/{REPO}/actions/runs/9001" in polled
    assert f"/repos/{REPO}/actions/runs/8999" not in polled
    assert fake.run_polls >= 3  # queued -> in_progress -> completed
    out = proc.stdout
    assert "is queued" in out and "is in_progress" in out and "is completed" in out
    for line in (
        "job lint: success",
        "job test: success",
        "job e2e: success",
        "step 1. Set up job: success",
        "step 2. ruff check: success",
        "step 2. make test: success",
        "step 3. Post checkout: success",
    ):
        assert line in out, f"missing {line!r} in:\n{out}"
    assert "succeeded" in out


def test_runs_are_listed_by_workflow_dispatch_event_branch_and_creation_time(github):
    fake, url = github("success")
    assert run_script(url).returncode == 0

    listing = next(r for r in fake.requests if r["path"].endswith("/actions/workflows/ci.yml/runs"))
    assert listing["query"]["event"] == ["workflow_dispatch"]
    assert listing["query"]["branch"] == ["main"]
    created = listing["query"]["created"][0]
    assert created.startswith(">=")
    since = dt.datetime.fromisoformat(created[2:].replace("Z", "+00:00"))
    assert dt.datetime.now(dt.UTC) - since < dt.timedelta(minutes=5)


def test_failed_run_exits_non_zero_and_names_the_failing_job_and_step(github):
    _, url = github("failure")
    proc = run_script(url)

    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "concluded failure" in proc.stdout
    assert "FAILED: job 'test', step 'make test': failure" in proc.stdout
    assert "[FAIL] job test: failure" in proc.stdout
    # Jobs that passed or were skipped are still listed, and are not blamed.
    assert "[ok  ] job lint: success" in proc.stdout
    assert "[ok  ] job e2e: skipped" in proc.stdout
    assert "FAILED: job 'lint'" not in proc.stdout


def test_every_request_carries_the_token_and_the_api_headers(github):
    fake, url = github("success")
    proc = run_script(url)

    assert proc.returncode == 0
    assert fake.requests
    for request in fake.requests:
        headers = request["headers"]
        assert headers["authorization"] == f"Bearer {TOKEN}"
        assert headers["accept"] == "application/vnd.github+json"
        assert headers["x-github-api-version"] == "2022-11-28"
    assert TOKEN not in proc.stdout + proc.stderr  # never printed


def test_bad_token_is_a_clear_error(github):
    _, url = github("success")
    proc = run_script(url, token="wrong")

    assert proc.returncode == 2
    assert "401" in proc.stdout and "GITHUB_TOKEN" in proc.stdout


def test_run_that_never_completes_times_out_non_zero(github):
    fake, url = github("never")
    proc = run_script(url, "--timeout", "0.6")

    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert "TIMEOUT" in proc.stdout and "9001" in proc.stdout
    assert fake.run_polls >= 2
    assert not any(r["path"].endswith("/cancel") for r in fake.requests)


def test_timeout_can_cancel_the_run(github):
    fake, url = github("never")
    proc = run_script(url, "--timeout", "0.4", "--cancel-on-timeout")

    assert proc.returncode == 3
    assert any(r["method"] == "POST" and r["path"] == f"/repos/{REPO}/actions/runs/9001/cancel" for r in fake.requests)


def test_unknown_workflow_gives_a_clear_error(github):
    fake, url = github("success", workflows=("other.yml",))
    proc = run_script(url)

    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "workflow 'ci.yml' not found in alumusic/insights" in proc.stdout
    assert "404" in proc.stdout
    assert "Traceback" not in proc.stdout + proc.stderr
    assert not fake.dispatches


def test_missing_token_is_refused_before_any_request(github):
    fake, url = github("success")
    proc = run_script(url, token="")

    assert proc.returncode == 2
    assert "GITHUB_TOKEN is not set" in proc.stderr
    assert not fake.requests


def test_unreachable_api_fails_without_a_traceback(tmp_path):
    # Port 9 on loopback (discard) has no listener here; the script retries, then explains.
    env = dict(os.environ, GITHUB_TOKEN=TOKEN, GITHUB_API_URL="http://127.0.0.1:9")
    code = (
        "import sys, runpy, time; time.sleep = lambda s: None; sys.argv = ['dispatch_workflow.py', '--repo', "
        f"'{REPO}']; runpy.run_path({str(SCRIPT)!r}, run_name='__main__')"
    )
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)

    assert proc.returncode == 2
    assert "cannot reach the GitHub API" in proc.stdout
    assert "Traceback" not in proc.stderr
