#!/usr/bin/env python
"""HTTP ingest benchmark: real gunicorn + a throwaway PostgreSQL database, measured through HTTP.

    .venv/bin/python benchmarks/bench_ingest.py            # or: make bench

What it does (see benchmarks/README.md for what each number means):

1. creates a throwaway database on the local PostgreSQL server (dropped at the end, also on failure or Ctrl-C),
   migrates it (`flask db upgrade`), trains the model into a temporary MODEL_DIR (`flask model ensure`),
   creates an `ingestao` and a `leitor` user;
2. measures the raw classifier alone, in a subprocess pinned to one core (the baseline);
3. starts `gunicorn -c gunicorn.conf.py wsgi:app` on 127.0.0.1:<free port> with APP_ENV=production and random
   secrets, WEB_CONCURRENCY=2, OMP_NUM_THREADS=1, and waits for /health;
4. through HTTP only (127.0.0.1, bounded in count and time): batches of 1,000 and of 100 posted by concurrent
   clients for a fixed duration, 500 sequential single-comment POSTs, a filtered GET listing;
5. checks that the database holds exactly the comments the server acknowledged;
6. times each stage of one ingest in-process (JWT/user lookup, JSON, validation, classification, DB, response)
   on the same database, so the HTTP numbers can be explained;
7. prints a Markdown report and rewrites the "## HTTP ingest" section of benchmarks/RESULTS.md (other sections
   of that file are left untouched).

Traffic only ever goes to 127.0.0.1; every phase is bounded by a duration and a request count.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import os
import random
import re
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import psycopg
import requests

ROOT = Path(__file__).resolve().parent.parent
RESULTS_FILE = ROOT / "benchmarks" / "RESULTS.md"

import results  # noqa: E402  - benchmarks/results.py (scripts run with benchmarks/ on sys.path)

SECTION_TITLE = "## HTTP ingest"
DEFAULT_ADMIN_PG = "postgresql://postgres@127.0.0.1:5432/postgres"

# Targets from the issue.
TARGET_BATCH_RATE = 3000.0  # comments/s with batches of 1,000 on the 2-core reference machine
TARGET_SINGLE_P50_MS = 20.0

TARGETS = ("musica", "album", "clipe", "show", "artista", "plataforma")
ARTISTS = (
    "Luana Reis",
    "Kaio Vulcão",
    "Luana Brisa",
    "MC Trovão",
    "Banda Maré Alta",
    "Duda Sertã",
    "Os Caiçaras",
    "Rafa Neblina",
    "Tom Aurora",
    "Bia Cometa",
    "Grupo Raiz Forte",
    "DJ Pulsar",
    "Nanda Lua",
    "Zeca Vento",
    "Trio Farol",
    "Lia Trovoada",
    "Coletivo Asfalto",
    "Marina Sol",
    "Vitor Cinza",
    "Os Pássaros",
)
ALBUMS = ("Ao Vivo", "Primeira Luz", "Deluxe", "Acústico", "Volume 2", "Noites", "Raízes")
CLK_TCK = os.sysconf("SC_CLK_TCK")


# ----------------------------------------------------------------------------------------------------------------
# Small helpers
# ----------------------------------------------------------------------------------------------------------------


def log(msg: str) -> None:
    print(f"[bench_ingest {datetime.now().strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def pct(values: list[float], p: float) -> float:
    """Percentile with linear interpolation (p in 0..100); NaN for no values."""
    if not values:
        return float("nan")
    xs = sorted(values)
    if len(xs) == 1:
        return xs[0]
    k = (len(xs) - 1) * p / 100.0
    lo = int(k)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def plain_pg(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


def with_db(url: str, name: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(plain_pg(url)).set(database=name).render_as_string(hide_password=False)


def command_env(db_url: str, model_dir: str) -> dict[str, str]:
    """The environment of the flask commands and gunicorn: this process's, minus its database/broker settings, plus
    the throwaway database, the model, one thread per BLAS pool, code from ROOT and random production secrets."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DATABASE_URL", "REDIS_URL", "CELERY_", "APP_ENV", "PROMETHEUS_"))
    }
    env.update(
        {
            "FLASK_APP": "wsgi",
            "DATABASE_URL": db_url,
            "MODEL_DIR": model_dir,
            "OMP_NUM_THREADS": "1",
            "OMP_WAIT_POLICY": "PASSIVE",
            "OPENBLAS_NUM_THREADS": "1",
            "MKL_NUM_THREADS": "1",
            "LOG_LEVEL": "WARNING",
            "PYTHONPATH": str(ROOT),
            # A PostgreSQL URL means production (issue 6): the CLI steps need strong secrets too.
            "SECRET_KEY": secrets.token_urlsafe(48),
            "JWT_SECRET_KEY": secrets.token_urlsafe(48),
            "ADMIN_PASSWORD": secrets.token_urlsafe(24),
        }
    )
    return env


def run(cmd: list[str], env: dict[str, str], timeout: float, what: str) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"{what} failed ({proc.returncode}):\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}")
    return proc


def fmt(x: float, digits: int = 0) -> str:
    if x != x:  # NaN
        return "n/a"
    return f"{x:,.{digits}f}"


# ----------------------------------------------------------------------------------------------------------------
# Machine description and CPU accounting (from /proc: no extra dependency)
# ----------------------------------------------------------------------------------------------------------------


def machine_info(pg_admin_url: str) -> dict[str, str]:
    try:
        with psycopg.connect(plain_pg(pg_admin_url), connect_timeout=3) as conn:
            pg = conn.execute("SHOW server_version").fetchone()[0]
    except psycopg.Error:
        pg = "unknown"
    try:
        import gunicorn

        gv = gunicorn.__version__
    except ImportError:  # pragma: no cover
        gv = "unknown"
    return {**results.machine_facts(ROOT), "postgresql": pg, "gunicorn": gv}


def _proc_cpu(pid: int, reaped_children: bool = False) -> float:
    """utime + stime of one process, in seconds (0 when it is gone); with `reaped_children`, plus the CPU of every
    child it has waited for (gunicorn's master reaps its recycled workers)."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = raw[raw.rindex(")") + 2 :].split()
    used = int(fields[11]) + int(fields[12])
    if reaped_children:
        used += int(fields[13]) + int(fields[14])
    return used / CLK_TCK


def _proc_ppid(pid: int) -> int | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(raw[raw.rindex(")") + 2 :].split()[1])


def _all_pids() -> list[int]:
    return [int(p) for p in os.listdir("/proc") if p.isdigit()]


def _system_busy() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot."""
    parts = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    vals = [int(x) for x in parts[:8]]
    user, nice, system, idle, iowait, irq, softirq, steal = vals
    busy = user + nice + system + irq + softirq + steal
    return busy / CLK_TCK, (busy + idle + iowait) / CLK_TCK


