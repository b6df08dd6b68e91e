"""Bad, hostile and careless input: every case answers its status in the one envelope and writes nothing.

Each row of the tables below is something a fuzzer or a real client sent; before this file several were 500s.
"""

from __future__ import annotations

import base64
import json
import uuid
from datetime import UTC, datetime, timedelta

import jwt as pyjwt
import pytest
from sqlalchemy import func, select

from tests.integration.conftest import bearer
from tests.support.envelope import assert_envelope

URL = "/api/comentarios"
LEAKS = ("Traceback", "SELECT", "psycopg", "sqlalchemy", "IndexError")


def row_counts(app) -> tuple[int, int, int]:
    from app.extensions import db
    from app.models import ClassificationEvent, Comment, User

    with app.app_context():
        return tuple(
            db.session.scalar(select(func.count()).select_from(m)) for m in (Comment, ClassificationEvent, User)
        )


@pytest.fixture
def stored(client, role_auth) -> str:
    resp = client.post(URL, json={"texto": "Que refrão lindo, amei a música!"}, headers=role_auth["ingestao"])
    assert resp.status_code == 201
    return resp.get_json()["id"]


# --- the featureless last item and NUL no longer break the fast path ------------------------------------------

FEATURELESS = ["...", "…", "€", "°", "©", "½", "\u200b"]


@pytest.mark.parametrize("text", FEATURELESS)
def test_a_batch_whose_last_comment_has_no_features_is_classified(client, role_auth, text):
    resp = client.post(URL, json=[{"texto": "musica boa demais"}, {"texto": text}], headers=role_auth["ingestao"])

    assert resp.status_code == 201, resp.get_data(as_text=True)
    items = resp.get_json()
    assert [i["texto"] for i in items] == ["musica boa demais", text.strip() or text]
    assert all(i["categoria"] for i in items)


# --- request bodies of POST /api/comentarios that must be refused -----------------------------------------------

JSON = "application/json"


def _j(value) -> bytes:
    return json.dumps(value).encode()


DEEP = "[" * 5000 + "]" * 5000
BODIES = [
    # (id, raw body, content type, status, code)
    ("malformed-json", b'{"texto": "ok"', JSON, 400, "requisicao_invalida"),
    ("empty-body", b"", JSON, 400, "requisicao_invalida"),
    ("wrong-content-type", b'{"texto": "ok"}', "text/plain", 415, "tipo_de_midia_nao_suportado"),
    ("form-encoded", b"texto=ok", "application/x-www-form-urlencoded", 415, "tipo_de_midia_nao_suportado"),
    ("deep-nesting", DEEP.encode(), JSON, 400, "requisicao_invalida"),
    ("invalid-utf8", b'{"texto": "\xff\xfe ola"}', JSON, 400, "requisicao_invalida"),
    ("lone-surrogate", b'{"texto": "ola \\ud800"}', JSON, 400, "requisicao_invalida"),
    ("nul-in-text", _j({"texto": "boa\u0000demais"}), JSON, 422, "validacao"),
    ("nul-in-artist", _j({"texto": "ok", "artista": "a\u0000b"}), JSON, 422, None),
    ("nul-in-album", _j({"texto": "ok", "album": "\u0000"}), JSON, 422, None),
    ("control-in-text", _j({"texto": "ok\u001bok"}), JSON, 422, "validacao"),
    ("blank-text", _j({"texto": " \n\t "}), JSON, 422, "validacao"),
    ("number-as-date", _j({"texto": "ok", "publicado_em": 1732000000}), JSON, 422, None),
    ("numeric-string-date", _j({"texto": "ok", "publicado_em": "1732000000"}), JSON, 422, None),
    ("number-as-text", _j({"texto": 12345}), JSON, 422, "validacao"),
    ("unknown-field", _j({"texto": "ok", "categoria": "ELOGIO"}), JSON, 422, None),
    ("empty-list", b"[]", JSON, 422, "validacao"),
    ("scalar", b"42", JSON, 422, "validacao"),
    ("1001-items", _j([{"texto": f"c {i}"} for i in range(1001)]), JSON, 413, None),
    ("one-bad-item-of-a-batch", _j([{"texto": "ok"}, {"texto": "x\u0000"}]), JSON, 422, None),
]  # fmt: skip


@pytest.mark.parametrize(
    ("raw", "content_type", "status", "codigo"), [b[1:] for b in BODIES], ids=[b[0] for b in BODIES]
)
def test_bad_bodies_are_refused_in_the_envelope_and_write_nothing(
    app, client, role_auth, raw, content_type, status, codigo
):
    before = row_counts(app)

    resp = client.post(URL, data=raw, content_type=content_type, headers=role_auth["ingestao"])

    assert_envelope(resp, status, codigo)
    assert row_counts(app) == before
    assert not any(leak in resp.get_data(as_text=True) for leak in LEAKS)


