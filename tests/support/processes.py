"""Real Celery worker and Beat processes for integration tests: started in their own session, logs to a file,
stopped (or SIGKILLed, to test crash recovery) as a whole process group."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


@dataclass
class Process:
    name: str
    argv: list[str]
    env: dict[str, str]
    log: Path
    popen: subprocess.Popen | None = field(default=None, repr=False)

    def start(self) -> Process:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as out:
            self.popen = subprocess.Popen(
                self.argv, cwd=ROOT, env=self.env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True,
            )  # fmt: skip
        return self

    @property
    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def text(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace") if self.log.exists() else ""

    def wait_for_log(self, pattern: str, timeout: float = 60.0) -> None:
        regex = re.compile(pattern)
        wait_until(lambda: bool(regex.search(self.text())), timeout, f"{self.name} log line {pattern!r}", self)

    def kill(self) -> None:
        """SIGKILL the whole group at once (the worker's main process and its pool children): a crash."""
        if self.popen is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.popen.pid, signal.SIGKILL)
        self.popen.wait(10)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20.0) -> None:
        if self.popen is None:
            return
        if self.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, sig)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.popen.wait(timeout)
        self.kill()


def wait_until(check: Callable[[], bool], timeout: float, what: str, proc: Process | None = None) -> None:
    """Poll check() until it holds; fail with the process log tail when it does not in time (or the process died)."""
    deadline = time.monotonic() + timeout
    while not check():
        if proc is not None and not proc.alive:
            raise AssertionError(f"{proc.name} exited while waiting for {what}:\n{proc.text()[-3000:]}")
        if time.monotonic() >= deadline:
            tail = f"\n{proc.name} log:\n{proc.text()[-3000:]}" if proc else ""
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}{tail}")
        time.sleep(0.05)


def app_env(**settings: str) -> dict[str, str]:
    """The environment of an app process: the caller's PATH and locale, settings given explicitly, nothing else."""
    keep = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "OMP_WAIT_POLICY")}
    return {**keep, "PYTHONUNBUFFERED": "1", "APP_ENV": "testing", "LOG_LEVEL": "INFO", **settings}


def memory_kb(pid: int) -> dict[str, int]:
    """kB per field of /proc/<pid>/smaps_rollup (Rss, Pss, Shared_Dirty, Private_Dirty...)."""
    fields = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]:
        name, value = line.split(":", 1)
        fields[name] = int(value.split()[0])
    return fields


def children(pid: int) -> list[int]:
    return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def celery_worker(
    env: dict[str, str], log: Path, queues: str = "default,imports", name: str = "worker", concurrency: int = 1
) -> Process:
    argv = [str(BIN / "celery"), "-A", "make_celery", "worker", "-Q", queues, f"--concurrency={concurrency}",
            f"--hostname={name}-{os.getpid()}@%h", "--loglevel=INFO", "--without-gossip",
            "--without-mingle"]  # fmt: skip
    return Process(name, argv, env, log)


def celery_beat(env: dict[str, str], log: Path, schedule: Path) -> Process:
    argv = [str(BIN / "celery"), "-A", "make_celery", "beat", f"--schedule={schedule}", "--loglevel=INFO"]
    return Process("beat", argv, env, log)
