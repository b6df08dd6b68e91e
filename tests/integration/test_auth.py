"""Authentication: login, refresh, logout, token errors, admin-only registration, rate limit and the users CLI."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from tests.conftest import PASSWORD, login
from tests.integration.conftest import add_users, bearer

LOGIN = "/api/auth/login"
REFRESH = "/api/auth/refresh"
LOGOUT = "/api/auth/logout"
REGISTER = "/api/auth/register"
ME = "/api/auth/me"


def assert_error(resp, status: int, codigo: str | None = None) -> dict:
    """The response is the one error envelope with this status (and code)."""
    assert resp.status_code == status, resp.get_data(as_text=True)
    assert resp.mimetype == "application/json"
    body = resp.get_json()
    assert set(body) == {"erro"}
    assert set(body["erro"]) == {"codigo", "mensagem", "detalhes"}
    assert body["erro"]["mensagem"]
    if codigo is not None:
        assert body["erro"]["codigo"] == codigo
    return body["erro"]


@pytest.fixture
def leitor(app) -> int:
    return add_users(app, ["leitor"])["leitor"]


# --- login -----------------------------------------------------------------------------------------------------


def test_login_returns_bearer_tokens_that_work(client, leitor):
    body = login(client, "user_leitor")

    assert set(body) == {"access_token", "refresh_token", "token_type", "expires_in"}
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 900
    assert body["access_token"] != body["refresh_token"]
    me = client.get(ME, headers=bearer(body["access_token"]))
    assert me.status_code == 200
    assert me.get_json()["username"] == "user_leitor"
    assert me.get_json()["role"] == "leitor"


def test_wrong_password_and_unknown_user_get_the_same_401(client, leitor):
    wrong_password = client.post(LOGIN, json={"username": "user_leitor", "password": "nao-e-essa-senha"})
    unknown_user = client.post(LOGIN, json={"username": "ninguem", "password": PASSWORD})

    first = assert_error(wrong_password, 401)
    second = assert_error(unknown_user, 401)
    assert first == second
    assert "access_token" not in wrong_password.get_data(as_text=True)


def test_login_without_credentials_is_422(client):
    assert_error(client.post(LOGIN, json={"username": "alguem"}), 422, "validacao")


def test_inactive_user_cannot_log_in_and_their_token_stops_working(app, client, leitor):
    from app.services.users import set_active

    tokens = login(client, "user_leitor")
    assert client.get(ME, headers=bearer(tokens["access_token"])).status_code == 200

    with app.app_context():
        set_active("user_leitor", False)

    refused = client.post(LOGIN, json={"username": "user_leitor", "password": PASSWORD})
    unknown = client.post(LOGIN, json={"username": "ninguem", "password": PASSWORD})
    assert assert_error(refused, 401) == assert_error(unknown, 401)  # does not reveal the account exists
    assert_error(client.get(ME, headers=bearer(tokens["access_token"])), 401)
    assert_error(client.get("/api/comentarios", headers=bearer(tokens["access_token"])), 401)
    assert_error(client.post(REFRESH, headers=bearer(tokens["refresh_token"])), 401)


def test_password_is_stored_hashed(app, client):
    from app.extensions import db
    from app.models.user import User
    from app.services.users import create_user

    with app.app_context():
        create_user("hash_check", "uma-senha-bem-longa-42", "leitor")
        stored = db.session.scalar(select(User.password_hash).where(User.username == "hash_check"))
    assert stored != "uma-senha-bem-longa-42"
    assert "uma-senha-bem-longa-42" not in stored
    assert login(client, "hash_check", "uma-senha-bem-longa-42")["access_token"]


# --- refresh and logout ----------------------------------------------------------------------------------------


def test_refresh_token_gives_a_new_working_access_token(client, leitor):
    tokens = login(client, "user_leitor")

    resp = client.post(REFRESH, headers=bearer(tokens["refresh_token"]))

    assert resp.status_code == 200
    body = resp.get_json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 900
    assert body["access_token"] != tokens["access_token"]
    assert client.get(ME, headers=bearer(body["access_token"])).get_json()["username"] == "user_leitor"


def test_access_token_is_refused_on_refresh_and_refresh_token_is_refused_as_access(client, leitor):
    tokens = login(client, "user_leitor")

    wrong = assert_error(client.post(REFRESH, headers=bearer(tokens["access_token"])), 401, "token_de_tipo_errado")
    assert "refresh_token" in wrong["mensagem"]  # names the mistake instead of "malformed"
    wrong = assert_error(
        client.get("/api/comentarios", headers=bearer(tokens["refresh_token"])), 401, "token_de_tipo_errado"
    )
    assert "access_token" in wrong["mensagem"]


def test_logout_revokes_the_token(client, leitor):
    tokens = login(client, "user_leitor")
    headers = bearer(tokens["access_token"])

    assert client.post(LOGOUT, headers=headers).status_code == 200

    assert_error(client.get(ME, headers=headers), 401, "token_revogado")
    assert_error(client.get("/api/comentarios", headers=headers), 401, "token_revogado")
    # Only the access token was sent: the refresh token still works until it is revoked too.
    assert client.post(REFRESH, headers=bearer(tokens["refresh_token"])).status_code == 200


def test_logout_with_refresh_token_in_body_revokes_both(client, leitor):
    tokens = login(client, "user_leitor")

    resp = client.post(LOGOUT, headers=bearer(tokens["access_token"]), json={"refresh_token": tokens["refresh_token"]})

    assert resp.status_code == 200
    assert_error(client.get(ME, headers=bearer(tokens["access_token"])), 401, "token_revogado")
    assert_error(client.post(REFRESH, headers=bearer(tokens["refresh_token"])), 401, "token_revogado")
    # A fresh login is unaffected.
    assert client.get(ME, headers=bearer(login(client, "user_leitor")["access_token"])).status_code == 200


def test_logout_cannot_revoke_another_users_refresh_token(app, client):
    add_users(app, ["leitor", "curador"])
    mine = login(client, "user_leitor")
    theirs = login(client, "user_curador")

    client.post(LOGOUT, headers=bearer(mine["access_token"]), json={"refresh_token": theirs["refresh_token"]})

    assert client.post(REFRESH, headers=bearer(theirs["refresh_token"])).status_code == 200


# --- token errors: always a 401 envelope, never a 500 ----------------------------------------------------------


def _token_for(app, user_id: int, *, refresh: bool = False, **kwargs) -> str:
    from flask_jwt_extended import create_access_token, create_refresh_token

    make = create_refresh_token if refresh else create_access_token
    with app.app_context():
        return make(identity=str(user_id), additional_claims={"role": "leitor"}, **kwargs)


@pytest.mark.parametrize("path", [ME, "/api/comentarios"])
def test_expired_access_token_is_401_token_expirado(app, client, leitor, path):
    assert not app.debug
    expired = _token_for(app, leitor, expires_delta=timedelta(seconds=-5))

    assert_error(client.get(path, headers=bearer(expired)), 401, "token_expirado")


def test_expired_refresh_token_is_401_token_expirado(app, client, leitor):
    expired = _token_for(app, leitor, refresh=True, expires_delta=timedelta(seconds=-5))

    assert_error(client.post(REFRESH, headers=bearer(expired)), 401, "token_expirado")


def test_expired_token_is_401_on_a_production_app(app_factory, leitor):
    prod = app_factory(
        APP_ENV="production",
        SECRET_KEY="s" * 40,
        JWT_SECRET_KEY="test-jwt-key-for-the-suite-only-0123456789",
        ADMIN_PASSWORD="uma-senha-de-admin-de-producao",
    )
    assert not prod.debug and not prod.testing
    expired = _token_for(prod, leitor, expires_delta=timedelta(seconds=-5))

    assert_error(prod.test_client().get("/api/comentarios", headers=bearer(expired)), 401, "token_expirado")


@pytest.mark.parametrize(
    "authorization",
    [
        "Bearer isto-nao-e-um-jwt",
        "Bearer aaa.bbb.ccc",
        "Bearer",
    ],
)
def test_malformed_token_is_401_token_invalido(client, leitor, authorization):
    assert_error(client.get("/api/comentarios", headers={"Authorization": authorization}), 401, "token_invalido")


def test_token_signed_with_another_key_is_401(app, client, leitor):
    import jwt as pyjwt

    forged = pyjwt.encode({"sub": str(leitor), "type": "access", "jti": "x", "role": "admin"}, "outra-chave" * 4)

    assert_error(client.get("/api/comentarios", headers=bearer(forged)), 401, "token_invalido")


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Basic dXNlcjpwYXNz"}])
def test_missing_token_is_401(client, headers):
    assert_error(client.get("/api/comentarios", headers=headers), 401, "nao_autenticado")


# --- registration: admin only ----------------------------------------------------------------------------------


NEW_USER = {"username": "nova.curadora", "password": "senha-nova-e-longa", "role": "curador"}


def test_admin_registers_a_user_who_can_log_in(client, role_auth):
    resp = client.post(REGISTER, json=NEW_USER, headers=role_auth["admin"])

    assert resp.status_code == 201
    body = resp.get_json()
    assert body["username"] == "nova.curadora"
    assert body["role"] == "curador"
    assert body["active"] is True
    assert "password" not in resp.get_data(as_text=True)
    tokens = login(client, "nova.curadora", "senha-nova-e-longa")
    assert client.get(ME, headers=bearer(tokens["access_token"])).get_json()["role"] == "curador"


@pytest.mark.parametrize("role", ["curador", "leitor", "ingestao"])
def test_only_admin_registers(client, role_auth, role):
    assert_error(client.post(REGISTER, json=NEW_USER, headers=role_auth[role]), 403, "acesso_negado")
    assert client.post(LOGIN, json={"username": "nova.curadora", "password": "senha-nova-e-longa"}).status_code == 401


def test_register_without_token_is_401(client):
    assert_error(client.post(REGISTER, json=NEW_USER), 401)


def test_register_duplicate_username_is_409(client, role_auth):
    assert client.post(REGISTER, json=NEW_USER, headers=role_auth["admin"]).status_code == 201

    again = client.post(REGISTER, json={**NEW_USER, "password": "outra-senha-longa"}, headers=role_auth["admin"])

    assert_error(again, 409, "conflito")
    assert login(client, "nova.curadora", "senha-nova-e-longa")  # the first account is untouched


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"password": "curta"}, "password"),
        ({"role": "superusuario"}, "role"),
        ({"username": "nome com espaços"}, "username"),
        ({"username": "ab"}, "username"),
    ],
)
def test_register_validates(client, role_auth, change, field):
    payload = {**NEW_USER, **change}
    resp = client.post(REGISTER, json=payload, headers=role_auth["admin"])

    erro = assert_error(resp, 422, "validacao")
    assert [d["campo"] for d in erro["detalhes"]] == [field]
    credentials = {"username": payload["username"], "password": payload["password"]}
    assert client.post(LOGIN, json=credentials).status_code == 401


# --- login rate limit ------------------------------------------------------------------------------------------


def test_login_rate_limit_answers_429_in_the_envelope(app_factory, leitor):
    limited = app_factory(LOGIN_RATE_LIMIT="3 per minute").test_client()
    wrong = {"username": "user_leitor", "password": "senha-errada-123"}

    assert [limited.post(LOGIN, json=wrong).status_code for _ in range(3)] == [401, 401, 401]
    blocked = limited.post(LOGIN, json={"username": "user_leitor", "password": PASSWORD})

    assert_error(blocked, 429, "limite_de_requisicoes")
    assert "access_token" not in blocked.get_data(as_text=True)
    # The limit is per client address: another client still gets in.
    other = limited.post(
        LOGIN, json={"username": "user_leitor", "password": PASSWORD}, environ_base={"REMOTE_ADDR": "10.9.8.7"}
    )
    assert other.status_code == 200


def test_failing_logins_for_an_account_cannot_lock_its_user_out_of_a_known_address(app_factory, leitor):
    from sqlalchemy import text

    from app.extensions import db

    limited = app_factory(
        LOGIN_RATE_LIMIT="100 per minute", LOGIN_ACCOUNT_RATE_LIMIT="3 per minute",
        LOGIN_ACCOUNT_GLOBAL_RATE_LIMIT="5 per minute",
    )  # fmt: skip
    with limited.app_context():
        db.session.execute(text("DELETE FROM login_throttle"))
        db.session.commit()
    client = limited.test_client()
    good = {"username": "user_leitor", "password": PASSWORD}
    wrong = {"username": "USER_LEITOR", "password": "senha-errada-123"}  # user names are case-insensitive

    def post(body: dict, address: str) -> int:
        return client.post(LOGIN, json=body, environ_base={"REMOTE_ADDR": address}).status_code

    assert post(good, "10.1.1.1") == 200  # the user's usual address
    # Guesses from many addresses: the account-wide limit stops them after 5.
    assert [post(wrong, f"203.0.113.{i}") for i in range(7)] == [401] * 5 + [429] * 2
    assert post(good, "10.1.1.1") == 200  # the user is not locked out where they usually log in
    blocked = client.post(LOGIN, json=good, environ_base={"REMOTE_ADDR": "10.1.1.2"})
    assert_error(blocked, 429, "limite_de_requisicoes")  # an unknown address waits (no oracle: right password)
    # From one address, 3 guesses on the account are all it gets, even a known one.
    assert [post(wrong, "10.1.1.1") for _ in range(4)] == [401, 401, 401, 429]


# --- the users CLI ---------------------------------------------------------------------------------------------


def test_cli_create_list_and_deactivate(app, client):
    runner = app.test_cli_runner()

    created = runner.invoke(args=["users", "create", "cli.leitor", "--role", "leitor", "--password", PASSWORD])
    assert created.exit_code == 0, created.output
    tokens = login(client, "cli.leitor")

    listed = runner.invoke(args=["users", "list"])
    assert listed.exit_code == 0
    assert "cli.leitor" in listed.output and "leitor" in listed.output and "inativo" not in listed.output

    deactivated = runner.invoke(args=["users", "deactivate", "cli.leitor"])
    assert deactivated.exit_code == 0, deactivated.output
    assert "inativo" in runner.invoke(args=["users", "list"]).output
    assert_error(client.get(ME, headers=bearer(tokens["access_token"])), 401)
    assert client.post(LOGIN, json={"username": "cli.leitor", "password": PASSWORD}).status_code == 401


def test_cli_refuses_unknown_role_and_duplicates_without_a_traceback(app, client):
    runner = app.test_cli_runner()
    args = ["users", "create", "cli.dup", "--role", "leitor", "--password", PASSWORD]
    assert runner.invoke(args=args).exit_code == 0

    duplicate = runner.invoke(args=args)
    unknown_role = runner.invoke(args=["users", "create", "cli.x", "--role", "chefe", "--password", PASSWORD])
    unknown_user = runner.invoke(args=["users", "deactivate", "fantasma"])

    for result in (duplicate, unknown_role, unknown_user):
        assert result.exit_code != 0
        assert "Traceback" not in result.output
    assert "cli.dup" in duplicate.output
    assert "fantasma" in unknown_user.output
    assert client.post(LOGIN, json={"username": "cli.x", "password": PASSWORD}).status_code == 401


def test_cli_ensure_admin_is_idempotent(app, client):
    runner = app.test_cli_runner()

    first = runner.invoke(args=["users", "ensure-admin"])
    second = runner.invoke(args=["users", "ensure-admin"])

    assert first.exit_code == 0 and second.exit_code == 0
    assert "criado" in first.output
    assert "já existe" in second.output
    tokens = login(client, app.config["ADMIN_USERNAME"], app.config["ADMIN_PASSWORD"])
    assert client.get(ME, headers=bearer(tokens["access_token"])).get_json()["role"] == "admin"
    assert len(runner.invoke(args=["users", "list"]).output.splitlines()) == 1