@dataclass
class CpuSnapshot:
    wall: float
    busy: float
    web: float  # gunicorn master + workers (cumulative, incl. recycled workers)
    pg: float  # PostgreSQL backends connected to the throwaway database
    client: float  # this process (the load generator)


class CpuMeter:
    """Attributes machine CPU to the gunicorn tree, our PostgreSQL backends, this client and everything else."""

    def __init__(self, master_pid: int, db_name: str, sample_every: float = 0.5) -> None:
        self.master_pid = master_pid
        self.db_name = db_name
        # PostgreSQL backend pid -> last CPU seen. A worker that recycles closes its connections, and a backend gone
        # between two snapshots would take its CPU with it: a thread keeps this current, so at most `sample_every`
        # seconds of a backend's CPU go uncounted.
        self._seen: dict[tuple[int, str], float] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._sampler = threading.Thread(target=self._sample, args=(sample_every,), daemon=True)
        self._sampler.start()

    def close(self) -> None:
        self._stop.set()
        self._sampler.join(timeout=5)

    def _sample(self, every: float) -> None:
        while not self._stop.wait(every):
            self._refresh_pg()

    def _refresh_pg(self) -> None:
        for p in self._pg_pids():
            try:
                fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue
            key = (p, fields[19])  # pid and start time: a reused pid is another backend
            with self._lock:
                self._seen[key] = (int(fields[11]) + int(fields[12])) / CLK_TCK

    def _web_cpu(self) -> float:
        """The gunicorn tree: the master with every worker it reaped (recycled ones included), plus live workers."""
        workers = [p for p in _all_pids() if _proc_ppid(p) == self.master_pid]
        return _proc_cpu(self.master_pid, reaped_children=True) + sum(_proc_cpu(p) for p in workers)

    def _pg_pids(self) -> list[int]:
        out = []
        for p in _all_pids():
            try:
                cmd = Path(f"/proc/{p}/cmdline").read_bytes()
            except OSError:
                continue
            if cmd.startswith(b"postgres:") and self.db_name.encode() in cmd:
                out.append(p)
        return out

    def snapshot(self) -> CpuSnapshot:
        self._refresh_pg()
        with self._lock:
            pg = sum(self._seen.values())
        busy, _ = _system_busy()
        t = os.times()
        return CpuSnapshot(wall=time.perf_counter(), busy=busy, web=self._web_cpu(), pg=pg, client=t.user + t.system)

    @staticmethod
    def diff(a: CpuSnapshot, b: CpuSnapshot) -> dict[str, float]:
        """Average cores used during the interval, per consumer."""
        wall = max(b.wall - a.wall, 1e-9)
        web, pg, client, busy = b.web - a.web, b.pg - a.pg, b.client - a.client, b.busy - a.busy
        return {
            "web": web / wall,
            "pg": pg / wall,
            "client": client / wall,
            "other": max(0.0, busy - web - pg - client) / wall,
            "busy": busy / wall,
        }


def wait_quiet(meter: CpuMeter | None, limit: float, threshold: float = 0.3) -> float:
    """Wait (at most `limit` s) until processes outside the benchmark use < `threshold` cores; returns that load."""
    deadline = time.monotonic() + limit
    while True:
        before = meter.snapshot() if meter else None
        b0 = _system_busy()[0]
        c0 = sum(os.times()[:2])
        time.sleep(2.0)
        if meter and before:
            other = CpuMeter.diff(before, meter.snapshot())["other"]
        else:
            other = max(0.0, (_system_busy()[0] - b0) - (sum(os.times()[:2]) - c0)) / 2.0
        if other < threshold or time.monotonic() >= deadline:
            return other
        log(f"  machine busy ({other:.2f} cores used by other processes); waiting for it to calm down")


# ----------------------------------------------------------------------------------------------------------------
# Payloads: realistic, distinct comments built from the training CSVs
# ----------------------------------------------------------------------------------------------------------------


def load_texts() -> list[str]:
    texts = []
    for path in sorted((ROOT / "data" / "train").glob("*.csv")):
        with path.open(encoding="utf-8", newline="") as fh:
            texts.extend(row["texto"].strip() for row in csv.DictReader(fh) if row.get("texto", "").strip())
    if not texts:
        raise RuntimeError("no training texts under data/train/*.csv")
    return texts


class PayloadFactory:
    """Distinct comments: a sampled training text + a unique suffix, a fresh UUID, plausible metadata."""

    def __init__(self, texts: list[str], seed: int, run_tag: str) -> None:
        self.texts = texts
        self.rng = random.Random(seed)
        self.run_tag = run_tag
        self.counter = 0
        self.now = datetime.now(UTC)

    def item(self) -> dict[str, Any]:
        rng = self.rng
        self.counter += 1
        item: dict[str, Any] = {
            "id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "texto": f"{rng.choice(self.texts)} #{self.run_tag}{self.counter}",
        }
        roll = rng.random()
        if roll < 0.7:
            artist = rng.choice(ARTISTS)
            item["artista"] = artist
            if rng.random() < 0.4:
                item["album"] = rng.choice(ALBUMS)
        if rng.random() < 0.8:
            item["alvo"] = rng.choice(TARGETS)
        if rng.random() < 0.9:
            ts = self.now - timedelta(seconds=rng.randrange(7 * 24 * 3600))
            item["publicado_em"] = ts.isoformat().replace("+00:00", "Z")
        return item

    def batch(self, size: int) -> tuple[bytes, list[str]]:
        items = [self.item() for _ in range(size)]
        return orjson.dumps(items), [i["id"] for i in items]


# ----------------------------------------------------------------------------------------------------------------
# Load generation through HTTP
# ----------------------------------------------------------------------------------------------------------------


@dataclass
class PhaseResult:
    name: str
    requests: int = 0
    acknowledged: int = 0  # comments in 2xx responses whose ids matched what we sent
    errors: int = 0
    error_samples: list[str] = field(default_factory=list)
    latencies_ms: list[float] = field(default_factory=list)
    elapsed: float = 0.0
    exhausted: bool = False
    cpu: dict[str, float] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.acknowledged / self.elapsed if self.elapsed else 0.0


