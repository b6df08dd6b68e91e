"""The public feeds without the Flask request cycle: a thin WSGI layer in front of the app for exactly those URLs.

Why: a feed answer is a stored snapshot (bytes + ETag), but the Flask request cycle around it (request context,
hooks, Flask-RESTful, response object) cost ~1.67 ms of CPU per request, which capped 2 workers near 1,200 req/s.
This layer answers GET/HEAD of the feed URLs from a per-process copy of the snapshot (held at most
REPORT_LOCAL_MEMO_SECONDS and never past its `valido_ate`), with everything the Flask path adds: the same routing
(the app's own URL map), the same choice of representation (`public.choose`), the same status/headers/body
(`public.feed_answer`: ETag/304, Cache-Control with the remaining max-age, CORS, Vary), the app's security
headers, the request id, the access log line and the Prometheus metrics. Whatever it is not sure about — the HTML
page, an error (unknown chart, bad format, bad filter, warming up), any other URL or method — goes to Flask
unchanged, so errors keep their one envelope. tests/integration/test_report_fast_path.py compares both paths.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Iterable
from http import HTTPStatus
from typing import Any

from flask import Flask
from werkzeug.exceptions import HTTPException
from werkzeug.http import remove_entity_headers
from werkzeug.routing import RequestRedirect
from werkzeug.wrappers import Request

from app.cache import CACHE_REQUESTS
from app.errors import AppError
from app.logconfig import REQUEST_ID_OK
from app.metrics import LATENCY, REQUESTS
from app.schemas.common import parse
from app.schemas.reports import ReportFilters
from app.security import SECURITY_HEADERS
from app.services import report_snapshots
from app.services.report_snapshots import Feed
from app.views import public

FAST_ENDPOINTS = frozenset({"public.weekly_report", "public.chart_rows", "public.chart_csv", "api.weekly_report"})
ANSWERED = "alumusic.fast_path"  # environ flag: this request never reached Flask (the worker recycling counts it not)
FAST_MEMO = "alumusic_report_fast_memo"  # app.extensions key of this process's copies
MAX_ROUTES = 512  # distinct paths remembered (routing is cached per path)

access = logging.getLogger("alumusic.access")


class FeedFastPath:
    """WSGI middleware: feed GETs from the stored snapshot; everything else to the wrapped app."""

    def __init__(self, app: Flask, wsgi_app: Callable) -> None:
        self.app = app
        self.wsgi_app = wsgi_app
        cfg = app.config
        self.hold = float(cfg["REPORT_LOCAL_MEMO_SECONDS"])
        self.cors = cfg["REPORT_CORS_ORIGINS"]
        self.security = dict(SECURITY_HEADERS) if cfg["SECURITY_HEADERS"] else {}
        self.routes: dict[str, tuple[str, str | None] | None] = {}
        self.metrics: dict[tuple, tuple[Any, Any]] = {}  # the labelled Prometheus children, looked up once
        # Cleared by report_snapshots.store when this process stores a new snapshot.
        self.memo: dict[tuple, tuple[float, Feed]] = app.extensions.setdefault(FAST_MEMO, {})

    def __call__(self, environ: dict[str, Any], start_response: Callable) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD")
        if method not in ("GET", "HEAD"):
            return self.wsgi_app(environ, start_response)
        route = self._route(environ)
        if route is None:
            return self.wsgi_app(environ, start_response)
        started = time.perf_counter()
        req = Request(environ)
        answer = self._answer(req, *route)
        if answer is None:
            return self.wsgi_app(environ, start_response)
        status, headers, body, content_type = answer
        incoming = environ.get("HTTP_X_REQUEST_ID", "")
        request_id = incoming if REQUEST_ID_OK.match(incoming) else uuid.uuid4().hex
        if status == 200:
            headers["Content-Type"] = content_type
            headers["Content-Length"] = str(len(body))
        # Flask-Login's after-request hook reads the session on every Flask response, so Flask adds "Cookie" to
        # Vary: kept identical here (NGINX keys its micro-cache itself and ignores Vary).
        headers["Vary"] = f"{headers['Vary']}, Cookie" if "Vary" in headers else "Cookie"
        for name, value in self.security.items():
            headers.setdefault(name, value)
        headers["X-Request-ID"] = request_id
        header_list = list(headers.items())
        if status == 304:
            remove_entity_headers(header_list)  # as werkzeug does for Flask's 304 (Last-Modified, Content-Type go)
        start_response(f"{status} {HTTPStatus(status).phrase}", header_list)
        environ[ANSWERED] = True
        endpoint = route[0]
        metrics = self.metrics.get((method, endpoint, status))
        if metrics is None:
            metrics = self.metrics[(method, endpoint, status)] = (
                LATENCY.labels(method, endpoint),
                REQUESTS.labels(method, endpoint, str(status)),
            )
        metrics[0].observe(time.perf_counter() - started)
        metrics[1].inc()
        if access.isEnabledFor(logging.INFO):
            access.info(
                "request",
                extra={
                    "method": method,
                    "path": req.path,
                    "status": status,
                    "ms": round((time.perf_counter() - started) * 1000, 2),
                    "remote": req.remote_addr,
                    "request_id": request_id,
                },
            )
        return [body] if method == "GET" and status == 200 else []

    def _route(self, environ: dict[str, Any]) -> tuple[str, str | None] | None:
        """(endpoint, chart id) when the app's URL map sends this path to a feed; cached per path."""
        path = environ.get("PATH_INFO", "")
        if path in self.routes:
            return self.routes[path]
        try:
            endpoint, args = self.app.url_map.bind_to_environ(environ).match(method="GET")
        except (HTTPException, RequestRedirect):
            endpoint, args = "", {}
        route = (endpoint, args.get("grafico")) if endpoint in FAST_ENDPOINTS else None
        if len(self.routes) < MAX_ROUTES:
            self.routes[path] = route
        return route

    def _answer(self, req: Request, endpoint: str, grafico: str | None) -> tuple[int, dict, bytes, str] | None:
        try:
            choice = public.choose(endpoint, grafico, req)
        except AppError:
            return None  # the Flask path answers the error envelope
        if choice is None:
            return None  # the HTML page
        args = public.filter_args(req.args)
        if any(isinstance(v, list) for v in args.values()):
            return None  # a repeated filter: the Flask path answers the 422
        key = (choice.chart_id, choice.kind, args.get("artista"), args.get("album"))
        feed = self._feed(key, choice, args)
        if feed is None:
            return None
        status, headers, body = public.feed_answer(feed, choice, req.environ, self.cors)
        return status, headers, body, feed.content_type

    def _feed(self, key: tuple, choice: public.Choice, args: dict[str, Any]) -> Feed | None:
        """The stored representation: this process's copy while fresh, else read (with the app's fallbacks)."""
        cached = self.memo.get(key)
        # The same clock as report_snapshots' own memo (tests step it by hand).
        fresh = cached and report_snapshots.memo_clock() - cached[0] < self.hold
        if fresh and cached[1].valid_until.timestamp() > time.time():
            CACHE_REQUESTS.labels(report_snapshots.REGION_NAME, "hit").inc()  # as report_snapshots.read counts it
            return cached[1]
        try:
            with self.app.app_context():
                filters = parse(ReportFilters, args)
                feed = report_snapshots.read(filters, report_snapshots.representation(choice.chart_id, choice.kind))
        except Exception:  # bad filter, warming up, database down: the Flask path answers it
            return None
        if feed.source == "cache" and self.hold:
            if len(self.memo) > 4 * MAX_ROUTES:
                self.memo.clear()
            self.memo[key] = (report_snapshots.memo_clock(), feed)
        return feed


def init_app(app: Flask) -> None:
    """Put the fast path in front of the app (call before TrustedProxies wraps it, so it sees the real client)."""
    app.wsgi_app = FeedFastPath(app, app.wsgi_app)  # type: ignore[method-assign]
