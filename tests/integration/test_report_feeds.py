"""The public report feeds on real PostgreSQL and Redis: charts computed in SQL, served from the stored snapshot
with freshness headers and 304s, content negotiation without 406, the cold/stale/Redis-down paths, CORS."""

from __future__ import annotations

import csv
import io
import threading
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import event
from werkzeug.http import http_date

from tests.support import services
from tests.support.report_data import REDIS_TEST_URL, add_comments, flush_redis, hours_ago

TZ = ZoneInfo("America/Sao_Paulo")


@pytest.fixture
def feeds(app, app_factory, tmp_path):
    """An app on the test database with the report cache in this suite's Redis database (emptied per test)."""
    services.check_redis(REDIS_TEST_URL)
    flush_redis()
    made = app_factory(REDIS_URL=REDIS_TEST_URL, REPORT_CACHE_DIR=str(tmp_path / "cache"))
    yield made
    flush_redis()


def refresh(app) -> None:
    from app.services.report_snapshots import refresh_all

    with app.app_context():
        refresh_all()


def local_day(at: datetime) -> str:
    return at.astimezone(TZ).date().isoformat()


def seed(app) -> None:
    add_comments(
        app,
        [("ELOGIO", "Lua Serena", hours_ago(1))] * 3
        + [("CRÍTICA", "Lua Serena", hours_ago(2))]
        + [("CRÍTICA", "MC Trovão", hours_ago(3))] * 2,
        tags=("show_duracao",),
    )


def test_the_json_envelope_has_every_chart_computed_from_the_database(feeds):
    seed(feeds)
    resp = feeds.test_client().get("/relatorio/semana?format=json")
    assert resp.status_code == 200 and resp.mimetype == "application/json"
    data = resp.get_json()
    assert set(data) >= {"semana", "gerado_em", "valido_ate", "graficos"}
    iso = datetime.now(TZ).isocalendar()
    assert data["semana"] == f"{iso[0]}-W{iso[1]:02d}"
    assert {
        "categorias_por_artista",
        "evolucao_criticas_pos_lancamento",
        "top_tags_48h",
        "volume_diario_por_categoria",
        "confianca_media_por_categoria",
        "hype_por_artista",
        "deriva_categorias",
    } <= set(data["graficos"])
    for chart_id, chart in data["graficos"].items():
        assert chart["id"] == chart_id
        assert set(chart) >= {"id", "titulo", "descricao", "tipo", "labels", "series"}
        for series in chart["series"]:
            assert len(series["valores"]) == len(chart["labels"])
    by_artist = data["graficos"]["categorias_por_artista"]
    assert by_artist["labels"] == ["Lua Serena", "MC Trovão"]  # most commented first
    series = {s["nome"]: s["valores"] for s in by_artist["series"]}
    assert series["ELOGIO"] == [3, 0] and series["CRÍTICA"] == [1, 2]
    tags = data["graficos"]["top_tags_48h"]
    assert tags["labels"] == ["show_duracao"] and tags["series"][0]["valores"] == [6]
    hype = {r["artista"]: r for r in feeds.test_client().get("/relatorio/semana/hype_por_artista.json").get_json()}
    assert hype["Lua Serena"]["elogios_pct"] == 75.0 and hype["MC Trovão"]["elogios_pct"] == 0.0


def test_days_are_local_days_of_the_report_time_zone(feeds):
    at = hours_ago(1)
    add_comments(feeds, [("SUGESTÃO", None, at)])
    rows = feeds.test_client().get("/relatorio/semana/volume_diario_por_categoria.json").get_json()
    assert len(rows) == 7 * 5
    hit = [r for r in rows if r["comentarios"]]
    assert hit == [{"dia": local_day(at), "categoria": "SUGESTÃO", "comentarios": 1}]


def test_a_request_never_recomputes_while_the_snapshot_is_valid(feeds):
    from app.extensions import db

    seed(feeds)
    client = feeds.test_client()
    first = client.get("/relatorio/semana/top_tags_48h.json").get_json()
    add_comments(feeds, [("ELOGIO", "Lua Serena", hours_ago(1))], tags=("show_duracao",))
    statements = []
    with feeds.app_context():
        engine = db.engine
    listener = lambda *args: statements.append(args[2])  # noqa: E731
    event.listen(engine, "before_cursor_execute", listener)
    try:
        again = client.get("/relatorio/semana/top_tags_48h.json").get_json()
    finally:
        event.remove(engine, "before_cursor_execute", listener)
    assert statements == []  # no SQL on the hot path
    assert again == first  # the new comment waits for the next refresh
    refresh(feeds)
    assert client.get("/relatorio/semana/top_tags_48h.json").get_json()[0]["citacoes"] == first[0]["citacoes"] + 1


