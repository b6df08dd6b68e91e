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


TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU of these processes so far (the ones that already exited count as 0)."""
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / TICK
        except (OSError, IndexError, ValueError):
            pass
    return total


def pg_backends(db_name: str) -> list[int]:
    """Server processes connected to this database (their CPU is PostgreSQL's share of the work)."""
    pids = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if cmdline.read_bytes().startswith(b"postgres:") and f" {db_name} ".encode() in cmdline.read_bytes():
                pids.append(int(cmdline.parent.name))
        except (OSError, ValueError):
            pass
    return pids


def machine_busy() -> tuple[int, int]:
    """(busy, total) jiffies of all cores since boot, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return sum(values) - values[3] - values[4], sum(values)


class CpuMeter:
    """CPU seconds of the web workers, the PostgreSQL backends of the database, a worker process and this client
    over one phase, and how busy the whole machine was (other people's jobs included). A group may be a function
    returning its pids: asked again at the end, so processes started during the phase (a worker's first database
    connection) count from zero."""

    def __init__(self, groups: dict):
        self.groups = groups
        self.start = {k: {p: cpu_seconds([p]) for p in self._pids(k)} for k in groups}
        self.client = time.process_time()
        self.busy = machine_busy()

    def _pids(self, name: str) -> list[int]:
        pids = self.groups[name]
        return pids() if callable(pids) else pids

    def stop(self) -> dict[str, float]:
        out = {}
        for name in self.groups:
            out[name] = sum(cpu_seconds([p]) - self.start[name].get(p, 0.0) for p in self._pids(name))
        out["client"] = time.process_time() - self.client
        busy = machine_busy()
        out["machine_cores_busy"] = (os.cpu_count() or 1) * (busy[0] - self.busy[0]) / max(1, busy[1] - self.busy[1])
        return out


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


# What the client reads per call: 64 KiB, like curl's buffer. With 1 MiB reads `requests` itself held the
# stream back (~20% slower over the same server, measured), so the client measured itself instead of the export.
CLIENT_READ = 64 * 1024


def bench_export(base: str, headers: dict[str, str], workers: list[int], expected: int, db_name: str) -> dict:
    sampler = Sampler(workers)
    sampler.start()
    meter = CpuMeter({"web": workers, "postgres": lambda: pg_backends(db_name)})
    size = 0
    with tempfile.TemporaryFile() as sink:
        start = time.perf_counter()
        with requests.get(f"{base}/api/comentarios/export", headers=headers, stream=True, timeout=600) as resp:
            resp.raise_for_status()
            first = None
            for chunk in resp.iter_content(chunk_size=CLIENT_READ):
                if first is None:
                    first = time.perf_counter() - start
                size += len(chunk)
                sink.write(chunk)
        elapsed = time.perf_counter() - start
        cpu = meter.stop()
        sampler.done.set()
        sampler.join()
        sink.seek(0)
        rows = sum(1 for _ in csv.reader(io.TextIOWrapper(sink, encoding="utf-8", newline=""))) - 1
    assert rows == expected, f"export has {rows} rows, the database {expected}"
    return {"rows": rows, "seconds": elapsed, "rows_s": rows / elapsed, "ttfb_ms": first * 1000,
            "mb": size / 1e6, "rss_mb": sampler.growth_mb(), "cpu": cpu}  # fmt: skip


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


def bench_import(base: str, headers: dict[str, str], rows: int, groups: dict[str, list[int]]) -> dict:
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
    meter = CpuMeter(groups)
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
    cpu = meter.stop()
    assert job["status"] == "concluida" and job["contagens"]["criados"] == rows, job
    started = datetime.fromisoformat(job["iniciado_em"].replace("Z", "+00:00"))
    finished = datetime.fromisoformat(job["concluido_em"].replace("Z", "+00:00"))
    worker_s = (finished - started).total_seconds()
    return {"rows": rows, "mb": len(body) / 1e6, "seconds": elapsed, "rows_s": rows / elapsed,
            "worker_s": worker_s, "worker_rows_s": rows / worker_s, "cpu": cpu}  # fmt: skip


def _cpu_line(cpu: dict[str, float], rows: int, unit: str) -> str:
    parts = [f"{name} {sec:.2f} s ({sec / rows * 1e6:.{2 if sec / rows < 1e-5 else 0}f} µs/{unit})"
             for name, sec in cpu.items() if name != "machine_cores_busy"]  # fmt: skip
    return ", ".join(parts) + f"; whole machine {cpu['machine_cores_busy']:.2f} of 2 cores busy"


def report(facts: dict, ctx: dict, exp: dict, lst: dict, imp: dict, clustered: dict | None = None) -> str:
    def ok(good: bool) -> str:
        return "yes" if good else "**no**"

    t = TARGETS
    ecpu, icpu = exp["cpu"], imp["cpu"]
    busy_export = sum(v for k, v in ecpu.items() if k != "machine_cores_busy")
    lines = [
        SECTION_TITLE,
        "",
        f"Machine: {facts['nproc']} cores ({facts['cpu']}), {facts['ram']} RAM, kernel {facts['kernel']}, Python "
        f"{facts['python']}, commit {facts['commit']}; measured {ctx['when']} (load average {ctx['load']} before, "
        f"{ctx['load_after']} after: other engineers' tests and benchmarks shared the 2 cores).",
        f"Method: `make bench-export-import` ({Path(__file__).name}): {ctx['rows']:,} comments over 30 days made by "
        "`benchmarks/dataset.py` in PostgreSQL 15 (a copy of the shared dataset, migrated to head), gunicorn "
        "(`gunicorn.conf.py`, 2 sync workers, APP_ENV=production) and one Celery worker (`-Q imports "
        "--concurrency=1`) on 127.0.0.1; the client is this separate process (Python requests, 64 KiB reads). CPU "
        "seconds per process group are read from /proc over each phase: unlike rates, they do not depend on what "
        "else the machine was running.",
        "",
        "| what | measured | target | met |",
        "| --- | --- | --- | --- |",
        f"| CSV export of all {exp['rows']:,} rows ({exp['mb']:.0f} MB) | **{exp['rows_s']:,.0f} rows/s** "
        f"({exp['seconds']:.1f} s) | >= {t['export_rows_s']:,} | {ok(exp['rows_s'] >= t['export_rows_s'])} |",
    ]
    if clustered:
        lines.append(
            f"| same export, table stored in `classified_at` order (CLUSTER; how a table filled by ingest over time "
            f"lies) | **{clustered['rows_s']:,.0f} rows/s** ({clustered['seconds']:.1f} s, first byte "
            f"{clustered['ttfb_ms']:.0f} ms) | >= {t['export_rows_s']:,} | "
            f"{ok(clustered['rows_s'] >= t['export_rows_s'])} |"
        )
    lines += [
        f"| export, time to first byte | {exp['ttfb_ms']:.0f} ms | < {t['export_ttfb_ms']} ms | "
        f"{ok(exp['ttfb_ms'] < t['export_ttfb_ms'])} |",
        f"| export, peak RSS growth of a gunicorn worker | {exp['rss_mb']:.1f} MB | < {t['export_rss_mb']} MB | "
        f"{ok(exp['rss_mb'] < t['export_rss_mb'])} |",
        f"| listing `categoria`+`tag`+{lst['range']}, pages 1-5 of 50 ({lst['n']} sequential; totals "
        f"{lst['total_min']}-{lst['total_max']}) | p50 {lst['p50']:.1f} ms, **p95 {lst['p95']:.1f} ms**, p99 "
        f"{lst['p99']:.1f} ms | p95 < {t['list_p95_ms']} ms | {ok(lst['p95'] < t['list_p95_ms'])} |",
        f"| bulk import of {imp['rows']:,} new comments (CSV, {imp['mb']:.1f} MB), POST to `concluida` | "
        f"**{imp['rows_s']:,.0f} comments/s** ({imp['seconds']:.1f} s; worker alone {imp['worker_rows_s']:,.0f}/s) "
        f"| >= {t['import_rows_s']:,} | {ok(imp['rows_s'] >= t['import_rows_s'])} |",
        "",
        f"CPU during the export: {_cpu_line(ecpu, exp['rows'], 'row')}. The export's own processes needed "
        f"{busy_export:.1f} CPU-seconds for {exp['rows']:,} rows: on two cores of their own that is "
        f"≥ {exp['rows'] / max(ecpu['postgres'], busy_export / 2):,.0f} rows/s (bounded by the busiest process, "
        "the PostgreSQL backend that runs the COPY).",
    ]
    if clustered:
        lines.append(f"CPU during the clustered export: {_cpu_line(clustered['cpu'], clustered['rows'], 'row')}.")
    lines += [
        f"CPU during the import: {_cpu_line(icpu, imp['rows'], 'comment')}. On two cores of its own the worker "
        f"(one Python process: classification ~100 µs/comment plus validation and COPY) would bound it near "
        f"{imp['rows'] / icpu['worker']:,.0f} comments/s, PostgreSQL running alongside on the other core.",
        "",
        "Where the export's time went and what changed (PostgreSQL backend CPU for `COPY (...) TO '/dev/null'` of "
        "all 1M rows, best of 2-3, one backend): plain columns in physical order 0.93 s; the same in "
        "`classified_at` order 2.42 s (the dataset writes rows in random order, correlation 0.0002, so the index "
        "scan fetches heap pages at random: 573k buffer reads with shared_buffers = 128 MB; clustered 0.96 s); "
        "the old cell formatting added 2.3 s on top: `date_part`/CASE/two `to_char` per timestamp (+0.8 s), "
        "`round(x::numeric, 4)::float` (+0.6 s), `left(x, 1) IN (...)` per neutralised cell (+0.15 s each). Now: "
        "one `to_char` per timestamp in a UTC transaction (+0.4 s for both), the confidence rounded as "
        "`round(x * 10000) / 10000` in float arithmetic (+0.04 s; `csv_row` rounds the same way, so both paths "
        "print the same digits), `ascii(x) IN (...)` for the formula test (+0.05 s): 3.7 s instead of 4.7 s "
        "serial. PostgreSQL also planned a parallel index scan with Gather Merge for the whole table: 6.9 s of "
        "CPU across three processes on a 2-core machine that also runs gunicorn and the client; the export now "
        "runs serially (`max_parallel_workers_per_gather = 0` for its transaction). Through gunicorn with curl as "
        "the client, same data, same loaded machine (load average 4-7): 54k rows/s before these changes, 128k-210k "
        "after, depending on what else ran. The gunicorn worker needs ~0.7 s of CPU per million rows (psycopg "
        "hands over one row per call; chunks of 128 KiB are written). Every phase here ran with the machine's "
        "2 cores fully busy and this script under `nice -n 10`: the wall-clock rates measure the share of the "
        "CPU the benchmark got (the clustered export used a third less PostgreSQL CPU than the first one and "
        "still took longer); the CPU lines are the comparable numbers. Two things seen on the way: a download "
        "longer than GUNICORN_TIMEOUT (60 s) used to be cut off mid-stream, since a sync worker only reports to "
        "the arbiter between requests (a 1M export on a busy machine or any export to a slow client); the stream "
        "now reports while it moves (tested with a 2 s timeout). And an index-order export wades through the "
        "dead index entries of large rolled-back or deleted batches until (auto)vacuum removes them: on a copy "
        "with ~100k such rows the export stalled for seconds at one spot until a VACUUM.",
        "",
        "Import: the worker classifies the next chunk in a helper thread while the current one is written "
        "(PostgreSQL runs on the other core meanwhile); rows without an id get one derived from (job, line), and "
        "a chunk that starts at the job's committed restart point cannot have any of them stored, so they are not "
        "looked up (ids given by the file still are; the primary key catches a wrong guess and the chunk is "
        "retried with a lookup); no wire JSON is built for imported rows. Inserting into `comments` cost ~135 µs of "
        "PostgreSQL CPU per row at 1M rows with two trigram GIN indexes on the text, ~80 µs with the folded-text "
        "one only, ~29 µs with neither (10,000-row INSERT ... SELECT, rolled back): migration 0008 drops the one "
        "no query reads (raw text: searches use the accent-folded index since 0004) and a redundant one-column "
        "`classified_at` index. The remaining GIN index is the panel's text search. In the worker, a py-spy "
        "profile puts ~70% of the Python time in classification (another engineer's code; ~8% of it building "
        "the result objects) and the rest in validation and COPY.",
    ]
    return "\n".join(lines)


def prepare(env: dict[str, str], db_url: str, password: str) -> int:
    """Migrate, add the benchmark users, VACUUM ANALYZE; returns the number of comments."""
    flask(env, "db", "upgrade")
    for role in ("leitor", "ingestao"):
        flask(env, "users", "create", f"bench_{role}_{password[:6]}", "--role", role, "--password", password,
              check=False)  # fmt: skip
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE comments")  # as autovacuum would have by now: visibility map, statistics
        return conn.execute("SELECT count(*) FROM comments").fetchone()[0]


def run_stack(env: dict[str, str], password: str, phases) -> dict:
    """gunicorn (2 sync workers) + one Celery worker on the `imports` queue on 127.0.0.1; `phases(stack)` runs the
    measurements against them; both are stopped afterwards whatever happens."""
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

        stack = {"base": base, "reader": token("leitor"), "ingest": token("ingestao"), "web": children(web.pid),
                 "worker": [worker.pid, *children(worker.pid)]}  # fmt: skip
        return phases(stack)
    finally:
        for proc in (web, worker):
            os.killpg(proc.pid, signal.SIGTERM)
        for proc in (web, worker):
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)


def clustered_copy(args, source_url: str, name: str) -> str:
    """A copy of the dataset whose comments are stored in `classified_at` order (CLUSTER), as a table filled by
    ingest over time is; created once and reused."""
    url = source_url.rsplit("/", 1)[0] + "/" + name
    with psycopg.connect(args.pg, autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone() is None:
            log(f"creating {name}: a copy of {args.db} clustered by classified_at")
            conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{args.db}"')
            with psycopg.connect(url, autocommit=True) as copy:
                copy.execute("CLUSTER comments USING ix_comments_classified_at_id")
                copy.execute("ANALYZE comments")
    return url


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--db", default="alumusic_bench_export", help="dataset database (created when missing)")
    ap.add_argument("--pg", default=os.environ.get("BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres"))
    ap.add_argument("--redis", default=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/11"))
    ap.add_argument("--model-dir", default=os.environ.get("ALUMUSIC_TEST_MODEL_DIR", ""))
    ap.add_argument("--listings", type=int, default=200)
    ap.add_argument("--import-rows", type=int, default=60_000)
    ap.add_argument(
        "--clustered-db",
        default="",
        help="also export from this copy of --db clustered by classified_at (created when missing; '' = skip)",
    )
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
    flask(env, "model", "ensure")
    expected = prepare(env, db_url, password)
    load = Path("/proc/loadavg").read_text().split()[0]
    db_name = db_url.rsplit("/", 1)[1]

    def phases(stack: dict) -> dict:
        base, reader, ingest = stack["base"], stack["reader"], stack["ingest"]
        log("export")
        exp = bench_export(base, reader, stack["web"], expected, db_name)
        log(f"export: {exp}")
        log("listing")
        lst = bench_listing(base, reader, db_url, args.listings)
        log(f"listing: {lst}")
        log("import")
        groups = {"worker": stack["worker"], "postgres": lambda: pg_backends(db_name)}
        imp = bench_import(base, ingest, args.import_rows, groups)
        log(f"import: {imp}")
        return {"exp": exp, "lst": lst, "imp": imp}

    with results.scratch_redis(args.redis):
        measured = run_stack(env, password, phases)
        clustered = None
        if args.clustered_db:
            url = clustered_copy(args, db_url, args.clustered_db)
            env_c = {**env, "DATABASE_URL": url}
            rows_c = prepare(env_c, url, password)
            log(f"export from {args.clustered_db}")
            clustered = run_stack(
                env_c,
                password,
                lambda st: bench_export(st["base"], st["reader"], st["web"], rows_c, args.clustered_db),
            )
            log(f"export (clustered): {clustered}")

    ctx = {"rows": expected, "when": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"), "load": load,
           "load_after": Path("/proc/loadavg").read_text().split()[0]}  # fmt: skip
    section = report(results.machine_facts(ROOT), ctx, measured["exp"], measured["lst"], measured["imp"], clustered)
    print(section)
    if not args.no_write:
        results.write_section(SECTION_TITLE, section)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
