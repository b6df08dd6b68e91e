"""The report page in a real headless Chromium (Debian's chromium, driven by Playwright): every chart is drawn with
data from the JSON feed, nothing is fetched from another origin, no console error, no CSP violation, readable on a
phone, and the page refreshes itself. A screenshot is left in instance/test-artifacts/ (not in git)."""

from __future__ import annotations

import threading
import time
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from werkzeug.serving import make_server

from tests.support import services
from tests.support.browser import CHROMIUM, CHROMIUM_ARGS
from tests.support.report_data import REDIS_TEST_URL, add_comments, flush_redis, hours_ago

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "instance" / "test-artifacts"
# Collects CSP violations before any page script runs.
CSP_PROBE = """
window.__csp = [];
document.addEventListener('securitypolicyviolation', function (e) {
  window.__csp.push(e.violatedDirective + ' ' + e.blockedURI);
});
"""
pytestmark = pytest.mark.timeout(180)


@pytest.fixture
def live_report(app, app_factory, tmp_path):
    """The app served by a real HTTP server on 127.0.0.1 (free port), report cache in this suite's Redis db."""
    services.check_redis(REDIS_TEST_URL)
    flush_redis()
    today_release = datetime.now(ZoneInfo("America/Sao_Paulo")).date()
    add_comments(
        app,
        [("ELOGIO", "Lua Serena", hours_ago(1))] * 4
        + [("CRÍTICA", "Lua Serena", hours_ago(5))] * 2
        + [("SUGESTÃO", "MC Trovão", hours_ago(30))] * 3
        + [("DÚVIDA", "Banda Aurora", hours_ago(60))] * 2,
        tags=("show_duracao", "audio_mixagem"),
    )
    add_comments(app, [("CRÍTICA", "Duda Ventura", hours_ago(1))] * 2, album="Verão Sem Fim", release=today_release)
    served = app_factory(REDIS_URL=REDIS_TEST_URL, REPORT_REFRESH_SECONDS=6, REPORT_CACHE_DIR=str(tmp_path / "c"))
    server = make_server("127.0.0.1", 0, served, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    flush_redis()


@pytest.fixture
def browser():
    """Debian's Chromium, headless, on a fresh throwaway profile (Playwright's launch makes a new one)."""
    if not Path(CHROMIUM).exists():
        services.unavailable("Debian chromium is not installed (apt-get install -y chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield chromium
        finally:
            chromium.close()


def _wait_until(page, predicate: str, timeout: float = 30.0) -> None:
    """Poll a JS function from outside the page (Playwright's wait_for_function evals strings, which the page's own
    CSP rightly refuses)."""
    deadline = time.monotonic() + timeout
    while not page.evaluate(predicate):
        assert time.monotonic() < deadline, f"timed out waiting for {predicate}"
        page.wait_for_timeout(100)


def _watch(page, base: str) -> dict[str, list[str]]:
    seen: dict[str, list[str]] = {"console": [], "errors": [], "foreign": []}
    page.on("console", lambda msg: msg.type == "error" and seen["console"].append(f"{msg.text} {msg.location}"))
    page.on("pageerror", lambda exc: seen["errors"].append(str(exc)))
    page.on("request", lambda req: not req.url.startswith(base) and seen["foreign"].append(req.url))
    page.add_init_script(CSP_PROBE)
    return seen


def test_the_charts_render_with_data_under_a_strict_csp(live_report, browser):
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    seen = _watch(page, live_report)
    resp = page.goto(f"{live_report}/relatorio/semana", wait_until="load")
    assert resp.status == 200 and "default-src 'self'" in resp.headers["content-security-policy"]
    _wait_until(
        page,
        "() => document.querySelectorAll('section.grafico').length > 0 && "
        "[...document.querySelectorAll('section.grafico')].every(s => s.dataset.desenhado === '1')",
    )
    # Each chart with data painted pixels on its canvas.
    painted = page.evaluate(
        """() => Object.fromEntries([...document.querySelectorAll('section.grafico')].map(s => {
             const c = s.querySelector('canvas');
             const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
             let n = 0; for (let i = 3; i < d.length; i += 4) { if (d[i] > 0) n++; }
             return [s.dataset.grafico, {pixels: n, empty: !s.querySelector('.vazio').hidden}];
           }))"""
    )
    drawn = ("categorias_por_artista", "top_tags_48h", "volume_diario_por_categoria", "confianca_media_por_categoria",
             "deriva_categorias", "evolucao_criticas_pos_lancamento")  # fmt: skip
    for chart_id in drawn:
        assert painted[chart_id]["pixels"] > 500, (chart_id, painted[chart_id])
        assert not painted[chart_id]["empty"], chart_id
    # Confidence (0-1) and the share below the threshold (0-100%) are drawn against an axis each.
    axes = page.evaluate(
        """() => { const c = Chart.getChart(document.querySelector('#grafico-confianca_media_por_categoria canvas'));
                   return {series: c.data.datasets.map(d => d.yAxisID || 'y'), y: c.scales.y.max,
                           y1: c.scales.y1 ? c.scales.y1.max : null}; }"""
    )
    assert axes == {"series": ["y", "y1"], "y": 1, "y1": 100}
    status = page.text_content("#estado")
    assert "Dados gerados em" in status and "America/Sao_Paulo" in status
    # Every chart links its BI feeds, and they answer.
    json_url = page.get_attribute("#grafico-top_tags_48h .link-json", "href")
    csv_url = page.get_attribute("#grafico-top_tags_48h .link-csv", "href")
    assert json_url.endswith("/relatorio/semana/top_tags_48h.json") and csv_url.endswith("top_tags_48h.csv")
    rows = page.request.get(live_report + json_url).json()
    assert {r["tag"] for r in rows} == {"show_duracao", "audio_mixagem"}
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "relatorio-semana.png"), full_page=True)

    assert seen["console"] == [] and seen["errors"] == []
    assert page.evaluate("window.__csp") == []
    assert seen["foreign"] == []  # no CDN: everything from our own origin


def test_the_page_is_readable_on_a_phone_and_refreshes_itself(live_report, browser):
    page = browser.new_page(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    seen = _watch(page, live_report)
    page.goto(f"{live_report}/relatorio/semana?artista=Lua Serena", wait_until="load")
    _wait_until(page, "() => document.body.dataset.atualizacoes === '1'")
    assert page.evaluate("document.documentElement.scrollWidth") <= 391  # no sideways scrolling
    assert page.input_value("input[name=artista]") == "Lua Serena"
    labels = page.evaluate(
        "Chart.getChart(document.querySelector('#grafico-categorias_por_artista canvas')).data.labels"
    )
    assert labels == ["Lua Serena"]
    # The snapshot is valid for 6 s here: the page fetches the feed again by itself when it expires.
    _wait_until(page, "() => Number(document.body.dataset.atualizacoes) >= 2")
    page.screenshot(path=str(ARTIFACTS / "relatorio-semana-celular.png"), full_page=True)
    assert seen["console"] == [] and seen["errors"] == [] and page.evaluate("window.__csp") == []
