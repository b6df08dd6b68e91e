"""A comment's first answer is its own row on PostgreSQL until something changes it (migration a1c0ingest006).

Ingest writes no history row; the history shows the row as its one `modelo` event, and the first change of the
comment's category, confidence or model (whoever makes it: the API, the panel's bulk action, the second opinion, a
hand-written UPDATE) first copies the old answer, with its tags, into the history, exactly once. Tags written after
their comment (an ORM writer, a bulk load) are part of the first answer, not a change of it.
"""

from __future__ import annotations

import threading
import uuid
from datetime import datetime

import psycopg
import pytest
from sqlalchemy import func, select, text

from app.extensions import db
from app.models.comment import ClassificationEvent
from app.models.user import User
from app.services import curation

URL = "/api/comentarios"
TAGGED = "O áudio do clipe novo está horrível, a mixagem abafou a voz e a letra não dá pra entender"


@pytest.fixture
def ingest(client, role_auth):
    def post(texto: str) -> dict:
        resp = client.post(URL, json={"texto": texto, "artista": "Banda Aurora"}, headers=role_auth["ingestao"])
        assert resp.status_code == 201, resp.get_data(as_text=True)
        return resp.get_json()

    return post


@pytest.fixture
def history(client, role_auth):
    def read(comment_id: str) -> list[dict]:
        resp = client.get(f"{URL}/{comment_id}/historico", headers=role_auth["leitor"])
        assert resp.status_code == 200, resp.get_data(as_text=True)
        return resp.get_json()

    return read


def stored_events(app, comment_id: str) -> list[tuple[str, str]]:
    with app.app_context():
        rows = db.session.execute(
            select(ClassificationEvent.source, ClassificationEvent.category)
            .where(ClassificationEvent.comment_id == uuid.UUID(comment_id))
            .order_by(ClassificationEvent.created_at, ClassificationEvent.id)
        )
        return [tuple(r) for r in rows]


def assert_is_the_answer(event: dict, answer: dict) -> None:
    """The history's `modelo` event says what POST answered: category, confidence, tags, model and when."""
    assert event["fonte"] == "modelo"
    assert event["categoria"] == answer["categoria"]
    assert event["confianca"] == answer["confianca"]
    assert event["tags_funcionalidades"] == answer["tags_funcionalidades"]
    assert event["modelo"] == answer["modelo"]
    assert event["usuario"] is None and event["motivo"] is None
    assert datetime.fromisoformat(event["em"]) == datetime.fromisoformat(answer["classificado_em"])


def test_ingest_writes_no_history_row_and_the_history_shows_the_answer(app, ingest, history):
    answer = ingest(TAGGED)
    assert answer["tags_funcionalidades"], "the sample must carry tags: their copy is part of the check"

    assert stored_events(app, answer["id"]) == []
    events = history(answer["id"])
    assert len(events) == 1
    assert_is_the_answer(events[0], answer)


@pytest.mark.parametrize(
    "correction",
    [{"categoria": "ELOGIO", "motivo": "ironia"}, {"tags_funcionalidades": ["letra_qualidade"]}],
    ids=["category", "tags-only"],
)
def test_a_correction_keeps_the_first_answer_before_it(app, ingest, history, client, role_auth, correction):
    answer = ingest(TAGGED)

    resp = client.patch(f"{URL}/{answer['id']}", json=correction, headers=role_auth["curador"])
    assert resp.status_code == 200, resp.get_data(as_text=True)

    events = history(answer["id"])
    assert [e["fonte"] for e in events] == ["modelo", "curador"]
    assert_is_the_answer(events[0], answer)
    assert events[1]["usuario"] == "user_curador"
    assert events[1]["tags_funcionalidades"] == resp.get_json()["tags_funcionalidades"]

    again = client.patch(f"{URL}/{answer['id']}", json={"categoria": "DÚVIDA"}, headers=role_auth["curador"])
    assert again.status_code == 200
    events = history(answer["id"])
    assert [e["fonte"] for e in events] == ["modelo", "curador", "curador"]
    assert_is_the_answer(events[0], answer)


