"""The curator panel on real PostgreSQL: session login, CSRF, lifetimes, throttling, roles, every page's success
and failure paths, and that corrections go through the same service (and history) as the API."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import func, select, update

from tests.conftest import PASSWORD
from tests.integration.conftest import add_users, bearer, issue_tokens
from tests.support.panel import csrf_token, panel_login, seed_comments

CSP = "default-src 'self'; script-src 'self'; style-src 'self'; frame-ancestors 'none'; form-action 'self'"


@pytest.fixture
def users(app):
    return add_users(app)


def logged_in(app, role: str):
    client = app.test_client()
    resp = panel_login(client, f"user_{role}", PASSWORD)
    assert resp.status_code == 302, resp.get_data(as_text=True)
    return client


def page(client, url: str) -> str:
    resp = client.get(url)
    assert resp.status_code == 200, resp.get_data(as_text=True)[:500]
    return resp.get_data(as_text=True)


def rows_of(html: str) -> list[str]:
    """Comment ids linked from the table, in order."""
    return re.findall(r'href="/curadoria/comentarios/([0-9a-f-]{36})"', html)


def db_scalar(app, stmt):
    from app.extensions import db

    with app.app_context():
        return db.session.scalar(stmt)


# --- Login, sessions, CSRF -------------------------------------------------------------------------------------


def test_login_page_has_a_strict_csp_and_no_inline_code(client):
    resp = client.get("/curadoria/login")
    html = resp.get_data(as_text=True)

    assert resp.status_code == 200
    assert resp.headers["Content-Security-Policy"] == CSP
    assert "<script>" not in html and "style=" not in html and "<style" not in html
    assert 'lang="pt-BR"' in html


def test_login_sets_a_protected_session_cookie_and_records_the_event(app, users):
    from app.models.session import LoginEvent

    client = app.test_client()
    resp = panel_login(client, "user_curador", PASSWORD)

    assert resp.status_code == 302 and resp.headers["Location"] == "/curadoria"
    cookie = resp.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Secure" not in cookie  # not production: make run serves plain HTTP
    with app.app_context():
        from app.extensions import db

        event = db.session.scalar(select(LoginEvent).order_by(LoginEvent.id.desc()))
        assert (event.username, event.success, event.reason) == ("user_curador", True, "ok")
        assert event.address == "127.0.0.1" and event.user_agent


def test_production_cookie_is_secure(app_factory, users):
    app = app_factory(APP_ENV="testing", SESSION_COOKIE_SECURE=True)
    resp = panel_login(app.test_client(), "user_curador", PASSWORD)
    assert "Secure" in resp.headers["Set-Cookie"]


def test_unknown_user_and_wrong_password_get_the_same_answer(app, users):
    from app.models.session import LoginEvent

    unknown = panel_login(app.test_client(), "ninguem", PASSWORD)
    wrong = panel_login(app.test_client(), "user_curador", "senha-errada-123")

    def body(resp) -> str:
        return re.sub(r'value="[^"]*"', "", resp.get_data(as_text=True))

    assert unknown.status_code == wrong.status_code == 401
    assert body(unknown).replace("ninguem", "X") == body(wrong).replace("user_curador", "X")
    assert "Usuário ou senha inválidos." in body(wrong)
    failures = db_scalar(app, select(func.count()).where(LoginEvent.success.is_(False)))
    assert failures == 2


def test_service_accounts_cannot_use_the_panel(app, users):
    resp = panel_login(app.test_client(), "user_ingestao", PASSWORD)
    assert resp.status_code == 403
    assert "não tem acesso ao painel" in resp.get_data(as_text=True)


def test_form_without_or_with_a_stale_csrf_token_is_refused(app, users):
    client = app.test_client()
    no_token = client.post("/curadoria/login", data={"username": "user_curador", "password": PASSWORD})
    stale = app.test_client()
    other_token = csrf_token(app.test_client().get("/curadoria/login").get_data(as_text=True))
    stale.get("/curadoria/login")
    wrong_session = stale.post(
        "/curadoria/login", data={"username": "user_curador", "password": PASSWORD, "csrf_token": other_token}
    )

    for resp in (no_token, wrong_session):
        assert resp.status_code == 400
        assert "Formulário expirado" in resp.get_data(as_text=True)
    assert client.get("/curadoria").status_code == 302  # still not logged in


def test_state_changes_from_a_logged_in_page_need_the_token(app, users):
    [cid] = seed_comments(app, [{"text": "Música boa", "category": "ELOGIO"}])
    client = logged_in(app, "curador")

    resp = client.post(f"/curadoria/comentarios/{cid}", data={"categoria": "SPAM"})

    assert resp.status_code == 400
    assert "SPAM" not in page(client, f"/curadoria/comentarios/{cid}").split("Corrigir")[0]


def test_the_api_keeps_bearer_tokens_without_csrf(app, users):
    [cid] = seed_comments(app, [{"text": "Música boa"}])
    token = issue_tokens(app, "user_curador")["access_token"]
    resp = app.test_client().patch(f"/api/comentarios/{cid}", json={"categoria": "SPAM"}, headers=bearer(token))
    assert resp.status_code == 200


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("https://elsewhere.example/x", "/curadoria"),
        ("//elsewhere.example/x", "/curadoria"),
        ("/\\elsewhere.example", "/curadoria"),
        ("javascript:alert(1)", "/curadoria"),
        ("/curadoria/revisar?apos=x", "/curadoria/revisar?apos=x"),
    ],
)
def test_next_only_leads_to_our_own_paths(app, users, target, expected):
    resp = panel_login(app.test_client(), "user_curador", PASSWORD, next=target)
    assert resp.status_code == 302
    assert resp.headers["Location"] == expected


def test_anonymous_pages_redirect_to_login_with_next(client):
    resp = client.get("/curadoria/revisar?apos=abc")
    assert resp.status_code == 302
    location = urlsplit(resp.headers["Location"])
    assert location.path == "/curadoria/login"
    assert parse_qs(location.query)["next"] == ["/curadoria/revisar?apos=abc"]


def test_login_rotates_the_session_and_logout_ends_it_server_side(app, users):
    client = app.test_client()
    client.get("/curadoria/login")
    before = client.get_cookie("session").value
    panel_login(client, "user_curador", PASSWORD)
    after = client.get_cookie("session").value
    assert before != after

    thief = app.test_client()
    thief.set_cookie("session", after)
    assert thief.get("/curadoria").status_code == 200

    token = csrf_token(page(client, "/curadoria"))
    assert client.post("/curadoria/sair", data={"csrf_token": token}).status_code == 302
    assert client.get("/curadoria").status_code == 302
    # The copied cookie died with the session: logout is not just forgetting the cookie in one browser.
    assert thief.get("/curadoria").status_code == 302


@pytest.mark.parametrize("column", ["last_seen_at", "created_at"])
def test_idle_and_absolute_lifetimes_end_the_session(app, users, column):
    from app.extensions import db
    from app.models.session import PanelSession

    client = logged_in(app, "curador")
    assert client.get("/curadoria").status_code == 200
    with app.app_context():
        limit = app.config["SESSION_IDLE_SECONDS" if column == "last_seen_at" else "SESSION_ABSOLUTE_SECONDS"]
        old = datetime.now(UTC) - timedelta(seconds=limit + 5)
        db.session.execute(update(PanelSession).values({column: old, "last_seen_at": old}))
        db.session.commit()

    resp = client.get("/curadoria")
    assert resp.status_code == 302 and resp.headers["Location"].startswith("/curadoria/login")
    assert "Sua sessão terminou" in client.get("/curadoria/login").get_data(as_text=True)


def test_a_deactivated_user_is_logged_out_at_the_next_request(app, users):
    from app.services.users import set_active

    client = logged_in(app, "curador")
    with app.app_context():
        set_active("user_curador", False)

    resp = client.get("/curadoria")
    assert resp.status_code == 302
    assert "desativado" in client.get("/curadoria/login").get_data(as_text=True)


def _from(app, address: str):
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    return client


def test_login_is_throttled_per_account_on_an_address_without_locking_the_account_out(app_factory, users):
    app = app_factory(PANEL_LOGIN_ACCOUNT_RATE_LIMIT="3 per minute", PANEL_LOGIN_RATE_LIMIT="100 per minute")

    codes = [panel_login(_from(app, "10.0.0.66"), "user_leitor", "errada-mas-longa").status_code for _ in range(4)]

    assert codes == [401, 401, 401, 429]
    resp = panel_login(_from(app, "10.0.0.66"), "USER_LEITOR ", PASSWORD)  # that address waits, right password too
    assert resp.status_code == 429 and "Muitas tentativas" in resp.get_data(as_text=True)
    assert int(resp.headers["Retry-After"]) >= 1
    assert panel_login(_from(app, "10.0.0.7"), "user_leitor", PASSWORD).status_code == 302  # the owner elsewhere


def test_guessing_spread_over_addresses_is_bounded_but_the_owners_address_still_gets_in(app_factory, users):
    from app.models.session import LoginEvent

    app = app_factory(LOGIN_ACCOUNT_GLOBAL_RATE_LIMIT="3 per minute", PANEL_LOGIN_RATE_LIMIT="100 per minute")
    assert panel_login(_from(app, "10.1.1.1"), "user_leitor", PASSWORD).status_code == 302  # the owner, earlier

    codes = [panel_login(_from(app, f"10.0.0.{n}"), "user_leitor", "errada-mas-longa").status_code for n in range(4)]

    assert codes == [401, 401, 401, 429]
    assert panel_login(_from(app, "10.0.0.99"), "user_leitor", PASSWORD).status_code == 429  # a new address waits
    assert panel_login(_from(app, "10.1.1.1"), "user_leitor", PASSWORD).status_code == 302  # the owner's does not
    with app.app_context():
        from app.extensions import db

        reasons = db.session.scalars(select(LoginEvent.reason).order_by(LoginEvent.id)).all()
    assert reasons.count("limite_excedido") == 2


def test_login_is_throttled_per_address_across_accounts(app_factory, users):
    app = app_factory(PANEL_LOGIN_ACCOUNT_RATE_LIMIT="100 per minute", PANEL_LOGIN_RATE_LIMIT="3 per minute")
    client = app.test_client()
    codes = [panel_login(client, f"tentativa{n}", "qualquer-senha-1").status_code for n in range(4)]
    assert codes == [401, 401, 401, 429]
    other = app.test_client()
    other.environ_base["REMOTE_ADDR"] = "10.9.9.9"
    assert panel_login(other, "user_curador", PASSWORD).status_code == 302


# --- The comments table -----------------------------------------------------------------------------------------


@pytest.fixture
def catalogue(app, users):
    return seed_comments(
        app,
        [
            {
                "text": "Essa CRÍTICA do show foi justa",
                "category": "CRÍTICA",
                "artist": "Lua Serena",
                "confidence": 0.4,
            },
            {"text": "critica sem acento, mesma artista", "category": "CRÍTICA", "artist": "Lua Serena"},
            {"text": "Uma crítica a outra artista", "category": "CRÍTICA", "artist": "Banda Norte"},
            {
                "text": "Crítica? Não, um elogio",
                "category": "ELOGIO",
                "artist": "Lua Serena",
                "tags": ["feat_autotune"],
            },
            {"text": "Quando sai o álbum?", "category": "DÚVIDA", "artist": "Lua Serena", "confidence": 0.3},
        ],
    )


def test_filters_combine_artist_category_and_accent_insensitive_text(app, catalogue):
    client = logged_in(app, "leitor")
    html = page(client, "/curadoria?artista=lua+serena&categoria=CRITICA&q=critica")

    assert rows_of(html) == [catalogue[0], catalogue[1]]
    assert "<mark>CRÍTICA</mark>" in html and "<mark>critica</mark>" in html
    assert "2 comentário(s)" in html
    # The filtered view is a link: the export link carries the same filters.
    assert 'href="/curadoria/exportar?categoria=CR%C3%8DTICA&amp;artista=lua+serena&amp;q=critica"' in html


def test_tag_target_dates_and_confidence_filters(app, catalogue):
    client = logged_in(app, "leitor")
    assert rows_of(page(client, "/curadoria?tag=feat_autotune")) == [catalogue[3]]
    assert set(rows_of(page(client, "/curadoria?confianca_max=0.5"))) == {catalogue[0], catalogue[4]}
    today = datetime.now(UTC).date().isoformat()
    assert len(rows_of(page(client, f"/curadoria?desde={today}&ate={today}"))) in (4, 5)  # midnight edge
    assert rows_of(page(client, "/curadoria?desde=2000-01-01&ate=2000-01-02")) == []


def test_invalid_filters_are_shown_not_crashed(app, catalogue):
    client = logged_in(app, "leitor")
    html = page(client, "/curadoria?confianca_min=2&ordenar=nada")
    assert "Alguns filtros são inválidos" in html and "confianca_min" in html


def test_keyset_pages_cover_every_row_once_in_order_and_go_back(app, users):
    ids = seed_comments(app, [{"text": f"comentário {i}", "minutes_ago": i} for i in range(60)])
    client = logged_in(app, "leitor")

    seen, url, pages = [], "/curadoria?ordenar=-publicado_em", []
    while url:
        html = page(client, url)
        pages.append(html)
        seen.extend(rows_of(html))
        nxt = re.search(r'href="([^"]+)" rel="next"', html)
        url = nxt.group(1).replace("&amp;", "&") if nxt else None

    assert seen == ids  # newest first, 25 + 25 + 10, nothing repeated or skipped
    assert len(pages) == 3 and "página 3" in pages[2]
    prev = re.search(r'href="([^"]+)" rel="prev"', pages[2]).group(1).replace("&amp;", "&")
    assert rows_of(page(client, prev)) == ids[25:50]
    assert len(rows_of(page(client, "/curadoria?tamanho=50"))) == 50
    assert len(rows_of(page(client, "/curadoria?tamanho=7"))) == 25  # only 25/50/100
    assert rows_of(page(client, "/curadoria?apos=bad-cursor")) == ids[:25]


def test_the_count_is_capped(app_factory, users):
    app = app_factory(PANEL_COUNT_CAP=100)
    seed_comments(app, [{"text": f"c {i}"} for i in range(105)])
    html = page(logged_in(app, "leitor"), "/curadoria")
    assert "Mais de 100 comentários" in html


# --- One comment, corrections, roles -------------------------------------------------------------------------


def test_a_curator_corrects_a_comment_and_sees_it_in_history(app, catalogue):
    cid = catalogue[3]
    client = logged_in(app, "curador")
    html = page(client, f"/curadoria/comentarios/{cid}")
    assert "Histórico de classificação" in html and "local:teste" in html

    resp = client.post(
        f"/curadoria/comentarios/{cid}",
        data={
            "csrf_token": csrf_token(html),
            "categoria": "CRÍTICA",
            "tags": ["app_interface"],
            "motivo": "é uma crítica",
        },
    )
    assert resp.status_code == 302
    html = page(client, f"/curadoria/comentarios/{cid}")
    assert "Correção registrada" in html
    assert re.search(r"Curador</strong>\s*\(user_curador\).*ELOGIO</span> →.*CRÍTICA", html, re.S)
    assert "Motivo: é uma crítica" in html

    api = app.test_client().get(
        f"/api/comentarios/{cid}/historico", headers=bearer(issue_tokens(app, "user_leitor")["access_token"])
    )
    last = api.get_json()[-1]
    assert (last["fonte"], last["categoria"], last["usuario"]) == ("curador", "CRÍTICA", "user_curador")
    assert [t["codigo"] for t in last["tags_funcionalidades"]] == ["app_interface"]


def test_a_correction_with_a_tag_outside_the_taxonomy_is_refused(app, catalogue):
    client = logged_in(app, "curador")
    html = page(client, f"/curadoria/comentarios/{catalogue[0]}")
    resp = client.post(
        f"/curadoria/comentarios/{catalogue[0]}",
        data={"csrf_token": csrf_token(html), "categoria": "SPAM", "tags": ["nao_existe"]},
    )
    assert resp.status_code == 422


def test_a_reader_sees_the_comment_read_only_and_cannot_correct(app, catalogue):
    client = logged_in(app, "leitor")
    html = page(client, f"/curadoria/comentarios/{catalogue[0]}")
    assert "somente leitura" in html and "form-correcao" not in html

    token = csrf_token(html)  # the logout form's token: valid, but the role is not
    resp = client.post(f"/curadoria/comentarios/{catalogue[0]}", data={"csrf_token": token, "categoria": "SPAM"})
    assert resp.status_code == 403
    resp = client.post("/curadoria/lote", data={"csrf_token": token, "categoria": "SPAM", "ids": [catalogue[0]]})
    assert resp.status_code == 403
    assert "CRÍTICA" in page(client, f"/curadoria/comentarios/{catalogue[0]}")


def test_unknown_comment_is_a_friendly_404(app, users):
    client = logged_in(app, "leitor")
    for cid in ("nao-e-uuid", "00000000-0000-0000-0000-000000000000"):
        resp = client.get(f"/curadoria/comentarios/{cid}")
        assert resp.status_code == 404
        assert "Não encontrado" in resp.get_data(as_text=True)
        assert resp.headers["Content-Security-Policy"] == CSP


# --- Review queue ---------------------------------------------------------------------------------------------


def test_review_queue_least_sure_first_answers_leave_the_queue(app, users):
    ids = seed_comments(
        app,
        [
            {"text": "meio incerto", "confidence": 0.5},
            {"text": "bem incerto", "confidence": 0.2, "category": "DÚVIDA"},
            {"text": "seguro", "confidence": 0.95},
            {"text": "revisto pela segunda opinião", "confidence": 0.58, "model": "local:teste+e5"},
            {"text": "a segunda opinião ficou segura", "confidence": 0.8, "model": "local:teste+e5"},
        ],
    )
    client = logged_in(app, "curador")
    html = page(client, "/curadoria/revisar")
    assert f'data-id="{ids[1]}"' in html
    assert re.search(r'<input checked[^>]*value="DÚVIDA"', html)  # the model's suggestion is pre-selected
    assert "20%" in html and "Na fila: <strong>3</strong>" in html

    resp = client.post(f"/curadoria/revisar/{ids[1]}", data={"csrf_token": csrf_token(html), "categoria": "SPAM"})
    assert resp.status_code == 302
    html = page(client, resp.headers["Location"])
    assert f'data-id="{ids[0]}"' in html
    assert "Revisados hoje: <strong>1</strong>" in html and "Na fila: <strong>2</strong>" in html
    assert "1 correção(ões) para o próximo retreinamento" in html

    skip = re.search(r'id="pular" href="([^"]+)"', html).group(1).replace("&amp;", "&")
    html = page(client, skip)
    assert f'data-id="{ids[3]}"' in html and "segunda opinião" in html
    assert 'id="discordou"' not in html  # refined, but to the same category
    back = re.search(r'id="anterior" href="([^"]+)"', html).group(1).replace("&amp;", "&")
    assert f'data-id="{ids[0]}"' in page(client, back)
    assert "A fila está vazia" in page(client, re.search(r'id="pular" href="([^"]+)"', html).group(1))
    assert f'data-id="{ids[1]}"' not in page(client, "/curadoria/revisar")


def test_review_flags_a_second_opinion_that_disagreed(app, users):
    from app.extensions import db
    from app.models.comment import ClassificationEvent

    [cid] = seed_comments(app, [{"text": "ambíguo", "confidence": 0.55, "category": "DÚVIDA", "model": "local:v+e5"}])
    with app.app_context():
        db.session.add(
            ClassificationEvent(comment_id=cid, source="modelo", category="CRÍTICA", tags=[], confidence=0.4)
        )
        db.session.commit()
    html = page(logged_in(app, "curador"), "/curadoria/revisar")
    assert 'id="discordou"' in html


def test_review_answer_without_a_category_is_refused(app, users):
    [cid] = seed_comments(app, [{"text": "incerto", "confidence": 0.1}])
    client = logged_in(app, "curador")
    html = page(client, "/curadoria/revisar")
    resp = client.post(f"/curadoria/revisar/{cid}", data={"csrf_token": csrf_token(html)})
    assert resp.status_code == 302
    assert "Escolha uma categoria" in page(client, resp.headers["Location"])


# --- Bulk -----------------------------------------------------------------------------------------------------


def _events(app, source="curador") -> int:
    from app.models.comment import ClassificationEvent

    return db_scalar(app, select(func.count()).where(ClassificationEvent.source == source))


def test_bulk_correct_selected_rows(app, catalogue):
    client = logged_in(app, "curador")
    html = page(client, "/curadoria")
    resp = client.post(
        "/curadoria/lote",
        data={"csrf_token": csrf_token(html), "categoria": "SPAM", "ids": catalogue[:2], "filtro": ""},
    )
    assert resp.status_code == 302
    assert "2 comentário(s) agora em SPAM" in page(client, resp.headers["Location"])
    assert _events(app) == 2


def test_bulk_correct_everything_matching_asks_for_confirmation_first(app, catalogue):
    client = logged_in(app, "curador")
    html = page(client, "/curadoria?artista=Lua+Serena")
    form = {"csrf_token": csrf_token(html), "categoria": "SUGESTÃO", "todos": "y", "filtro": "artista=Lua+Serena"}

    confirm = client.post("/curadoria/lote", data=form)
    assert confirm.status_code == 200
    assert re.search(r"<strong>4</strong> comentário\(s\) correspondem", confirm.get_data(as_text=True))
    assert _events(app) == 0

    done = client.post("/curadoria/lote", data={**form, "confirmar": "y"})
    assert done.status_code == 302
    assert _events(app) == 4
    html = page(client, "/curadoria?categoria=SUGESTAO")
    assert set(rows_of(html)) == {catalogue[i] for i in (0, 1, 3, 4)}


def test_bulk_is_all_or_nothing_above_the_maximum(app_factory, users):
    app = app_factory(PANEL_BULK_MAX=2)
    ids = seed_comments(app, [{"text": f"c {i}"} for i in range(3)])
    client = logged_in(app, "curador")
    token = csrf_token(page(client, "/curadoria"))
    resp = client.post("/curadoria/lote", data={"csrf_token": token, "categoria": "SPAM", "ids": ids})
    assert resp.status_code == 422
    assert _events(app) == 0


def test_bulk_is_rate_limited(app_factory, users):
    app = app_factory(PANEL_BULK_RATE_LIMIT="2 per minute")
    from app.extensions import limiter

    limiter.reset()
    [cid] = seed_comments(app, [{"text": "c"}])
    client = logged_in(app, "curador")
    token = csrf_token(page(client, "/curadoria"))
    codes = [
        client.post("/curadoria/lote", data={"csrf_token": token, "categoria": "SPAM", "ids": [cid]}).status_code
        for _ in range(3)
    ]
    assert codes == [302, 302, 429]
    limiter.reset()


# --- Export ---------------------------------------------------------------------------------------------------


def test_export_streams_the_filtered_rows_as_csv(app, catalogue):
    client = logged_in(app, "leitor")
    resp = client.get("/curadoria/exportar?artista=Lua+Serena&categoria=CRITICA")
    assert resp.status_code == 200
    assert resp.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert resp.headers["Content-Disposition"].startswith('attachment; filename="comentarios-')
    rows = list(csv.DictReader(io.StringIO(resp.get_data(as_text=True))))
    assert {r["id"] for r in rows} == set(catalogue[:2])
    assert {r["artista"] for r in rows} == {"Lua Serena"}


def test_export_with_invalid_filters_is_refused(app, users):
    resp = logged_in(app, "leitor").get("/curadoria/exportar?confianca_min=9")
    assert resp.status_code == 422


# --- Model, retraining, overview ------------------------------------------------------------------------------


def test_admin_starts_retraining_and_sees_the_decision(app, users, monkeypatch):
    from app.services import curation

    class Done:
        id = "t1"

        def ready(self):
            return True

        def get(self):
            return {"challenger": "v2", "promoted": False, "reason": "não superou"}

    calls = []
    monkeypatch.setattr(curation, "dispatch", lambda name: calls.append(name) or Done())
    client = logged_in(app, "admin")
    html = page(client, "/curadoria/modelo")
    assert 'id="versao-ativa"' in html and "macro-F1" in html

    resp = client.post("/curadoria/retreinar", data={"csrf_token": csrf_token(html)})
    assert resp.status_code == 302
    assert calls == ["app.tasks.training.retrain_with_corrections"]
    assert "Desafiante não promovido" in page(client, "/curadoria/modelo")


def test_broker_down_on_retraining_is_a_friendly_503(app, users, monkeypatch):
    from app.errors import DependencyUnavailable
    from app.services import curation

    def down(name):
        raise DependencyUnavailable("fila indisponível")

    monkeypatch.setattr(curation, "dispatch", down)
    client = logged_in(app, "admin")
    resp = client.post("/curadoria/retreinar", data={"csrf_token": csrf_token(page(client, "/curadoria/modelo"))})
    assert resp.status_code == 503 and "fila indisponível" in resp.get_data(as_text=True)


def test_only_admins_start_retraining(app, users):
    client = logged_in(app, "curador")
    html = page(client, "/curadoria/modelo")
    assert 'id="retreinar"' not in html
    assert client.post("/curadoria/retreinar", data={"csrf_token": csrf_token(html)}).status_code == 403


def test_overview_links_the_report_and_shows_the_active_model(app, users):
    html = page(logged_in(app, "leitor"), "/curadoria/visao-geral")
    assert 'href="/relatorio/semana"' in html
    assert 'id="versao-ativa"' in html
    assert "Resumos semanais" in html


def test_static_assets_are_served_locally(client):
    for asset in ("panel.css", "panel.js", "favicon.svg"):
        assert client.get(f"/static/curadoria/{asset}").status_code == 200


def test_accent_insensitive_search_on_sqlite(sqlite_app):
    from app.extensions import db
    from app.schemas.comments import CommentFilters
    from app.services.curation import comments_page

    seed_comments(sqlite_app, [{"text": "Uma CRÍTICA justa"}, {"text": "nada a ver"}])
    with sqlite_app.app_context():
        result = comments_page(CommentFilters(q="critica"), 25)
        assert [c.text for c in result.items] == ["Uma CRÍTICA justa"]
        db.session.remove()


def test_overview_lists_the_latest_weekly_summaries(sqlite_app):
    """The overview shows the newest stored weekly summaries first (app.services.summaries)."""
    from datetime import date

    from app.extensions import db
    from app.models.summary import WeeklySummary
    from app.services.curation import latest_summaries

    with sqlite_app.app_context():
        assert latest_summaries() == []
        for week, monday, text in (
            ("2026-W47", date(2026, 11, 16), "Semana calma."),
            ("2026-W48", date(2026, 11, 23), "Mais elogios ao clipe novo."),
        ):
            db.session.add(
                WeeklySummary(
                    week=week, starts_on=monday, ends_on=monday, aggregate={}, text=text, generator="deterministico"
                )
            )
        db.session.commit()
        assert latest_summaries() == [
            {"semana": "2026-W48", "texto": "Mais elogios ao clipe novo."},
            {"semana": "2026-W47", "texto": "Semana calma."},
        ]
        db.session.remove()


def test_the_panel_address_with_a_trailing_slash_reaches_the_list_with_its_filters(app, users):
    client = logged_in(app, "leitor")

    resp = client.get("/curadoria/?categoria=ELOGIO&artista=Lia")

    assert resp.status_code == 308
    assert resp.headers["Location"] == "/curadoria?categoria=ELOGIO&artista=Lia"
    assert client.get(resp.headers["Location"]).status_code == 200
