"""Report snapshots: computed by the refresh task, stored in the `report` cache region, read by requests.

A request never recomputes on the hot path: it reads one stored representation (the envelope, a chart's flat
rows or its CSV), already serialised with its ETag. The exceptions, each bounded:
- missing (cold start, Redis flushed): exactly one request takes the region lock and computes; the others wait up
  to REPORT_COLD_WAIT_SECONDS for it, then get a 503 with Retry-After;
- stale by more than a whole refresh period (Beat is down): one request recomputes under the same lock while the
  others keep getting the last good copy;
- Redis down: computed directly from the database, at most once per REPORT_DIRECT_MIN_INTERVAL_SECONDS per process,
  and marked as such (the `fonte` of the feed).
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from flask import current_app

from app.cache import Region, params_hash, redis_errors, region
from app.errors import AppError, NotFound
from app.extensions import db
from app.schemas.reports import ReportFilters
from app.serializers.reports import chart_csv, envelope, flat_rows
from app.services.reports import CHARTS, compute_report
from app.utils.json import dumps

log = logging.getLogger(__name__)

REGION_NAME = "report"
REGION_VERSION = 1  # bump when a stored representation changes shape
KEEP_LAST_GOOD_SECONDS = 24 * 3600  # the last good copy outlives its validity this long
ENVELOPE = "envelope"
JSON_TYPE = "application/json"
CSV_TYPE = "text/csv; charset=utf-8"


class ReportWarmingUp(AppError):
    status, code, message = 503, "relatorio_em_preparo", "O relatório está sendo calculado. Tente em instantes."


@dataclass(frozen=True)
class Feed:
    """One stored representation and what the HTTP layer needs to answer for it."""

    body: bytes
    content_type: str
    etag: str
    generated_at: datetime
    valid_until: datetime
    source: str  # cache | atrasado (last good copy past its validity) | direto (Redis down)

    def max_age(self, now: float | None = None) -> int:
        remaining = self.valid_until.timestamp() - (time.time() if now is None else now)
        return max(0, int(remaining))


def representations() -> list[str]:
    return [ENVELOPE] + [f"{cid}.{kind}" for cid in CHARTS for kind in ("json", "csv")]


def representation(chart_id: str | None, kind: str) -> str:
    """The stored name of what a URL asks for; an unknown chart is a 404 listing the known ones."""
    if chart_id is None:
        return ENVELOPE
    if chart_id not in CHARTS:
        raise NotFound(f"Gráfico desconhecido: {chart_id!r}.", {"graficos_disponiveis": sorted(CHARTS)})
    return f"{chart_id}.{kind}"


def settings() -> Mapping[str, Any]:
    return current_app.config


def report_region() -> Region:
    return region(REGION_NAME, REGION_VERSION, KEEP_LAST_GOOD_SECONDS)


def render(filters: ReportFilters, now: datetime | None = None) -> dict[str, Feed]:
    """Compute every chart for `filters` and serialise every representation (the only place that queries)."""
    cfg = settings()
    started = time.perf_counter()
    report = compute_report(db.session, filters, cfg, now=now)
    generated = report.windows.now
    valid_until = datetime.fromtimestamp(generated.timestamp() + cfg["REPORT_REFRESH_SECONDS"], UTC)
    bodies: dict[str, tuple[bytes, str]] = {ENVELOPE: (dumps(envelope(report, generated, valid_until)), JSON_TYPE)}
    for chart in report.charts:
        bodies[f"{chart.id}.json"] = (dumps(flat_rows(chart)), JSON_TYPE)
        bodies[f"{chart.id}.csv"] = (chart_csv(chart), CSV_TYPE)
    log.info(
        "report computed",
        extra={"filtros": filters.cache_params(), "ms": round((time.perf_counter() - started) * 1000, 1)},
    )
    return {
        name: Feed(body, ctype, strong_etag(body), generated, valid_until, "cache")
        for name, (body, ctype) in bodies.items()
    }


def strong_etag(body: bytes) -> str:
    return '"' + hashlib.blake2b(body, digest_size=16).hexdigest() + '"'


def _blob(feed: Feed) -> bytes:
    meta = {
        "t": feed.content_type,
        "e": feed.etag,
        "g": feed.generated_at.timestamp(),
        "v": feed.valid_until.timestamp(),
    }
    return orjson.dumps(meta) + b"\n" + feed.body


def _unblob(blob: bytes, source: str = "cache") -> Feed:
    head, _, body = blob.partition(b"\n")
    meta = orjson.loads(head)
    return Feed(
        body,
        meta["t"],
        meta["e"],
        datetime.fromtimestamp(meta["g"], UTC),
        datetime.fromtimestamp(meta["v"], UTC),
        source,
    )


def store(filters: ReportFilters, feeds: Mapping[str, Feed], reg: Region | None = None) -> None:
    reg = reg or report_region()
    key = params_hash(filters.cache_params())
    memo = _memo()
    for name, feed in feeds.items():
        reg.set(reg.key(key, name), _blob(feed))
        memo.pop(reg.key(key, name), None)
    current_app.extensions.get("alumusic_report_fast_memo", {}).clear()  # the feed fast path's copies


def refresh(filters: ReportFilters) -> dict[str, Feed]:
    """Recompute and store one variant (the caller holds the lock, or accepts a duplicate computation)."""
    feeds = render(filters)
    store(filters, feeds)
    return feeds


def _variants_key(reg: Region) -> str:
    return reg.key("variants")


def remember_variant(reg: Region, filters: ReportFilters) -> None:
    """Filtered variants someone asked for are refreshed by Beat too, while they keep being asked for."""
    if filters.artista or filters.album:
        ttl = settings()["REPORT_VARIANT_TTL_SECONDS"]
        reg.store.mark(_variants_key(reg), orjson.dumps(filters.model_dump()).decode(), ttl)


def recent_variants() -> list[ReportFilters]:
    cfg = settings()
    reg = report_region()
    since = time.time() - cfg["REPORT_VARIANT_TTL_SECONDS"]
    out = []
    for raw in reg.store.members(_variants_key(reg), since)[: cfg["REPORT_MAX_VARIANTS"]]:
        try:
            out.append(ReportFilters.model_validate(orjson.loads(raw)))
        except ValueError:
            continue
    return out


def refresh_all(variants: Iterable[ReportFilters] | None = None) -> dict[str, Any]:
    """The Beat job: the unfiltered report and every recently requested variant, under one lock."""
    reg = report_region()
    lock_ttl = max(10, settings()["REPORT_REFRESH_SECONDS"])
    if not reg.lock("refresh", lock_ttl):
        return {"skipped": "another refresh holds the lock"}
    started = time.perf_counter()
    try:
        todo = [ReportFilters(), *(variants if variants is not None else recent_variants())]
        for filters in todo:
            refresh(filters)
    finally:
        reg.unlock("refresh")
    return {"variants": len(todo), "seconds": round(time.perf_counter() - started, 3)}


# --- reading ------------------------------------------------------------------------------------------------------
_direct_lock = threading.Lock()
_direct_memo: dict[str, tuple[float, dict[str, Feed]]] = {}


def _direct(filters: ReportFilters, name: str) -> Feed:
    """Redis is down: compute from the database, at most once per interval per process."""
    interval = settings()["REPORT_DIRECT_MIN_INTERVAL_SECONDS"]
    key = params_hash(filters.cache_params())
    with _direct_lock:  # one computation at a time per process; the others reuse its result
        memo = _direct_memo.get(key)
        if memo is None or time.monotonic() - memo[0] >= interval:
            feeds = render(filters)
            memo = (time.monotonic(), feeds)
            _direct_memo[key] = memo
    feed = memo[1][name]
    return Feed(feed.body, feed.content_type, feed.etag, feed.generated_at, feed.valid_until, "direto")


# The per-process memo's clock (monotonic seconds); tests replace it to step past REPORT_LOCAL_MEMO_SECONDS.
memo_clock: Callable[[], float] = time.monotonic


def _memo() -> dict[str, tuple[float, Feed]]:
    """This process's copies of recently read representations (per app), for REPORT_LOCAL_MEMO_SECONDS."""
    return current_app.extensions.setdefault("alumusic_report_memo", {})


