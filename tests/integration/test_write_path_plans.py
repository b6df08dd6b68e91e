"""The write path's cost follows the rows written, not the size of the table, on real PostgreSQL.

Every statement PostgreSQL runs for an ingest and a curator correction (the app's own and those run by the triggers
on comments and comment_tags) is captured with its plan (auto_explain, nested statements included). None may read a
whole table: a trigger that joined its transition table to `comments` by hash once scanned every comment on every
ingest request, which at 100k comments cut ingest with batches of 100 to a third (migration a1c0ingest002).
"""

from __future__ import annotations

import re
import uuid

import pytest
from sqlalchemy import func, text

from app.schemas.comments import CommentIn, CorrectionIn

# Enough rows that the planner prefers a sequential scan + hash join over 100 key lookups when it may.
EXISTING = 20_000
BIG_TABLES = ("comments", "comment_tags", "classification_events")
TAGGED = "O show foi incrível, mas o som estava baixo e o app travou na hora de comprar o ingresso de novo"


def _add_old_comments(session, n: int = EXISTING) -> None:
    """n comments with two tags each, written in SQL (no triggers' help needed: every copy is given)."""
    session.execute(
        text(
            "INSERT INTO comments (id, text, occurred_at, category, confidence, model_version, classified_at,"
            " created_at, updated_at, tag_codes)"
            " SELECT gen_random_uuid(), 'comentário antigo ' || g, now() - (g % 720) * interval '1 hour',"
            " 'ELOGIO', 0.9, 'local:teste', now(), now(), now(), 'show_som|app_busca'"
            " FROM generate_series(1, :n) AS g"
        ),
        {"n": n},
    )
    session.execute(
        text(
            "INSERT INTO comment_tags (comment_id, code, position, category, occurred_at, classified_at)"
            " SELECT c.id, v.code, v.position, c.category, c.occurred_at, c.classified_at"
            " FROM comments c, (VALUES ('show_som', 0), ('app_busca', 1)) AS v(code, position)"
            " WHERE c.model_version = 'local:teste'"
        )
    )


@pytest.fixture
def crowded(app):
    """The test database with EXISTING comments (two tags each), analysed like a running system's."""
    from app.extensions import db

    with app.app_context():
        _add_old_comments(db.session)
        db.session.commit()
        with db.engine.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT").execute(text("ANALYZE"))
    return app


@pytest.fixture
def one_connection(app_factory):
    """An app whose every checkout is the same PostgreSQL backend (the work may commit several times: the
    auto_explain settings and the notice handler must stay on the connection that runs it)."""
    from sqlalchemy.pool import StaticPool

    from app.extensions import db

    worker_app = app_factory(SQLALCHEMY_ENGINE_OPTIONS={"poolclass": StaticPool})
    yield worker_app
    with worker_app.app_context():
        db.engine.dispose()


def _plans_of(session, work) -> list[str]:
    """Run work() on this session's connection with auto_explain on; return the plan of every statement it ran."""
    conn = session.connection()
    driver = conn.connection.driver_connection
    plans: list[str] = []

    def keep(diag) -> None:
        if "plan:" in (diag.message_primary or ""):
            plans.append(diag.message_primary)

    for sql in (
        "LOAD 'auto_explain'",
        "SET auto_explain.log_min_duration = 0",
        "SET auto_explain.log_nested_statements = on",
        "SET auto_explain.log_level = notice",
        "SET client_min_messages = notice",
    ):
        conn.exec_driver_sql(sql)
    driver.add_notice_handler(keep)
    try:
        work()
    finally:
        driver.remove_notice_handler(keep)
        session.rollback()
        session.connection().exec_driver_sql("RESET ALL")
        session.commit()
    return plans


def _full_scans(plans: list[str]) -> list[str]:
    pattern = re.compile(r"Seq Scan on (" + "|".join(BIG_TABLES) + r")\b")
    return [p for p in plans if pattern.search(p)]


