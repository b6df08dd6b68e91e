"""The feed fast path (app/views/feed_fast_path.py) answers exactly what the Flask path answers: same status,
body and headers (security headers, ETag/304, Cache-Control, CORS, Vary, request id) for every feed URL, Accept
header and conditional request, and hands everything else (page, errors) to Flask. Real PostgreSQL and Redis."""

from __future__ import annotations

import re

import pytest
from werkzeug.test import Client

from tests.support import services
from tests.support.report_data import REDIS_TEST_URL, add_comments, flush_redis, hours_ago

CORS_ORIGIN = "https://bi.example"
FEEDS = [
    "/relatorio/semana/categorias_por_artista.json",
    "/relatorio/semana/top_tags_48h.csv",
    "/relatorio/semana/top_tags_48h.csv?bom=1",
    "/relatorio/semana/volume_diario_por_categoria.json?artista=Lua%20Serena",
    "/api/relatorio/semana",
    "/api/relatorio/semana?album=Disco+Novo&_=123",
    "/relatorio/semana?format=json",
    "/relatorio/semana?format=JSON&grafico=hype_por_artista",
    "/relatorio/semana?format=csv&grafico=deriva_categorias&bom=sim",
]
ACCEPTS = ["application/json", "application/json;q=0.9,text/plain", "text/csv; charset=utf-8", "*/*"]
TO_FLASK = [
    ("/relatorio/semana", {}),  # the page
    ("/relatorio/semana", {"Accept": "text/html,application/json;q=0.9"}),
    ("/relatorio/semana?format=csv", {}),  # 400: which chart?
    ("/relatorio/semana?format=xml", {}),
    ("/relatorio/semana/nao_existe.json", {}),  # 404
    ("/relatorio/semana/categorias_por_artista.json?artista=%00", {}),  # 422
    ("/relatorio/semana/", {}),
]


@pytest.fixture(params=["", CORS_ORIGIN], ids=["cors-off", "cors-on"])
def paths(request, app_factory, tmp_path):
    """(fast, flask, fell_through): clients for the whole app and for Flask alone, and what reached Flask."""
    services.check_redis(REDIS_TEST_URL)
    flush_redis()
    cache_dir = str(tmp_path / "c")
    made = app_factory(REDIS_URL=REDIS_TEST_URL, REPORT_CACHE_DIR=cache_dir, REPORT_CORS_ORIGINS=request.param)
    add_comments(made, [("ELOGIO", "Lua Serena", hours_ago(1))] * 3, album="Disco Novo", tags=("show_duracao",))
    add_comments(made, [("CRÍTICA", "MC Trovão", hours_ago(30))] * 2, tags=("app_busca",))
    from app.services.report_snapshots import refresh_all
    from app.views.feed_fast_path import FeedFastPath

    with made.app_context():
        refresh_all()
    fast = made.wsgi_app
    while not isinstance(fast, FeedFastPath):
        fast = fast.wsgi_app
    flask_only = fast.wsgi_app
    fell_through: list[str] = []

    def counted(environ, start_response):
        fell_through.append(environ["PATH_INFO"])
        return flask_only(environ, start_response)

    fast.wsgi_app = counted
    yield Client(made), Client(flask_only), fell_through
    flush_redis()


def comparable(resp) -> tuple[int, dict[str, str], bytes]:
    headers = {k.lower(): v for k, v in resp.headers.items()}
    # Two requests a moment apart may straddle a second: max-age counts down.
    if "cache-control" in headers:
        headers["cache-control"] = re.sub(r"max-age=\d+", "max-age=N", headers["cache-control"])
    return resp.status_code, headers, resp.get_data()


def assert_same(fast, flask, method: str, url: str, headers: dict[str, str]) -> None:
    headers = {"X-Request-ID": "req-123", **headers}
    got = comparable(fast.open(url, method=method, headers=headers))
    want = comparable(flask.open(url, method=method, headers=headers))
    names = got[1].keys() | want[1].keys()
    differ = {k: (got[1].get(k), want[1].get(k)) for k in names if got[1].get(k) != want[1].get(k)}
    assert got == want, f"{method} {url} {headers}: status {got[0]}/{want[0]}, headers {differ}"


@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_every_feed_url_answers_the_same_on_both_paths(paths, method):
    fast, flask, fell_through = paths
    for url in FEEDS:
        first = flask.get(url, headers={"Origin": CORS_ORIGIN})
        assert first.status_code == 200, url
        etag, modified = first.headers["ETag"], first.headers["Last-Modified"]
        for headers in (
            {},
            {"Origin": CORS_ORIGIN},
            {"Origin": "https://elsewhere.example"},
            {"If-None-Match": etag},
            {"If-None-Match": f'W/{etag}, "other"'},
            {"If-None-Match": '"other"'},
            {"If-Modified-Since": modified},
            {"If-Modified-Since": "not a date"},
        ):
            assert_same(fast, flask, method, url, headers)
    for accept in ACCEPTS:
        for url in ("/relatorio/semana", "/relatorio/semana?grafico=top_tags_48h"):
            assert_same(fast, flask, method, url, {"Accept": accept})
    # Only */* (a browser's page, the first offer) reached Flask, once per URL.
    assert fell_through == ["/relatorio/semana"] * 2, "feed requests must not reach Flask"


def test_the_fast_path_answers_304_and_a_request_id(paths):
    fast, _, _ = paths
    resp = fast.get("/relatorio/semana/categorias_por_artista.json")
    assert resp.status_code == 200 and resp.headers["X-Request-ID"]
    again = fast.get("/relatorio/semana/categorias_por_artista.json", headers={"If-None-Match": resp.headers["ETag"]})
    assert again.status_code == 304 and again.get_data() == b""
    assert again.headers["X-Content-Type-Options"] == "nosniff"


def test_pages_errors_and_other_urls_go_to_flask(paths):
    fast, flask, fell_through = paths
    for url, headers in TO_FLASK:
        assert_same(fast, flask, "GET", url, headers)
    assert fell_through == [url.split("?")[0] for url, _ in TO_FLASK]
    fell_through.clear()
    fast.get("/health")
    fast.post("/relatorio/semana/categorias_por_artista.json")
    assert fell_through == ["/health", "/relatorio/semana/categorias_por_artista.json"]
