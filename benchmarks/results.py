"""benchmarks/RESULTS.md: each benchmark script rewrites only its own "## ..." section."""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

RESULTS_FILE = Path(__file__).resolve().parent / "RESULTS.md"
HEADER = (
    "# Benchmarks\n\nNumbers measured on real processes by the scripts in `benchmarks/` "
    "(`make bench`). Each section is rewritten by its own script.\n\n"
)


def write_section(title: str, section: str, results_file: Path = RESULTS_FILE) -> None:
    """Replace (or append) the section headed `title`, leaving every other section as it is (atomic write)."""
    results_file.parent.mkdir(parents=True, exist_ok=True)
    text = results_file.read_text(encoding="utf-8") if results_file.exists() else HEADER
    pattern = re.compile(rf"^{re.escape(title)}\s*$.*?(?=^## |\Z)", re.S | re.M)
    if pattern.search(text):
        text = pattern.sub(lambda _m: section + "\n", text, count=1)
    else:
        text = text.rstrip("\n") + "\n\n" + section
    tmp = results_file.with_suffix(".md.tmp")
    tmp.write_text(text.rstrip("\n") + "\n", encoding="utf-8")
    os.replace(tmp, results_file)


def machine_facts(root: Path) -> dict[str, str]:
    """What every benchmark reports about the machine: cores, CPU model, RAM, kernel, Python, commit."""
    import contextlib
    import platform
    import subprocess

    cpu = ram = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    with contextlib.suppress(OSError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                ram = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
                break
    commit = "unknown"
    with contextlib.suppress(Exception):

        def git(*args: str) -> str:
            return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, timeout=5).stdout.strip()

        commit = git("rev-parse", "--short", "HEAD") or "unknown"
        if git("status", "--porcelain", "app"):
            commit += " + uncommitted changes in app/"
    return {
        "nproc": str(os.cpu_count()),
        "cpu": cpu,
        "ram": ram,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "commit": commit,
    }


@contextmanager
def scratch_redis(url: str) -> Iterator[None]:
    """The Redis database a benchmark's servers fill (Celery queues: every ingest queues second opinions that no
    worker of the benchmark consumes; caches): emptied afterwards when it was empty before. A database that already
    held keys may be someone else's: it is left as it is, with a note on stderr."""
    if not url:
        yield
        return
    import redis

    client = redis.Redis.from_url(url, socket_connect_timeout=5)
    was_empty = client.dbsize() == 0
    if not was_empty:
        print(f"note: {url} already holds keys; the benchmark's keys are left in it afterwards", file=sys.stderr)
    try:
        yield
    finally:
        if was_empty:
            client.flushdb()
        client.close()
