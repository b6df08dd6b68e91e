"""The report's rollups against the raw rows, on real PostgreSQL: every chart computed from the rollups (closed days
and hours) equals the same chart computed from raw comments only, on the same data, through everything that
changes comments — ingest with late `publicado_em`, curator corrections (PATCH), bulk import, deletes, tag edits,
comments moving between artists — and as the clock crosses hours and days."""

from __future__ import annotations

import json
import math
import random
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import delete, func, literal_column, select, update

from tests.support.report_data import add_comments

CATEGORIES = ("ELOGIO", "CRÍTICA", "SUGESTÃO", "DÚVIDA", "SPAM")
ARTISTS = ("Lua Serena", "MC Trovão", "Banda Aurora", None)
TAGS = ("show_duracao", "app_busca", "app_playlist", "app_letras")


def _same(a, b) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        return a is not None and b is not None and math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-3)
    return a == b


def assert_rollup_equals_raw(app, now: datetime, filters=None, **cfg_overrides) -> None:
    """Every chart, rollup path vs raw path, row by row (floats up to summation order)."""
    from app.extensions import db
    from app.schemas.reports import ReportFilters
    from app.services.reports import compute_report

    filters = filters or ReportFilters()
    with app.app_context():
        cfg = {**app.config, **cfg_overrides}
        rolled = compute_report(db.session, filters, cfg, now=now, rollup=True)
        raw = compute_report(db.session, filters, cfg, now=now, rollup=False)
    assert rolled.windows.rollup and not raw.windows.rollup
    for mine, ref in zip(rolled.charts, raw.charts, strict=True):
        assert len(mine.rows) == len(ref.rows), mine.id
        for got, want in zip(mine.rows, ref.rows, strict=True):
            assert got.keys() == want.keys(), mine.id
            bad = {k: (got[k], want[k]) for k in got if not _same(got[k], want[k])}
            assert not bad, f"{mine.id} ({filters.cache_params()}): {bad}"