def test_a_21_mb_body_is_413(app, client, role_auth):
    before = row_counts(app)
    raw = b'{"texto": "' + b"a" * (21 * 1024 * 1024) + b'"}'

    assert_envelope(client.post(URL, data=raw, content_type="application/json", headers=role_auth["ingestao"]), 413)
    assert row_counts(app) == before


@pytest.mark.parametrize(
    "text",
    ["'; DROP TABLE comments; --", "1 OR 1=1", "\\x00", "%_%", "😀🎶🔥 que hino", "<script>alert(1)</script>"],
)
def test_hostile_looking_text_is_stored_verbatim(client, role_auth, text):
    resp = client.post(URL, json={"texto": text}, headers=role_auth["ingestao"])

    assert resp.status_code == 201
    stored = client.get(f"{URL}/{resp.get_json()['id']}", headers=role_auth["leitor"]).get_json()
    assert stored["texto"] == text
    found = client.get(URL, query_string={"q": text}, headers=role_auth["leitor"]).get_json()
    assert [i["texto"] for i in found["items"]] == [text]


# --- query strings of GET /api/comentarios ----------------------------------------------------------------------

QUERIES = [
    # (id, query, status)
    ("nul-in-q", {"q": "a\u0000b"}, 422),
    ("nul-in-artist", {"artista": "\u0000"}, 422),
    ("nul-in-tag", {"tag": "feat\u0000"}, 422),
    ("eighty-tags", [("tag", f"tag_{i}") for i in range(80)], 422),
    ("eleven-categories", [("categoria", "ELOGIO")] * 11, 422),
    ("unknown-param", {"cor": "azul"}, 422),
    ("page-zero", {"page": "0"}, 422),
    ("page-negative", {"page": "-1"}, 422),
    ("page-huge", {"page": "100000000000000000000"}, 422),
    ("page-not-a-number", {"page": "1e3"}, 422),
    ("per-page-too-big", {"per_page": "100000"}, 422),
    ("date-as-number", {"desde": "1732000000"}, 422),
    ("bad-ordering", {"ordenar": "texto; DROP"}, 422),
    ("single-valued-filter-repeated", [("artista", "Anitta"), ("artista", "Luan")], 422),
    ("page-repeated", [("page", "1"), ("page", "2")], 422),
    ("last-day-python-knows", {"ate": "9999-12-31"}, 200),
    ("instant-past-year-9999-in-utc", {"desde": "9999-12-31T23:59:59-14:00"}, 200),
    ("first-day", {"desde": "0001-01-01", "ate": "0001-01-01T00:00:00+14:00"}, 200),
    ("ten-tags", [("tag", f"tag_{i}") for i in range(10)], 200),
    ("tag-with-comma-is-one-code", {"tag": "a,b"}, 200),
    ("emoji-search", {"q": "🔥"}, 200),
    ("cache-buster", {"_": "1732000000"}, 200),
]


@pytest.mark.parametrize(("query", "status"), [q[1:] for q in QUERIES], ids=[q[0] for q in QUERIES])
def test_list_filters_hold_at_the_edges(client, role_auth, stored, query, status):
    resp = client.get(URL, query_string=query, headers=role_auth["leitor"])

    if status == 200:
        assert resp.status_code == 200, resp.get_data(as_text=True)
        assert set(resp.get_json()) == {"items", "total", "page", "per_page"}
    else:
        assert_envelope(resp, status)


def test_nul_in_a_correction_reason_is_422_and_changes_nothing(app, client, role_auth, stored):
    before = client.get(f"{URL}/{stored}/historico", headers=role_auth["leitor"]).get_json()

    resp = client.patch(
        f"{URL}/{stored}", json={"categoria": "SPAM", "motivo": "spam\u0000"}, headers=role_auth["curador"]
    )

    assert_envelope(resp, 422, "validacao")
    assert client.get(f"{URL}/{stored}/historico", headers=role_auth["leitor"]).get_json() == before


# --- tokens -----------------------------------------------------------------------------------------------------


def _token(app, **claims) -> str:
    now = datetime.now(UTC)
    payload = {"sub": "1", "jti": uuid.uuid4().hex, "type": "access", "role": "admin", "fresh": False,
               "iat": now, "nbf": now, "exp": now + timedelta(minutes=5), **claims}  # fmt: skip
    return pyjwt.encode(payload, app.config["JWT_SECRET_KEY"], algorithm="HS256")