def test_freshness_headers_and_conditional_requests(feeds):
    seed(feeds)
    client = feeds.test_client()
    resp = client.get("/relatorio/semana/deriva_categorias.json")
    etag, modified = resp.headers["ETag"], resp.headers["Last-Modified"]
    assert etag.startswith('"') and not etag.startswith("W/")  # strong
    cache_control = resp.headers["Cache-Control"]
    assert cache_control.startswith("public, max-age=")
    max_age = int(cache_control.split("=")[1])
    envelope = client.get("/api/relatorio/semana").get_json()
    generated = datetime.fromisoformat(envelope["gerado_em"])
    valid_until = datetime.fromisoformat(envelope["valido_ate"])
    assert valid_until - generated == timedelta(seconds=60)
    assert 0 < max_age <= (valid_until - datetime.now(UTC)).total_seconds()
    assert resp.headers["X-Relatorio-Fonte"] == "cache"

    for headers in ({"If-None-Match": etag}, {"If-None-Match": "W/" + etag}, {"If-None-Match": f'"x", {etag}'},
                    {"If-Modified-Since": modified}):  # fmt: skip
        not_modified = client.get("/relatorio/semana/deriva_categorias.json", headers=headers)
        assert not_modified.status_code == 304, headers
        assert not_modified.data == b"" and not_modified.headers["ETag"] == etag
    changed = client.get("/relatorio/semana/deriva_categorias.json", headers={"If-None-Match": '"other"'})
    assert changed.status_code == 200
    older = http_date(generated - timedelta(seconds=5))
    since_older = client.get("/relatorio/semana/deriva_categorias.json", headers={"If-Modified-Since": older})
    assert since_older.status_code == 200


def test_per_chart_csv_for_spreadsheets(feeds):
    seed(feeds)
    client = feeds.test_client()
    resp = client.get("/relatorio/semana/categorias_por_artista.csv")
    assert resp.status_code == 200
    assert resp.headers["Content-Type"] == "text/csv; charset=utf-8"
    text = resp.data.decode("utf-8")
    assert not text.endswith("\n")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert list(rows[0]) == ["artista", "categoria", "comentarios"]
    assert {"artista": "MC Trovão", "categoria": "CRÍTICA", "comentarios": "2"} in rows
    bom = client.get("/relatorio/semana/categorias_por_artista.csv?bom=1")
    assert bom.data == "\ufeff".encode() + resp.data and bom.headers["ETag"] != resp.headers["ETag"]
    alias = client.get("/relatorio/semana?format=csv&grafico=categorias_por_artista")
    assert alias.data == resp.data


@pytest.mark.parametrize(
    ("path", "accept", "expected"),
    [
        ("/relatorio/semana", "application/json;q=0.9,text/plain", "application/json"),
        ("/relatorio/semana", "application/json", "application/json"),
        ("/relatorio/semana", "text/html,application/xhtml+xml,*/*;q=0.8", "text/html"),
        ("/relatorio/semana", "image/png", "text/html"),
        ("/relatorio/semana?grafico=top_tags_48h", "text/csv; charset=utf-8", "text/csv"),
        ("/relatorio/semana/top_tags_48h.csv", "text/csv; charset=utf-8", "text/csv"),
        ("/relatorio/semana/top_tags_48h.csv", "application/json", "text/csv"),
        ("/relatorio/semana/top_tags_48h.json", "text/plain", "application/json"),
        ("/api/relatorio/semana", "text/html", "application/json"),
    ],
)
def test_accept_headers_never_get_a_406(feeds, path, accept, expected):
    resp = feeds.test_client().get(path, headers={"Accept": accept})
    assert resp.status_code == 200
    assert resp.mimetype == expected
    if path == "/relatorio/semana":
        assert "Accept" in resp.headers.get("Vary", "")