def read(filters: ReportFilters, name: str) -> Feed:
    """The stored representation `name` for `filters` (see the module docstring for the bounded exceptions)."""
    reg = report_region()
    cfg = settings()
    key = reg.key(params_hash(filters.cache_params()), name)
    # A copy read from the store less than a second ago, still valid, is served without asking the store again:
    # a worker then asks Redis once per second per feed, however many polls arrive (and a new snapshot, written
    # seconds before the old one expires, is picked up within that second).
    memo = _memo()
    hold = cfg["REPORT_LOCAL_MEMO_SECONDS"]
    cached = memo.get(key)
    if cached and memo_clock() - cached[0] < hold and cached[1].valid_until.timestamp() > time.time():
        reg.count("hit")
        return cached[1]
    feed = _read_store(reg, cfg, key, filters, name)
    if hold and feed.source == "cache":
        memo[key] = (memo_clock(), feed)
    return feed


def _read_store(reg: Region, cfg: Mapping[str, Any], key: str, filters: ReportFilters, name: str) -> Feed:
    lock_name = "compute:" + params_hash(filters.cache_params())
    try:
        remember_variant(reg, filters)
        blob = reg.get(key)
    except redis_errors() as exc:
        log.warning("report cache unavailable, computing directly: %s: %s", type(exc).__name__, exc)
        reg.count("error")
        return _direct(filters, name)

    if blob is not None:
        feed = _unblob(blob)
        late = time.time() - feed.valid_until.timestamp()
        if late <= 0:
            reg.count("hit")
            return feed
        reg.count("stale")
        if late > cfg["REPORT_REFRESH_SECONDS"] and _try_lock(reg, lock_name):
            # Beat missed a whole period: this one request brings the report back; the others keep the last copy.
            try:
                return refresh(filters)[name]
            finally:
                reg.unlock(lock_name)
        return Feed(feed.body, feed.content_type, feed.etag, feed.generated_at, feed.valid_until, "atrasado")

    reg.count("miss")
    if _try_lock(reg, lock_name):
        try:
            return refresh(filters)[name]
        finally:
            reg.unlock(lock_name)
    deadline = time.monotonic() + cfg["REPORT_COLD_WAIT_SECONDS"]
    while time.monotonic() < deadline:
        time.sleep(0.05)
        blob = reg.get(key)
        if blob is not None:
            return _unblob(blob)
    raise ReportWarmingUp(headers={"Retry-After": "2"})


def _try_lock(reg: Region, name: str) -> bool:
    return reg.lock(name, max(10.0, settings()["REPORT_COLD_WAIT_SECONDS"] * 4))
