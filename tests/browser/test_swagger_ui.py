"""Swagger UI (/api/docs) in the real headless Chromium under the app's own strict Content-Security-Policy: the
operations of the document render, Authorize + "Try it out" reach the API, nothing breaks the policy (the page
fixture fails the test on any console error or CSP violation), and outside development the bearer token is not
kept in localStorage."""

from __future__ import annotations

import threading

import pytest

from tests.conftest import base_config
from tests.integration.conftest import add_users, empty_database, issue_tokens

pytestmark = pytest.mark.timeout(900)  # the first test of a session also trains the model


@pytest.fixture(params=["production", "development"])
def docs_server(request, pg_app, pg_database, model_dir, tmp_path):
    """The app with APP_ENV=production (or development, to show the check can see a persisted token) on
    127.0.0.1:<free port>; yields (base URL, a valid access token)."""
    from werkzeug.serving import make_server

    from app import create_app

    empty_database(pg_app)
    add_users(pg_app)
    app = create_app(
        base_config(tmp_path, model_dir, APP_ENV=request.param, DATABASE_URL=pg_database,
                    ADMIN_PASSWORD="uma-senha-de-admin-bem-longa-42")
    )  # fmt: skip
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield request.param, f"http://127.0.0.1:{server.server_port}", issue_tokens(app, "user_leitor")["access_token"]
    server.shutdown()
    thread.join(timeout=10)
    empty_database(pg_app)
    create_app(base_config(tmp_path, model_dir, DATABASE_URL=pg_database))  # process-wide singletons back


def test_swagger_ui_renders_and_calls_the_api_under_the_csp_without_persisting_the_token(page, docs_server):
    env, base, token = docs_server
    resp = page.goto(f"{base}/api/docs", wait_until="load")
    assert resp.status == 200
    csp = resp.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "'unsafe-inline'" not in csp and "'unsafe-eval'" not in csp

    # Every operation of the document is listed.
    operations = sum(len(ops) for ops in page.request.get(f"{base}/api/openapi.json").json()["paths"].values())
    page.wait_for_selector(".opblock-summary")
    assert page.locator(".opblock").count() == operations

    # Authorize with the bearer token, then call GET /api/auth/me through "Try it out".
    page.click("button.authorize")
    page.fill(".auth-container input[type=text], .auth-container input[type=password]", token)
    page.click(".auth-btn-wrapper button.authorize")
    page.click("button.btn-done")
    me = page.locator("#operations-auth-get_api_auth_me")
    me.locator(".opblock-summary").click()
    me.locator("button.try-out__btn").click()
    me.locator("button.execute").click()
    status = me.locator(".live-responses-table tbody .response-col_status").first
    status.wait_for()
    assert status.inner_text().strip().startswith("200")
    assert '"username": "user_leitor"' in me.locator(".live-responses-table .microlight").first.inner_text()

    stored = page.evaluate("() => JSON.stringify(Object.assign({}, window.localStorage))")
    if env == "development":
        assert token in stored  # development opts in (persistAuthorization): the check does see a stored token
    else:
        assert token not in stored and "authorized" not in stored
