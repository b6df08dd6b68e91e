"""Real Celery worker and Beat processes for integration tests (the same entry point as compose: make_celery).

Each runs in its own session with a log file; `stop()` ends the whole process group it started (and only it).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


class CeleryProcess:
    def __init__(self, name: str, args: list[str], env: dict[str, str], log: Path) -> None:
        self.name, self.args, self.env, self.log = name, args, env, log
        self.popen: subprocess.Popen | None = None

    def start(self) -> CeleryProcess:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as out:
            self.popen = subprocess.Popen(
                [sys.executable, "-m", "celery", "-A", "make_celery", *self.args],
                cwd=ROOT, env=self.env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True,
            )  # fmt: skip
        return self

    def text(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace") if self.log.exists() else ""

    def stop(self, timeout: float = 20.0) -> None:
        if self.popen is None:
            return
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.popen.wait(timeout)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.popen.pid, signal.SIGKILL)  # pool children left behind
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(5)


def worker(env: dict[str, str], log: Path, queues: str = "emails") -> CeleryProcess:
    return CeleryProcess(
        "worker", ["worker", "-Q", queues, "--concurrency=1", f"--hostname=test-{os.getpid()}@%h", "--loglevel=INFO"],
        env, log,
    ).start()  # fmt: skip


def beat(env: dict[str, str], log: Path, schedule_file: Path) -> CeleryProcess:
    return CeleryProcess("beat", ["beat", f"--schedule={schedule_file}", "--loglevel=INFO"], env, log).start()


def wait_until(what: str, check: Callable[[], bool], timeout: float, *procs: CeleryProcess, interval: float = 0.25):
    """Poll `check` until it holds or `timeout` passes; on timeout, fail with the processes' last log lines."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        for proc in procs:
            if proc.popen is not None and proc.popen.poll() is not None:
                break
        time.sleep(interval)
    tails = "\n".join(f"--- {p.name} ---\n" + "\n".join(p.text().splitlines()[-30:]) for p in procs)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}\n{tails}")
