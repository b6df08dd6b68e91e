"""Every API error is the one envelope {"erro": {"codigo", "mensagem", "detalhes"}}, with the right status."""

from __future__ import annotations

import uuid

import pytest
from flask import Blueprint
from sqlalchemy.exc import ProgrammingError

URL = "/api/comentarios"
LEAKS = ("Traceback", 'File "', "SELECT", "psycopg", "sqlalchemy", "segredo-interno", "RuntimeError")


def assert_envelope(resp, status: int, codigo: str | None = None) -> dict:
    assert resp.status_code == status, resp.get_data(as_text=True)
    assert resp.mimetype == "application/json"
    body = resp.get_json()
    assert list(body) == ["erro"]
    assert list(body["erro"]) == ["codigo", "mensagem", "detalhes"]
    assert isinstance(body["erro"]["codigo"], str) and body["erro"]["codigo"]
    assert isinstance(body["erro"]["mensagem"], str) and body["erro"]["mensagem"]
    if codigo is not None:
        assert body["erro"]["codigo"] == codigo
    return body["erro"]


def fields(erro: dict) -> list[str]:
    return [d["campo"] for d in erro["detalhes"]]


@pytest.fixture
def post(client, role_auth):
    def send(body=None, **kwargs):
        if body is not None:
            kwargs["json"] = body
        return client.post(URL, headers=role_auth["ingestao"], **kwargs)

    return send


def stored_count(client, role_auth) -> int:
    return client.get(URL, headers=role_auth["leitor"]).get_json()["total"]


# --- 400 / 415 -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("raw", ['{"texto": ', "{'texto': 'aspas simples'}", "[1, 2,]", "não é json"])
def test_malformed_json_is_400(post, raw):
    assert_envelope(post(data=raw, content_type="application/json"), 400, "requisicao_invalida")


def test_empty_body_is_400(post):
    assert_envelope(post(data="", content_type="application/json"), 400, "requisicao_invalida")


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", "text/csv", None])
def test_body_that_is_not_json_is_415(post, content_type):
    kwargs = {"data": '{"texto": "parece json"}'}
    if content_type:
        kwargs["content_type"] = content_type
    assert_envelope(post(**kwargs), 415, "tipo_de_midia_nao_suportado")


def test_json_with_charset_is_accepted(post):
    resp = post(data='{"texto": "Amei o refrão!"}'.encode(), content_type="application/json; charset=utf-8")
    assert resp.status_code == 201


def test_body_over_max_content_length_is_413(app_factory, role_auth):
    small = app_factory(MAX_CONTENT_LENGTH=2048).test_client()

    resp = small.post(URL, json={"texto": "a" * 3000}, headers=role_auth["ingestao"])

    assert_envelope(resp, 413, "carga_muito_grande")


# --- 422 validation --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "campos"),
    [
        ({"texto": 123}, ["texto"]),
        ({"texto": None}, ["texto"]),
        ({"texto": ["lista"]}, ["texto"]),
        ({}, ["texto"]),
        ({"texto": ""}, ["texto"]),
        ({"texto": "   \n\t  "}, ["texto"]),
        ({"texto": "x" * 5001}, ["texto"]),
        ({"texto": "ok", "id": "nao-e-uuid"}, ["id"]),
        ({"texto": "ok", "id": 42}, ["id"]),
        ({"texto": "ok", "alvo": "podcast"}, ["alvo"]),
        ({"texto": "ok", "alvo": "MUSICA"}, ["alvo"]),
        ({"texto": "ok", "publicado_em": "ontem"}, ["publicado_em"]),
        ({"texto": "ok", "artista": 7}, ["artista"]),
        ({"texto": "ok", "curtidas": 3}, ["curtidas"]),
        ({"texto": "ok", "categoria": "ELOGIO"}, ["categoria"]),
        (["um", "dois"], ["0", "1"]),
        ("só uma string", ["corpo"]),
        (42, ["corpo"]),
    ],
)
def test_invalid_input_is_422_naming_the_field(client, role_auth, post, body, campos):
    erro = assert_envelope(post(body), 422, "validacao")

    assert fields(erro) == campos
    assert all(d["mensagem"] for d in erro["detalhes"])
    assert stored_count(client, role_auth) == 0


def test_validation_errors_do_not_echo_the_input(post):
    resp = post({"texto": {"senha": "segredo-do-cliente"}, "id": "segredo-no-id"})

    assert_envelope(resp, 422)
    assert "segredo" not in resp.get_data(as_text=True)


def test_text_length_is_counted_after_trimming(post):
    assert post({"texto": "a" * 5000}).status_code == 201
    assert post({"texto": "  " + "b" * 5000 + "\n"}).status_code == 201
    assert_envelope(post({"texto": "c" * 5001}), 422)


def test_every_invalid_item_of_a_batch_is_reported(post):
    batch = [{"texto": "ok"}, {"texto": ""}, {"texto": "ok", "alvo": "radio"}, {"id": "x", "texto": "ok"}]

    erro = assert_envelope(post(batch), 422)

    assert fields(erro) == ["1.texto", "2.alvo", "3.id"]


