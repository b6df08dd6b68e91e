"""A curator's day in a real headless Chromium: log in, filter, open and correct a comment, read its history, work
through the review queue with the keyboard, bulk-correct a filtered set, export it; plus what must be refused."""

from __future__ import annotations

import csv
import io
import re

import pytest
from sqlalchemy import func, select

from tests.browser.conftest import screenshot
from tests.conftest import PASSWORD
from tests.integration.conftest import add_users
from tests.support.panel import seed_comments


@pytest.fixture
def world(app):
    add_users(app)
    specs = [
        {"text": "Essa crítica ao show é justa, o som estava baixo", "category": "CRÍTICA", "artist": "Lua Serena"},
        {"text": "Que CRITICA injusta ao álbum novo", "category": "CRÍTICA", "artist": "Lua Serena", "album": "Maré"},
        {"text": "Crítica boa da revista, concordo", "category": "ELOGIO", "artist": "Lua Serena"},
        {"text": "Uma crítica a outra banda", "category": "CRÍTICA", "artist": "Banda Norte"},
    ]
    specs += [
        {"text": f"Comentário incerto número {i} sobre o clipe", "category": "DÚVIDA", "confidence": 0.1 + i / 100}
        for i in range(7)
    ]
    specs += [
        {"text": f"Banda Norte ao vivo {i}", "category": "ELOGIO", "artist": "Banda Norte", "confidence": 0.95}
        for i in range(6)
    ]
    ids = seed_comments(app, specs)
    return {"ids": ids, "specs": specs}


def login(page, username: str, next_url: str = "") -> None:
    page.goto(page.base_url + "/curadoria/login" + (f"?next={next_url}" if next_url else ""))
    page.get_by_label("Usuário").fill(username)
    page.get_by_label("Senha").fill(PASSWORD)
    page.get_by_role("button", name="Entrar").click()


def curator_events(app) -> int:
    from app.extensions import db
    from app.models.comment import ClassificationEvent

    with app.app_context():
        return db.session.scalar(select(func.count()).where(ClassificationEvent.source == "curador"))


def test_a_curators_day(app, page, world, tmp_path):
    screenshot_login = page.goto(page.base_url + "/curadoria/login")
    assert screenshot_login.headers["content-security-policy"].startswith("default-src 'self'")
    screenshot(page, "login")
    login(page, "user_curador")
    page.wait_for_url(re.compile(r"/curadoria$"))

    # Filter by artist + category + text (accent-insensitive); the filtered view is in the URL.
    page.get_by_label("Artista").fill("Lua Serena")
    page.get_by_label("Categoria", exact=True).select_option("CRÍTICA")
    page.get_by_label("Texto").fill("critica")
    page.get_by_role("button", name="Filtrar").click()
    page.wait_for_url(re.compile(r"artista=Lua\+Serena"))
    assert "categoria=CR%C3%8DTICA" in page.url and "q=critica" in page.url
    rows = page.locator("table.comentarios tbody tr")
    assert rows.count() == 2
    assert page.locator("mark").all_inner_texts() == ["crítica", "CRITICA"]
    screenshot(page, "comentarios")

    # Open a comment, correct it, see the history.
    page.get_by_role("link", name=re.compile("Que CRITICA injusta")).click()
    page.wait_for_url(re.compile(r"/curadoria/comentarios/"))
    page.get_by_label("ELOGIO").check()
    page.get_by_label("Motivo").fill("é um elogio ao álbum")
    page.get_by_role("button", name="Salvar correção").click()
    page.get_by_text("Correção registrada no histórico.").wait_for()
    history = page.locator("#historico li")
    assert history.count() == 2
    assert re.search(r"Curador \(user_curador\).*CRÍTICA → ELOGIO", history.nth(1).inner_text())
    assert page.locator("#categoria-atual").inner_text() == "ELOGIO"
    screenshot(page, "comentario")

    # Five items of the review queue with the keyboard: 1-5 choose, Enter confirms, S skips, arrows move.
    page.goto(page.base_url + "/curadoria/revisar")
    queue = [s["text"] for s in world["specs"] if s.get("confidence", 0.9) < 0.6]
    seen = []

    def current() -> str:
        return page.locator("#item-revisao blockquote").inner_text()

    screenshot(page, "revisar")
    seen.append(current())
    page.keyboard.press("5")  # SPAM
    assert page.locator("input[name=categoria][value=SPAM]").is_checked()
    page.keyboard.press("Enter")
    page.wait_for_function("t => document.querySelector('#item-revisao blockquote').innerText !== t", arg=seen[-1])
    seen.append(current())
    page.keyboard.press("Enter")  # confirm the suggestion (DÚVIDA)
    page.wait_for_function("t => document.querySelector('#item-revisao blockquote').innerText !== t", arg=seen[-1])
    seen.append(current())
    page.keyboard.press("s")  # skip
    page.wait_for_function("t => document.querySelector('#item-revisao blockquote').innerText !== t", arg=seen[-1])
    seen.append(current())
    page.keyboard.press("ArrowLeft")  # back to the skipped one
    page.wait_for_function("t => document.querySelector('#item-revisao blockquote').innerText !== t", arg=seen[-1])
    assert current() == seen[2]
    page.keyboard.press("ArrowRight")
    page.wait_for_function("t => document.querySelector('#item-revisao blockquote').innerText !== t", arg=seen[2])
    assert current() == seen[3]
    page.keyboard.press("2")  # CRÍTICA
    page.keyboard.press("Enter")
    page.wait_for_function("t => document.querySelector('#item-revisao blockquote').innerText !== t", arg=seen[-1])
    seen.append(current())
    assert seen == queue[:5]  # least sure first
    progress = page.locator("#progresso").inner_text()
    assert "Revisados hoje: 4 por você" in progress  # the detail correction + three answers
    assert "Na fila: 4" in progress  # seven unsure, three answered
    assert curator_events(app) == 4

    # Bulk: every comment matching a filter, after seeing the count and confirming.
    page.goto(page.base_url + "/curadoria?artista=Banda+Norte&categoria=ELOGIO")
    assert page.locator("#contagem").inner_text().startswith("6 comentário(s)")
    page.get_by_label("Nova categoria").select_option("SUGESTÃO")
    page.get_by_label(re.compile("Todos os 6 que correspondem")).check()
    page.get_by_role("button", name="Aplicar aos selecionados").click()
    page.wait_for_url(re.compile(r"/curadoria/lote$"))
    assert "6 comentário(s) correspondem" in page.locator("#total-lote").inner_text()
    screenshot(page, "lote")
    page.get_by_role("button", name=re.compile("Sim, alterar 6")).click()
    page.get_by_text("6 comentário(s) agora em SUGESTÃO.").wait_for()
    assert curator_events(app) == 10

    # Export what you see: the same filters, as CSV.
    page.goto(page.base_url + "/curadoria?artista=Banda+Norte&categoria=SUGESTAO")
    assert page.locator("table.comentarios tbody tr").count() == 6
    with page.expect_download() as info:
        page.get_by_role("link", name="Exportar CSV").click()
    path = tmp_path / "export.csv"
    info.value.save_as(path)
    exported = list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"))))
    assert len(exported) == 6
    assert {(r["artista"], r["categoria"]) for r in exported} == {("Banda Norte", "SUGESTÃO")}
    assert all(r["modelo"] == "curador:user_curador" for r in exported)

    page.goto(page.base_url + "/curadoria/modelo")
    screenshot(page, "modelo")
    page.goto(page.base_url + "/curadoria/visao-geral")
    screenshot(page, "visao_geral")
    page.get_by_role("button", name="Sair").click()
    page.wait_for_url(re.compile(r"/curadoria/login"))
    page.goto(page.base_url + "/curadoria")
    assert "/curadoria/login" in page.url


