"""A large, realistic comments table for the benchmarks: N comments spread over the last D days in PostgreSQL.

Shared by every benchmark that needs volume (reports, export, listing, curator panel). Rows are written with COPY
(about 1M comments/min here): comments with artists and albums (a few releases with a release date), 0–3 tags from
the taxonomy, and no history rows, as ingest writes them (an unchanged comment's first answer is its own row,
migration a1c0ingest006). Texts are the labelled training rows (so search, export sizes and categories look like
production), categories as labelled, confidences spread around the model's usual range.

    python benchmarks/dataset.py --rows 1000000 --days 30            # creates alumusic_bench_<random>, prints its URL
    python benchmarks/dataset.py --rows 1000000 --db alumusic_bench_1m --reuse   # keep a named one between runs

Deterministic for a given --seed. The database is migrated with the app's own migrations first.
"""

from __future__ import annotations

import argparse
import csv
import os
import secrets
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import psycopg

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_ADMIN_URL = os.environ.get("BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
CATEGORIES = ("ELOGIO", "CRÍTICA", "SUGESTÃO", "DÚVIDA", "SPAM")
TARGETS = ("musica", "album", "clipe", "show", "artista", "plataforma")


def log(msg: str) -> None:
    print(f"[dataset] {msg}", file=sys.stderr, flush=True)


def with_db(url: str, name: str) -> str:
    from sqlalchemy.engine import make_url

    return (
        make_url(url.replace("postgresql+psycopg://", "postgresql://"))
        .set(database=name)
        .render_as_string(hide_password=False)
    )


def load_rows() -> list[tuple[str, str]]:
    rows = []
    for path in sorted((ROOT / "data" / "train").glob("*.csv")):
        with path.open(encoding="utf-8") as fh:
            rows += [(r["texto"], r["categoria"]) for r in csv.DictReader(fh)]
    return rows


def create_database(admin_url: str, name: str | None, reuse: bool) -> tuple[str, bool]:
    """(URL, already populated?) of the database to fill."""
    name = name or f"alumusic_bench_{secrets.token_hex(4)}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if exists and not reuse:
            conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
            exists = None
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')
    url = with_db(admin_url, name)
    populated = False
    if exists:
        with psycopg.connect(url) as conn:
            try:
                populated = (conn.execute("SELECT count(*) FROM comments").fetchone() or [0])[0] > 0
            except psycopg.errors.UndefinedTable:
                populated = False
    return url, populated


def migrate(url: str) -> None:
    env = {**os.environ, "DATABASE_URL": url, "APP_ENV": "development", "FLASK_APP": "wsgi", "LOG_LEVEL": "WARNING"}
    subprocess.run([sys.executable, "-m", "flask", "db", "upgrade"], cwd=ROOT, env=env, check=True)


def populate(url: str, rows: int, days: int, seed: int, artists: int = 200) -> dict[str, float]:
    """COPY `rows` comments into the migrated database at `url`; returns timings."""
    sys.path.insert(0, str(ROOT))
    from app.classifier.taxonomy import known_codes

    rng = np.random.default_rng(seed)
    corpus = load_rows()
    codes = sorted(known_codes())
    now = datetime.now(UTC)
    started = time.perf_counter()
    with psycopg.connect(url) as conn:
        with conn.cursor() as cur:
            names = [f"Artista {i:03d}" for i in range(artists)]
            with cur.copy("COPY artists (name, name_key, created_at) FROM STDIN") as copy:
                for n in names:
                    copy.write_row((n, n.lower(), now))
            artist_ids = [r[0] for r in cur.execute("SELECT id FROM artists ORDER BY id").fetchall()]
            # Two albums per artist; a tenth of them released inside the window (criticism-after-release chart).
            with cur.copy(
                "COPY albums (artist_id, artist_key, title, title_key, release_date, created_at) FROM STDIN"
            ) as copy:
                for i, aid in enumerate(artist_ids):
                    for j in range(2):
                        title = f"Disco {i:03d}-{j}"
                        released = (
                            (now - timedelta(days=int(rng.integers(1, days)))).date() if (i + j) % 10 == 0 else None
                        )
                        copy.write_row((aid, names[i].lower(), title, title.lower(), released, now))
            album_rows = cur.execute("SELECT id, artist_id FROM albums ORDER BY id").fetchall()
        conn.commit()
        albums_by_artist: dict[int, list[int]] = {}
        for album_id, artist_id in album_rows:
            albums_by_artist.setdefault(artist_id, []).append(album_id)

        # Popularity is skewed (a few artists get most comments), like real traffic.
        weights = 1.0 / np.arange(1, len(artist_ids) + 1) ** 0.8
        weights /= weights.sum()
        text_idx = rng.integers(0, len(corpus), rows)
        artist_pick = rng.choice(len(artist_ids), rows, p=weights)
        has_artist = rng.random(rows) < 0.9
        has_album = rng.random(rows) < 0.4
        seconds = rng.random(rows) * days * 86400
        conf = np.clip(rng.beta(6, 1.6, rows), 0.2, 1.0)
        n_tags = rng.choice(4, rows, p=[0.35, 0.4, 0.2, 0.05])
        target_pick = rng.integers(0, len(TARGETS) + 1, rows)
        model = "local:bench"
        with conn.cursor() as cur:
            copy_sql = (
                "COPY comments (id, text, artist_id, album_id, target, published_at, occurred_at, category, "
                "confidence, model_version, classified_at, created_at, updated_at) FROM STDIN"
            )
            tag_rows: list[tuple] = []
            ids = [uuid.UUID(bytes=rng.bytes(16), version=4) for _ in range(rows)]
            last = time.perf_counter()
            with cur.copy(copy_sql) as copy:
                for i in range(rows):
                    text, category = corpus[text_idx[i]]
                    artist_id = artist_ids[artist_pick[i]] if has_artist[i] else None
                    album_id = albums_by_artist[artist_id][i % 2] if artist_id and has_album[i] else None
                    at = now - timedelta(seconds=float(seconds[i]))
                    target = TARGETS[target_pick[i]] if target_pick[i] < len(TARGETS) else None
                    c = float(round(conf[i], 4))
                    copy.write_row((ids[i], text, artist_id, album_id, target, at, at, category, c, model, at, at, at))
                    if category != "SPAM":
                        for p in range(int(n_tags[i])):
                            tag_rows.append((ids[i], codes[(text_idx[i] * 7 + p * 13) % len(codes)], p))
                    if time.perf_counter() - last > 5:
                        log(f"comments {i:,}/{rows:,}")
                        last = time.perf_counter()
            with cur.copy("COPY comment_tags (comment_id, code, position) FROM STDIN") as copy:
                seen = set()
                for cid, code, pos in tag_rows:
                    if (cid, code) not in seen:
                        seen.add((cid, code))
                        copy.write_row((cid, code, pos))
        conn.commit()
        loaded = time.perf_counter() - started
        conn.autocommit = True
        conn.execute("VACUUM ANALYZE")
    return {"load_s": round(loaded, 1), "total_s": round(time.perf_counter() - started, 1)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--pg", default=DEFAULT_ADMIN_URL, help="admin URL (needs CREATE DATABASE)")
    parser.add_argument("--db", default=None, help="database name (default: a new alumusic_bench_<random>)")
    parser.add_argument("--reuse", action="store_true", help="keep an already populated --db as it is")
    args = parser.parse_args()
    url, populated = create_database(args.pg, args.db, args.reuse)
    if populated:
        log(f"reusing populated {url}")
    else:
        migrate(url)
        log(f"populating {args.rows:,} comments over {args.days} days")
        log(f"done: {populate(url, args.rows, args.days, args.seed)}")
    print(url)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