class Bench:
    def __init__(self, base_url: str, token: str, reader_token: str) -> None:
        self.base_url = base_url
        self.headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        self.reader_headers = {"Authorization": f"Bearer {reader_token}"}
        self.acknowledged_total = 0
        self._lock = threading.Lock()

    def _check_batch(self, resp: requests.Response, ids: list[str]) -> int:
        if resp.status_code != 201:
            raise ValueError(f"HTTP {resp.status_code}: {resp.text[:300]}")
        body = orjson.loads(resp.content)
        if not isinstance(body, list) or [i.get("id") for i in body] != ids:
            raise ValueError("response ids differ from the ids sent")
        if not all(i.get("categoria") for i in body):
            raise ValueError("an item came back without a category")
        return len(ids)

    def post_batches(
        self, name: str, payloads: list[tuple[bytes, list[str]]], clients: int, duration: float, meter: CpuMeter | None
    ) -> PhaseResult:
        """`clients` threads post batches back to back until `duration` elapses (or the payloads run out)."""
        res = PhaseResult(name)
        idx = iter(range(len(payloads)))
        idx_lock = threading.Lock()
        start = time.perf_counter()
        deadline = start + duration
        ends: list[float] = []

        def worker() -> None:
            session = requests.Session()
            try:
                while time.perf_counter() < deadline:
                    with idx_lock:
                        i = next(idx, None)
                    if i is None:
                        res.exhausted = True
                        break
                    body, ids = payloads[i]
                    t0 = time.perf_counter()
                    try:
                        resp = session.post(
                            self.base_url + "/api/comentarios", data=body, headers=self.headers, timeout=120
                        )
                        dt = (time.perf_counter() - t0) * 1000
                        n = self._check_batch(resp, ids)
                        with self._lock:
                            res.requests += 1
                            res.acknowledged += n
                            res.latencies_ms.append(dt)
                    except Exception as exc:  # counted and reported; the phase goes on
                        with self._lock:
                            res.requests += 1
                            res.errors += 1
                            if len(res.error_samples) < 3:
                                res.error_samples.append(str(exc)[:300])
            finally:
                session.close()
                with self._lock:
                    ends.append(time.perf_counter())

        before = meter.snapshot() if meter else None
        threads = [threading.Thread(target=worker, daemon=True) for _ in range(clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=duration + 180)
        res.elapsed = (max(ends) if ends else time.perf_counter()) - start
        if meter and before:
            res.cpu = CpuMeter.diff(before, meter.snapshot())
        self.acknowledged_total += res.acknowledged
        return res

    def post_singles(
        self, factory: PayloadFactory, count: int, max_seconds: float, meter: CpuMeter | None
    ) -> PhaseResult:
        """`count` sequential POSTs of one object (not a list), one client."""
        res = PhaseResult("single")
        bodies = [factory.item() for _ in range(count)]
        encoded = [(orjson.dumps(b), b["id"]) for b in bodies]
        session = requests.Session()
        before = meter.snapshot() if meter else None
        start = time.perf_counter()
        for body, cid in encoded:
            if time.perf_counter() - start > max_seconds:
                break
            t0 = time.perf_counter()
            try:
                resp = session.post(self.base_url + "/api/comentarios", data=body, headers=self.headers, timeout=30)
                dt = (time.perf_counter() - t0) * 1000
                if resp.status_code != 201:
                    raise ValueError(f"HTTP {resp.status_code}: {resp.text[:300]}")
                if orjson.loads(resp.content).get("id") != cid:
                    raise ValueError("response id differs from the id sent")
                res.acknowledged += 1
                res.latencies_ms.append(dt)
            except Exception as exc:
                res.errors += 1
                if len(res.error_samples) < 3:
                    res.error_samples.append(str(exc)[:300])
            res.requests += 1
        res.elapsed = time.perf_counter() - start
        if meter and before:
            res.cpu = CpuMeter.diff(before, meter.snapshot())
        session.close()
        self.acknowledged_total += res.acknowledged
        return res

    def get_listing(self, count: int, max_seconds: float) -> tuple[PhaseResult, int]:
        res = PhaseResult("listing")
        session = requests.Session()
        url = self.base_url + "/api/comentarios"
        params = {"categoria": "CRÍTICA", "per_page": "50"}
        total = -1
        start = time.perf_counter()
        for _ in range(count):
            if time.perf_counter() - start > max_seconds:
                break
            t0 = time.perf_counter()
            try:
                resp = session.get(url, params=params, headers=self.reader_headers, timeout=30)
                dt = (time.perf_counter() - t0) * 1000
                if resp.status_code != 200:
                    raise ValueError(f"HTTP {resp.status_code}: {resp.text[:300]}")
                body = orjson.loads(resp.content)
                if len(body["items"]) != min(50, body["total"]) or any(
                    i["categoria"] != "CRÍTICA" for i in body["items"]
                ):
                    raise ValueError("listing does not match the filter")
                total = body["total"]
                res.latencies_ms.append(dt)
            except Exception as exc:
                res.errors += 1
                if len(res.error_samples) < 3:
                    res.error_samples.append(str(exc)[:300])
            res.requests += 1
        res.elapsed = time.perf_counter() - start
        session.close()
        return res, total


# ----------------------------------------------------------------------------------------------------------------
# Baseline: the raw classifier, in a subprocess pinned to one core
# ----------------------------------------------------------------------------------------------------------------

BASELINE_CODE = r"""
import json, os, sys, time
os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
from app.classifier.local import LocalClassifier
texts = json.load(open(sys.argv[1], encoding="utf-8"))
from app.classifier import normalize as _norm
clf = LocalClassifier.from_config({"MODEL_DIR": sys.argv[2]})
clf.classify_many(texts[:200])  # warm-up
# normalize() memoises texts; the server sees each (unique) text once, so the baseline must not hit that cache.
clear = getattr(_norm.normalize, "cache_clear", lambda: None)
out = {}
for size in (1000, 100):
    # CPU time of this thread: what one dedicated core would do, even when other jobs share the machine.
    done, busy, wall, t_end = 0, 0.0, 0.0, time.perf_counter() + float(sys.argv[3])
    while time.perf_counter() < t_end:
        for i in range(0, len(texts), size):
            clear()
            t0, c0 = time.perf_counter(), time.thread_time()
            clf.classify_many(texts[i:i + size])
            busy += time.thread_time() - c0
            wall += time.perf_counter() - t0
            done += len(texts[i:i + size])
    out[f"rate_{size}"] = done / busy
    out[f"rate_{size}_wall"] = done / wall
lat = []
for t in texts[:300]:
    clear()
    c0 = time.thread_time(); clf.classify_many([t]); lat.append((time.thread_time() - c0) * 1000)
lat.sort()
out["single_p50_ms"] = lat[len(lat) // 2]
out["tags"] = clf.tag_extractor is not None
print("BASELINE " + json.dumps(out))
"""


def run_baseline(texts: list[str], model_dir: str, env: dict[str, str], tmp: Path, seconds: float) -> dict:
    path = tmp / "baseline_texts.json"
    path.write_bytes(orjson.dumps(texts))
    proc = run([sys.executable, "-c", BASELINE_CODE, str(path), model_dir, str(seconds)], env, 600, "baseline")
    line = next(ln for ln in proc.stdout.splitlines() if ln.startswith("BASELINE "))
    return orjson.loads(line[len("BASELINE ") :])


# ----------------------------------------------------------------------------------------------------------------
# Stage breakdown: one ingest request timed stage by stage, in-process, on the same database
# ----------------------------------------------------------------------------------------------------------------

BREAKDOWN_CODE = r"""
import gc, json, os, sys, time
os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
import orjson
from app import create_app
from app.classifier import get_classifier
from app.extensions import db
from app.schemas.common import parse
from app.schemas.comments import CommentBatch, CommentOne
from app.services import comments
from app.utils.json import dumps

batches = [orjson.loads(b) for b in json.load(open(sys.argv[1], encoding="utf-8"))]
token = sys.argv[2]
app = create_app()
res = {}

def now():
    return time.perf_counter(), time.thread_time()

class Timed:
    # Wraps the classifier to time classify_many inside comments.ingest (wall and CPU).
    def __init__(self, inner):
        self.inner, self.name, self.wall, self.cpu = inner, inner.name, 0.0, 0.0
    def classify_many(self, texts):
        w, c = now(); out = self.inner.classify_many(texts); w2, c2 = now()
        self.wall += w2 - w; self.cpu += c2 - c
        return out

gc_time = [0.0, 0.0]
def _gc_cb(phase, info):
    if phase == "start":
        gc_time[1] = time.perf_counter()
    else:
        gc_time[0] += time.perf_counter() - gc_time[1]
gc.callbacks.append(_gc_cb)

def auth_cost(n=200):
    from flask_jwt_extended import verify_jwt_in_request, get_jwt, current_user
    hdr = {"Authorization": "Bearer " + token}
    w, c = now()
    for _ in range(n):
        with app.test_request_context("/api/comentarios", method="POST", headers=hdr):
            verify_jwt_in_request(); get_jwt(); current_user.role
            db.session.remove()
    w2, c2 = now()
    return {"wall": (w2 - w) / n, "cpu": (c2 - c) / n}

with app.app_context():
    clf = get_classifier()
    clf.classify_many(["aquecimento"])
    res["auth"] = auth_cost()
    for label, group in (("batch", batches[:-1]), ("single", batches[-1])):
        keys = ("json_decode", "validation", "classification", "db", "json_encode")
        wall = dict.fromkeys(keys, 0.0); cpu = dict.fromkeys(keys, 0.0)
        n_items = requests_ = 0
        gc_time[0] = 0.0
        for raw in group:
            body_bytes = orjson.dumps(raw)
            p0 = now(); body = orjson.loads(body_bytes); p1 = now()
            items = parse(CommentBatch, body) if isinstance(body, list) else [parse(CommentOne, body)]
            p2 = now()
            timed = Timed(clf)
            result = comments.ingest(items, classifier=timed)
            p3 = now()
            payload = dumps(result.items if isinstance(body, list) else result.items[0])
            p4 = now()
            db.session.remove()
            spans = (("json_decode", p0, p1), ("validation", p1, p2), ("db", p2, p3), ("json_encode", p3, p4))
            for k, a, b in spans:
                wall[k] += b[0] - a[0]; cpu[k] += b[1] - a[1]
            wall["db"] -= timed.wall; cpu["db"] -= timed.cpu
            wall["classification"] += timed.wall; cpu["classification"] += timed.cpu
            n_items += len(items); requests_ += 1
        res[label] = {"items": n_items, "requests": requests_, "wall": wall, "cpu": cpu, "gc": gc_time[0]}
    # The classifier split on fresh texts (never ingested, memo cache cleared before each step), per comment,
    # for one batch of 1,000 and for one text. CPU time of this thread.
    from app.classifier import normalize as N
    clear = getattr(N.normalize, "cache_clear", lambda: None)
    model = clf._loaded.model
    def split(texts):
        tt = time.thread_time
        clear(); t0 = tt(); N.normalize_many(texts); t1 = tt()
        clear(); t2 = tt(); X = model.featurizer.transform(texts); t3 = tt()
        model.classifier.predict_proba(X); t4 = tt()
        clear(); t5 = tt(); model.predict_proba(texts); t6 = tt()
        clf._tags(texts); t7 = tt()
        clear(); t8 = tt(); clf.classify_many(texts); t9 = tt()
        n = len(texts)
        return {
            "normalise": (t1 - t0) / n * 1e6,
            "features (normalise + tf-idf word/char + rule features)": (t3 - t2) / n * 1e6,
            "calibrated model predict_proba": (t4 - t3) / n * 1e6,
            "spam override rules": max(0.0, (t6 - t5) - (t4 - t2)) / n * 1e6,
            "tags": (t7 - t6) / n * 1e6,
            "classify_many total": (t9 - t8) / n * 1e6,
        }
    fresh = json.load(open(sys.argv[3], encoding="utf-8"))
    res["classifier_split_us"] = split(fresh[:1000])
    singles = [split([t]) for t in fresh[1000:1200]]
    res["classifier_split_single_us"] = {k: sorted(s[k] for s in singles)[len(singles) // 2] for k in singles[0]}
print("BREAKDOWN " + json.dumps(res))
"""


def run_breakdown(factory: PayloadFactory, token: str, env: dict[str, str], tmp: Path) -> tuple[dict, int]:
    """Time the ingest stages in-process (10 batches of 1,000 + 1 group of 200 singles). Returns (result, rows)."""
    batches = [orjson.loads(factory.batch(1000)[0]) for _ in range(10)]
    singles = [factory.item() for _ in range(200)]
    # The last entry is a list of single objects, each ingested as one request with an object body.
    payload = [orjson.dumps(b).decode() for b in batches] + [orjson.dumps(singles).decode()]
    path = tmp / "breakdown.json"
    path.write_bytes(orjson.dumps(payload))
    fresh = tmp / "breakdown_fresh.json"
    fresh.write_bytes(orjson.dumps([factory.item()["texto"] for _ in range(1200)]))
    proc = run([sys.executable, "-c", BREAKDOWN_CODE, str(path), token, str(fresh)], env, 600, "stage breakdown")
    line = next(ln for ln in proc.stdout.splitlines() if ln.startswith("BREAKDOWN "))
    return orjson.loads(line[len("BREAKDOWN ") :]), 10 * 1000 + 200


# ----------------------------------------------------------------------------------------------------------------
# Report
# ----------------------------------------------------------------------------------------------------------------


def status(ok: bool) -> str:
    return "✅ met" if ok else "❌ missed"


def cpu_cost_us(res: PhaseResult) -> dict[str, float]:
    """CPU µs spent per acknowledged comment by the workers, PostgreSQL and the load generator."""
    if not res.cpu or not res.acknowledged:
        return {}
    return {k: res.cpu[k] * res.elapsed / res.acknowledged * 1e6 for k in ("web", "pg", "client")}


def cost_rows(ctx: dict[str, Any]) -> list[str]:
    """Contention-independent rows: CPU per comment, and what that means for dedicated cores."""
    ncpu = int(ctx["machine"]["nproc"])
    rows = []
    for res, raw in ((ctx["a"], ctx["baseline"]["rate_1000"]), (ctx["b"], ctx["baseline"]["rate_100"])):
        cost = cpu_cost_us(res)
        if not cost:
            continue
        total = cost["web"] + cost["pg"] + cost["client"]
        clf_us = 1e6 / raw
        rows.append(
            f"| CPU per comment, {res.name} | gunicorn workers {cost['web']:.0f} µs (raw classifier: {clf_us:.0f} µs "
            f"= {clf_us / cost['web'] * 100:.0f}% of it; HTTP + validation + DB + JSON: the rest) + PostgreSQL "
            f"{cost['pg']:.0f} µs + load generator {cost['client']:.0f} µs → {ncpu} dedicated cores ≈ "
            f"{fmt(ncpu * 1e6 / total)} comments/s (estimate) | — |"
        )
    return rows


def render(ctx: dict[str, Any]) -> str:
    m, a, b, s, g = ctx["machine"], ctx["a"], ctx["b"], ctx["single"], ctx["listing"]
    base = ctx["baseline"]
    lines = [
        SECTION_TITLE,
        "",
        f"_Written by `benchmarks/bench_ingest.py` on {ctx['date']} (duration {ctx['total_seconds']:.0f} s). "
        "Rerun with `make bench`; see `benchmarks/README.md` for the method._",
        "",
        f"**Machine**: {m['nproc']} CPU ({m['cpu']}), {m['ram']} RAM, Linux {m['kernel']}, Python {m['python']}, "
        f"PostgreSQL {m['postgresql']}, gunicorn {m['gunicorn']}; code at {m['commit']}. "
        f"Load average before the run: {ctx['loadavg_before']}.",
        "",
        f"**Method**: real `gunicorn -c gunicorn.conf.py wsgi:app` (sync workers, WEB_CONCURRENCY={ctx['workers']}, "
        "OMP_NUM_THREADS=1, APP_ENV=production, access logs on) on 127.0.0.1, a throwaway PostgreSQL database "
        "(same server, same machine), the local classifier"
        f"{' with tags' if base.get('tags') else ' (tag extractor not present in this build)'}. "
        f"Load generator on the same machine: {ctx['clients']} concurrent clients (threads, `requests`) posting "
        f"pre-built JSON batches back to back for {ctx['duration']:.0f} s per batch size; every comment has a "
        "fresh UUID, a training-set text with a unique suffix, and artist/album/target/date metadata. "
        "A comment counts only when it came back in a 201 with the ids sent. Single: "
        f"{ctx['single_count']} sequential POSTs of one object. Listing: {ctx['listing_count']} sequential "
        "`GET /api/comentarios?categoria=CRÍTICA&per_page=50` after the inserts. Baseline: the raw "
        "`LocalClassifier.classify_many` on the same texts, in-process, pinned to one core.",
        "",
        "| measurement | result | target |",
        "| --- | --- | --- |",
        f"| ingest, batches of 1,000 ({ctx['clients']} clients, {a.elapsed:.1f} s) | **{fmt(a.rate)} comments/s** "
        f"({a.requests} requests, {a.errors} errors; latency p50 {fmt(pct(a.latencies_ms, 50))} ms, "
        f"p95 {fmt(pct(a.latencies_ms, 95))} ms) | ≥ {fmt(TARGET_BATCH_RATE)}/s "
        f"{status(a.rate >= TARGET_BATCH_RATE)} |",
        f"| ingest, batches of 100 ({ctx['clients']} clients, {b.elapsed:.1f} s) | **{fmt(b.rate)} comments/s** "
        f"({b.requests} requests, {b.errors} errors; latency p50 {fmt(pct(b.latencies_ms, 50))} ms, "
        f"p95 {fmt(pct(b.latencies_ms, 95))} ms) | — |",
        f"| single comment round trip ({s.acknowledged} sequential, {s.errors} errors) | **p50 "
        f"{fmt(pct(s.latencies_ms, 50), 1)} ms**, p95 {fmt(pct(s.latencies_ms, 95), 1)} ms, p99 "
        f"{fmt(pct(s.latencies_ms, 99), 1)} ms | p50 < {TARGET_SINGLE_P50_MS:.0f} ms "
        f"{status(pct(s.latencies_ms, 50) < TARGET_SINGLE_P50_MS)} |",
        f"| `GET /api/comentarios?categoria=CRÍTICA&per_page=50` ({len(g.latencies_ms)} requests over "
        f"{fmt(ctx['listing_total'])} matching rows of {fmt(ctx['rows'])}) | **p50 {fmt(pct(g.latencies_ms, 50), 1)} "
        f"ms**, p95 {fmt(pct(g.latencies_ms, 95), 1)} ms | — |",
        f"| baseline: raw classifier alone, per CPU-second of one core, batches of 1,000 / 100 | "
        f"{fmt(base['rate_1000'])} / {fmt(base['rate_100'])} comments/s; one text {fmt(base['single_p50_ms'], 2)} ms "
        "CPU (p50) | — |",
        f"| HTTP ingest ÷ raw classifier on 1 core (batches of 1,000 / 100) | {a.rate / base['rate_1000']:.2f}× / "
        f"{b.rate / base['rate_100']:.2f}× (ideal with {ctx['workers']} workers on {m['nproc']} cores ≈ "
        f"{min(ctx['workers'], int(m['nproc'])):.0f}×) | — |",
        *cost_rows(ctx),
        f"| no loss: rows in `comments` = comments acknowledged | {fmt(ctx['rows'])} = {fmt(ctx['expected_rows'])} "
        f"{'✅' if ctx['rows'] == ctx['expected_rows'] else '❌ MISMATCH'} | equal |",
        "",
        "Where the CPU went during each phase (average cores busy; the machine has "
        f'{m["nproc"]}; "other" is every process outside the benchmark — parallel jobs on a shared machine):',
        "",
        "| phase | gunicorn workers | PostgreSQL (this db) | load generator | other | total |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for res in (a, b, s):
        c = res.cpu
        if c:
            lines.append(
                f"| {res.name} | {c['web']:.2f} | {c['pg']:.2f} | {c['client']:.2f} | {c['other']:.2f} | "
                f"{c['busy']:.2f} |"
            )
    bd = ctx.get("breakdown")
    if bd:
        nb, ns = bd["batch"], bd["single"]
        per_b = nb["items"]
        per_s = ns["requests"]
        lines += [
            "",
            "Stage breakdown of the same ingest code, in-process on the same database, one core: CPU time of the "
            "Python process and wall time (wall − CPU in the DB row is time spent waiting for PostgreSQL).",
            "",
            "| stage | batch of 1,000: CPU µs/comment | wall µs/comment | single: CPU ms/request | wall ms/request |",
            "| --- | --- | --- | --- | --- |",
        ]
        names = {
            "json_decode": "JSON decode (orjson)",
            "validation": "validation (pydantic)",
            "classification": "classification (`classify_many`)",
            "db": "DB: id lookup, artists/albums, INSERTs, commit",
            "json_encode": "JSON encode (orjson)",
        }
        for key, label in names.items():
            lines.append(
                f"| {label} | {nb['cpu'][key] / per_b * 1e6:.0f} | {nb['wall'][key] / per_b * 1e6:.0f} | "
                f"{ns['cpu'][key] / per_s * 1e3:.2f} | {ns['wall'][key] / per_s * 1e3:.2f} |"
            )
        au = bd["auth"]
        lines.append(
            f"| JWT verify + user + blocklist lookup (once per request) | {au['cpu'] * 1e6 / 1000:.1f} | "
            f"{au['wall'] * 1e6 / 1000:.1f} | {au['cpu'] * 1e3:.2f} | {au['wall'] * 1e3:.2f} |"
        )
        cpu_b = sum(nb["cpu"].values()) / per_b * 1e6 + au["cpu"] * 1e3
        wall_b = sum(nb["wall"].values()) / per_b * 1e6 + au["wall"] * 1e3
        cpu_s = sum(ns["cpu"].values()) / per_s * 1e3 + au["cpu"] * 1e3
        wall_s = sum(ns["wall"].values()) / per_s * 1e3 + au["wall"] * 1e3
        lines.append(f"| **total** | **{cpu_b:.0f}** | **{wall_b:.0f}** | **{cpu_s:.2f}** | **{wall_s:.2f}** |")
        lines.append(
            f"| of which garbage-collector pauses | | {nb['gc'] / per_b * 1e6:.0f} | | {ns['gc'] / per_s * 1e3:.2f} |"
        )
        lines += [
            "",
            "Inside `classify_many` (fresh texts, CPU µs per comment):",
            "",
            "| step | batch of 1,000 | one text |",
            "| --- | --- | --- |",
        ]
        for k, v in bd["classifier_split_us"].items():
            lines.append(f"| {k} | {v:.0f} | {bd['classifier_split_single_us'][k]:,.0f} |")
    notes = list(ctx.get("notes") or [])
    quiet = ctx.get("quiet") or {}
    if quiet:
        notes.append(
            "CPU used by other processes just before each phase (the script waits up to --quiet-wait s for < 0.3): "
            + ", ".join(f"{k}: {v:.2f} cores" for k, v in quiet.items())
        )
    busy = [r.name for r in (a, b, s) if r.cpu and r.cpu["other"] > 0.25]
    if busy:
        notes.append(
            f"the machine was shared: other processes used more than a quarter of a core during "
            f"{', '.join(busy)} (see the CPU table); those numbers are lower bounds"
        )
    if notes:
        lines += ["", "Notes:", ""] + [f"- {n}" for n in notes]
    return "\n".join(lines) + "\n"


def write_section(section: str) -> None:
    """Replace (or append) the "## HTTP ingest" section of RESULTS.md, leaving every other section as it is."""
    results.write_section(SECTION_TITLE, section, RESULTS_FILE)


# ----------------------------------------------------------------------------------------------------------------
# Orchestration
# ----------------------------------------------------------------------------------------------------------------


class Server:
    def __init__(self, env: dict[str, str], logs: Path, config: str = "gunicorn.conf.py") -> None:
        self.config = config
        self.env = env
        self.logs = logs
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        out = (self.logs / "gunicorn.stdout.log").open("wb")
        err = (self.logs / "gunicorn.stderr.log").open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", self.config, "wsgi:app"],
            cwd=ROOT,
            env=self.env,
            stdout=out,
            stderr=err,
            start_new_session=True,
        )

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)  # our own session: the master and its workers
        try:
            self.proc.wait(timeout=40)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)

    def ensure_alive(self, when: str) -> None:
        """Abort the run when gunicorn is gone: every number after that would be meaningless."""
        if self.proc is not None and self.proc.poll() is not None:
            tail = (self.logs / "gunicorn.stderr.log").read_text(errors="replace")[-3000:]
            code = self.proc.returncode
            raise RuntimeError(f"gunicorn exited (code {code}) {when}; its error log ends with:\n{tail}")

    def worker_boots(self) -> int:
        text = (self.logs / "gunicorn.stderr.log").read_text(errors="replace")
        return text.count("Booting worker")

    def worker_boot_cpu(self) -> list[float]:
        """CPU seconds each worker took to boot (gunicorn.conf.py logs it when a worker is ready)."""
        text = (self.logs / "gunicorn.stderr.log").read_text(errors="replace")
        return [float(m) for m in re.findall(r"worker ready: ([0-9.]+) s CPU since the fork", text)]

    def error_lines(self) -> list[str]:
        text = (self.logs / "gunicorn.stderr.log").read_text(errors="replace")
        return [ln for ln in text.splitlines() if '"level": "ERROR"' in ln or '"level": "CRITICAL"' in ln][:5]


