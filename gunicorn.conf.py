"""Gunicorn settings for the web container (`gunicorn -c gunicorn.conf.py wsgi:app`).

Everything an operator tunes comes from the environment, so the same image serves a laptop and a host with
many cores. Logs are JSON lines: errors on stderr, one access line per request on stdout carrying the
`X-Request-ID` that NGINX generates or propagates, so a request can be followed from NGINX to the app.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import logging
import os

from gunicorn import glogging
from gunicorn import util as gunicorn_util
from gunicorn.workers.sync import SyncWorker


def _env_int(name: str, default: int, minimum: int = 0) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise RuntimeError(f"{name} must be an integer, got {raw!r}") from exc
    if value < minimum:
        raise RuntimeError(f"{name} must be >= {minimum}, got {value}")
    return value


def _cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))  # honours cpusets (docker --cpuset-cpus, taskset)
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def default_workers(cores: int, cap: int) -> int:
    """The usual 2 x cores + 1 sync workers, capped: each worker holds its own copy of the model."""
    return max(1, min(2 * cores + 1, cap))


# --- Errors gunicorn answers itself --------------------------------------------------------------------------------
# Before the app runs (request line over limit_request_line, a header over its limits, a malformed request) gunicorn
# writes its own HTML page. This worker writes the API's JSON envelope instead; the limits stay gunicorn's, so
# memory per request stays bounded. Codes and texts match app/errors.py and NGINX's (nginx/.../errors.inc).
_GUNICORN_ERRORS = {
    400: ("requisicao_invalida", "Requisição HTTP malformada."),
    403: ("acesso_negado", "Acesso negado."),
    414: ("uri_muito_longa", "A linha de requisição (método, URL e versão) excede 8190 bytes."),
    417: ("expectativa_falhou", "Expectativa (Expect) não suportada."),
    431: ("cabecalhos_muito_grandes", "Cabeçalhos demais ou grandes demais."),
    500: ("erro_interno", "Erro interno. A equipe foi notificada."),
    501: ("nao_implementado", "Codificação de transferência não suportada."),
}


def error_response(status: int, reason: str) -> bytes:
    """The raw HTTP response for an error gunicorn answers before the app runs: the JSON envelope."""
    code, message = _GUNICORN_ERRORS.get(status, ("erro_http", reason))
    details = {"limite_bytes": 8190} if status in (414, 431) else None
    body = json.dumps({"erro": {"codigo": code, "mensagem": message, "detalhes": details}}, ensure_ascii=False)
    payload = body.encode()
    head = (
        f"HTTP/1.1 {status} {reason}\r\nConnection: close\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(payload)}\r\nX-Content-Type-Options: nosniff\r\nCache-Control: no-store\r\n\r\n"
    )
    return head.encode("latin-1") + payload


class EnvelopeSyncWorker(SyncWorker):
    """gunicorn's sync worker, with its own error pages in the JSON envelope."""

    def handle_error(self, req, client, addr, exc):
        original = gunicorn_util.write_error

        def write_envelope(sock, status_int, reason, mesg):
            gunicorn_util.write_nonblock(sock, error_response(int(status_int), reason))

        gunicorn_util.write_error = write_envelope  # sync worker: one request at a time in this process
        try:
            super().handle_error(req, client, addr, exc)
        finally:
            gunicorn_util.write_error = original


# --- Server socket -----------------------------------------------------------------------------------------------
# PORT is what platforms (and our Dockerfile) set; GUNICORN_BIND wins when a full address is needed. HOST is
# 127.0.0.1 unless told otherwise (the container sets HOST=0.0.0.0): `make run` is not reachable from the network.
bind = os.environ.get("GUNICORN_BIND") or f"{os.environ.get('HOST') or '127.0.0.1'}:{_env_int('PORT', 8000, minimum=1)}"
backlog = _env_int("GUNICORN_BACKLOG", 2048, minimum=1)