def random_comments(app, rng: random.Random, now: datetime, count: int, *, days: int = 38) -> None:
    """Comments spread over `days` days before `now` (some exactly on hour marks, a few in the future)."""
    for _ in range(count // 10):
        at = now - timedelta(seconds=rng.randrange(days * 86400))
        if rng.random() < 0.2:
            at = at.replace(minute=0, second=0, microsecond=0)
        if rng.random() < 0.05:
            at = now + timedelta(minutes=rng.randrange(1, 180))
        specs = [(rng.choice(CATEGORIES), rng.choice(ARTISTS), at + timedelta(seconds=i)) for i in range(10)]
        album = rng.choice([None, "Disco Novo", "Ao Vivo"])
        release = (now - timedelta(days=rng.randrange(0, 29))).date() if album else None
        tags = tuple(rng.sample(TAGS, rng.randrange(0, 3)))
        add_comments(app, specs, album=album, release=release, tags=tags, confidence=rng.choice([0.3, 0.55, 0.9]))


def comment_ids(app, limit: int, *, older_than: datetime) -> list[uuid.UUID]:
    from app.extensions import db
    from app.models.comment import Comment

    with app.app_context():
        return list(
            db.session.scalars(
                select(Comment.id).where(Comment.occurred_at < older_than).order_by(func.random()).limit(limit)
            )
        )


@pytest.mark.parametrize("seed", [7, 2026])
def test_rollup_feeds_equal_raw_feeds_through_every_kind_of_change(app, role_auth, seed):
    from app.extensions import db
    from app.models.catalog import Artist
    from app.models.comment import Comment, CommentTag
    from app.models.report_rollup import ReportRollupChange, ReportRollupDaily
    from app.schemas.reports import ReportFilters

    rng = random.Random(seed)
    now = datetime.now(UTC).replace(microsecond=0)
    random_comments(app, rng, now, 400)
    assert_rollup_equals_raw(app, now)  # first fold: a full build
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(ReportRollupDaily)) > 0
        # Only future hours (comments dated ahead of `now`) wait in the log until they close.
        next_hour = now.replace(minute=0, second=0) + timedelta(hours=1)
        assert db.session.scalar(select(func.count()).where(ReportRollupChange.hora < next_hour)) == 0

    client = app.test_client()
    # Ingest through the API with late publicado_em (closed days and hours already folded).
    late = [
        {"texto": f"o show foi incrível demais {n}", "artista": "Lua Serena",
         "publicado_em": (now - timedelta(days=rng.randrange(1, 30), minutes=n)).isoformat()}
        for n in range(5)
    ]  # fmt: skip
    resp = client.post("/api/comentarios", json=late, headers=role_auth["ingestao"])
    assert resp.status_code in (200, 201, 207), resp.get_data(as_text=True)
    # Curator corrections (category and tags) of old comments.
    for comment_id in comment_ids(app, 6, older_than=now - timedelta(days=2)):
        body = {"categoria": rng.choice(CATEGORIES), "tags_funcionalidades": rng.sample(TAGS, 2)}
        resp = client.patch(f"/api/comentarios/{comment_id}", json=body, headers=role_auth["curador"])
        assert resp.status_code == 200, resp.get_data(as_text=True)
    # A bulk import of old comments (the import service, as the worker runs it).
    from app.services import imports

    lines = [
        json.dumps({"texto": f"a playlist some do app {n}", "artista": "MC Trovão",
                    "publicado_em": (now - timedelta(days=3 + n, hours=n)).isoformat()})
        for n in range(8)
    ]  # fmt: skip
    with app.test_request_context():
        job = imports.create_job(imports.Upload("jsonl", "\n".join(lines).encode(), "x.jsonl"), run=False)
        imports.run_job(job.id)
        assert imports.get_job(job.id).created == 8
    # Deletes, a comment moved to another artist and another day, a tag removed, straight in SQL.
    victims = comment_ids(app, 8, older_than=now - timedelta(hours=3))
    with app.app_context():
        db.session.execute(delete(Comment).where(Comment.id.in_(victims[:3])))
        other = db.session.scalar(select(Artist.id).where(Artist.name == "Banda Aurora"))
        db.session.execute(
            update(Comment)
            .where(Comment.id.in_(victims[3:6]))
            .values(artist_id=other, occurred_at=Comment.occurred_at - literal_column("interval '2 days 5 hours'"))
        )
        db.session.execute(delete(CommentTag).where(CommentTag.comment_id.in_(victims[6:])))
        db.session.execute(update(Comment).where(Comment.id == victims[6]).values(confidence=0.01))
        db.session.commit()
    for filters in (ReportFilters(), ReportFilters(artista="Lua Serena"), ReportFilters(album="Disco Novo")):
        assert_rollup_equals_raw(app, now, filters)

    # The clock moves on: hours and the local day close, new comments land in the new open hour.
    later = now + timedelta(hours=26, minutes=rng.randrange(60))
    random_comments(app, rng, later, 60, days=2)
    assert_rollup_equals_raw(app, later)
    assert_rollup_equals_raw(app, later, ReportFilters(artista="MC Trovão"))
    # A different review threshold or time zone is a different rollup: rebuilt, still equal.
    assert_rollup_equals_raw(app, later, REVIEW_THRESHOLD=0.6)
    assert_rollup_equals_raw(app, later, REPORT_TIMEZONE="Asia/Kolkata")  # a +05:30 zone: days cut mid-hour


def test_a_comment_written_while_the_rollup_is_folded_is_picked_up_by_the_next_fold(app):
    """The change log is consumed inside the fold's transaction: a writer committing after that keeps its row."""
    from app.extensions import db
    from app.models.report_rollup import ReportRollupChange
    from app.services.report_rollup import fold
    from app.services.report_windows import Windows

    now = datetime.now(UTC)
    add_comments(app, [("ELOGIO", "Lua Serena", now - timedelta(days=3))])
    assert_rollup_equals_raw(app, now)
    add_comments(app, [("CRÍTICA", "Lua Serena", now - timedelta(days=3, hours=2))])
    with app.app_context():
        pending = db.session.scalars(select(ReportRollupChange.hora)).all()
        assert [h.astimezone(UTC) for h in pending] == [
            (now - timedelta(days=3, hours=2)).replace(minute=0, second=0, microsecond=0)
        ]
        result = fold(db.session, Windows.at(now, app.config["REPORT_TIMEZONE"], rollup=True), app.config)
        assert not result["rebuilt"] and result["hours"] == 0 and result["days"] == 1  # day 3 back, hourly floor 72 h
        assert db.session.scalar(select(func.count()).select_from(ReportRollupChange)) == 0
    assert_rollup_equals_raw(app, now)


