"""The curator panel through the real stack: NGINX (HTTPS) -> gunicorn (APP_ENV=production) -> PostgreSQL/Redis.

What only the deployed stack can show: the session cookie is Secure in production, the panel's strict CSP survives
the proxy's own headers, the static assets come from our server, and the export streams through NGINX.
"""

from __future__ import annotations

import pytest

from tests.support.panel import csrf_token

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]


def test_a_curator_session_through_nginx(stack):
    client = stack.session()
    login_page = client.get(stack.url("/curadoria/login"), timeout=10)
    assert login_page.status_code == 200
    assert login_page.headers["Content-Security-Policy"].startswith("default-src 'self'; script-src 'self'")

    username, password = stack.admin
    form = {"username": username, "password": password, "csrf_token": csrf_token(login_page.text)}
    foreign = client.post(
        stack.url("/curadoria/login"),
        data=form,
        headers={"Referer": "https://elsewhere.example/"},
        allow_redirects=False,
        timeout=10,
    )
    assert foreign.status_code == 400  # a valid token posted from another site's page is still refused
    # Over HTTPS Flask-WTF also checks that the form was posted from our own pages (Referer), as a browser says.
    client.headers["Referer"] = stack.url("/curadoria/login")
    resp = client.post(
        stack.url("/curadoria/login"),
        data=form,
        allow_redirects=False,
        timeout=10,
    )
    assert resp.status_code == 302, resp.text[:500]
    cookie = resp.headers["Set-Cookie"]
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie

    listing = client.get(stack.url("/curadoria"), timeout=10)
    assert listing.status_code == 200 and "Comentários" in listing.text
    assert client.get(stack.url("/static/curadoria/panel.css"), timeout=10).status_code == 200

    export = client.get(stack.url("/curadoria/exportar"), timeout=30)
    assert export.status_code == 200
    assert export.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert export.text.splitlines()[0].startswith("id,texto,categoria")

    # Over plain HTTP the Secure cookie is not sent: the panel asks for a login again (NGINX redirects to HTTPS).
    plain = stack.session().get(stack.http_base + "/curadoria", allow_redirects=False, timeout=10)
    assert plain.status_code in (301, 302, 308)
