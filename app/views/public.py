"""The public weekly report: the HTML page, the JSON envelope and, per chart, flat JSON rows and CSV for BI tools.

Every feed answer comes from a stored snapshot (app/services/report_snapshots.py) with `gerado_em`/`valido_ate`,
`Cache-Control: public, max-age=<seconds left>`, a strong ETag, Last-Modified and 304s. Content negotiation never
answers 406: an Accept header with nothing we make gets the page (browsers) and explicit `?format=` wins.
"""

from __future__ import annotations

from email.utils import parsedate_to_datetime

from flask import Blueprint, Response, current_app, render_template, request
from werkzeug.http import http_date

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


def report_filters() -> ReportFilters:
    # A repeated filter (`?album=a&album=b`) is passed on as a list, so the schema refuses it (422) instead of
    # silently keeping the first value.
    values = {k: request.args.getlist(k) for k in FILTER_KEYS if k in request.args}
    return parse(ReportFilters, {k: v[0] if len(v) == 1 else v for k, v in values.items()})


def _etag_matches(header: str, etag: str) -> bool:
    """If-None-Match compared weakly (RFC 9110): NGINX's gzip turns our strong ETag into W/"...", still a match."""
    wanted = etag.removeprefix("W/")
    return any(t.strip() == "*" or t.strip().removeprefix("W/") == wanted for t in header.split(","))


def _not_modified(feed: Feed, etag: str) -> bool:
    inm = request.headers.get("If-None-Match")
    if inm is not None:
        return _etag_matches(inm, etag)
    ims = request.headers.get("If-Modified-Since")
    if ims:
        try:
            since = parsedate_to_datetime(ims)
        except (TypeError, ValueError):
            return False
        return int(feed.generated_at.timestamp()) <= since.timestamp()
    return False


def cors_headers() -> dict[str, str]:
    """Access-Control-* for an allowed Origin (REPORT_CORS_ORIGINS); nothing when CORS is off or not allowed."""
    allowed = [o.strip() for o in current_app.config["REPORT_CORS_ORIGINS"].split(",") if o.strip()]
    origin = request.headers.get("Origin")
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


def feed_response(feed: Feed, *, bom: bool = False, negotiated: bool = False, filename: str | None = None) -> Response:
    """The HTTP answer for a stored representation: body or 304, with the freshness headers."""
    body, etag = feed.body, feed.etag
    if bom:
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
        **cors_headers(),
    }
    vary = ["Accept"] if negotiated else []
    if current_app.config["REPORT_CORS_ORIGINS"]:
        vary.append("Origin")
    if vary:
        headers["Vary"] = ", ".join(vary)
    if filename:
        headers["Content-Disposition"] = f'inline; filename="{filename}"'
    if _not_modified(feed, etag):
        return Response(status=304, headers=headers)
    return Response(body, status=200, headers=headers, content_type=feed.content_type)


def preferred_type(offers: tuple[str, ...]) -> str:
    """The offer the Accept header prefers (media-type parameters such as `; charset=utf-8` ignored, the most
    specific range deciding each offer's quality, ties in offer order); the first offer when nothing matches."""
    ranges = []
    for value, quality in request.accept_mimetypes:
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


def _bom() -> bool:
    return request.args.get("bom", "").lower() in ("1", "true", "sim", "yes")


def json_feed(chart_id: str | None = None, negotiated: bool = False) -> Response:
    name = report_snapshots.representation(chart_id, "json")
    return feed_response(report_snapshots.read(report_filters(), name), negotiated=negotiated)


def csv_feed(chart_id: str, negotiated: bool = False) -> Response:
    name = report_snapshots.representation(chart_id, "csv")
    feed = report_snapshots.read(report_filters(), name)
    return feed_response(feed, bom=_bom(), negotiated=negotiated, filename=f"{chart_id}.csv")


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
    fmt = (request.args.get("format") or "").lower()
    chart_id = request.args.get("grafico") or None
    if fmt == "json":
        return json_feed(chart_id)
    if fmt == "csv":
        if chart_id is None:
            raise BadRequest(
                "Informe o gráfico do CSV: ?format=csv&grafico=<id>.", {"graficos_disponiveis": sorted(CHARTS)}
            )
        return csv_feed(chart_id)
    if fmt == "html":
        return page()
    if fmt:
        raise BadRequest("Formato desconhecido; use format=html, json ou csv.")
    best = preferred_type(("text/html", "application/json", "text/csv"))
    if best == "text/csv" and chart_id:
        return csv_feed(chart_id, negotiated=True)
    if best in ("application/json", "text/csv"):
        return json_feed(chart_id, negotiated=True)
    return page()


@bp.get("/relatorio/semana/<grafico>.json")
def chart_rows(grafico: str) -> Response:
    """A bare JSON array of flat rows (Grafana Infinity, Power Query)."""
    return json_feed(grafico)


@bp.get("/relatorio/semana/<grafico>.csv")
def chart_csv(grafico: str) -> Response:
    """The chart's rows as CSV (Excel with ?bom=1, Google Sheets IMPORTDATA)."""
    return csv_feed(grafico)


@bp.after_request
def _preflight(response: Response) -> Response:
    """Flask answers OPTIONS by itself; CORS needs its headers there too."""
    if request.method == "OPTIONS":
        response.headers.update(cors_headers())
    return response
