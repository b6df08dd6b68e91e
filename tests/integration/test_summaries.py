"""The weekly summary on PostgreSQL: the aggregate in SQL, the stored text, the API, the CLI and the e-mail sent
to a real SMTP server in this process (aiosmtpd): parts, idempotency, refusals, SMTP down then up, --force."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from app.extensions import db
from app.models.summary import SummaryDelivery, WeeklySummary
from app.services import deliveries, summaries
from app.services.summary_text import allowed_numbers, invented_numbers
from tests.support.summaries import SmtpServer, parts, sample_week

WEEK = "2026-W47"


@pytest.fixture
def smtp():
    server = SmtpServer().start()
    yield server
    server.stop()


@pytest.fixture
def mail_app(app_factory, smtp, tmp_path):
    """The test app wired to the in-process SMTP server, with two configured recipients and a fast backoff."""
    return app_factory(
        **smtp.config(),
        SUMMARY_RECIPIENTS="diretoria@alumusic.com, marketing@alumusic.com",
        SUMMARY_SEND_MAX_ATTEMPTS=3,
        MAIL_OUTBOX_DIR=str(tmp_path / "outbox"),
    )


def test_the_aggregate_tells_what_moved_in_the_week(app):
    sample_week(app, WEEK)
    with app.app_context():
        summary = summaries.generate(WEEK)
        agg = summary.aggregate
        assert (summary.week, str(summary.starts_on), str(summary.ends_on)) == (WEEK, "2026-11-16", "2026-11-22")
    assert agg["volume"] == {"total": 14, "anterior": 6, "variacao_pct": 133.3}
    mix = {c["categoria"]: c for c in agg["categorias"]}
    assert mix["ELOGIO"]["participacao_pct"] == 42.9 and mix["ELOGIO"]["variacao_pp"] == -23.8
    assert mix["CRÍTICA"]["participacao_pct"] == 28.6 and mix["CRÍTICA"]["participacao_anterior_pct"] == 33.3
    assert agg["artistas_hype"][0] == {"nome": "Lua Serena", "elogios": 6, "total": 7, "participacao_pct": 85.7}
    assert agg["artistas_criticas"][0]["nome"] == "Banda Ventania" and agg["artistas_criticas"][0]["criticas"] == 4
    assert agg["lancamentos_hype"][0]["nome"] == "Maré Alta" and agg["lancamentos_hype"][0]["artista"] == "Lua Serena"
    assert agg["lancamentos_criticas"][0]["nome"] == "Céu Aberto"
    assert [t["codigo"] for t in agg["tags_em_alta"]] == ["musica_batida", "audio_mixagem", "app_modo_offline"]
    assert "show_duracao" not in {t["codigo"] for t in agg["tags_em_alta"]}  # it fell: not a rising tag
    assert agg["confianca"] == {"media": 0.76, "limiar": 0.6, "abaixo_limiar": 5, "abaixo_limiar_pct": 35.7}
    examples = {e["categoria"]: e for e in agg["exemplos"]}
    assert examples["ELOGIO"]["texto"].startswith("Que hino!") and set(examples) >= {"ELOGIO", "CRÍTICA"}


def test_the_deterministic_text_is_pt_br_and_every_figure_comes_from_the_aggregate(app):
    sample_week(app, WEEK)
    with app.app_context():
        summary = summaries.generate(WEEK)
        text = summary.text

        assert summary.generator == "deterministico:v1"
        assert "14 comentários, 133,3% a mais que na semana anterior (6)" in text
        assert "Lua Serena: 6 elogios, 85,7% dos comentários" in text
        assert "ELOGIO, que perdeu 23,8 p.p." in text
        assert "35,7% dos comentários ficaram abaixo de 0,6" in text
        assert invented_numbers(text, allowed_numbers(summary.aggregate)) == []
        assert summaries.generate(WEEK).text == text  # regenerating is reproducible


def test_a_week_without_comments_still_gets_a_summary(app):
    with app.app_context():
        summary = summaries.generate("2026-W10")
        assert summary.aggregate["volume"]["total"] == 0
        assert "Nenhum comentário" in summary.text


def test_api_lists_and_reads_summaries_with_the_send_log(app, client, role_auth):
    sample_week(app, WEEK)
    with app.app_context():
        summaries.generate(WEEK)
        summaries.generate("2026-W46")

    listing = client.get("/api/resumos?per_page=1", headers=role_auth["leitor"])
    assert listing.status_code == 200
    body = listing.get_json()
    assert body["total"] == 2 and [s["semana"] for s in body["items"]] == [WEEK]
    assert 'rel="next"' in listing.headers["Link"]

    detail = client.get(f"/api/resumos/{WEEK}", headers=role_auth["curador"]).get_json()
    assert detail["agregado"]["volume"]["total"] == 14 and detail["log_envios"] == []
    assert detail["texto"].startswith(f"Semana {WEEK}")

    missing = client.get("/api/resumos/2026-W01", headers=role_auth["leitor"])
    assert missing.status_code == 404 and missing.get_json()["erro"]["codigo"] == "nao_encontrado"
    # A URL that is not an ISO week (or a week the year does not have) names no summary: 404, as the document says.
    for bad_week in ("semana-47", "2026-W99", "2026-w47"):
        bad = client.get(f"/api/resumos/{bad_week}", headers=role_auth["leitor"])
        assert bad.status_code == 404 and bad.get_json()["erro"]["codigo"] == "nao_encontrado", bad_week


def test_admin_manages_stakeholders_who_then_receive_the_summary(app, client, role_auth):
    added = client.post("/api/stakeholders", json={"email": " CEO@AluMusic.com ", "nome": "CEO"},
                        headers=role_auth["admin"])  # fmt: skip
    assert added.status_code == 201 and added.get_json()["email"] == "ceo@alumusic.com"
    again = client.post("/api/stakeholders", json={"email": "ceo@alumusic.com"}, headers=role_auth["admin"])
    assert again.status_code == 409
    invalid = client.post("/api/stakeholders", json={"email": "não-é-email"}, headers=role_auth["admin"])
    assert invalid.status_code == 422
    with app.app_context():
        assert "ceo@alumusic.com" in summaries.recipients()
    removed = client.delete(f"/api/stakeholders/{added.get_json()['id']}", headers=role_auth["admin"])
    assert removed.status_code == 200 and removed.get_json()["ativo"] is False
    with app.app_context():
        assert "ceo@alumusic.com" not in summaries.recipients()


# ------------------------------------------------------------------------------------------------ e-mail


def test_send_delivers_one_multipart_message_per_recipient_with_the_inline_chart(mail_app, smtp):
    sample_week(mail_app, WEEK)
    result = mail_app.test_cli_runner().invoke(args=["summary", "send", "--week", WEEK])
    assert result.exit_code == 0, result.output

    received = smtp.handler.received()
    assert sorted(r for rcpts, _ in received for r in rcpts) == ["diretoria@alumusic.com", "marketing@alumusic.com"]
    for _, message in received:
        assert message["Subject"] == f"[AluMusic] Resumo semanal {WEEK}"
        found = parts(message)
        assert found["structure"] == ["multipart/alternative", "text/plain", "multipart/related", "text/html",
                                      "image/png"]  # fmt: skip
        assert "14 comentários" in found["text"] and "/relatorio/semana" in found["text"]
        assert f'src="cid:{found["cid"]}"' in found["html"] and "<table" in found["html"]
        assert found["png"][:8] == b"\x89PNG\r\n\x1a\n" and found["disposition"] == "inline"
        assert "Lua Serena" in found["html"]

    with mail_app.app_context():
        log = db.session.scalars(db.select(SummaryDelivery).order_by(SummaryDelivery.recipient)).all()
        assert [(d.state, d.attempts) for d in log] == [("enviado", 1), ("enviado", 1)]
        assert {d.message_id for d in log} == {m["Message-ID"] for _, m in received}

    # Sending again sends nothing more; --force resends on purpose, to the one address asked for.
    again = mail_app.test_cli_runner().invoke(args=["summary", "send", "--week", WEEK])
    assert "já atendido" in again.output and len(smtp.handler.messages) == 2
    forced = mail_app.test_cli_runner().invoke(
        args=["summary", "send", "--week", WEEK, "--force", "--to", "marketing@alumusic.com"]
    )
    assert forced.exit_code == 0, forced.output
    assert smtp.handler.recipients() == ["diretoria@alumusic.com", "marketing@alumusic.com", "marketing@alumusic.com"]


def test_a_refused_recipient_does_not_stop_the_others(mail_app, smtp):
    sample_week(mail_app, WEEK)
    smtp.handler.refuse = {"diretoria@alumusic.com"}
    result = mail_app.test_cli_runner().invoke(args=["summary", "send", "--week", WEEK])

    assert result.exit_code == 1 and "o resumo continua salvo" in result.output
    assert smtp.handler.recipients() == ["marketing@alumusic.com"]
    with mail_app.app_context():
        refused = db.session.scalar(db.select(SummaryDelivery).where(SummaryDelivery.recipient.like("diretoria%")))
        assert refused.state == "pendente" and "550" in refused.last_error and refused.attempts == 1
        assert db.session.scalar(db.select(WeeklySummary).where(WeeklySummary.week == WEEK)) is not None


def test_smtp_down_then_up_is_retried_and_delivered_and_gives_up_after_the_last_attempt(mail_app, smtp):
    sample_week(mail_app, WEEK)
    smtp.stop()
    with mail_app.app_context():
        plan = deliveries.plan(WEEK, only=["diretoria@alumusic.com"])
        [delivery_id] = plan.pending
        with pytest.raises(deliveries.DeliveryFailed) as failure:
            deliveries.deliver(delivery_id)
        assert not failure.value.final and failure.value.attempts == 1
        row = db.session.get(SummaryDelivery, delivery_id)
        assert row.state == "pendente" and "Connection refused" in row.last_error
        assert deliveries.retry_delay(1) == 30.0 and deliveries.retry_delay(3) == 120.0

    smtp.start()
    with mail_app.app_context():
        assert deliveries.deliver(delivery_id) == "enviado"
        assert deliveries.deliver(delivery_id) == "ignorado"  # a redelivered task finds nothing to send
        row = db.session.get(SummaryDelivery, delivery_id)
        assert (row.state, row.attempts, row.last_error) == ("enviado", 2, None)
    assert smtp.handler.recipients() == ["diretoria@alumusic.com"]

    smtp.stop()
    with mail_app.app_context():
        plan = deliveries.plan(WEEK, only=["marketing@alumusic.com"])
        [other] = plan.pending
        for attempt in (1, 2, 3):
            with pytest.raises(deliveries.DeliveryFailed) as failure:
                deliveries.deliver(other)
            assert failure.value.final is (attempt == 3)
        assert db.session.get(SummaryDelivery, other).state == "falhou"


def test_a_temporary_4xx_and_a_silent_server_are_recorded_and_retried(mail_app, smtp, app_factory):
    from tests.support.summaries import SilentServer

    sample_week(mail_app, WEEK)
    smtp.handler.defer = {"diretoria@alumusic.com"}
    with mail_app.app_context():
        [delivery_id] = deliveries.plan(WEEK, only=["diretoria@alumusic.com"]).pending
        with pytest.raises(deliveries.DeliveryFailed):
            deliveries.deliver(delivery_id)
        assert "451" in db.session.get(SummaryDelivery, delivery_id).last_error
        smtp.handler.defer = set()
        assert deliveries.deliver(delivery_id) == "enviado"

    silent = SilentServer()
    try:
        hung = app_factory(MAIL_SERVER="127.0.0.1", MAIL_PORT=silent.port, MAIL_TIMEOUT=0.5)
        with hung.app_context():
            [other] = deliveries.plan(WEEK, only=["marketing@alumusic.com"]).pending
            with pytest.raises(deliveries.DeliveryFailed):
                deliveries.deliver(other)  # returns within MAIL_TIMEOUT instead of hanging the worker
            assert "timed out" in db.session.get(SummaryDelivery, other).last_error
    finally:
        silent.close()


def test_two_workers_delivering_the_same_row_send_one_email(mail_app, smtp):
    import threading

    sample_week(mail_app, WEEK)
    with mail_app.app_context():
        [delivery_id] = deliveries.plan(WEEK, only=["diretoria@alumusic.com"]).pending
    outcomes: list[str] = []
    start = threading.Barrier(4)

    def worker() -> None:
        with mail_app.app_context():
            start.wait()
            outcomes.append(deliveries.deliver(delivery_id))

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(outcomes) == ["enviado", "ignorado", "ignorado", "ignorado"]
    assert smtp.handler.recipients() == ["diretoria@alumusic.com"]


def test_a_worker_that_died_after_claiming_does_not_cause_a_second_email(mail_app, smtp):
    sample_week(mail_app, WEEK)
    with mail_app.app_context():
        [delivery_id] = deliveries.plan(WEEK, only=["diretoria@alumusic.com"]).pending
        row = db.session.get(SummaryDelivery, delivery_id)
        row.state = "enviando"  # what a worker killed right after SMTP accepted the message leaves behind
        db.session.commit()
        assert deliveries.plan(WEEK, only=["diretoria@alumusic.com"]).pending == []
        assert deliveries.deliver(delivery_id) == "ignorado"
    assert smtp.handler.messages == []


def test_rows_a_dead_worker_left_are_resent_only_when_they_never_reached_smtp(mail_app, smtp):
    from datetime import UTC, datetime, timedelta

    from app.tasks.schedule import BEAT_SCHEDULE

    sample_week(mail_app, WEEK)
    claimed = datetime(2026, 11, 23, 11, 0, tzinfo=UTC)
    with mail_app.app_context():
        never_sent, maybe_sent = deliveries.plan(WEEK).pending
        for delivery_id, message_id in ((never_sent, None), (maybe_sent, "<x@alumusic.local>")):
            row = db.session.get(SummaryDelivery, delivery_id)
            row.state, row.claimed_at, row.message_id, row.attempts = "enviando", claimed, message_id, 1
        db.session.commit()

        too_early = deliveries.recover_stalled(now=claimed + timedelta(seconds=60))  # a worker may still be on it
        stale = deliveries.recover_stalled(now=claimed + timedelta(seconds=901))
        again = deliveries.recover_stalled(now=claimed + timedelta(seconds=1800))

        assert (too_early.requeued, too_early.uncertain) == ([], [])
        assert (stale.requeued, stale.uncertain) == ([never_sent], [maybe_sent])
        assert (again.requeued, again.uncertain) == ([], [])  # flagged once, never requeued
        assert deliveries.deliver(never_sent) == "enviado"
        assert deliveries.deliver(maybe_sent) == "ignorado"
        flagged = db.session.get(SummaryDelivery, maybe_sent)
        assert flagged.state == "enviando" and flagged.last_error.startswith("incerto")
    recipient_of = {never_sent: "diretoria@alumusic.com", maybe_sent: "marketing@alumusic.com"}
    assert smtp.handler.recipients() == [recipient_of[never_sent]]
    assert BEAT_SCHEDULE["recover-stalled-deliveries"]["task"] == "app.tasks.emails.recover_stalled_deliveries"


def test_without_mail_server_the_message_is_written_to_the_outbox(app_factory, tmp_path):
    outbox = tmp_path / "outbox"
    app = app_factory(MAIL_SERVER="", MAIL_OUTBOX_DIR=str(outbox), SUMMARY_RECIPIENTS="a@alumusic.com")
    sample_week(app, WEEK)
    result = app.test_cli_runner().invoke(args=["summary", "send", "--week", WEEK])
    assert result.exit_code == 0, result.output
    [eml] = list(outbox.glob("*.eml"))
    import email
    from email import policy

    found = parts(email.message_from_bytes(eml.read_bytes(), policy=policy.default))
    assert found["png"][:4] == b"\x89PNG" and f"cid:{found['cid']}" in found["html"]


def test_preview_writes_a_standalone_html_file(app, tmp_path):
    sample_week(app, WEEK)
    out = tmp_path / "preview.html"
    result = app.test_cli_runner().invoke(args=["summary", "preview", "--week", WEEK, "--out", str(out)])
    assert result.exit_code == 0, result.output
    html = Path(out).read_text(encoding="utf-8")
    assert "cid:" not in html and "data:image/png;base64," in html
    encoded = html.split("data:image/png;base64,", 1)[1].split('"', 1)[0]
    assert base64.b64decode(encoded)[:4] == b"\x89PNG"


def test_stakeholders_cli(app):
    runner = app.test_cli_runner()
    assert runner.invoke(args=["summary", "stakeholders", "add", "ana@alumusic.com", "--name", "Ana"]).exit_code == 0
    listed = runner.invoke(args=["summary", "stakeholders", "list"]).output
    assert "ana@alumusic.com" in listed and "ativo" in listed
    assert runner.invoke(args=["summary", "stakeholders", "add", "ana@alumusic.com"]).exit_code == 1
    assert runner.invoke(args=["summary", "stakeholders", "remove", "ana@alumusic.com"]).exit_code == 0