# --- Workers -----------------------------------------------------------------------------------------------------
# Sync workers: the app is CPU-bound (classification) and talks to PostgreSQL/Redis with blocking drivers.
# NGINX buffers slow clients, so a sync worker is never pinned by a slow upload or download.
# GUNICORN_THREADS > 1 makes gunicorn use its gthread worker instead: keep-alive connections and threads per
# worker, so direct feed polls cost ~30% less CPU each (benchmarks/RESULTS.md "Report feeds"). Off by default:
# with threads a request past GUNICORN_TIMEOUT no longer ends in the 503 envelope (worker_abort below needs the
# request on the main thread), gunicorn's own 414/431/400 pages are its HTML again (the envelope worker is a sync
# worker), and CPU-bound classification gains nothing from threads under the GIL.
threads = _env_int("GUNICORN_THREADS", 1, minimum=1)
worker_class = "gthread" if threads > 1 else EnvelopeSyncWorker
workers = _env_int("WEB_CONCURRENCY", default_workers(_cpu_count(), _env_int("GUNICORN_MAX_WORKERS", 8, 1)), 1)
# Longer than the slowest legitimate request (a 1,000-item synchronous batch); NGINX waits a little longer
# (proxy_read_timeout 90s) so a stuck worker is killed by gunicorn first and logged here.
timeout = _env_int("GUNICORN_TIMEOUT", 60, minimum=1)
graceful_timeout = _env_int("GUNICORN_GRACEFUL_TIMEOUT", 30, minimum=1)
keepalive = _env_int("GUNICORN_KEEPALIVE", 5, minimum=0)
# Recycle workers now and then so a slow leak can never take the container down; jitter avoids a stampede.
# That recycling (a guard against slow memory growth in the heavy paths) counts only requests that reach Flask:
# the report feeds' fast path (app/views/feed_fast_path.py) allocates nothing that lasts, and counting its
# thousands of polls per second restarted a worker — reloading the classifier — several times a second.
# Gunicorn's own counter is therefore off; post_worker_init installs the one that skips feed requests.
max_requests = 0
app_max_requests = _env_int("GUNICORN_MAX_REQUESTS", 1000, minimum=0)
max_requests_jitter = _env_int("GUNICORN_MAX_REQUESTS_JITTER", 100, minimum=0)
# Each worker builds its own app (and its own DB pool, Redis clients) after the fork: nothing that owns a socket is
# shared between processes. What holds no socket is loaded once in the master instead (when_ready below): the app's
# modules, the active model and the tag taxonomy, so a worker boots or recycles in ~0.15 s of CPU instead of ~4 s and
# the workers share those pages. GUNICORN_PRELOAD=0 turns that off. With it on, HUP restarts the workers on the code
# the master loaded: deploy new code by restarting gunicorn (a new container), not by HUP.
preload_app = False
preload_modules = os.environ.get("GUNICORN_PRELOAD", "1").strip().lower() not in {"0", "false", "no", "off"}
# Heartbeat files on tmpfs: a slow container disk must not make healthy workers look dead.
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None
wsgi_app = "wsgi:app"
proc_name = "alumusic-web"
# Operators use signals (HUP, TTIN/TTOU, TERM); no control socket in a read-only home directory.
control_socket_disable = True

# --- Behind NGINX ------------------------------------------------------------------------------------------------
# Addresses allowed to set X-Forwarded-Proto & co. Compose sets "*" because only NGINX can reach the web
# container on the internal network; the default trusts a proxy on the same host only.
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1,::1")
secure_scheme_headers = {"X-FORWARDED-PROTO": "https"}
# A request line over this is answered by gunicorn itself (414 in the JSON envelope, EnvelopeSyncWorker above,
# before the app runs); NGINX in front refuses it first (large_client_header_buffers 4 8k) with the same envelope.
# 8190 is also gunicorn's ceiling for this setting. URLs that long are never legitimate here.
limit_request_line = 8190
limit_request_fields = 100
limit_request_field_size = 8190

# --- Logging -----------------------------------------------------------------------------------------------------
loglevel = os.environ.get("LOG_LEVEL", "info").lower()
accesslog = "-"  # stdout
errorlog = "-"  # stderr
if os.environ.get("GUNICORN_ACCESS_LOG", "1").strip().lower() in {"0", "false", "no", "off"}:
    accesslog = None