def test_ingest_and_correction_never_scan_a_whole_table(crowded, role_tokens, one_connection):
    from app.extensions import db
    from app.models.user import User
    from app.services import comments

    with one_connection.app_context():
        curator = db.session.scalars(db.select(User).where(User.role == "curador")).first()
        items = [CommentIn(texto=f"{TAGGED} ({i})", artista="Banda Aurora", album="Disco Novo") for i in range(100)]
        stored: list = []

        def ingest_then_correct() -> None:
            result = comments.ingest(items)
            stored.extend(result.items)
            first = uuid.UUID(str(result.items[0]["id"]))
            comments.correct(
                first,
                CorrectionIn(categoria="CRÍTICA", tags_funcionalidades=["app_busca"], motivo="teste"),
                curator,
            )

        plans = _plans_of(db.session, ingest_then_correct)

        assert len(stored) == 100
        # The plans are really captured: the COPYs' triggers and the correction's statements are among them.
        assert any("UPDATE comments c SET tag_codes" in p for p in plans)
        assert any("UPDATE comment_tags SET category" in p for p in plans)
        assert _full_scans(plans) == []

        # And the triggers still did their job: the corrected comment's tag codes and its tag rows' copies.
        row = db.session.execute(
            text(
                "SELECT c.tag_codes, c.category, t.category, t.classified_at = c.classified_at"
                " FROM comments c JOIN comment_tags t ON t.comment_id = c.id WHERE c.id = :id"
            ),
            {"id": stored[0]["id"]},
        ).one()
        assert tuple(row) == ("app_busca", "CRÍTICA", "CRÍTICA", True)


def test_a_connection_opened_on_a_small_table_does_not_keep_a_small_table_plan(app, role_tokens, one_connection):
    """Triggers' plans are cached per connection: a web worker that started while the tables were small (a new
    deployment, a fresh database) must not keep scanning whole tables once they have grown. The tables are not
    analysed in between, as when nothing has run ANALYZE yet."""
    from sqlalchemy import select as sa_select

    from app.extensions import db
    from app.models.user import User
    from app.services import comments

    def pid() -> int:
        return db.session.execute(sa_select(func.pg_backend_pid())).scalar_one()

    def ingest_then_correct(items: list[CommentIn]) -> None:
        first = uuid.UUID(str(comments.ingest(items).items[0]["id"]))
        comments.correct(first, CorrectionIn(categoria="CRÍTICA", tags_funcionalidades=["app_busca"]), curator)

    worker_app = one_connection
    with worker_app.app_context():
        curator = db.session.scalars(db.select(User).where(User.role == "curador")).first()
        worker = pid()
        db.session.commit()
        for n in range(8):  # past PostgreSQL's 5 custom plans: from here on a cached generic plan may be reused
            ingest_then_correct([CommentIn(texto=f"{TAGGED} [{n}.{i}]") for i in range(3)])
    with app.app_context():  # another backend grows the tables
        assert pid() != worker
        _add_old_comments(db.session)
        db.session.commit()
    with worker_app.app_context():
        curator = db.session.merge(curator)
        items = [CommentIn(texto=f"{TAGGED} ({i})") for i in range(100)]
        plans = _plans_of(db.session, lambda: ingest_then_correct(items))
        assert pid() == worker  # the same backend, with whatever it had cached
        db.session.commit()

    assert any("UPDATE comments c SET tag_codes" in p for p in plans)
    assert _full_scans(plans) == []


def test_ingest_writes_tag_codes_itself_and_later_tag_writes_are_still_synced(app, one_connection):
    """Ingest stores each comment's tag codes in its row, so the tag-codes trigger skips ingest's own COPY
    (migration a1c0ingest004); the flag is good for that one statement only: a tag written afterwards in the same
    transaction is synced by the trigger, and every comment's codes match its tag rows."""
    from app.extensions import db
    from app.models.comment import CommentTag
    from app.services import comments

    with one_connection.app_context():
        items = [CommentIn(texto=f"{TAGGED} <{i}>") for i in range(50)]
        stored: list = []

        def ingest_then_add_a_tag() -> None:
            result = comments.stage_batch(items, comments.get_classifier())
            stored.extend(result.items)
            target = next(i for i in result.items if i["tags_funcionalidades"])
            db.session.add(CommentTag(comment_id=uuid.UUID(str(target["id"])), code="merch_produtos", position=9))
            db.session.flush()
            mismatched.extend(
                db.session.execute(
                    text(
                        "SELECT c.id FROM comments c WHERE c.id = ANY(CAST(:ids AS uuid[])) AND c.tag_codes IS"
                        " DISTINCT FROM (SELECT string_agg(t.code, '|' ORDER BY t.position) FROM comment_tags t"
                        " WHERE t.comment_id = c.id)"
                    ),
                    {"ids": [str(i["id"]) for i in result.items]},
                ).all()
            )
            with_new_tag.append(
                db.session.execute(
                    text("SELECT tag_codes FROM comments WHERE id = :id"), {"id": str(target["id"])}
                ).scalar_one()
            )

        mismatched: list = []
        with_new_tag: list = []
        plans = _plans_of(db.session, ingest_then_add_a_tag)

    assert len(stored) == 50
    assert sum(1 for i in stored if i["tags_funcionalidades"]) >= 40  # the text carries tags: COPY wrote rows
    # The trigger's sync ran once: for the tag added after the COPY, not for the COPY.
    assert sum("UPDATE comments c SET tag_codes" in p for p in plans) == 1
    assert with_new_tag[0].split("|")[-1] == "merch_produtos"
    assert mismatched == []


