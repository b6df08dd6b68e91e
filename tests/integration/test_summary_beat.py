"""The scheduled weekly summary with a real Celery Beat and worker (Redis broker) and a real SMTP server.

Beat's entry is set to fire at the next minute (wall clock in SUMMARY_TIMEZONE). SMTP starts down: the summary is
stored and each delivery fails and is retried with backoff; once SMTP is up the good recipient gets exactly one
message (text + HTML + inline chart) and the refused one ends `falhou` without holding the other back. Firing the
run again sends nothing more.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from celery import Celery

from app.extensions import db
from app.models.summary import SummaryDelivery, WeeklySummary
from app.services.weeks import IsoWeek
from tests.support import services
from tests.support.celery_procs import beat, wait_until, worker
from tests.support.summaries import TZ, SmtpServer, free_port, parts, sample_week

GOOD, REFUSED = "diretoria@alumusic.com", "recusado@alumusic.com"


@pytest.fixture
def broker_url():
    url = services.redis_url()
    services.check_redis(url)
    import redis

    redis.Redis.from_url(url).flushdb()  # this suite's own database number: no stale task from an earlier run
    return url


def _states(app) -> dict[str, tuple[str, int]]:
    with app.app_context():
        db.session.remove()
        rows = db.session.scalars(db.select(SummaryDelivery)).all()
        return {d.recipient: (d.state, d.attempts) for d in rows}


def test_scheduled_run_retries_through_smtp_outage_and_sends_once(app, pg_database, model_dir, broker_url, tmp_path):
    week = str(IsoWeek.previous(datetime.now(UTC), TZ))
    sample_week(app, week)
    smtp = SmtpServer(free_port())
    smtp.handler.refuse = {REFUSED}
    fire = datetime.now(ZoneInfo(TZ)) + timedelta(minutes=1 if datetime.now().second < 45 else 2)
    env = {
        **{k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "OMP_WAIT_POLICY")},
        "APP_ENV": "testing", "DATABASE_URL": pg_database, "REDIS_URL": broker_url, "CELERY_BROKER_URL": broker_url,
        "MODEL_DIR": model_dir, "LOG_JSON": "false", "LOG_LEVEL": "INFO",
        "SECRET_KEY": "x" * 40, "JWT_SECRET_KEY": "y" * 40,
        "MAIL_SERVER": "127.0.0.1", "MAIL_PORT": str(smtp.port), "MAIL_TIMEOUT": "3",
        "SUMMARY_RECIPIENTS": f"{GOOD},{REFUSED}", "SUMMARY_SEND_MAX_ATTEMPTS": "4",
        "SUMMARY_SEND_BACKOFF_SECONDS": "2", "SUMMARY_TIMEZONE": TZ,
        "SUMMARY_SCHEDULE_DAY_OF_WEEK": str(fire.isoweekday() % 7), "SUMMARY_SCHEDULE_HOUR": str(fire.hour),
        "SUMMARY_SCHEDULE_MINUTE": str(fire.minute),
    }  # fmt: skip
    work = worker(env, tmp_path / "worker.log")
    sched = beat(env, tmp_path / "beat.log", tmp_path / "celerybeat-schedule")
    try:
        wait_until("the worker to be ready", lambda: " ready." in work.text(), 90, work)

        # SMTP is down when Beat fires: the summary is stored and both deliveries fail once.
        def both_failed_once() -> bool:
            states = _states(app)
            return len(states) == 2 and all(s == "pendente" and a >= 1 for s, a in states.values())

        wait_until("a failed first attempt per recipient", both_failed_once, 150, work, sched)
        with app.app_context():
            assert db.session.scalar(db.select(WeeklySummary.week)) == week
        smtp.start()
        wait_until("delivery after SMTP came back",
                   lambda: _states(app).get(GOOD, ("", 0))[0] == "enviado" and _states(app)[REFUSED][0] == "falhou",
                   60, work)  # fmt: skip
        states = _states(app)
        assert states[GOOD][0] == "enviado" and states[GOOD][1] >= 2
        assert states[REFUSED] == ("falhou", 4)
        [(rcpts, message)] = smtp.handler.received()
        assert rcpts == [GOOD] and message["Subject"] == f"[AluMusic] Resumo semanal {week}"
        found = parts(message)
        assert found["text"] and found["html"] and found["png"][:4] == b"\x89PNG"
        assert f"cid:{found['cid']}" in found["html"]

        # The run fires again (a second Beat tick, or a duplicate message): nothing more is sent.
        runs = work.text().count("app.tasks.emails.send_weekly_summary[")
        Celery(broker=broker_url).send_task("app.tasks.emails.send_weekly_summary", args=[week], queue="emails")
        wait_until(
            "the repeated run to finish",
            lambda: work.text().count("app.tasks.emails.send_weekly_summary[") >= runs + 2,
            30,
            work,
        )
        assert len(smtp.handler.messages) == 1
        assert _states(app)[GOOD] == states[GOOD]
        assert "Scheduler: Sending due task resumo-semanal" in sched.text()
    finally:
        sched.stop()
        work.stop()
        smtp.stop()