def test_a_reader_can_read_and_export_but_not_correct(app, page, world):
    login(page, "user_leitor")
    page.wait_for_url(re.compile(r"/curadoria$"))
    assert page.locator("#form-lote input.marcar").count() == 0
    page.get_by_role("link", name=re.compile("Essa crítica ao show")).click()
    assert page.get_by_text("somente leitura").is_visible()
    assert page.locator("#form-correcao").count() == 0

    token = page.locator("input[name=csrf_token]").first.input_value()
    resp = page.request.post(page.url, form={"csrf_token": token, "categoria": "SPAM"})
    assert resp.status == 403
    page.reload()
    assert page.locator("#categoria-atual").inner_text() == "CRÍTICA"


@pytest.mark.parametrize("token", [None, "IjFhMmIzYyI.stale.token"])
def test_a_form_without_or_with_a_stale_csrf_token_is_refused(page, world, token):
    page.expected_statuses.add(400)
    page.goto(page.base_url + "/curadoria/login")
    if token is None:
        page.evaluate("document.querySelector('input[name=csrf_token]').remove()")
    else:
        page.evaluate("t => document.querySelector('input[name=csrf_token]').value = t", token)
    page.get_by_label("Usuário").fill("user_curador")
    page.get_by_label("Senha").fill(PASSWORD)
    with page.expect_response(re.compile(r"/curadoria/login$")) as info:
        page.get_by_role("button", name="Entrar").click()
    assert info.value.status == 400
    assert page.get_by_role("heading", name=re.compile("Formulário expirado")).is_visible()
    page.goto(page.base_url + "/curadoria")
    assert "/curadoria/login" in page.url


def test_next_to_another_site_is_not_followed(page, world):
    login(page, "user_curador", next_url="https://elsewhere.example/phish")
    page.wait_for_url(re.compile(r"/curadoria$"))
    assert page.url == page.base_url + "/curadoria"


def test_the_panel_is_readable_on_a_phone(page, world):
    page.set_viewport_size({"width": 390, "height": 800})
    login(page, "user_curador")
    page.wait_for_url(re.compile(r"/curadoria$"))
    # The page itself does not scroll sideways; only the table's own container does.
    overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 1
    assert page.get_by_role("button", name="Filtrar").is_visible()
