"""Security that does not depend on the proxy: the client address only from trusted proxies, the security headers
set by the app itself, and the gate in front of /metrics and /api/docs."""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Callable, Iterable
from typing import Any

from flask import Flask, current_app, request

from app.config import networks
from app.errors import Forbidden

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

# No inline script or style from anywhere (Swagger UI's init lives in app/static/swagger-init.js); images may be
# data: URIs (Swagger UI's icons). frame-ancestors 'none' is the modern X-Frame-Options.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}


def _in(address: str, nets: Iterable[Network]) -> bool:
    try:
        ip = ipaddress.ip_address(address.strip())
    except ValueError:
        return False
    return any(ip in net for net in nets)


class TrustedProxies:
    """WSGI middleware: X-Forwarded-For/-Proto count only when the peer is a configured proxy.

    The client is the right-most X-Forwarded-For entry that is not itself a trusted proxy, so a client cannot
    forge its address by sending the header: a proxy appends the real peer, and that is what is read.
    """

    def __init__(self, wsgi_app: Callable, trusted: list[Network]):
        self.wsgi_app = wsgi_app
        self.trusted = trusted

    def __call__(self, environ: dict[str, Any], start_response: Callable) -> Any:
        peer = environ.get("REMOTE_ADDR", "")
        if self.trusted and _in(peer, self.trusted):
            hops = [h.strip() for h in environ.get("HTTP_X_FORWARDED_FOR", "").split(",") if h.strip()]
            client = peer
            for hop in reversed(hops):
                client = hop
                if not _in(hop, self.trusted):
                    break
            environ["REMOTE_ADDR"] = client
            proto = environ.get("HTTP_X_FORWARDED_PROTO", "").split(",")[-1].strip().lower()
            if proto in ("http", "https"):
                environ["wsgi.url_scheme"] = proto
        return self.wsgi_app(environ, start_response)


def ops_allowed() -> bool:
    """/metrics and /api/docs: from an allow-listed network, or with the operations token."""
    cfg = current_app.config
    token = cfg["OPS_TOKEN"]
    sent = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
    if token and sent and hmac.compare_digest(sent.encode(), token.encode()):
        return True
    return _in(request.remote_addr or "", cfg["_OPS_NETWORKS"])


def require_ops_access() -> None:
    if not ops_allowed():
        raise Forbidden("Acesso restrito à operação (rede autorizada ou OPS_TOKEN).")


def init_app(app: Flask) -> None:
    app.config["_OPS_NETWORKS"] = networks(app.config["OPS_ALLOWED_NETWORKS"])
    trusted = networks(app.config["TRUSTED_PROXIES"])
    if trusted:
        app.wsgi_app = TrustedProxies(app.wsgi_app, trusted)  # type: ignore[method-assign]

    if app.config["SECURITY_HEADERS"]:

        @app.after_request
        def _security_headers(response):
            for name, value in SECURITY_HEADERS.items():
                response.headers.setdefault(name, value)
            return response