def wait_health(url: str, server: Server, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.proc is not None and server.proc.poll() is not None:
            raise RuntimeError(
                "gunicorn exited during start-up; see its log:\n"
                + (server.logs / "gunicorn.stderr.log").read_text(errors="replace")[-3000:]
            )
        with contextlib.suppress(requests.RequestException):
            if requests.get(url + "/health", timeout=2).status_code == 200:
                return
        time.sleep(0.3)
    raise RuntimeError(f"gunicorn did not answer /health within {timeout:.0f} s")


def login(base: str, username: str, password: str) -> str:
    resp = requests.post(base + "/api/auth/login", json={"username": username, "password": password}, timeout=30)
    if resp.status_code != 200:
        raise RuntimeError(f"login as {username} failed: {resp.status_code} {resp.text[:300]}")
    return resp.json()["access_token"]


def ensure_model(env: dict[str, str], model_dir: str) -> str:
    proc = subprocess.run(
        [sys.executable, "-m", "flask", "model", "ensure"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    if proc.returncode == 0:
        return "flask model ensure"
    if "No such command" not in proc.stderr:
        raise RuntimeError(f"flask model ensure failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}")
    code = (
        "from app.classifier.local import LocalClassifier; import sys; "
        "LocalClassifier.from_config({'MODEL_DIR': sys.argv[1]})"
    )
    run([sys.executable, "-c", code, model_dir], env, 900, "model training")
    return "LocalClassifier.from_config (no `flask model ensure` in this build)"


def create_user(env: dict[str, str], username: str, role: str, password: str) -> None:
    run(
        [sys.executable, "-m", "flask", "users", "create", username, "--role", role, "--password", password],
        env,
        120,
        f"flask users create {username}",
    )


def count_rows(db_url: str) -> tuple[int, int]:
    with psycopg.connect(plain_pg(db_url), connect_timeout=5) as conn:
        comments = conn.execute("SELECT count(*) FROM comments").fetchone()[0]
        events = conn.execute("SELECT count(*) FROM classification_events").fetchone()[0]
    return comments, events


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--duration", type=float, default=20.0, help="seconds per batch-size phase (default 20)")
    ap.add_argument("--clients", type=int, default=4, help="concurrent clients for batch phases (default 4)")
    ap.add_argument("--workers", type=int, default=2, help="gunicorn WEB_CONCURRENCY (default 2)")
    ap.add_argument("--singles", type=int, default=500, help="sequential single-comment POSTs (default 500)")
    ap.add_argument("--listings", type=int, default=200, help="sequential GET listings (default 200)")
    ap.add_argument(
        "--max-rate",
        type=float,
        default=12000.0,
        help="payloads are pre-built for at most this many comments/s per phase (default 12000)",
    )
    ap.add_argument(
        "--model-dir",
        default=os.environ.get("BENCH_MODEL_DIR", ""),
        help="reuse a trained MODEL_DIR instead of training into a temporary one",
    )
    ap.add_argument(
        "--pg",
        default=os.environ.get("BENCH_PG_URL") or os.environ.get("TEST_DATABASE_URL") or DEFAULT_ADMIN_PG,
        help="admin URL of the PostgreSQL server",
    )
    ap.add_argument(
        "--redis",
        default=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14"),
        help="REDIS_URL for the server ('' for none; default a separate db 14)",
    )
    ap.add_argument(
        "--quiet-wait",
        type=float,
        default=60.0,
        help="before each phase, wait up to this many seconds for other processes to leave the CPUs (default 60)",
    )
    ap.add_argument(
        "--gunicorn-config",
        default="gunicorn.conf.py",
        help="gunicorn config file, to try a tuning before proposing it (default: the project's gunicorn.conf.py)",
    )
    ap.add_argument("--no-breakdown", action="store_true", help="skip the in-process stage breakdown")
    ap.add_argument("--no-write", action="store_true", help="print the report but do not touch RESULTS.md")
    ap.add_argument("--keep-logs", action="store_true", help="keep the gunicorn logs (path printed)")
    args = ap.parse_args()

    def _terminate(signum, _frame):
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, _terminate)

    started = time.perf_counter()
    tmp = Path(tempfile.mkdtemp(prefix="alumusic_bench_"))
    db_name = f"alumusic_bench_{uuid.uuid4().hex[:10]}"
    db_url = with_db(args.pg, db_name)
    server: Server | None = None
    created_db = False
    loadavg_before = " ".join(f"{x:.2f}" for x in os.getloadavg())
    notes: list[str] = []
    ok = False
    cleanup = contextlib.ExitStack()
    try:
        cleanup.enter_context(results.scratch_redis(args.redis))
        machine = machine_info(args.pg)
        log(f"machine: {machine}")

        # 1. Throwaway database, migrations, model, users.
        with psycopg.connect(plain_pg(args.pg), autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'CREATE DATABASE "{db_name}"')
        created_db = True
        model_dir = args.model_dir or str(tmp / "models")
        base_env = command_env(db_url, model_dir)
        log(f"database {db_name}: migrating")
        run([sys.executable, "-m", "flask", "db", "upgrade"], base_env, 300, "flask db upgrade")
        log(f"model into {model_dir} (trains when absent)")
        how = ensure_model(base_env, model_dir)
        notes.append(f"model prepared with {how}")
        password = secrets.token_urlsafe(24)
        create_user(base_env, "bench", "ingestao", password)
        create_user(base_env, "bench_leitor", "leitor", password)

        texts = load_texts()
        factory = PayloadFactory(texts, seed=20261122, run_tag=uuid.uuid4().hex[:6])
        cap_batches = max(1, int(args.max_rate * args.duration / 1000))
        log(f"building payloads ({cap_batches} x 1,000 and {cap_batches * 10} x 100)")
        payloads_1000 = [factory.batch(1000) for _ in range(cap_batches)]
        payloads_100 = [factory.batch(100) for _ in range(cap_batches * 10)]

        # 2. Baseline: raw classifier on the same texts, one core, before the server exists (no contention).
        sample = [i["texto"] for body, _ in payloads_1000[:5] for i in orjson.loads(body)]
        wait_quiet(None, args.quiet_wait)
        log("baseline: raw classifier on one core")
        baseline = run_baseline(sample, model_dir, base_env, tmp, seconds=5.0)
        log(f"baseline: {baseline}")

        # 3. gunicorn, production settings.
        port = free_port()
        server_env = dict(base_env)
        server_env.update(
            {
                "APP_ENV": "production",
                "SECRET_KEY": secrets.token_urlsafe(48),
                "JWT_SECRET_KEY": secrets.token_urlsafe(48),
                "ADMIN_PASSWORD": secrets.token_urlsafe(24),
                "JWT_ACCESS_TOKEN_SECONDS": "3600",
                "GUNICORN_BIND": f"127.0.0.1:{port}",
                "WEB_CONCURRENCY": str(args.workers),
                "LOG_LEVEL": "INFO",
            }
        )
        if args.redis:
            server_env["REDIS_URL"] = args.redis
        server = Server(server_env, tmp, args.gunicorn_config)
        if args.gunicorn_config != "gunicorn.conf.py":
            notes.append(f"gunicorn started with -c {args.gunicorn_config} (not the project's gunicorn.conf.py)")
        server.start()
        base_url = f"http://127.0.0.1:{port}"
        wait_health(base_url, server, timeout=180)
        log(f"gunicorn up on {base_url}")
        token = login(base_url, "bench", password)
        reader = login(base_url, "bench_leitor", password)
        bench = Bench(base_url, token, reader)
        meter = CpuMeter(server.proc.pid, db_name)  # type: ignore[union-attr]

        # Warm-up: every worker loads its model on its first classification.
        warm = [factory.batch(50) for _ in range(4 * args.workers)]
        w = bench.post_batches("warm-up", warm, clients=2 * args.workers, duration=60, meter=None)
        if w.errors:
            raise RuntimeError(f"warm-up failed: {w.error_samples}")

        # 4. The measured phases.
        quiet = {}
        quiet["a"] = wait_quiet(meter, args.quiet_wait)
        server.ensure_alive("before phase a")
        log(f"phase a: batches of 1,000, {args.clients} clients, {args.duration:.0f} s")
        a = bench.post_batches("batches of 1,000", payloads_1000, args.clients, args.duration, meter)
        log(f"  {a.rate:,.0f} comments/s, {a.errors} errors {a.error_samples}")
        del payloads_1000
        quiet["b"] = wait_quiet(meter, args.quiet_wait)
        server.ensure_alive("before phase b")
        log(f"phase b: batches of 100, {args.clients} clients, {args.duration:.0f} s")
        b = bench.post_batches("batches of 100", payloads_100, args.clients, args.duration, meter)
        log(f"  {b.rate:,.0f} comments/s, {b.errors} errors {b.error_samples}")
        del payloads_100
        quiet["c"] = wait_quiet(meter, args.quiet_wait)
        server.ensure_alive("before phase c")
        log(f"phase c: {args.singles} sequential single-comment POSTs")
        s = bench.post_singles(factory, args.singles, max_seconds=120, meter=meter)
        log(f"  p50 {pct(s.latencies_ms, 50):.1f} ms, p95 {pct(s.latencies_ms, 95):.1f} ms, {s.errors} errors")
        log(f"phase d: {args.listings} GET listings")
        g, listing_total = bench.get_listing(args.listings, max_seconds=60)
        log(f"  p50 {pct(g.latencies_ms, 50):.1f} ms, {g.errors} errors {g.error_samples}")

        server.ensure_alive("during the measurements")

        # 5. No loss: the database holds exactly what was acknowledged.
        rows, events = count_rows(db_url)
        expected = bench.acknowledged_total
        log(f"rows {rows} / acknowledged {expected} / events {events}")
        for res in (a, b, s):
            if res.exhausted:
                notes.append(f"{res.name}: the pre-built payloads ran out before the time was up (raise --max-rate)")
            if res.errors:
                notes.append(f"{res.name}: {res.errors} failed requests, e.g. {res.error_samples[:1]}")
        if g.errors:
            notes.append(f"listing: {g.errors} failed requests, e.g. {g.error_samples[:1]}")
        if events:  # a comment's first answer is its row until something changes it (migration a1c0ingest006)
            notes.append(f"classification_events holds {events} rows after ingest alone (expected none)")
        boots = server.worker_boots()
        if boots > args.workers:
            cpu = server.worker_boot_cpu()
            per_boot = f"; {statistics.median(cpu):.1f} s of CPU per boot, median" if cpu else ""
            notes.append(
                f"gunicorn booted {boots} workers for {args.workers} slots (max_requests recycling "
                f"during the run{per_boot})"
            )
        errors = server.error_lines()
        if errors:
            notes.append(f"server error log lines: {errors[:2]}")
        server.stop()

        # 6. In-process stage breakdown on the same database (server stopped: no contention).
        breakdown = None
        if not args.no_breakdown:
            log("stage breakdown (in-process, one core)")
            bd_env = dict(server_env)
            try:
                breakdown, added = run_breakdown(factory, token, bd_env, tmp)
            except (RuntimeError, subprocess.TimeoutExpired) as exc:  # the HTTP numbers stand on their own
                log(f"stage breakdown failed: {exc}")
                notes.append(f"the in-process stage breakdown failed: {str(exc).strip().splitlines()[-1][:200]}")
            else:
                rows2, _ = count_rows(db_url)
                if rows2 != rows + added:
                    notes.append(f"breakdown: expected {rows + added} rows after it, found {rows2}")

        ctx = {
            "date": datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
            "machine": machine,
            "loadavg_before": loadavg_before,
            "workers": args.workers,
            "clients": args.clients,
            "duration": args.duration,
            "single_count": args.singles,
            "listing_count": args.listings,
            "a": a,
            "b": b,
            "single": s,
            "listing": g,
            "listing_total": listing_total,
            "baseline": baseline,
            "rows": rows,
            "expected_rows": expected,
            "breakdown": breakdown,
            "notes": notes,
            "total_seconds": time.perf_counter() - started,
            "quiet": quiet,
        }
        section = render(ctx)
        print(section)
        ok = rows == expected and not (a.errors or b.errors or s.errors or g.errors)
        if not ok:
            log("failed requests or lost comments: RESULTS.md left as it was")
        elif not args.no_write:
            write_section(section)
            log(f"wrote the '{SECTION_TITLE[3:]}' section of {RESULTS_FILE.relative_to(ROOT)}")
        return 0 if ok else 1
    finally:
        if server is not None:
            server.stop()
        cleanup.close()
        if created_db:
            try:
                with psycopg.connect(plain_pg(args.pg), autocommit=True, connect_timeout=5) as conn:
                    conn.execute(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')
                log(f"dropped {db_name}")
            except psycopg.Error as exc:
                log(f"could not drop {db_name}: {exc}")
        if args.keep_logs or not ok:
            log(f"logs kept in {tmp}")
        else:
            import shutil

            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