def _alg_none(payload: dict) -> str:
    def part(data: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(payload)}."


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda app: _token(app, sub="not-a-number"), id="signed-non-integer-sub"),
        pytest.param(lambda app: _token(app, sub="99999999999999999999"), id="signed-huge-sub"),
        pytest.param(lambda app: _token(app, sub="999999"), id="signed-unknown-user"),
        pytest.param(lambda app: _token(app, jti=None), id="signed-without-jti"),
        pytest.param(lambda app: _token(app, exp=datetime.now(UTC) - timedelta(minutes=1)), id="expired"),
        pytest.param(
            lambda app: pyjwt.encode({"sub": "1", "type": "access"}, "dev-insecure-secret-change-me-0123456789abcdef"),
            id="forged-with-the-development-key",
        ),
        pytest.param(
            lambda app: _alg_none({"sub": "1", "jti": "x", "type": "access", "role": "admin", "exp": 4102444800}),
            id="alg-none",
        ),
        pytest.param(lambda app: "not.a.token", id="garbage"),
    ],
)
def test_bad_tokens_are_401_in_the_envelope(app, client, role_tokens, make):
    before = row_counts(app)

    resp = client.post(URL, json={"texto": "ok"}, headers=bearer(make(app)))

    assert_envelope(resp, 401)
    assert row_counts(app) == before


def test_revoking_the_refresh_token_also_revokes_its_access_token(client, role_tokens):
    tokens = role_tokens["leitor"]
    headers = bearer(tokens["access_token"])
    assert client.get(URL, headers=headers).status_code == 200

    resp = client.post(
        "/api/auth/logout", json={"refresh_token": tokens["refresh_token"]}, headers=bearer(tokens["refresh_token"])
    )

    assert resp.status_code == 200
    assert_envelope(client.get(URL, headers=headers), 401, "token_revogado")


@pytest.mark.parametrize(
    ("role", "method", "url"),
    [("ingestao", "get", URL), ("leitor", "post", URL), ("curador", "post", "/api/auth/register")],
)
def test_wrong_roles_are_403(app, client, role_auth, role, method, url):
    before = row_counts(app)

    resp = getattr(client, method)(url, json={"texto": "ok"}, headers=role_auth[role])

    assert_envelope(resp, 403, "acesso_negado")
    assert row_counts(app) == before


# --- accounts ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "password",
    ["aaaaaaaaaaaa", "abababababab", "1234567890", "password123", "Senha123456", "maria.souza", "maria.souza1"],
)
def test_trivial_passwords_are_refused(app, client, role_auth, password):
    before = row_counts(app)

    resp = client.post(
        "/api/auth/register",
        json={"username": "maria.souza", "password": password, "role": "leitor"},
        headers=role_auth["admin"],
    )

    assert_envelope(resp, 422, "validacao")
    assert row_counts(app) == before


def test_usernames_that_differ_only_by_case_are_one_account(app, client, role_auth):
    new = {"username": "Ana.Lima", "password": "uma-senha-longa-123", "role": "leitor"}
    assert client.post("/api/auth/register", json=new, headers=role_auth["admin"]).status_code == 201

    again = client.post("/api/auth/register", json={**new, "username": "ana.lima"}, headers=role_auth["admin"])

    assert_envelope(again, 409, "conflito")
    login = client.post("/api/auth/login", json={"username": "ANA.LIMA", "password": "uma-senha-longa-123"})
    assert login.status_code == 200


def test_the_database_refuses_a_case_variant_whatever_writes_it(app):
    from sqlalchemy.exc import IntegrityError

    from app.extensions import db
    from app.models import User

    with app.app_context():
        db.session.add(User(username="zeca", role="leitor", active=True, password_hash="x"))
        db.session.commit()
        db.session.add(User(username="ZECA", role="leitor", active=True, password_hash="x"))
        with pytest.raises(IntegrityError):
            db.session.commit()
        db.session.rollback()


# --- fuzzer findings on the endpoints added later ---------------------------------------------------------------


def test_a_repeated_report_filter_is_422_not_a_silent_pick(client):
    resp = client.get("/api/relatorio/semana", query_string=[("album", "Maré Alta"), ("album", "Outro")])
    assert_envelope(resp, 422)
    assert client.get("/api/relatorio/semana", query_string={"album": "  "}).status_code == 200  # blank: no filter


@pytest.mark.parametrize(
    "email", ["ana\u0000@alumusic.com", "\u001cana@alumusic.com", " " * 10 + "a" * 300 + "@alumusic.com"]
)
def test_a_stakeholder_address_with_control_characters_or_too_long_as_sent_is_422(app, client, role_auth, email):
    from app.extensions import db
    from app.models.summary import Stakeholder

    assert_envelope(client.post("/api/stakeholders", json={"email": email}, headers=role_auth["admin"]), 422)
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Stakeholder)) == 0


def test_a_summary_url_that_is_no_iso_week_is_404(client, role_auth):
    for week in ("0178-W01", "2026-W54", "json_schema"):
        assert_envelope(client.get(f"/api/resumos/{week}", headers=role_auth["leitor"]), 404)