# --- routing errors --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/api/nao-existe", "/api/comentarios/a/b/c", "/api/"])
def test_unknown_api_route_is_404_json(client, path):
    assert_envelope(client.get(path), 404, "nao_encontrado")


def test_unknown_route_answers_json_to_api_clients_and_html_to_browsers(client):
    assert_envelope(client.get("/nao-existe", headers={"Accept": "application/json"}), 404)
    page = client.get("/nao-existe", headers={"Accept": "text/html"})
    assert page.status_code == 404 and page.mimetype == "text/html"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("DELETE", URL),
        ("PUT", URL),
        ("DELETE", f"{URL}/{uuid.uuid4()}"),
        ("GET", "/api/auth/login"),
        ("POST", "/api/auth/me"),
    ],
)
def test_wrong_method_is_405_json_with_allow(client, role_auth, method, path):
    resp = client.open(path, method=method, headers=role_auth["admin"])

    assert_envelope(resp, 405, "metodo_nao_permitido")
    assert resp.headers.get("Allow")


# --- 503: a dependency is down ---------------------------------------------------------------------------------


def test_login_while_redis_is_down_degrades_to_in_process_rate_limits(app_factory):
    """Redis down must not lock every user out: login still answers, and is still rate limited (in memory)."""
    down = app_factory(REDIS_URL="redis://127.0.0.1:1/0", LOGIN_RATE_LIMIT="3 per minute").test_client()

    statuses = [
        down.post("/api/auth/login", json={"username": "alguem", "password": "qualquer-senha"}).status_code
        for _ in range(4)
    ]

    assert statuses == [401, 401, 401, 429]


def test_request_while_the_database_is_down_is_503(app_factory, role_auth):
    down = app_factory(DATABASE_URL="postgresql://postgres@127.0.0.1:1/alumusic").test_client()

    resp = down.get(URL, headers=role_auth["leitor"])

    assert_envelope(resp, 503, "dependencia_indisponivel")
    for leak in (*LEAKS, "127.0.0.1", "postgres"):
        assert leak not in resp.get_data(as_text=True)


# --- 500: unexpected errors ------------------------------------------------------------------------------------


def _raise_sql_error():
    raise ProgrammingError("SELECT senha FROM users WHERE 1=1", {}, RuntimeError("segredo-interno"))


@pytest.fixture(params=["testing", "production"])
def crashing_app(request, app_factory):
    """A fresh app (DEBUG off) with test-only routes that fail: a plain Flask view and a Flask-RESTful resource."""
    from app.api import ApiRouter
    from app.api.base import BaseResource, public

    overrides = {}
    if request.param == "production":
        overrides = {
            "APP_ENV": "production",
            "SECRET_KEY": "p" * 40,
            "JWT_SECRET_KEY": "j" * 40,
            "ADMIN_PASSWORD": "senha-de-admin-de-producao",
        }
    app = app_factory(**overrides)

    def boom():
        raise RuntimeError("segredo-interno: falhou em /srv/app.py linha 42")

    class Crash(BaseResource):
        @public
        def get(self):
            _raise_sql_error()

    bp = Blueprint("teste_erros", __name__, url_prefix="/api/teste")
    bp.add_url_rule("/boom", view_func=boom)
    ApiRouter(bp).add_resource(Crash, "/recurso")
    app.register_blueprint(bp)
    app.add_url_rule("/teste-pagina", "teste_pagina", view_func=_raise_sql_error)
    assert not app.debug
    return app


@pytest.mark.parametrize("path", ["/api/teste/boom", "/api/teste/recurso"])
def test_unexpected_exception_is_500_envelope_without_internals(crashing_app, path):
    resp = crashing_app.test_client().get(path)

    assert_envelope(resp, 500, "erro_interno")
    text = resp.get_data(as_text=True)
    for leak in LEAKS:
        assert leak not in text


def test_unexpected_exception_on_a_page_is_an_html_500_without_internals(crashing_app):
    resp = crashing_app.test_client().get("/teste-pagina", headers={"Accept": "text/html"})

    assert resp.status_code == 500
    assert resp.mimetype == "text/html"
    for leak in LEAKS:
        assert leak not in resp.get_data(as_text=True)


def test_a_resource_without_an_auth_decision_needs_an_admin_token(app_factory, role_auth):
    """BaseResource is secure by default: an undecorated method is neither public nor open to other roles."""
    from app.api import ApiRouter
    from app.api.base import BaseResource

    app = app_factory()

    class Forgotten(BaseResource):
        def get(self):
            return {"segredo": True}

    bp = Blueprint("teste_padrao", __name__, url_prefix="/api/teste-padrao")
    ApiRouter(bp).add_resource(Forgotten, "/r")
    app.register_blueprint(bp)
    client = app.test_client()
    auth = role_auth

    assert_envelope(client.get("/api/teste-padrao/r"), 401)
    assert_envelope(client.get("/api/teste-padrao/r", headers=auth["leitor"]), 403, "acesso_negado")
    assert client.get("/api/teste-padrao/r", headers=auth["admin"]).status_code == 200
