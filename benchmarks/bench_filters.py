"""Bounded query cost of the comment listing on the 1,000,000-comment dataset (issue 6).

What it does, reproducibly:
1. copies the shared dataset database (`alumusic_bench_1m`, made by benchmarks/dataset.py) into a throwaway
   `alumusic_bench_filters_<random>` (or, with `--reuse NAME`, uses that database as it is; with no template it
   calls benchmarks/dataset.py to build one), and migrates it to head;
2. builds the app (production-like limits: DB_STATEMENT_TIMEOUT_MS=5000) and, through the Flask test client with
   a `leitor` token, times GET /api/comentarios with 1, 5 and 10 of the most frequent tags (the cap), a text
   search, a category + date window, the deepest page, and the refused cases (11 tags, page 10^20);
3. writes the "## Bounded query cost" section of benchmarks/RESULTS.md and drops the copy.

Before the cap, 80 tags took 3.8 s to plan, 120 tags 11 s and 200 tags more than 60 s (the issue's numbers).
"""

from __future__ import annotations

import argparse
import os
import secrets
import statistics
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.results import machine_facts, write_section  # noqa: E402

DEFAULT_PG = os.environ.get("BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
TITLE = "## Bounded query cost (issue 6)"


def log(msg: str) -> None:
    print(f"[bench-filters] {msg}", file=sys.stderr, flush=True)


def _with_db(url: str, name: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).set(database=name).render_as_string(hide_password=False)


def copy_database(admin: str, template: str, name: str) -> None:
    deadline = time.monotonic() + 300
    while True:  # CREATE DATABASE ... TEMPLATE needs the template idle: retry while someone else copies it
        try:
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
            return
        except psycopg.errors.ObjectInUse:
            if time.monotonic() > deadline:
                raise
            time.sleep(2)


def template_exists(admin: str, template: str) -> bool:
    with psycopg.connect(admin, autocommit=True) as conn:
        return conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (template,)).fetchone() is not None


def migrate(url: str) -> None:
    env = {**os.environ, "DATABASE_URL": url, "APP_ENV": "development", "FLASK_APP": "wsgi", "LOG_LEVEL": "WARNING"}
    subprocess.run([sys.executable, "-m", "flask", "db", "upgrade"], cwd=ROOT, env=env, check=True)


def measure(url: str, runs: int) -> tuple[list[tuple[str, str, float, float]], int]:
    from sqlalchemy import func, select

    from app import create_app
    from app.extensions import db
    from app.models import Comment, CommentTag, User
    from app.services.users import issue_tokens

    app = create_app(
        {
            "APP_ENV": "testing",
            "DATABASE_URL": url,
            "SECRET_KEY": secrets.token_urlsafe(48),
            "JWT_SECRET_KEY": secrets.token_urlsafe(48),
            "LOG_LEVEL": "WARNING",
            "REDIS_URL": "",
            "CELERY_BROKER_URL": "",
            "DB_STATEMENT_TIMEOUT_MS": 5000,
        }
    )
    with app.app_context():
        total = db.session.scalar(select(func.count()).select_from(Comment))
        user = db.session.scalar(select(User).where(User.username == "bench_leitor"))
        if user is None:
            user = User(username="bench_leitor", role="leitor", active=True, password_hash="-")
            db.session.add(user)
            db.session.commit()
        token = issue_tokens(user)["access_token"]
        top = [
            code
            for code, _ in db.session.execute(
                select(CommentTag.code, func.count()).group_by(CommentTag.code).order_by(func.count().desc()).limit(11)
            )
        ]
    client = app.test_client()
    headers = {"Authorization": f"Bearer {token}"}
    cases = [
        ("1 tag", [("tag", top[0])]),
        ("5 tags", [("tag", t) for t in top[:5]]),
        ("10 tags (the cap)", [("tag", t) for t in top[:10]]),
        ("q (text search)", [("q", "refrão")]),
        ("categoria + 7-day window", [("categoria", "CRITICA"), ("desde", "2026-11-20"), ("ate", "2026-11-26")]),
        ("page 10,000 of 50", [("page", "10000")]),
        ("11 tags (refused)", [("tag", t) for t in top[:11]]),
        ("page 10^20 (refused)", [("page", "100000000000000000000")]),
    ]
    rows = []
    for label, query in cases:
        timings, statuses = [], Counter()
        for _ in range(runs):
            started = time.perf_counter()
            resp = client.get("/api/comentarios", query_string=query, headers=headers)
            timings.append((time.perf_counter() - started) * 1000)
            statuses[resp.status_code] += 1
        status = ", ".join(f"{n}x {code}" for code, n in sorted(statuses.items()))
        rows.append((label, status, statistics.median(timings), max(timings)))
        log(f"{label}: {status} p50 {statistics.median(timings):.0f} ms")
    return rows, total


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pg", default=DEFAULT_PG, help="admin URL (needs CREATE DATABASE)")
    parser.add_argument("--template", default="alumusic_bench_1m", help="dataset database to copy")
    parser.add_argument("--reuse", default="", help="use this database as it is (no copy, not dropped)")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()

    name, owned = args.reuse, False
    if not name:
        name, owned = f"alumusic_bench_filters_{secrets.token_hex(3)}", True
        if template_exists(args.pg, args.template):
            log(f"copying {args.template} -> {name}")
            copy_database(args.pg, args.template, name)
        else:
            log(f"no {args.template}: building {name} with benchmarks/dataset.py")
            subprocess.run([sys.executable, str(ROOT / "benchmarks" / "dataset.py"), "--db", name], check=True)
    url = _with_db(args.pg, name)
    try:
        migrate(url)
        rows, total = measure(url, args.runs)
    finally:
        if owned:
            with psycopg.connect(args.pg, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    facts = machine_facts(ROOT)
    table = "\n".join(f"| {label} | {status} | {p50:.0f} | {worst:.0f} |" for label, status, p50, worst in rows)
    section = f"""{TITLE}

`benchmarks/bench_filters.py` (`make bench-filters`): GET /api/comentarios through the Flask test client (no
HTTP server; the point is the database's work), on a copy of the {total:,}-comment dataset of
`benchmarks/dataset.py`, PostgreSQL on the same machine, DB_STATEMENT_TIMEOUT_MS=5000, {args.runs} runs per case
(median and worst, ms). Tags are the most frequent codes of the dataset (the worst case for the semi-joins).
Machine: {facts.get("cpu")}, {facts.get("nproc")} cores, {facts.get("ram")}, commit {facts.get("commit")}; other
engineers' work was sharing the CPU.

| query | status | p50 ms | max ms |
| --- | --- | --- | --- |
{table}

Before the cap (issue 6), 80 tags took 3.8 s to plan, 120 tags 11 s and 200 tags over 60 s; now at most 10 values
per multi-valued filter are accepted (422 above) and any statement past 5 s is cancelled by PostgreSQL (503 with
Retry-After): a deep OFFSET page over the whole table is the one listing that can reach that limit here (keyset
pagination would remove it; not done in issue 6).
"""
    write_section(TITLE, section)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
