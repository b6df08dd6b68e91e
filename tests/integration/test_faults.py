"""Slow and failing dependencies: a database that never answers, a statement that would run for ever, the
broker down, the database connections killed mid-load. Each answers a fast 503 envelope, nothing acknowledged
is lost, and the service recovers without a restart."""

from __future__ import annotations

import threading
import time
import uuid

from sqlalchemy import func, select, text

from tests.integration.conftest import bearer, issue_tokens
from tests.support.envelope import assert_envelope
from tests.support.silent_server import silent_server

URL = "/api/comentarios"
# Generous bounds: the point is "seconds, not gunicorn's 60 s hang", not a benchmark.
CONNECT_TIMEOUT = 2


def test_a_database_that_never_answers_is_a_fast_503(app_factory, role_auth):
    with silent_server() as port:
        hung = app_factory(
            DATABASE_URL=f"postgresql://postgres@127.0.0.1:{port}/alumusic",
            DB_CONNECT_TIMEOUT=CONNECT_TIMEOUT,
            READY_CHECK_TIMEOUT=1,
        ).test_client()

        for method, url, kwargs in [
            ("get", "/ready", {}),
            ("post", "/api/auth/login", {"json": {"username": "user_admin", "password": "qualquer-senha-1"}}),
            ("get", URL, {"headers": role_auth["leitor"]}),
        ]:
            started = time.monotonic()
            resp = getattr(hung, method)(url, **kwargs)
            elapsed = time.monotonic() - started

            assert resp.status_code == 503, (url, resp.get_data(as_text=True))
            assert elapsed < CONNECT_TIMEOUT * 3 + 5, (url, elapsed)
            if url != "/ready":
                assert_envelope(resp, 503, "dependencia_indisponivel")
                assert resp.headers["Retry-After"]
            else:
                assert resp.get_json()["checks"]["banco"]["ok"] is False


def test_a_statement_past_the_api_timeout_is_a_503_and_the_next_request_works(app, app_factory, role_auth):
    """A reader cannot pin a database backend: the API's statement_timeout cancels it server-side."""
    from app.extensions import db

    bounded = app_factory(DB_STATEMENT_TIMEOUT_MS=300).test_client()
    with app.app_context():
        blocker = db.engine.connect()
        blocker.execute(text("LOCK TABLE comments IN ACCESS EXCLUSIVE MODE"))  # every read of comments waits
        try:
            resp = bounded.get(URL, headers=role_auth["leitor"])
        finally:
            blocker.rollback()
            blocker.close()

    assert_envelope(resp, 503, "dependencia_indisponivel")
    assert bounded.get(URL, headers=role_auth["leitor"]).status_code == 200  # same process, no restart


def test_long_work_can_lengthen_its_statement_timeout(app, app_factory):
    from app.extensions import db
    from app.services.db_limits import long_statements

    bounded = app_factory(DB_STATEMENT_TIMEOUT_MS=200, DB_LONG_STATEMENT_TIMEOUT_MS=5000)
    with bounded.app_context():
        assert db.session.scalar(text("SHOW statement_timeout")) == "200ms"
        with long_statements():
            assert db.session.scalar(text("SHOW statement_timeout")) == "5s"
            db.session.execute(text("SELECT pg_sleep(0.4)"))  # past the API limit, inside the long one
        db.session.commit()
        assert db.session.scalar(text("SHOW statement_timeout")) == "200ms"  # only for that transaction


def test_with_the_broker_down_background_work_is_503_and_ingest_still_works(app_factory, role_tokens):
    down = app_factory(CELERY_BROKER_URL="redis://127.0.0.1:1/0")
    client = down.test_client()
    admin = bearer(issue_tokens(down, "user_admin")["access_token"])
    ingestao = bearer(issue_tokens(down, "user_ingestao")["access_token"])

    assert_envelope(client.post("/api/modelos/retreinar", headers=admin), 503, "dependencia_indisponivel")
    # Unsure comments would get a second opinion in the background: that follow-up is skipped, the write is not.
    resp = client.post(URL, json=[{"texto": "hmm sei la"}, {"texto": "amei o show de ontem"}], headers=ingestao)
    assert resp.status_code == 201, resp.get_data(as_text=True)


def test_database_connections_killed_mid_load_lose_nothing_acknowledged(app, role_auth):
    """pg_terminate_backend on every app connection, repeatedly, while batches are posted: each request is a
    201 or a 503 (never a 500), every acknowledged comment is stored, and the pool recovers by itself."""
    from app.extensions import db
    from app.models import Comment

    acknowledged: list[str] = []
    statuses: list[int] = []
    lock = threading.Lock()
    stop = threading.Event()

    def post_batches() -> None:
        client = app.test_client()
        while not stop.is_set():
            batch = [{"id": str(uuid.uuid4()), "texto": f"o refrão {i} é lindo demais"} for i in range(20)]
            resp = client.post(URL, json=batch, headers=role_auth["ingestao"])
            with lock:
                statuses.append(resp.status_code)
                if resp.status_code == 201:
                    acknowledged.extend(item["id"] for item in batch)

    def terminate_app_backends() -> int:
        with app.app_context(), db.engine.connect() as conn:
            killed = conn.execute(
                text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid() AND application_name = 'alumusic'"
                )
            ).scalar_one()
            conn.commit()
            return int(killed)

    writers = [threading.Thread(target=post_batches) for _ in range(3)]
    for writer in writers:
        writer.start()
    killed = 0
    try:
        deadline = time.monotonic() + 60
        # Terminate until several rounds hit live connections and load kept flowing in between.
        while (killed < 5 or len(statuses) < 30) and time.monotonic() < deadline:
            killed += terminate_app_backends()
            time.sleep(0.05)
    finally:
        stop.set()
        for writer in writers:
            writer.join(timeout=60)

    assert killed >= 5 and len(statuses) >= 30, (killed, len(statuses))
    assert set(statuses) <= {201, 503}, sorted(set(statuses))
    with app.app_context():
        stored = set(map(str, db.session.scalars(select(Comment.id).where(Comment.id.in_(acknowledged)))))
        assert len(stored) == len(acknowledged), "an acknowledged comment is missing"
        assert db.session.scalar(select(func.count()).select_from(Comment)) >= len(acknowledged)
    ok = app.test_client().post(URL, json={"texto": "voltou tudo ao normal"}, headers=role_auth["ingestao"])
    assert ok.status_code == 201  # recovered without a restart
