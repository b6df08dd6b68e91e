"""The public weekly report: the HTML page, the JSON envelope and, per chart, flat JSON rows and CSV for BI tools.

Every feed answer comes from a stored snapshot (app/services/report_snapshots.py) with `gerado_em`/`valido_ate`,
`Cache-Control: public, max-age=<seconds left>`, a strong ETag, Last-Modified and 304s. Content negotiation never
answers 406: an Accept header with nothing we make gets the page (browsers) and explicit `?format=` wins.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any

from flask import Blueprint, Response, current_app, render_template, request
from werkzeug.datastructures import MIMEAccept, MultiDict
from werkzeug.http import http_date
from werkzeug.wrappers import Request

from app.errors import BadRequest
from app.schemas.common import parse
from app.schemas.reports import ReportFilters
from app.serializers.reports import UTF8_BOM
from app.services import report_snapshots
from app.services.report_snapshots import Feed
from app.services.reports import CHARTS

bp = Blueprint("public", __name__)

# The page and the feeds run under a strict policy: no inline script or style, nothing from another origin.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'self'; form-action 'self'"
)
FILTER_KEYS = ("artista", "album")


def filter_args(args: MultiDict[str, str]) -> dict[str, str | list[str]]:
    """The report filters in a query string. A repeated filter (`?album=a&album=b`) comes back as a list, so the
    schema refuses it (422) instead of silently keeping the first value."""
    values = {k: args.getlist(k) for k in FILTER_KEYS if k in args}
    return {k: v[0] if len(v) == 1 else v for k, v in values.items()}


def report_filters() -> ReportFilters:
    return parse(ReportFilters, filter_args(request.args))


def _etag_matches(header: str, etag: str) -> bool:
    """If-None-Match compared weakly (RFC 9110): NGINX's gzip turns our strong ETag into W/"...", still a match."""
    wanted = etag.removeprefix("W/")
    return any(t.strip() == "*" or t.strip().removeprefix("W/") == wanted for t in header.split(","))


def _not_modified(feed: Feed, etag: str, inm: str | None, ims: str | None) -> bool:
    if inm is not None:
        return _etag_matches(inm, etag)
    if ims:
        try:
            since = parsedate_to_datetime(ims)
        except (TypeError, ValueError):
            return False
        return int(feed.generated_at.timestamp()) <= since.timestamp()
    return False


def cors_headers(origin: str | None = None, setting: str | None = None) -> dict[str, str]:
    """Access-Control-* for an allowed Origin (REPORT_CORS_ORIGINS); nothing when CORS is off or not allowed.

    Without arguments: this request's Origin and this app's setting."""
    if setting is None:
        setting = current_app.config["REPORT_CORS_ORIGINS"]
        origin = request.headers.get("Origin")
    allowed = [o.strip() for o in setting.split(",") if o.strip()]
    if not allowed or not origin:
        return {}
    if "*" in allowed:
        value = "*"
    elif origin in allowed:
        value = origin
    else:
        return {}
    return {
        "Access-Control-Allow-Origin": value,
        "Access-Control-Expose-Headers": "ETag, Last-Modified, X-Relatorio-Fonte, X-Relatorio-Gerado-Em",
        "Access-Control-Allow-Methods": "GET, HEAD, OPTIONS",
        "Access-Control-Allow-Headers": "If-None-Match, If-Modified-Since, Accept",
        "Access-Control-Max-Age": "600",
    }


@dataclass(frozen=True)
class Choice:
    """Which stored representation a feed URL asks for, and how to answer it."""

    chart_id: str | None  # None: the envelope
    kind: str  # json | csv
    negotiated: bool = False  # chosen from the Accept header (Vary: Accept)
    bom: bool = False

    @property
    def filename(self) -> str | None:
        return f"{self.chart_id}.csv" if self.kind == "csv" else None


def feed_answer(feed: Feed, choice: Choice, environ: Mapping[str, Any], cors_setting: str) -> tuple[int, dict, bytes]:
    """Status, headers and body for a stored representation: body or 304, with the freshness headers.

    Pure (no Flask context): the Flask views and the WSGI fast path (app/views/feed_fast_path.py) both answer
    through it, so they cannot drift apart."""
    body, etag = feed.body, feed.etag
    if choice.bom:
        body, etag = UTF8_BOM + body, etag[:-1] + '-bom"'
    # A copy past its validity ("atrasado") or computed directly ("direto") must not be cached downstream. One
    # second is held back from max-age because the edge's micro-cache may hand this header out a second later.
    max_age = max(0, feed.max_age() - 1) if feed.source == "cache" else 0
    headers = {
        "ETag": etag,
        "Last-Modified": http_date(feed.generated_at),
        "Cache-Control": f"public, max-age={max_age}",
        # NGINX's micro-cache (nginx/templates/alumusic.d/report_cache.inc) keeps a copy at most this long.
        "X-Accel-Expires": "1" if max_age >= 1 else "0",
        "X-Relatorio-Fonte": feed.source,
        "X-Relatorio-Gerado-Em": feed.generated_at.isoformat().replace("+00:00", "Z"),
        "Content-Security-Policy": CONTENT_SECURITY_POLICY,
        **cors_headers(environ.get("HTTP_ORIGIN"), cors_setting),
    }
    vary = ["Accept"] if choice.negotiated else []
    if cors_setting:
        vary.append("Origin")
    if vary:
        headers["Vary"] = ", ".join(vary)
    if choice.filename:
        headers["Content-Disposition"] = f'inline; filename="{choice.filename}"'
    if _not_modified(feed, etag, environ.get("HTTP_IF_NONE_MATCH"), environ.get("HTTP_IF_MODIFIED_SINCE")):
        return 304, headers, b""
    return 200, headers, body