UNTAGGED = "asdfgh qwerty zxcvb"


@pytest.mark.parametrize("case", ["no_tags", "all_stored", "conflict"])
def test_a_batch_that_writes_no_tags_leaves_later_tag_writes_synced(app, case):
    """The lookups set the triggers' skip flag ahead of the tag COPY, in their round trip. A batch that then writes
    no tag row (none of its comments has a tag, all are already stored, or an id clashes and the caller goes on in
    the same transaction, as imports do) clears it: the next tag written in that transaction is synced."""
    from app.errors import Conflict
    from app.extensions import db
    from app.models.comment import CommentTag
    from app.services import comments

    with app.app_context():
        classifier = comments.get_classifier()
        kept = CommentIn(id=uuid.uuid4(), texto=TAGGED)
        comments.stage_batch([kept], classifier)
        db.session.commit()
        if case == "no_tags":
            result = comments.stage_batch([CommentIn(texto=f"{UNTAGGED} {i}") for i in range(5)], classifier)
            assert result.created == 5 and not any(i["tags_funcionalidades"] for i in result.items)
        elif case == "all_stored":
            assert comments.stage_batch([kept], classifier).created == 0
        else:
            with pytest.raises(Conflict):
                comments.stage_batch([CommentIn(id=kept.id, texto="outro texto")], classifier)
        db.session.add(CommentTag(comment_id=kept.id, code="merch_produtos", position=9))
        db.session.flush()
        codes = db.session.execute(text("SELECT tag_codes FROM comments WHERE id = :id"), {"id": kept.id}).scalar_one()
        db.session.rollback()
    assert codes.split("|")[-1] == "merch_produtos"


def test_curator_counts_read_the_curator_index_in_every_plan(crowded, role_tokens, one_connection):
    """Ingest writes no entry into the curator-events index (it is partial: source = 'curador'); the panel's
    counts must still use it, also once the driver has prepared the statement and PostgreSQL may reuse a generic
    plan, which cannot use a partial index unless the value is written into the SQL."""
    from app.extensions import db
    from app.models.user import User
    from app.services import curation

    with one_connection.app_context():
        curator = db.session.scalars(db.select(User).where(User.role == "curador")).first()
        db.session.execute(
            text(
                "INSERT INTO classification_events (comment_id, source, category, confidence, tags, created_at,"
                " user_id) SELECT id, CASE WHEN row_number() OVER () % 1000 = 0 THEN 'curador' ELSE 'modelo' END,"
                " category, 0.9, '[]', now(), CASE WHEN row_number() OVER () % 1000 = 0 THEN :uid END"
                " FROM comments"
            ),
            {"uid": curator.id},
        )
        db.session.commit()
        with db.engine.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT").execute(text("ANALYZE classification_events"))
        for _ in range(8):  # past psycopg's prepare threshold and PostgreSQL's 5 custom plans
            progress = curation.review_progress(curator)
            db.session.commit()
        counted: list = []
        plans = _plans_of(
            db.session,
            lambda: counted.extend([curation.review_progress(curator), curation.corrections_for_retraining()]),
        )

    assert progress["hoje_todos"] == progress["hoje_meus"] == counted[0]["hoje_todos"] == EXISTING // 1000
    assert counted[1] == EXISTING // 1000
    counts = [p for p in plans if "FROM classification_events" in p]
    assert len(counts) == 2, plans
    assert all("ix_classification_events_curator_created_at" in p for p in counts), counts
    assert not [p for p in counts if "Seq Scan on classification_events" in p], counts