def _utc_now() -> str:
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class _JsonFormatter(logging.Formatter):
    """One JSON object per line for gunicorn's own (error) log."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": _utc_now(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "pid": record.process,
        }
        if record.exc_info:
            entry["exc_info"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


class JsonLogger(glogging.Logger):
    """Gunicorn logger that writes JSON lines; the access line carries the request id."""

    def _set_handler(self, log, output, fmt, stream=None):
        if fmt is not None and log is self.error_log:
            fmt = _JsonFormatter()
        elif fmt is not None:
            fmt = logging.Formatter("%(message)s")  # access lines are already JSON
        super()._set_handler(log, output, fmt, stream=stream)

    def access(self, resp, req, environ, request_time):
        if not self.access_log_enabled:
            return
        try:
            self.access_log.info(json.dumps(access_entry(resp, req, environ, request_time), ensure_ascii=False))
        except Exception:  # a log line must never break a response
            self.exception("could not write the access log line")


def _header(headers, name: str) -> str | None:
    items = headers.items() if hasattr(headers, "items") else headers or []
    for key, value in items:
        if key.lower() == name:
            return value
    return None


def access_entry(resp, req, environ: dict, request_time: _dt.timedelta) -> dict:
    """Build the access log record for one response (public so it can be tested without a server)."""
    req_headers = getattr(req, "headers", req)
    status = resp.status
    if isinstance(status, str):
        status = status.split(None, 1)[0]
    with contextlib.suppress(TypeError, ValueError):
        status = int(status)
    # The request id NGINX sent; when gunicorn is hit directly the app's response header is the fallback.
    request_id = _header(req_headers, "x-request-id") or _header(resp.headers, "x-request-id")
    return {
        "time": _utc_now(),
        "level": "INFO",
        "logger": "gunicorn.access",
        "request_id": request_id,
        "remote_addr": environ.get("REMOTE_ADDR"),
        "forwarded_for": _header(req_headers, "x-forwarded-for"),
        "method": environ.get("REQUEST_METHOD"),
        "path": environ.get("PATH_INFO"),
        "query": environ.get("QUERY_STRING") or None,
        "protocol": environ.get("SERVER_PROTOCOL"),
        "status": status,
        "bytes": getattr(resp, "sent", None),
        "duration_ms": round(request_time.total_seconds() * 1000, 3),
        "user_agent": environ.get("HTTP_USER_AGENT"),
        "referer": environ.get("HTTP_REFERER"),
        "pid": os.getpid(),
    }


logger_class = JsonLogger


# --- Prometheus across workers -----------------------------------------------------------------------------------
# Each worker is a process: without a shared directory /metrics would show only the worker that answered.
# Set here (in the master, before workers import the app) unless the operator chose a directory.
if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    import tempfile

    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="alumusic-prom-")


def child_exit(server, worker):
    """Drop a dead worker's live gauges so /metrics does not report processes that are gone."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def worker_abort(worker):
    """Worker timeout (SIGABRT from the arbiter): raise into the running request so the app answers the 503
    envelope (app.errors.RequestTimeout) instead of gunicorn's HTML 500; the worker exits right after."""
    from app.errors import RequestTimeout

    worker.log.error("worker timeout: aborting the running request")
    worker.alive = False  # finish this response, then exit and be replaced
    raise RequestTimeout("request exceeded the worker timeout")


def when_ready(server):
    """The socket is bound (requests queue in its backlog): import the app and load its model before any fork."""
    if not preload_modules:
        return
    import time

    started = time.process_time()
    try:
        from app import preload_for_fork

        version = preload_for_fork()
    except Exception:  # an optimisation only: each worker then imports the app itself and reports what fails
        server.log.exception("preload in the master failed; workers will import the app themselves")
        return
    server.log.info(
        "preloaded the app's modules and model %s in the master (%.1f s CPU)", version, time.process_time() - started
    )


def post_worker_init(worker):
    """Load the classifier before the first request, then move every long-lived object (model, vocabularies)
    out of the garbage collector's generations: collections stop rescanning them on every batch (~9% CPU).
    Also hands the app the worker's heartbeat for long streamed responses."""
    import gc

    app = getattr(worker, "wsgi", None)
    if app is not None and hasattr(app, "app_context"):
        # A long response that is still moving (a CSV export) tells the arbiter this worker is alive; without it a
        # download longer than GUNICORN_TIMEOUT is cut off mid-stream (app.services.exports).
        app.extensions["worker_heartbeat"] = worker.notify
        try:
            from app.classifier import get_classifier

            with app.app_context():
                get_classifier()
        except Exception:  # a worker that cannot preload still serves; the first request loads the model
            worker.log.exception("classifier preload failed")
    if app is not None and hasattr(app, "wsgi_app") and app_max_requests:
        import random

        limit = app_max_requests + random.randint(0, max_requests_jitter)
        app.wsgi_app = RecycleAfterAppRequests(app.wsgi_app, worker, limit)
    gc.freeze()
    import time

    # A forked process's CPU clock starts at zero: this is what booting the worker cost (benchmarks read it).
    worker.log.info("worker ready: %.2f s CPU since the fork", time.process_time())


class RecycleAfterAppRequests:
    """Ends the worker gracefully (as gunicorn's max_requests does) after `limit` requests that reached Flask;
    feed requests answered by the fast path (environ flag) are not counted."""

    def __init__(self, wsgi_app, worker, limit: int):
        self.wsgi_app, self.worker, self.limit, self.count = wsgi_app, worker, limit, 0

    def __call__(self, environ, start_response):
        try:
            return self.wsgi_app(environ, start_response)
        finally:
            if not environ.get("alumusic.fast_path"):
                self.count += 1
                if self.count >= self.limit and self.worker.alive:
                    self.worker.log.info("Autorestarting worker after %s application requests.", self.count)
                    self.worker.alive = False
