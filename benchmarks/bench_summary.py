"""Weekly summary on a large database: the SQL aggregate of one ISO week, the whole `generate` (aggregate + text +
store), the chart PNG, the e-mail build and an extractive Q&A answer.

    python benchmarks/bench_summary.py                       # copies alumusic_bench_1m (made by dataset.py) if present
    python benchmarks/bench_summary.py --source "" --rows 200000   # builds its own dataset with benchmarks/dataset.py

The source database is never modified: it is copied (CREATE DATABASE ... TEMPLATE), the copy is migrated to head,
measured, and dropped (unless --keep). Results go to the "## Weekly summary" section of benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import os
import secrets
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import results  # noqa: E402  - benchmarks/results.py

SECTION_TITLE = "## Weekly summary (issue 9)"
ADMIN_URL = os.environ.get("BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def log(message: str) -> None:
    print(f"[bench_summary] {message}", file=sys.stderr, flush=True)


def with_db(url: str, name: str) -> str:
    return url.rsplit("/", 1)[0] + "/" + name


def prepare(args: argparse.Namespace) -> tuple[str, str]:
    """(URL, name) of a migrated copy to measure on."""
    name = f"alumusic_bench_summary_{secrets.token_hex(3)}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        source = args.source and conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (args.source,)).fetchone()
    if not source:
        log(f"no source database {args.source!r}: building {args.rows:,} comments with dataset.py")
        subprocess.run([sys.executable, str(ROOT / "benchmarks" / "dataset.py"), "--rows", str(args.rows),
                        "--days", "30", "--db", name], cwd=ROOT, check=True)  # fmt: skip
    else:
        log(f"copying {args.source} into {name}")
        with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{args.source}"')
    url = with_db(ADMIN_URL, name)
    env = {**os.environ, "DATABASE_URL": url, "FLASK_APP": "wsgi", "LOG_LEVEL": "WARNING"}
    subprocess.run([sys.executable, "-m", "flask", "db", "upgrade"], cwd=ROOT, env=env, check=True,
                   capture_output=True)  # fmt: skip
    return url, name


def timed(fn: Callable[[], object], runs: int) -> dict[str, float]:
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - started) * 1000)
    samples.sort()
    return {"median_ms": round(statistics.median(samples), 1), "max_ms": round(samples[-1], 1)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--source", default="alumusic_bench_1m", help="populated database to copy ('' = build one)")
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows when building a dataset")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--keep", action="store_true", help="keep the measured copy")
    args = parser.parse_args()

    url, name = prepare(args)
    try:
        from app import create_app
        from app.extensions import db
        from app.models.comment import Comment
        from app.services import insights, mailer, summaries
        from app.services.charts import weekly_chart_png
        from app.services.summary_aggregate import weekly_aggregate
        from app.services.weeks import IsoWeek

        app = create_app({"DATABASE_URL": url, "LOG_LEVEL": "WARNING", "SUMMARY_RECIPIENTS": "a@alumusic.com"})
        with app.app_context():
            rows = db.session.query(Comment).count()
            tz = app.config["SUMMARY_TIMEZONE"]
            week = IsoWeek.previous(datetime.now(UTC), tz)
            start, end = week.bounds(tz)
            in_week = db.session.query(Comment).filter(Comment.occurred_at >= start, Comment.occurred_at < end).count()
            log(f"{rows:,} comments, {in_week:,} in {week}")
            agg = timed(lambda: weekly_aggregate(db.session, week, tz=tz, review_threshold=0.6), args.runs)
            gen = timed(lambda: summaries.generate(str(week)), args.runs)
            summary = summaries.get_summary(str(week))
            chart = timed(lambda: weekly_chart_png(summary.aggregate), args.runs)
            message = timed(lambda: mailer.summary_message(summary, "a@alumusic.com").as_bytes(), args.runs)
            for w in range(1, 3):
                summaries.generate(str(week.shift(-w)))
            qa = timed(lambda: insights.ask("Quem teve mais críticas e quais tags cresceram?"), args.runs)
            size = len(mailer.summary_message(summary, "a@alumusic.com").as_bytes())
    finally:
        if not args.keep:
            with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            log(f"dropped {name}")

    facts = results.machine_facts(ROOT)
    section = f"""{SECTION_TITLE}

`make bench-summary` (`benchmarks/bench_summary.py`): a copy of the `dataset.py` database ({rows:,} comments over
30 days; {in_week:,} in the measured week {week}) migrated to head, PostgreSQL 127.0.0.1, one process,
{args.runs} runs each (median / max, wall clock). Machine: {facts["nproc"]} cores ({facts["cpu"]}), {facts["ram"]},
Python {facts["python"]}, commit {facts["commit"]}. Shared machine: other work was running.

| step | median | max |
| --- | ---: | ---: |
| weekly aggregate (SQL: volume, mix, artists, releases, tags, examples) | {agg["median_ms"]} ms | {agg["max_ms"]} ms |
| `generate` (aggregate + deterministic text + store) | {gen["median_ms"]} ms | {gen["max_ms"]} ms |
| chart PNG (matplotlib Agg) | {chart["median_ms"]} ms | {chart["max_ms"]} ms |
| e-mail build (templates + chart + MIME), {size / 1024:.0f} KiB | {message["median_ms"]} ms | {message["max_ms"]} ms |
| Q&A, extractive over 3 summaries | {qa["median_ms"]} ms | {qa["max_ms"]} ms |
"""
    results.write_section(SECTION_TITLE, section)
    log(f"wrote the '{SECTION_TITLE[3:]}' section of benchmarks/RESULTS.md")
    print(section)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