def feed_response(feed: Feed, choice: Choice) -> Response:
    status, headers, body = feed_answer(feed, choice, request.environ, current_app.config["REPORT_CORS_ORIGINS"])
    if status == 304:
        return Response(status=304, headers=headers)
    return Response(body, status=status, headers=headers, content_type=feed.content_type)


def preferred_type(offers: tuple[str, ...], accept: MIMEAccept | None = None) -> str:
    """The offer the Accept header prefers (media-type parameters such as `; charset=utf-8` ignored, the most
    specific range deciding each offer's quality, ties in offer order); the first offer when nothing matches."""
    ranges = []
    for value, quality in request.accept_mimetypes if accept is None else accept:
        base = value.split(";", 1)[0].strip().lower()
        ranges.append((base, quality))
    best, best_q = offers[0], 0.0
    for offer in offers:
        kind = offer.split("/", 1)[0]
        matches = [(2 if r == offer else 1 if r == f"{kind}/*" else 0, q) for r, q in ranges
                   if r in (offer, f"{kind}/*", "*/*", "*")]  # fmt: skip
        if matches:
            quality = max(matches)[1]
            if quality > best_q:
                best, best_q = offer, quality
    return best


def _bom(args: Mapping[str, str]) -> bool:
    return args.get("bom", "").lower() in ("1", "true", "sim", "yes")


def choose(endpoint: str, grafico: str | None, req: Request) -> Choice | None:
    """What a feed URL asks for (None: the HTML page). Raises the 4xx of a bad format or an unknown chart."""
    args = req.args
    if endpoint == "public.chart_rows":
        choice = Choice(grafico, "json")
    elif endpoint == "public.chart_csv":
        choice = Choice(grafico, "csv", bom=_bom(args))
    elif endpoint != "public.weekly_report":
        choice = Choice(None, "json")  # the API alias: always the envelope
    else:
        fmt = (args.get("format") or "").lower()
        chart_id = args.get("grafico") or None
        if fmt == "json":
            choice = Choice(chart_id, "json")
        elif fmt == "csv":
            if chart_id is None:
                raise BadRequest(
                    "Informe o gráfico do CSV: ?format=csv&grafico=<id>.", {"graficos_disponiveis": sorted(CHARTS)}
                )
            choice = Choice(chart_id, "csv", bom=_bom(args))
        elif fmt == "html":
            return None
        elif fmt:
            raise BadRequest("Formato desconhecido; use format=html, json ou csv.")
        else:
            best = preferred_type(("text/html", "application/json", "text/csv"), req.accept_mimetypes)
            if best == "text/csv" and chart_id:
                choice = Choice(chart_id, "csv", negotiated=True, bom=_bom(args))
            elif best in ("application/json", "text/csv"):
                choice = Choice(chart_id, "json", negotiated=True)
            else:
                return None
    report_snapshots.representation(choice.chart_id, choice.kind)  # 404 for an unknown chart
    return choice


def serve(endpoint: str, grafico: str | None = None) -> Response:
    """The Flask path of every feed URL (the fast path answers the same URLs without the request cycle)."""
    choice = choose(endpoint, grafico, request)
    if choice is None:
        return page()
    name = report_snapshots.representation(choice.chart_id, choice.kind)
    return feed_response(report_snapshots.read(report_filters(), name), choice)


def json_feed() -> Response:
    return serve("api.weekly_report")


def page() -> Response:
    filters = report_filters()
    html = render_template(
        "relatorio/semana.html",
        charts=[(cid, cid.replace("_", " ")) for cid in CHARTS],
        filters=filters,
        refresh_seconds=current_app.config["REPORT_REFRESH_SECONDS"],
    )
    headers = {
        "Content-Security-Policy": CONTENT_SECURITY_POLICY,
        "Cache-Control": "public, max-age=60",
        "Vary": "Accept",
    }
    return Response(html, status=200, headers=headers, mimetype="text/html")


@bp.get("/relatorio/semana")
def weekly_report() -> Response:
    """HTML for browsers; JSON with ?format=json or Accept: application/json; CSV with ?format=csv&grafico=<id>."""
    return serve("public.weekly_report")


@bp.get("/relatorio/semana/<grafico>.json")
def chart_rows(grafico: str) -> Response:
    """A bare JSON array of flat rows (Grafana Infinity, Power Query)."""
    return serve("public.chart_rows", grafico)


@bp.get("/relatorio/semana/<grafico>.csv")
def chart_csv(grafico: str) -> Response:
    """The chart's rows as CSV (Excel with ?bom=1, Google Sheets IMPORTDATA)."""
    return serve("public.chart_csv", grafico)


@bp.after_request
def _preflight(response: Response) -> Response:
    """Flask answers OPTIONS by itself; CORS needs its headers there too."""
    if request.method == "OPTIONS":
        response.headers.update(cors_headers())
    return response