@pytest.mark.parametrize(
    ("path", "status", "code"),
    [
        ("/relatorio/semana/nao_existe.json", 404, "nao_encontrado"),
        ("/relatorio/semana/nao_existe.csv", 404, "nao_encontrado"),
        ("/relatorio/semana?format=json&grafico=nao_existe", 404, "nao_encontrado"),
        ("/relatorio/semana?format=csv", 400, "requisicao_invalida"),
        ("/relatorio/semana?format=xml", 400, "requisicao_invalida"),
        ("/api/relatorio/semana?artista=" + "x" * 201, 422, "validacao"),
    ],
)
def test_bad_input_is_a_clear_4xx_in_the_envelope(feeds, path, status, code):
    resp = feeds.test_client().get(path)
    assert resp.status_code == status
    assert resp.get_json()["erro"]["codigo"] == code
    if status == 404:
        assert "top_tags_48h" in resp.get_json()["erro"]["detalhes"]["graficos_disponiveis"]


def test_filters_by_artist_and_album(feeds):
    today = datetime.now(TZ).date()
    add_comments(feeds, [("CRÍTICA", "Lua Serena", hours_ago(1))] * 2, album="Maré Alta", release=today)
    add_comments(feeds, [("ELOGIO", "MC Trovão", hours_ago(1))] * 4)
    client = feeds.test_client()
    data = client.get("/relatorio/semana?format=json&artista=lua serena").get_json()
    assert data["filtros"]["artista"] == "lua serena"
    assert data["graficos"]["categorias_por_artista"]["labels"] == ["Lua Serena"]
    rows = client.get("/relatorio/semana/evolucao_criticas_pos_lancamento.json?album=Maré Alta").get_json()
    assert rows[0] == {
        "album": "Maré Alta",
        "artista": "Lua Serena",
        "lancamento": today.isoformat(),
        "dia_apos_lancamento": 0,
        "data": today.isoformat(),
        "criticas": 2 if local_day(hours_ago(1)) == today.isoformat() else 0,
    }
    assert client.get("/relatorio/semana/evolucao_criticas_pos_lancamento.json?artista=MC Trovão").get_json() == []
    assert data["graficos"]["categorias_por_artista"]["csv_url"].endswith("?artista=lua+serena")


def test_drift_flags_a_category_whose_share_moved(feeds):
    now = datetime.now(UTC)
    week_start = datetime.now(TZ).date() - timedelta(days=datetime.now(TZ).isoweekday() - 1)
    before = datetime.combine(week_start - timedelta(days=3), datetime.min.time(), tzinfo=TZ) + timedelta(hours=12)
    add_comments(feeds, [("ELOGIO", None, before)] * 8 + [("CRÍTICA", None, before)] * 2)
    add_comments(feeds, [("CRÍTICA", None, now - timedelta(minutes=5))] * 3 + [("ELOGIO", None, now)])
    rows = {r["categoria"]: r for r in feeds.test_client().get("/relatorio/semana/deriva_categorias.json").get_json()}
    assert rows["CRÍTICA"]["participacao_semana_pct"] == 75.0
    assert rows["CRÍTICA"]["participacao_4_semanas_pct"] == 20.0
    assert rows["CRÍTICA"]["desvio_pontos"] == 55.0 and rows["CRÍTICA"]["alerta"] is True
    assert rows["SPAM"]["alerta"] is False and rows["SPAM"]["participacao_semana_pct"] == 0.0