def test_the_panels_bulk_action_keeps_every_first_answer(app, ingest, history, role_auth):
    answers = [ingest(f"{TAGGED} ({n})") for n in range(3)]

    with app.app_context():
        curator = db.session.scalar(select(User).where(User.username == "user_curador"))
        assert curation.bulk_correct([uuid.UUID(a["id"]) for a in answers], "SUGESTÃO", None, curator) == 3

    for answer in answers:
        events = history(answer["id"])
        assert [(e["fonte"], e["categoria"]) for e in events] == [
            ("modelo", answer["categoria"]),
            ("curador", "SUGESTÃO"),
        ]
        assert_is_the_answer(events[0], answer)


def test_a_hand_written_update_keeps_the_first_answer_and_other_columns_do_not_count(app, ingest, history):
    answer = ingest(TAGGED)
    with app.app_context():
        db.session.execute(text("UPDATE comments SET target = 'clipe' WHERE id = :id"), {"id": answer["id"]})
        db.session.commit()
    assert stored_events(app, answer["id"]) == [], "an edit of another column is no new answer"

    with app.app_context():
        db.session.execute(text("UPDATE comments SET category = 'SPAM' WHERE id = :id"), {"id": answer["id"]})
        db.session.commit()
    assert stored_events(app, answer["id"]) == [("modelo", answer["categoria"])]
    assert_is_the_answer(history(answer["id"])[0], answer)


def test_tags_written_after_their_comment_are_part_of_the_first_answer(app, history):
    """A writer that adds the comment, then its tags (the ORM, a bulk load): the tag-codes trigger fills tag_codes,
    which is not a change of answer, so nothing is copied and the history shows the row with its tags."""
    cid = str(uuid.uuid4())
    with app.app_context():
        db.session.execute(
            text(
                "INSERT INTO comments (id, text, occurred_at, category, confidence, model_version, classified_at,"
                " created_at, updated_at) VALUES (:id, 'o som do show', now(), 'CRÍTICA', 0.8, 'local:x', now(),"
                " now(), now())"
            ),
            {"id": cid},
        )
        db.session.flush()
        db.session.execute(
            text("INSERT INTO comment_tags (comment_id, code, position) VALUES (:id, 'show_som', 0)"), {"id": cid}
        )
        db.session.commit()
    assert stored_events(app, cid) == []
    (event,) = history(cid)
    assert (event["fonte"], event["categoria"], event["modelo"]) == ("modelo", "CRÍTICA", "local:x")
    assert [t["codigo"] for t in event["tags_funcionalidades"]] == ["show_som"]


def test_two_concurrent_corrections_keep_the_first_answer_once(app, ingest, pg_database):
    """Two transactions change the same fresh comment: the second waits for the first's row lock, then sees its
    copy (a trigger statement takes a fresh snapshot under READ COMMITTED) instead of writing another."""
    answer = ingest(TAGGED)
    url = pg_database.replace("postgresql+psycopg://", "postgresql://")
    first = psycopg.connect(url)
    second = psycopg.connect(url)
    try:
        first.execute("UPDATE comments SET category = 'ELOGIO' WHERE id = %s", (answer["id"],))
        done = threading.Event()

        def other() -> None:
            second.execute("UPDATE comments SET category = 'DÚVIDA' WHERE id = %s", (answer["id"],))
            second.commit()
            done.set()

        worker = threading.Thread(target=other)
        worker.start()
        assert not done.wait(0.5), "the second update should wait for the first's row lock"
        first.commit()
        worker.join(10)
        assert done.is_set()
    finally:
        first.close()
        second.close()

    assert stored_events(app, answer["id"]) == [("modelo", answer["categoria"])]
    with app.app_context():
        total = db.session.scalar(select(func.count()).select_from(ClassificationEvent))
    assert total == 1
