#!/usr/bin/env python
"""Curator panel benchmark: server-side render time of the panel's pages over 1,000,000 comments in PostgreSQL.

    .venv/bin/python benchmarks/bench_panel.py                                   # or: make bench-panel
    .venv/bin/python benchmarks/bench_panel.py --db alumusic_bench_panel --reuse --keep

What it does:

1. gets a populated database from benchmarks/dataset.py (a new one with --rows comments, or a named one kept
   between runs with --reuse), and migrates it to head (`flask db upgrade`: the panel's indexes, unaccent);
2. builds the app in-process on that database, creates a `curador` user and logs in through the real login form
   (session cookie, CSRF token);
3. renders each page through the WSGI app (the whole request: session check, queries, Jinja, response body),
   warm-up first, then --requests timed renders per case, each with its own parameters:
   - the first page filtered by artist + category, and by category + accent-insensitive text;
   - a page 1,000 pages deep (25 per page: rows 24,976-25,000), unfiltered and filtered by category, reached
     with the keyset cursor the previous page's "next" link carries (computed once with OFFSET, untimed);
   - the review queue's next item, walking the queue with its own "skip" links;
4. prints a Markdown report and rewrites the "## Curator panel" section of benchmarks/RESULTS.md.

Targets (issue 8): first filtered page and the deep page p95 < 100 ms; review queue next item p95 < 50 ms.
Everything stays in this process and on 127.0.0.1; a database the script created is dropped unless --keep.
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import dataset  # noqa: E402
import results  # noqa: E402

SECTION_TITLE = "## Curator panel"
PAGE = 25
DEEP_PAGE = 1000
TARGETS_MS = {"first": 100.0, "deep": 100.0, "queue": 50.0}
PASSWORD = "senha-do-benchmark-123"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def get_database(args: argparse.Namespace) -> tuple[str, bool]:
    """(URL, created by us) of a populated database."""
    cmd = [sys.executable, str(ROOT / "benchmarks" / "dataset.py"), "--rows", str(args.rows), "--pg", args.pg]
    if args.db:
        cmd += ["--db", args.db]
    if args.reuse:
        cmd.append("--reuse")
    out = subprocess.run(cmd, cwd=ROOT, check=True, capture_output=True, text=True)
    url = out.stdout.strip().splitlines()[-1]
    dataset.migrate(url)  # a reused database may predate the panel's migration
    with psycopg.connect(url, autocommit=True) as conn:
        # What autovacuum does in production after a bulk load: statistics and the visibility map.
        conn.execute("VACUUM ANALYZE comments")
    return url, not args.reuse


def drop_database(admin_url: str, url: str) -> None:
    name = url.rsplit("/", 1)[1]
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def build_app(url: str, model_dir: str):
    from app import create_app

    return create_app(
        {
            "APP_ENV": "development",
            "DATABASE_URL": url,
            "MODEL_DIR": model_dir,
            "LOG_LEVEL": "WARNING",
            "REDIS_URL": "",
            "CELERY_BROKER_URL": "",
            "PANEL_LOGIN_RATE_LIMIT": "1000 per minute",
            "PANEL_LOGIN_ACCOUNT_RATE_LIMIT": "1000 per minute",
        }
    )


def login(app) -> Any:
    from app.extensions import db
    from app.services.users import ensure_user

    with app.app_context():
        ensure_user("bench_curador", PASSWORD, "curador")
        db.session.remove()
    client = app.test_client()
    html = client.get("/curadoria/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html).group(1)
    resp = client.post(
        "/curadoria/login", data={"username": "bench_curador", "password": PASSWORD, "csrf_token": token}
    )
    assert resp.status_code == 302, resp.status_code
    return client


def deep_cursor(app, where_sql: str, params: tuple, ordering: str = "-classificado_em") -> str:
    """The cursor the "next" link of page DEEP_PAGE - 1 carries (setup, untimed: found with OFFSET once)."""
    from app.extensions import db
    from app.services.queries import Cursor

    offset = PAGE * (DEEP_PAGE - 1) - 1
    with app.app_context():
        row = db.session.execute(
            db.text(
                f"SELECT classified_at, id FROM comments {where_sql} ORDER BY classified_at DESC, id DESC "
                f"OFFSET {offset} LIMIT 1"
            ),
            dict(params),
        ).one_or_none()
        if row is None:
            raise SystemExit(f"too few comments for a page {DEEP_PAGE} pages deep ({where_sql or 'unfiltered'})")
        db.session.remove()
    return Cursor(row[0], row[1]).encode()


def pick_filters(app) -> dict[str, Any]:
    """The busiest artists and some frequent words: realistic, varied parameters for the timed requests."""
    from app.extensions import db

    with app.app_context():
        artists = [
            r[0]
            for r in db.session.execute(
                db.text(
                    "SELECT a.name FROM artists a JOIN comments c ON c.artist_id = a.id "
                    "GROUP BY a.name ORDER BY count(*) DESC LIMIT 20"
                )
            )
        ]
        db.session.remove()
    words = ["critica", "musica", "clipe", "show", "album", "audio", "letra", "refrao", "app", "ao vivo"]
    return {"artists": artists, "words": words}


def render(client, url: str) -> tuple[float, float, bytes]:
    """(wall ms, this process's CPU ms, body) of one request. CPU time leaves out waiting for PostgreSQL and for
    a core: on a shared machine it shows what the app itself costs."""
    wall, cpu = time.perf_counter(), time.process_time()
    resp = client.get(url)
    body = resp.get_data()
    assert resp.status_code == 200, (url, resp.status_code)
    return (time.perf_counter() - wall) * 1000, (time.process_time() - cpu) * 1000, body


def timed(client, urls: list[str], warmup: int) -> tuple[list[float], list[float], int]:
    """Render each URL (warm-up ones untimed); returns wall and CPU ms per timed request and the rows seen last."""
    for url in urls[:warmup]:
        render(client, url)
    walls, cpus, rows = [], [], 0
    for url in urls[warmup:]:
        wall, cpu, body = render(client, url)
        walls.append(wall)
        cpus.append(cpu)
        rows = body.count(b'href="/curadoria/comentarios/')
    return walls, cpus, rows


def walk_queue(client, count: int) -> tuple[list[float], list[float]]:
    """Follow the review queue's "skip" link `count` times, timing each next item."""
    url = "/curadoria/revisar"
    walls, cpus = [], []
    for _ in range(count):
        wall, cpu, body = render(client, url)
        walls.append(wall)
        cpus.append(cpu)
        text = body.decode()
        assert 'id="item-revisao"' in text
        url = re.search(r'id="pular" href="([^"]+)"', text).group(1).replace("&amp;", "&")
    return walls, cpus


def load_average() -> str:
    try:
        return " / ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "unknown"


def run(args: argparse.Namespace) -> dict[str, Any]:
    url, created = get_database(args)
    load_before = load_average()
    try:
        with tempfile.TemporaryDirectory() as model_dir:
            app = build_app(url, model_dir)
            client = login(app)
            picks = pick_filters(app)
            n, warm = args.requests, 10
            cycle = range(n + warm)
            artists, words = picks["artists"], picks["words"]
            cats = ["CRITICA", "ELOGIO", "SUGESTAO", "DUVIDA"]
            cases: dict[str, tuple[str, list[str]]] = {
                "first_artist_category": (
                    "first",
                    [
                        f"/curadoria?artista={quote_plus(artists[i % len(artists)])}&categoria={cats[i % 4]}"
                        for i in cycle
                    ],
                ),
                "first_category_text": (
                    "first",
                    [f"/curadoria?categoria={cats[i % 4]}&q={quote_plus(words[i % len(words)])}" for i in cycle],
                ),
                "first_unfiltered": ("first", ["/curadoria"] * (n + warm)),
            }
            deep_all = deep_cursor(app, "", ())
            deep_cat = deep_cursor(app, "WHERE category = :c", (("c", "CRÍTICA"),))
            cases["deep_1000_unfiltered"] = ("deep", [f"/curadoria?apos={deep_all}&pagina={DEEP_PAGE}"] * (n + warm))
            cases["deep_1000_category"] = (
                "deep",
                [f"/curadoria?categoria=CRITICA&apos={deep_cat}&pagina={DEEP_PAGE}"] * (n + warm),
            )
            measured: dict[str, dict[str, Any]] = {}

            def keep(name: str, kind: str, ms: list[float], cpu: list[float], rows: int) -> None:
                entry = measured.setdefault(name, {"kind": kind, "rows": rows, "rounds": []})
                entry["rounds"].append({"ms": ms, "cpu": cpu})
                print(
                    f"[bench] {name}: p50 {statistics.median(ms):.1f} ms, p95 {percentile(ms, 0.95):.1f} ms",
                    file=sys.stderr,
                )

            # Several rounds, because the machine may be shared: a round that lands on someone else's burst shows
            # up as one slow round instead of silently moving the only number there is.
            for _round in range(args.rounds):
                for name, (kind, urls) in cases.items():
                    ms, cpu, rows = timed(client, urls, warm)
                    keep(name, kind, ms, cpu, rows)
                walk_queue(client, warm)
                ms, cpu = walk_queue(client, n)
                keep("queue_next_item", "queue", ms, cpu, 1)
            with app.app_context():
                from app.extensions import db

                total = db.session.execute(db.text("SELECT count(*) FROM comments")).scalar_one()
                pg = db.session.execute(db.text("SHOW server_version")).scalar_one()
                db.session.remove()
                db.engine.dispose()
    finally:
        if created and not args.keep:
            drop_database(args.pg, url)
    return {
        "measured": measured,
        "total": total,
        "postgresql": pg,
        "requests": args.requests,
        "rounds": args.rounds,
        "load": f"{load_before} before, {load_average()} after",
    }


def report(data: dict[str, Any]) -> tuple[str, bool]:
    facts = {**results.machine_facts(ROOT), "postgresql": data["postgresql"]}
    lines = [
        SECTION_TITLE,
        "",
        f"Server-side render time of the curator panel's pages over **{data['total']:,} comments** in PostgreSQL "
        f"(`benchmarks/bench_panel.py`, `make bench-panel`). Each request goes through the whole WSGI app in-process "
        f"(session check against `panel_sessions`, queries, Jinja, body): {data['rounds']} rounds of "
        f"{data['requests']} timed requests per case after 10 warm-up ones (the table gives the round with the "
        "median p95 and every round's p95), each with its own parameters (20 busiest artists × 4 categories, "
        "10 search words). "
        'Deep pages are reached with the keyset cursor of the previous page\'s "next" link (no OFFSET); counts '
        'stop at `PANEL_COUNT_CAP` (1,000). "app CPU" is this process\'s CPU time per request (Python: session, '
        "SQLAlchemy, Jinja), without the time spent waiting for PostgreSQL or for a free core.",
        "",
        "| case | rows on page | p50 ms | p95 ms (median round) | p95 per round | app CPU p50 / p95 ms | target p95 "
        "| |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    ok = True
    for name, m in data["measured"].items():
        rounds = sorted(m["rounds"], key=lambda r: percentile(r["ms"], 0.95))
        middle = rounds[len(rounds) // 2]
        p95 = percentile(middle["ms"], 0.95)
        target = TARGETS_MS[m["kind"]]
        passed = p95 < target
        ok &= passed
        per_round = " / ".join(f"{percentile(r['ms'], 0.95):.1f}" for r in m["rounds"])
        lines.append(
            f"| {name} | {m['rows']} | {statistics.median(middle['ms']):.1f} | {p95:.1f} | {per_round} | "
            f"{statistics.median(middle['cpu']):.1f} / {percentile(middle['cpu'], 0.95):.1f} | "
            f"< {target:.0f} | {'ok' if passed else 'MISSED'} |"
        )
    lines += [
        "",
        "Machine: " + ", ".join(f"{k} {v}" for k, v in facts.items()) + ".",
        f"Load average (1/5/15 min) during the run: {data['load']} — the machine is shared: on {facts['nproc']} "
        "cores, a load above the core count stretches every number here (rerun on a quiet machine to compare).",
        "",
    ]
    return "\n".join(lines), ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--pg", default=dataset.DEFAULT_ADMIN_URL, help="admin URL (needs CREATE DATABASE)")
    parser.add_argument("--db", default=None, help="database name (default: a new one, dropped at the end)")
    parser.add_argument("--reuse", action="store_true", help="reuse an already populated --db (kept afterwards)")
    parser.add_argument("--keep", action="store_true", help="keep a database this run created")
    parser.add_argument("--requests", type=int, default=100, help="timed requests per case and round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--no-write", action="store_true", help="print only; leave benchmarks/RESULTS.md alone")
    args = parser.parse_args()
    section, ok = report(run(args))
    print(section)
    if not args.no_write:
        results.write_section(SECTION_TITLE, section)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
