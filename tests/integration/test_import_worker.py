"""Bulk import on a real Celery worker and Beat (Redis broker, PostgreSQL): the worker is SIGKILLed mid-job,
restarted, and the job completes with exactly the right rows; bad rows are listed with their line numbers."""

from __future__ import annotations

import re
import uuid

import pytest
import redis
from sqlalchemy import func, select

from app.extensions import db
from app.models.comment import Comment
from app.models.job import ImportJob
from tests.support import services
from tests.support.processes import app_env, celery_beat, celery_worker, children, memory_kb, wait_until

pytestmark = pytest.mark.timeout(300)

ROWS = 12000
BAD_EVERY = 1000  # lines 2, 1002, 2002, ... have an empty text


@pytest.fixture
def broker_url():
    url = services.redis_url()
    services.check_redis(url)
    client = redis.Redis.from_url(url)
    # Stale messages of an earlier run must not leak in; only the Celery keys this test uses are dropped.
    celery_keys = ("imports", "default", "unacked", "unacked_index", "unacked_mutex")
    client.delete(*celery_keys)
    yield url
    client.delete(*celery_keys)
    client.close()


def job_row(app, job_id: str) -> ImportJob:
    with app.app_context():
        db.session.expire_all()
        job = db.session.get(ImportJob, uuid.UUID(job_id))
        db.session.expunge(job)
        return job


def test_worker_killed_mid_import_is_restarted_and_the_job_completes_exactly(
    app, app_factory, pg_database, model_dir, broker_url, role_auth, tmp_path
):
    settings = {"REDIS_URL": broker_url, "CELERY_BROKER_URL": broker_url, "IMPORT_CHUNK_SIZE": 300,
                "IMPORT_STALE_SECONDS": 5}  # fmt: skip
    web = app_factory(**settings)
    env = app_env(DATABASE_URL=pg_database, MODEL_DIR=model_dir, **{k: str(v) for k, v in settings.items()})
    worker = celery_worker(env, tmp_path / "worker-1.log").start()
    beat = celery_beat(env, tmp_path / "beat.log", tmp_path / "celerybeat-schedule").start()
    try:
        worker.wait_for_log(r"ready\.", timeout=90)
        lines = ["texto,artista"] + [
            ("" if n % BAD_EVERY == 0 else f"comentário {n}: o show de ontem foi incrível") + ",Banda Aurora"
            for n in range(ROWS)
        ]
        resp = web.test_client().post(
            "/api/importacoes",
            data="\n".join(lines).encode(),
            headers={**role_auth["ingestao"], "Content-Type": "text/csv"},
        )
        assert resp.status_code == 202, resp.get_data(as_text=True)
        job_id = resp.get_json()["id"]

        # Kill the worker once some chunks are committed, well before the end.
        wait_until(lambda: job_row(web, job_id).processed >= 600, 120, "the first chunks", worker)
        worker.kill()
        killed = job_row(web, job_id)
        assert killed.status == "processando" and 600 <= killed.processed < ROWS

        # A new worker; Beat's sweep hands it the stalled job once its heartbeat is older than 5 s.
        worker = celery_worker(env, tmp_path / "worker-2.log").start()
        wait_until(lambda: job_row(web, job_id).status == "concluida", 180, "the job to complete", worker)
    finally:
        worker.stop()
        beat.stop()

    done = job_row(web, job_id)
    bad = ROWS // BAD_EVERY
    assert (done.total, done.processed, done.created, done.existing, done.failed) == (ROWS, ROWS, ROWS - bad, 0, bad)
    assert done.attempts >= 2
    assert [e["linha"] for e in done.errors] == [2 + n * BAD_EVERY for n in range(bad)]
    with web.app_context():
        assert db.session.scalar(select(func.count(Comment.id))) == ROWS - bad
        texts = db.session.scalar(select(func.count(func.distinct(Comment.text))))
        assert texts == ROWS - bad  # no comment stored twice
    assert "resume_stalled_imports" in beat.text()


def test_pool_processes_classify_with_the_model_their_worker_loaded_before_forking(
    app_factory, pg_database, model_dir, broker_url, role_auth, tmp_path
):
    """The worker's main process preloads the active model (worker_init) before its prefork pool starts: pool
    processes that classify an import use that copy, shared with the main process, instead of loading their own."""
    settings = {"REDIS_URL": broker_url, "CELERY_BROKER_URL": broker_url}
    web = app_factory(**settings)
    env = app_env(DATABASE_URL=pg_database, MODEL_DIR=model_dir, **settings)
    worker = celery_worker(env, tmp_path / "worker.log", concurrency=2).start()
    try:
        worker.wait_for_log(r"ready\.", timeout=90)
        assert re.search(r"preloaded the app's modules and model \S+ for the pool", worker.text())
        jobs = []
        for n in range(2):
            lines = ["texto"] + [f"o show {n}-{i} de ontem foi incrível e que voz" for i in range(40)]
            resp = web.test_client().post(
                "/api/importacoes",
                data="\n".join(lines).encode(),
                headers={**role_auth["ingestao"], "Content-Type": "text/csv"},
            )
            assert resp.status_code == 202, resp.get_data(as_text=True)
            jobs.append(resp.get_json()["id"])
        for job_id in jobs:
            wait_until(lambda job_id=job_id: job_row(web, job_id).status == "concluida", 120, "the import", worker)
            job = job_row(web, job_id)
            assert job.created == 40, (job.processed, job.failed, job.errors, job.existing, job.total)
        pool = children(worker.popen.pid)
        assert len(pool) == 2
        for pid in pool:
            memory = memory_kb(pid)
            # The model is the main process's pages, not a private copy per pool process.
            assert memory["Shared_Dirty"] > memory["Private_Dirty"], memory
    finally:
        worker.stop()
