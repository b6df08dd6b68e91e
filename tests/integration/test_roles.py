"""Least privilege: every endpoint x every role -> allowed or 403 (SPEC §1 Auth).

ingestao may only POST comments; leitor only reads; curador reads and corrects; admin does everything.
"""

from __future__ import annotations

import pytest

from tests.integration.conftest import ROLES, add_users, bearer, empty_database, issue_tokens

READERS = {"admin", "curador", "leitor"}
EVERYONE = set(ROLES)

# (method, url as in app.api.ROUTES, body, roles allowed, status when allowed, token used)
MATRIX = [
    ("GET", "/auth/me", None, EVERYONE, 200, "access"),
    ("POST", "/auth/refresh", None, EVERYONE, 200, "refresh"),
    ("POST", "/auth/logout", None, EVERYONE, 200, "access"),
    ("POST", "/auth/register", {"password": "senha-bem-comprida", "role": "leitor"}, {"admin"}, 201, "access"),
    ("POST", "/comentarios", {"texto": "Que refrão lindo, amei a música!"}, {"admin", "ingestao"}, 201, "access"),
    ("GET", "/comentarios", None, READERS, 200, "access"),
    ("GET", "/comentarios/<comment_id>", None, READERS, 200, "access"),
    ("GET", "/comentarios/<comment_id>/historico", None, READERS, 200, "access"),
    ("PATCH", "/comentarios/<comment_id>", {"categoria": "ELOGIO"}, {"admin", "curador"}, 200, "access"),
    ("GET", "/comentarios/export", None, READERS, 200, "access"),
    ("POST", "/importacoes", [{"texto": "O show foi incrível"}], {"admin", "ingestao"}, 202, "access"),
    ("GET", "/importacoes/<job_id>", None, {"admin", "ingestao"}, 200, "access"),
    ("GET", "/modelos", None, {"admin"}, 200, "access"),
    # Allowed for admin, but running it trains a model for a minute: only the refusals are checked here.
    ("POST", "/modelos/retreinar", None, {"admin"}, None, "access"),
    # issue 9: weekly summaries and Q&A read like the other read endpoints; stakeholders are admin-only.
    ("GET", "/resumos", None, READERS, 200, "access"),
    ("GET", "/resumos/<semana>", None, READERS, 200, "access"),
    ("POST", "/insights/perguntar", {"pergunta": "Quem teve mais hype?"}, READERS, 200, "access"),
    ("GET", "/stakeholders", None, {"admin"}, 200, "access"),
    ("POST", "/stakeholders", {"email": "ceo@alumusic.com"}, {"admin"}, 201, "access"),
    ("DELETE", "/stakeholders/<stakeholder_id>", None, {"admin"}, 200, "access"),
    ("GET", "/modelos/tarefas/<job_id>", None, {"admin"}, 404, "access"),
]
# Need no token: tests/integration/test_auth.py and tests/integration/test_report_feeds.py.
PUBLIC = {("POST", "/auth/login"), ("GET", "/relatorio/semana")}

CASES = [
    pytest.param(method, url, body, role, status if role in allowed else 403, kind, id=f"{method} {url} {role}")
    for method, url, body, allowed, status, kind in MATRIX
    for role in ROLES
    if not (role in allowed and status is None)
]


@pytest.fixture(scope="module")
def world(pg_app):
    """Users of every role and one stored comment, set up once for the whole matrix."""
    empty_database(pg_app)
    add_users(pg_app)
    token = issue_tokens(pg_app, "user_ingestao")["access_token"]
    resp = pg_app.test_client().post("/api/comentarios", json={"texto": "O clipe ficou lindo"}, headers=bearer(token))
    assert resp.status_code == 201
    job = pg_app.test_client().post("/api/importacoes", json=[{"texto": "Quando sai a turnê?"}], headers=bearer(token))
    assert job.status_code == 202
    from datetime import UTC, datetime

    from app.services import summaries
    from app.services.weeks import IsoWeek

    with pg_app.app_context():
        week = str(IsoWeek.previous(datetime.now(UTC), pg_app.config["SUMMARY_TIMEZONE"]))
        summaries.generate(week)
        stakeholder = summaries.add_stakeholder("removivel@alumusic.com").id
    yield {
        "comment_id": resp.get_json()["id"],
        "job_id": job.get_json()["id"],
        "semana": week,
        "stakeholder_id": str(stakeholder),
    }
    empty_database(pg_app)


def _request(app, world, method: str, url: str, body, role: str, kind: str):
    tokens = issue_tokens(app, f"user_{role}")
    path = "/api" + url.replace("<comment_id>", world["comment_id"]).replace("<job_id>", world["job_id"])
    path = path.replace("<semana>", world["semana"]).replace("<stakeholder_id>", world["stakeholder_id"])
    if body is not None and url == "/auth/register":
        body = {**body, "username": f"novo_{role}"}
    return app.test_client().open(path, method=method, json=body, headers=bearer(tokens[f"{kind}_token"]))


@pytest.mark.parametrize(("method", "url", "body", "role", "expected", "kind"), CASES)
def test_role_matrix(pg_app, world, method, url, body, role, expected, kind):
    resp = _request(pg_app, world, method, url, body, role, kind)

    assert resp.status_code == expected, resp.get_data(as_text=True)
    if expected == 403:
        assert resp.get_json()["erro"]["codigo"] == "acesso_negado"


def test_matrix_covers_every_route_and_method():
    from app.api import ROUTES

    routed = {(m, url) for url, resource, _ in ROUTES for m in resource.methods}
    covered = {(method, url) for method, url, *_ in MATRIX} | PUBLIC
    assert routed == covered


@pytest.mark.parametrize("role", ["leitor", "ingestao"])
def test_refused_correction_changes_nothing(pg_app, world, role):
    client = pg_app.test_client()
    reader = bearer(issue_tokens(pg_app, "user_leitor")["access_token"])
    path = f"/api/comentarios/{world['comment_id']}"
    before = client.get(path + "/historico", headers=reader).get_json()

    resp = _request(pg_app, world, "PATCH", "/comentarios/<comment_id>", {"categoria": "SPAM"}, role, "access")

    assert resp.status_code == 403
    assert client.get(path, headers=reader).get_json()["categoria"] != "SPAM"
    assert client.get(path + "/historico", headers=reader).get_json() == before


@pytest.mark.parametrize("role", ["curador", "leitor"])
def test_refused_ingest_stores_nothing(pg_app, world, role):
    client = pg_app.test_client()
    reader = bearer(issue_tokens(pg_app, "user_leitor")["access_token"])
    texto = f"comentário recusado de {role}"

    resp = _request(pg_app, world, "POST", "/comentarios", {"texto": texto}, role, "access")

    assert resp.status_code == 403
    assert client.get("/api/comentarios", query_string={"q": texto}, headers=reader).get_json()["total"] == 0


def test_role_is_checked_against_the_database_too(pg_app, world):
    """A token claiming admin for a user stored as leitor (e.g. issued before a role change) is refused."""
    from flask_jwt_extended import create_access_token
    from sqlalchemy import select

    from app.extensions import db
    from app.models.user import User

    with pg_app.app_context():
        leitor_id = db.session.scalar(select(User.id).where(User.username == "user_leitor"))
        token = create_access_token(identity=str(leitor_id), additional_claims={"role": "admin"})

    resp = pg_app.test_client().post(
        "/api/auth/register", json={"username": "intruso", "password": "x" * 12, "role": "admin"}, headers=bearer(token)
    )
    assert resp.status_code == 403
    assert resp.get_json()["erro"]["codigo"] == "acesso_negado"
