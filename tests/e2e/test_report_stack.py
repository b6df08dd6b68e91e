"""The public report through the whole stack: NGINX (TLS, micro-cache) -> gunicorn -> Redis snapshot, refreshed by
the real Celery worker and Beat. A BI tool's path: the JSON and CSV feeds, 304 with the ETag, the page and its
static files, and new comments showing up by themselves within the 60 s freshness bound.

The stack (tests/e2e/conftest.py) runs with the production defaults: REPORT_REFRESH_SECONDS=60, Beat every 40 s.
"""

from __future__ import annotations

import re
import secrets
import time
from datetime import UTC, datetime

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(420)]
FRESHNESS_BOUND = 60.0


def _age(resp) -> float:
    return (datetime.now(UTC) - datetime.fromisoformat(resp.headers["X-Relatorio-Gerado-Em"])).total_seconds()


def test_the_report_feeds_through_nginx_tls_with_304_and_the_micro_cache(stack):
    sess = stack.session()
    resp = sess.get(stack.url("/relatorio/semana?format=json"), timeout=30)
    assert resp.status_code == 200 and resp.headers["Content-Type"].startswith("application/json")
    data = resp.json()
    assert {"semana", "gerado_em", "valido_ate", "graficos"} <= set(data)
    assert len(data["graficos"]) >= 7
    max_age = int(resp.headers["Cache-Control"].removeprefix("public, max-age="))
    assert 0 <= max_age <= FRESHNESS_BOUND
    assert resp.headers["X-Cache-Status"] in {"MISS", "HIT", "EXPIRED", "UPDATING", "STALE", "REVALIDATED"}

    feed = stack.url("/relatorio/semana/volume_diario_por_categoria.json")
    first = sess.get(feed, timeout=30)
    assert first.status_code == 200 and isinstance(first.json(), list)
    etag = first.headers["ETag"]  # weak (W/...) when NGINX gzipped it: still a match for the app and the edge
    again = sess.get(feed, headers={"If-None-Match": etag}, timeout=30)
    assert again.status_code == 304 and again.content == b""
    # A burst from one BI tool: the micro-cache answers the repeats within its one-second lifetime.
    statuses = [sess.get(feed, timeout=30).headers.get("X-Cache-Status") for _ in range(5)]
    assert "HIT" in statuses

    csv = sess.get(stack.url("/relatorio/semana/deriva_categorias.csv?bom=1"), timeout=30)
    assert csv.status_code == 200 and csv.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert csv.content.startswith("\ufeff".encode()) and b"categoria,participacao_semana_pct" in csv.content

    page = sess.get(stack.url("/relatorio/semana"), headers={"Accept": "text/html"}, timeout=30)
    assert page.status_code == 200 and "default-src 'self'" in page.headers["Content-Security-Policy"]
    assert sess.get(stack.url("/static/vendor/chartjs/chart.umd.min.js"), timeout=30).status_code == 200
    missing = sess.get(stack.url("/relatorio/semana/nao_existe.json"), timeout=30)
    assert missing.status_code == 404 and missing.json()["erro"]["codigo"] == "nao_encontrado"


def test_new_comments_show_up_by_themselves_within_the_freshness_bound(stack):
    sess = stack.session()
    user, password = stack.admin
    token = sess.post(stack.url("/api/auth/login"), json={"username": user, "password": password}, timeout=30)
    headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
    artist = f"Artista E2E {secrets.token_hex(3)}"
    batch = [{"texto": f"Que show incrível, voz perfeita do começo ao fim #{n}", "artista": artist} for n in range(60)]
    posted = sess.post(stack.url("/api/comentarios"), json=batch, headers=headers, timeout=60)
    assert posted.status_code == 201, posted.text
    added = time.monotonic()

    feed = stack.url("/relatorio/semana/categorias_por_artista.json")
    ages = []
    while True:
        resp = sess.get(feed, timeout=30)
        assert resp.status_code == 200
        ages.append(_age(resp))
        total = sum(r["comentarios"] for r in resp.json() if r["artista"] == artist)
        if total == 60:
            break
        assert time.monotonic() - added < FRESHNESS_BOUND + 5, f"not in the feed after {FRESHNESS_BOUND}s"
        time.sleep(1)
    waited = time.monotonic() - added
    # Nobody asked for a recompute: the Beat entry did it, and no answer was ever older than the bound.
    assert waited <= FRESHNESS_BOUND + 2
    assert max(ages) <= FRESHNESS_BOUND + 1.5  # + the edge's one-second micro-cache and clock rounding
    assert resp.headers["X-Relatorio-Fonte"] == "cache"
    assert re.search(r"refresh_reports\[[^\]]+\] succeeded", stack.procs["worker"].text())