def test_ingest_logs_each_hour_once_and_tags_written_later_still_log_theirs(app):
    """Ingest's tag rows belong to the comments it has just copied, whose statement logged their hours: the tag
    trigger skips that one COPY (migration a1c0ingest005), so each hour is logged once, not twice. A tag written
    afterwards, in the same transaction or a later one, still logs its hour, and the folded charts stay equal."""
    from app.extensions import db
    from app.models.comment import CommentTag
    from app.models.report_rollup import ReportRollupChange
    from app.schemas.comments import CommentIn
    from app.services import comments

    now = datetime.now(UTC)
    hours = [(now - timedelta(days=2, hours=h)).replace(minute=0, second=0, microsecond=0) for h in range(10)]
    tagged = "O show foi incrível, mas o som estava baixo e o app travou na hora de comprar o ingresso"
    items = [
        CommentIn(texto=f"{tagged} <{h}.{i}>", artista="Lua Serena", publicado_em=at + timedelta(minutes=7 * i))
        for h, at in enumerate(hours)
        for i in range(3)
    ]

    def logged() -> list[datetime]:
        return sorted(h.astimezone(UTC) for h in db.session.scalars(select(ReportRollupChange.hora)))

    with app.app_context():
        db.session.execute(delete(ReportRollupChange))
        db.session.commit()
        result = comments.ingest(items)
        assert all(item["tags_funcionalidades"] for item in result.items)  # every comment wrote tag rows
        assert logged() == sorted(hours)  # once per hour (twice before: comments and their tags)

        # A tag added later in the same transaction as an ingest is logged: the flag covered one statement only.
        late = now - timedelta(days=4, hours=5)
        extra = comments.stage_batch(
            [CommentIn(texto=f"{tagged} <tarde>", publicado_em=late)], comments.get_classifier()
        )
        earlier = uuid.UUID(str(result.items[0]["id"]))
        db.session.add(CommentTag(comment_id=earlier, code="merch_produtos", position=9))
        db.session.commit()
        late_hour = late.replace(minute=0, second=0, microsecond=0)
        assert extra.created == 1
        assert logged() == sorted([*hours, late_hour, hours[0]])

        # And one in a transaction of its own (a curator's tag edit).
        db.session.execute(delete(ReportRollupChange))
        db.session.add(CommentTag(comment_id=uuid.UUID(str(result.items[4]["id"])), code="merch_produtos", position=9))
        db.session.commit()
        assert logged() == [hours[1]]
    assert_rollup_equals_raw(app, now)


def test_a_truncated_table_makes_the_next_fold_rebuild(app):
    from app.extensions import db
    from app.services.report_rollup import fold
    from app.services.report_windows import Windows

    now = datetime.now(UTC)
    add_comments(app, [("ELOGIO", "Lua Serena", now - timedelta(days=2))] * 2)
    assert_rollup_equals_raw(app, now)
    with app.app_context():
        db.session.execute(db.text("TRUNCATE comments CASCADE"))
        db.session.commit()
        result = fold(db.session, Windows.at(now, app.config["REPORT_TIMEZONE"], rollup=True), app.config)
        assert result["rebuilt"]
    assert_rollup_equals_raw(app, now)
    from app.schemas.reports import ReportFilters
    from app.services.reports import compute_report

    with app.app_context():
        charts = {c.id: c for c in compute_report(db.session, ReportFilters(), app.config, now=now).charts}
    assert sum(r["comentarios"] for r in charts["volume_diario_por_categoria"].rows) == 0