def test_a_cold_burst_runs_exactly_one_recompute(feeds, monkeypatch):
    from app.services import report_snapshots

    seed(feeds)
    calls = []
    original_render, original_lock = report_snapshots.render, report_snapshots._try_lock
    others_waiting = threading.Semaphore(0)

    def counted_lock(reg, name):
        taken = original_lock(reg, name)
        if not taken:
            others_waiting.release()  # this request found the recompute running and waits for its result
        return taken

    def render_once_all_arrived(filters, now=None):
        calls.append(filters)
        # A barrier, not a sleep: the recompute holds until the 7 other requests have tried to start their own.
        # Without the lock no request is ever refused it, so every one renders and the count below fails.
        for _ in range(7):
            if not others_waiting.acquire(timeout=20):
                break
        return original_render(filters, now)

    monkeypatch.setattr(report_snapshots, "_try_lock", counted_lock)
    monkeypatch.setattr(report_snapshots, "render", render_once_all_arrived)
    statuses: list[int] = []

    def hit() -> None:
        statuses.append(feeds.test_client().get("/relatorio/semana/top_tags_48h.json").status_code)

    threads = [threading.Thread(target=hit) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert statuses == [200] * 8
    assert len(calls) == 1


def test_a_late_snapshot_is_served_as_the_last_good_copy_and_brought_back_when_very_late(feeds):
    from app.schemas.reports import ReportFilters
    from app.services import report_snapshots

    seed(feeds)
    with feeds.test_request_context():
        late = datetime.now(UTC) - timedelta(seconds=70)  # valid until 10 s ago
        report_snapshots.store(ReportFilters(), report_snapshots.render(ReportFilters(), now=late))
    client = feeds.test_client()
    resp = client.get("/relatorio/semana/top_tags_48h.json")
    assert resp.status_code == 200
    assert resp.headers["X-Relatorio-Fonte"] == "atrasado" and resp.headers["Cache-Control"] == "public, max-age=0"
    with feeds.test_request_context():
        dead = datetime.now(UTC) - timedelta(seconds=200)  # Beat missed whole periods
        report_snapshots.store(ReportFilters(), report_snapshots.render(ReportFilters(), now=dead))
    resp = client.get("/relatorio/semana/top_tags_48h.json")
    assert resp.headers["X-Relatorio-Fonte"] == "cache"
    assert int(resp.headers["Cache-Control"].split("=")[1]) > 50


def test_redis_down_computes_directly_marks_it_and_ready_says_so(app_factory, app, monkeypatch):
    from app.services import report_snapshots

    seed(app)
    down = app_factory(REDIS_URL=f"redis://127.0.0.1:{services_free_port()}/0", REPORT_DIRECT_MIN_INTERVAL_SECONDS=60)
    calls = []
    original = report_snapshots.render
    monkeypatch.setattr(report_snapshots, "render", lambda f, now=None: calls.append(f) or original(f, now))
    client = down.test_client()
    for _ in range(3):
        resp = client.get("/relatorio/semana/categorias_por_artista.json")
        assert resp.status_code == 200
        assert resp.headers["X-Relatorio-Fonte"] == "direto"
        assert resp.headers["Cache-Control"] == "public, max-age=0"
        assert {"artista": "MC Trovão", "categoria": "CRÍTICA", "comentarios": 2} in resp.get_json()
    assert len(calls) == 1  # rate-limited: one database computation per interval per process
    ready = client.get("/ready")
    assert ready.status_code == 503 and ready.get_json()["checks"]["redis"]["ok"] is False


def services_free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_cors_is_off_by_default_and_on_for_listed_origins(feeds, app_factory):
    seed(feeds)
    resp = feeds.test_client().get("/api/relatorio/semana", headers={"Origin": "https://bi.example"})
    assert "Access-Control-Allow-Origin" not in resp.headers
    cors = app_factory(REDIS_URL=REDIS_TEST_URL, REPORT_CORS_ORIGINS="https://bi.example, https://grafana.example")
    client = cors.test_client()
    resp = client.get("/relatorio/semana/top_tags_48h.json", headers={"Origin": "https://grafana.example"})
    assert resp.headers["Access-Control-Allow-Origin"] == "https://grafana.example"
    assert "ETag" in resp.headers["Access-Control-Expose-Headers"] and "Origin" in resp.headers["Vary"]
    other = client.get("/relatorio/semana/top_tags_48h.json", headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in other.headers
    preflight = client.options("/relatorio/semana/top_tags_48h.json", headers={"Origin": "https://bi.example"})
    assert preflight.headers["Access-Control-Allow-Origin"] == "https://bi.example"


def test_without_redis_the_snapshot_lives_in_files_shared_by_every_process(app, app_factory, tmp_path):
    seed(app)
    shared = str(tmp_path / "shared-cache")
    worker = app_factory(REDIS_URL="", REPORT_CACHE_DIR=shared)
    web = app_factory(REDIS_URL="", REPORT_CACHE_DIR=shared, REPORT_LOCAL_MEMO_SECONDS=0)
    refresh(worker)
    add_comments(app, [("SPAM", "Lua Serena", hours_ago(1))])
    rows = web.test_client().get("/relatorio/semana/categorias_por_artista.json").get_json()
    spam = next(r for r in rows if r["artista"] == "Lua Serena" and r["categoria"] == "SPAM")
    assert spam["comentarios"] == 0  # read from the worker's snapshot, not recomputed
    refresh(worker)
    rows = web.test_client().get("/relatorio/semana/categorias_por_artista.json").get_json()
    assert next(r for r in rows if r["artista"] == "Lua Serena" and r["categoria"] == "SPAM")["comentarios"] == 1


def test_the_refresh_covers_the_filtered_variants_in_use(feeds):
    seed(feeds)
    client = feeds.test_client()
    before = client.get("/relatorio/semana/categorias_por_artista.json?artista=MC Trovão").get_json()
    add_comments(feeds, [("DÚVIDA", "MC Trovão", hours_ago(1))])
    refresh(feeds)
    after = client.get("/relatorio/semana/categorias_por_artista.json?artista=MC Trovão").get_json()
    count = {r["categoria"]: r["comentarios"] for r in after}
    assert count["DÚVIDA"] == 1 and before != after


def test_page_and_feeds_carry_a_strict_content_security_policy(feeds):
    client = feeds.test_client()
    page = client.get("/relatorio/semana", headers={"Accept": "text/html"})
    assert page.status_code == 200 and page.mimetype == "text/html"
    for resp in (page, client.get("/relatorio/semana/top_tags_48h.json")):
        policy = resp.headers["Content-Security-Policy"]
        assert "default-src 'self'" in policy and "'unsafe-inline'" not in policy
    html = page.get_data(as_text=True)
    assert "<script>" not in html and "style=" not in html  # no inline script or style
    assert "/static/vendor/chartjs/chart.umd.min.js" in html and "cdn" not in html.lower()
    for chart_id in ("top_tags_48h", "deriva_categorias"):
        assert f"/relatorio/semana/{chart_id}.json" in html and f"/relatorio/semana/{chart_id}.csv" in html
    assert client.get("/static/vendor/chartjs/chart.umd.min.js").status_code == 200


def test_the_api_alias_is_public_and_documented(feeds):
    seed(feeds)
    resp = feeds.test_client().get("/api/relatorio/semana")
    assert resp.status_code == 200 and "graficos" in resp.get_json()
    doc = feeds.test_client().get("/api/openapi.json").get_json()
    assert "/api/relatorio/semana" in doc["paths"] or "/relatorio/semana" in doc["paths"]


def test_cache_hits_and_misses_are_counted(feeds):
    from app.cache import CACHE_REQUESTS

    def value(result: str) -> float:
        return CACHE_REQUESTS.labels("report", result)._value.get()

    misses, hits = value("miss"), value("hit")
    client = feeds.test_client()
    client.get("/relatorio/semana/top_tags_48h.json")
    client.get("/relatorio/semana/top_tags_48h.json")
    assert value("miss") == misses + 1 and value("hit") == hits + 1


def test_a_worker_asks_the_store_at_most_once_per_second_per_feed(feeds, monkeypatch):
    from app.cache import store_for
    from app.services import report_snapshots

    seed(feeds)
    clock = [1000.0]  # the memo's clock, stepped by hand: no sleeping for a second to pass
    monkeypatch.setattr(report_snapshots, "memo_clock", lambda: clock[0])
    client = feeds.test_client()
    client.get("/relatorio/semana/top_tags_48h.json")  # cold: computed and stored (and kept in the memo)
    store = store_for(feeds)
    reads = []
    original = store.get
    monkeypatch.setattr(store, "get", lambda key: reads.append(key) or original(key))

    def poll_for_one_second() -> None:
        for _ in range(20):  # 20 polls spread over 0.95 s
            assert client.get("/relatorio/semana/top_tags_48h.json").status_code == 200
            clock[0] += 0.05

    poll_for_one_second()
    assert len(reads) <= 1  # at most one store read in that second; the memo answered the other polls
    first_second = len(reads)
    clock[0] += 0.01  # past REPORT_LOCAL_MEMO_SECONDS (1 s)
    poll_for_one_second()
    assert len(reads) == first_second + 1  # the memo expired: asked again once, so a new snapshot is picked up
