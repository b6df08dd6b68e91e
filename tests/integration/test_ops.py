"""Operations: probes, Prometheus metrics, the OpenAPI document and its local docs, request ids, production config."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest

from tests.support import services

UNREACHABLE_REDIS = "redis://127.0.0.1:1/0"


# --- probes ----------------------------------------------------------------------------------------------------


def test_health_is_200(client):
    resp = client.get("/health")
    assert resp.status_code == 200
    assert resp.get_json() == {"status": "ok"}


def test_ready_is_200_when_the_database_answers(client):
    resp = client.get("/ready")

    assert resp.status_code == 200
    body = resp.get_json()
    assert body["status"] == "ok"
    assert body["checks"]["banco"]["ok"] is True


def test_ready_checks_redis_when_configured(app_factory):
    services.check_redis(services.redis_url())
    app = app_factory(REDIS_URL=services.redis_url(), CELERY_BROKER_URL=services.redis_url())

    resp = app.test_client().get("/ready")

    assert resp.status_code == 200, resp.get_json()
    checks = resp.get_json()["checks"]
    assert checks["redis"]["ok"] is True and checks["broker"]["ok"] is True


def test_ready_is_503_when_redis_is_down(app_factory):
    app = app_factory(REDIS_URL=UNREACHABLE_REDIS)

    resp = app.test_client().get("/ready")

    assert resp.status_code == 503
    assert resp.mimetype == "application/json"
    body = resp.get_json()
    assert body["status"] == "indisponivel"
    assert body["checks"]["banco"]["ok"] is True
    assert body["checks"]["redis"]["ok"] is False
    assert "127.0.0.1:1" not in resp.get_data(as_text=True)  # no connection details for the client


def test_ready_is_503_when_the_database_is_down(app_factory):
    app = app_factory(DATABASE_URL="postgresql://postgres@127.0.0.1:1/alumusic")

    resp = app.test_client().get("/ready")

    assert resp.status_code == 503
    assert resp.get_json()["checks"]["banco"]["ok"] is False
    assert "postgres" not in resp.get_data(as_text=True)


# --- metrics ---------------------------------------------------------------------------------------------------


def _health_count(client) -> float:
    from prometheus_client.parser import text_string_to_metric_families

    resp = client.get("/metrics")
    assert resp.status_code == 200
    assert resp.mimetype == "text/plain"
    for family in text_string_to_metric_families(resp.get_data(as_text=True)):
        if family.name == "alumusic_http_requests":
            return sum(
                s.value
                for s in family.samples
                if s.name == "alumusic_http_requests_total"
                and s.labels == {"method": "GET", "endpoint": "ops.health", "status": "200"}
            )
    raise AssertionError("alumusic_http_requests_total is not exposed")


def test_metrics_count_requests(client):
    before = _health_count(client)
    client.get("/health")
    client.get("/health")

    assert _health_count(client) == before + 2


def test_metrics_expose_latency_per_endpoint(client):
    client.get("/api/openapi.json")
    text = client.get("/metrics").get_data(as_text=True)
    assert re.search(r'alumusic_http_request_seconds_count\{[^}]*endpoint="ops.openapi_json"', text)


# --- OpenAPI and docs ------------------------------------------------------------------------------------------


def test_openapi_document_is_valid_openapi_3(client):
    from openapi_spec_validator import validate

    resp = client.get("/api/openapi.json")

    assert resp.status_code == 200
    doc = resp.get_json()
    assert doc["openapi"].startswith("3.")
    validate(doc)


def test_openapi_documents_every_route_and_method():
    from app.api import ROUTES, URL_PREFIX
    from app.openapi import openapi_document

    paths = openapi_document()["paths"]
    for url, resource, _ in ROUTES:
        path = URL_PREFIX + re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"{\1}", url)
        assert path in paths, path
        documented = {m for m in paths[path] if m in ("get", "post", "put", "patch", "delete")}
        assert documented == {m.lower() for m in resource.methods}, path
        for method in documented:
            assert paths[path][method]["responses"], (path, method)


def test_openapi_marks_protected_operations():
    from app.openapi import openapi_document

    paths = openapi_document()["paths"]
    assert "security" not in paths["/api/auth/login"]["post"]
    for method in ("get", "post"):
        assert paths["/api/comentarios"][method]["security"] == [{"bearer": []}]
        assert "401" in paths["/api/comentarios"][method]["responses"]


class _Assets(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "script" and attrs.get("src"):
            self.urls.append(attrs["src"])
        if tag == "link" and attrs.get("href"):
            self.urls.append(attrs["href"])


def test_docs_page_serves_its_assets_locally(client):
    resp = client.get("/api/docs")

    assert resp.status_code == 200
    assert resp.mimetype == "text/html"
    html = resp.get_data(as_text=True)
    parser = _Assets()
    parser.feed(html)
    assert any(u.endswith(".js") for u in parser.urls) and any(u.endswith(".css") for u in parser.urls)
    for url in parser.urls:
        assert url.startswith("/") and not url.startswith("//"), url
        asset = client.get(url)
        assert asset.status_code == 200, url
        assert len(asset.get_data()) > (100 if "swagger-init" in url or "favicon" in url else 1000), url
    assert "/api/openapi.json" in html
    assert not re.search(r"https?://", html)
    # No inline script (the CSP forbids it) and, outside development, no bearer token kept in localStorage.
    assert not re.search(r"<script>(?!</script>)", html)
    assert "script-src 'self'" in resp.headers["Content-Security-Policy"]
    assert 'data-persist-authorization="false"' in html


# --- request id ------------------------------------------------------------------------------------------------


def test_request_id_is_echoed_when_sent(client):
    resp = client.get("/health", headers={"X-Request-ID": "nginx-req-0123abc"})
    assert resp.headers["X-Request-ID"] == "nginx-req-0123abc"


def test_request_id_is_generated_when_absent_or_unsafe(client):
    first = client.get("/health").headers["X-Request-ID"]
    second = client.get("/api/nao-existe").headers["X-Request-ID"]
    unsafe = client.get("/health", headers={"X-Request-ID": "<script>alert(1)</script>"}).headers["X-Request-ID"]

    for generated in (first, second, unsafe):
        assert re.fullmatch(r"[0-9a-f]{32}", generated)
    assert len({first, second, unsafe}) == 3


# --- production configuration ----------------------------------------------------------------------------------

STRONG = {
    "APP_ENV": "production",
    "SECRET_KEY": "k" * 40,
    "JWT_SECRET_KEY": "j" * 40,
    "ADMIN_PASSWORD": "uma-senha-de-admin-bem-forte",
    "DATABASE_URL": "postgresql://alumusic:senha@db:5432/alumusic",
}


@pytest.mark.parametrize(
    "change",
    [
        {"SECRET_KEY": "dev-insecure-secret-change-me"},
        {"JWT_SECRET_KEY": "dev-insecure-secret-change-me"},
        {"SECRET_KEY": "curta-demais"},
        {"ADMIN_PASSWORD": "admin-alumusic"},
        {"DATABASE_URL": "sqlite:///instance/alumusic.db"},
    ],
)
def test_production_refuses_default_secrets_and_unsafe_settings(change):
    from app import create_app
    from app.config import ConfigError

    with pytest.raises(ConfigError):
        create_app({**STRONG, **change})


def test_production_accepts_strong_settings():
    from app.config import load_config

    cfg = load_config(STRONG)

    assert cfg["APP_ENV"] == "production" and not cfg["TESTING"]
    assert cfg["SQLALCHEMY_DATABASE_URI"].startswith("postgresql+psycopg://")
