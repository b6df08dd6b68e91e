"""The deploy configuration run for real: NGINX rendered by nginx/render.py in front of a small upstream, and
boot.sh's lock serialising replicas on PostgreSQL. These need the nginx binary and PostgreSQL, so they live with
the integration tests (the static checks of the same files are in tests/unit/test_deploy_config.py)."""

from __future__ import annotations

import gzip
import http.client
import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.unit.test_deploy_config import (
    ROOT,
    free_port,
    load_render,
    require_binary,
    wait_for_port,
)


@pytest.fixture
def nginx_prefix():
    # Under /tmp with a traversable mode: NGINX workers must reach the temp dirs.
    path = Path(tempfile.mkdtemp(prefix="alumusic-nginx-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_rendered_nginx_config_passes_nginx_t(nginx_prefix):
    nginx = require_binary("nginx", ("/usr/sbin/nginx",))
    require_binary("openssl")
    render = load_render()
    rendered = render.render_native(nginx_prefix, upstream=f"127.0.0.1:{free_port()}", http_port=free_port(),
                                    https_port=free_port())  # fmt: skip
    proc = subprocess.run(rendered.test_command(nginx), capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    assert "test is successful" in proc.stderr


class _EchoUpstream(BaseHTTPRequestHandler):
    """Answers with the request it received, as JSON, plus headers the edge must replace."""

    protocol_version = "HTTP/1.1"

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        body = json.dumps({"path": self.path, "headers": dict(self.headers), "pad": "x" * 4096}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("X-Request-ID", "set-by-the-app")
        self.send_header("X-Frame-Options", "ALLOWALL")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _answer

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def nginx_edge(nginx_prefix):
    """NGINX rendered by render.py and started natively in front of an echo upstream; yields a small client."""
    yield from _edge(nginx_prefix, _EchoUpstream)


def _edge(nginx_prefix, handler):
    """Start NGINX in front of a ThreadingHTTPServer running `handler`; yields a small client, stops both."""
    nginx = require_binary("nginx", ("/usr/sbin/nginx",))
    require_binary("openssl")
    render = load_render()
    upstream = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=upstream.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    rendered = render.render_native(
        nginx_prefix,
        upstream=f"127.0.0.1:{upstream.server_address[1]}",
        http_port=free_port(),
        https_port=free_port(),
    )
    proc = subprocess.Popen(rendered.command(nginx), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        wait_for_port(rendered.https_port)
        wait_for_port(rendered.http_port)

        class Edge:
            https_port = rendered.https_port
            http_port = rendered.http_port
            access_log = rendered.access_log

            @staticmethod
            def request(method, path, *, tls=True, headers=None, body=None):
                if tls:
                    ctx = ssl.create_default_context(cafile=str(rendered.cert))
                    conn = http.client.HTTPSConnection("localhost", rendered.https_port, context=ctx, timeout=10)
                else:
                    conn = http.client.HTTPConnection("127.0.0.1", rendered.http_port, timeout=10)
                try:
                    conn.request(method, path, body=body, headers=headers or {})
                    resp = conn.getresponse()
                    return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
                finally:
                    conn.close()

            @staticmethod
            def stop_upstream():
                upstream.shutdown()
                upstream.server_close()

        yield Edge
    finally:
        proc.send_signal(signal.SIGQUIT)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        upstream.shutdown()
        upstream.server_close()


def test_nginx_generates_a_request_id_and_propagates_it_both_ways(nginx_edge):
    status, headers, body = nginx_edge.request("GET", "/api/comentarios?page=1")
    assert status == 200
    seen = json.loads(body)["headers"]
    request_id = headers["x-request-id"]
    assert re.fullmatch(r"[0-9a-f]{32}", request_id)
    assert seen["X-Request-ID"] == request_id  # same id upstream and back, not the app's own header
    assert seen["X-Forwarded-Proto"] == "https"
    assert seen["X-Forwarded-For"] == "127.0.0.1"
    assert seen["X-Forwarded-Host"] == f"localhost:{nginx_edge.https_port}"
    assert seen["Host"] == f"localhost:{nginx_edge.https_port}"

    _, headers, body = nginx_edge.request("GET", "/api/x", headers={"X-Request-ID": "trace-from-client.42"})
    assert headers["x-request-id"] == "trace-from-client.42"
    assert json.loads(body)["headers"]["X-Request-ID"] == "trace-from-client.42"

    _, headers, body = nginx_edge.request("GET", "/api/x", headers={"X-Request-ID": 'forged"} {"level":"x'})
    assert re.fullmatch(r"[0-9a-f]{32}", headers["x-request-id"])


def test_nginx_access_log_is_json_with_the_request_id(nginx_edge):
    nginx_edge.request("GET", "/api/log-me", headers={"X-Request-ID": "log-line-check"})
    deadline = time.monotonic() + 5
    entries = []
    while time.monotonic() < deadline:
        entries = [json.loads(line) for line in nginx_edge.access_log.read_text().splitlines() if line.strip()]
        if any(e["request_id"] == "log-line-check" for e in entries):
            break
        time.sleep(0.05)
    entry = next(e for e in entries if e["request_id"] == "log-line-check")
    assert entry["status"] == 200 and entry["uri"] == "/api/log-me" and entry["upstream_status"] == "200"


def test_nginx_security_headers_and_no_version(nginx_edge):
    _, headers, _ = nginx_edge.request("GET", "/")
    assert headers["server"] == "nginx"
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["x-frame-options"] == "SAMEORIGIN"  # the edge's value replaces the app's
    assert "strict-transport-security" in headers
    assert headers["referrer-policy"] == "strict-origin-when-cross-origin"


def test_nginx_compresses_json(nginx_edge):
    _, headers, body = nginx_edge.request("GET", "/api/relatorio/semana", headers={"Accept-Encoding": "gzip"})
    assert headers.get("content-encoding") == "gzip"
    assert json.loads(gzip.decompress(body))["path"] == "/api/relatorio/semana"


def test_plain_http_redirects_to_https_except_the_liveness_probe(nginx_edge):
    status, headers, _ = nginx_edge.request("GET", "/api/comentarios?q=x", tls=False, headers={"Host": "example.org"})
    assert status == 301
    assert headers["location"] == f"https://example.org:{nginx_edge.https_port}/api/comentarios?q=x"
    status, headers, body = nginx_edge.request("GET", "/health", tls=False)
    assert status == 200 and json.loads(body)["path"] == "/health"
    assert headers["x-request-id"]


def test_oversized_body_gets_the_json_error_envelope(nginx_edge):
    status, headers, body = nginx_edge.request(
        "POST", "/api/comentarios", body=b"x" * (20 * 1024 * 1024 + 1), headers={"Content-Type": "application/json"}
    )
    assert status == 413
    assert headers["content-type"].startswith("application/json")
    error = json.loads(body)["erro"]
    assert error["codigo"] == "carga_muito_grande" and error["detalhes"]["request_id"] == headers["x-request-id"]


def test_the_413_names_the_limit_that_applied_and_the_import_takes_its_multipart_envelope(nginx_edge):
    big_batch = b"x" * (20 * 1024 * 1024 + 1)
    status, _, body = nginx_edge.request(
        "POST", "/api/comentarios", body=big_batch, headers={"Content-Type": "application/json"}
    )
    error = json.loads(body)["erro"]
    assert status == 413 and "use POST /api/importacoes" in error["mensagem"]
    assert error["detalhes"]["limite_bytes"] == 20 * 1024 * 1024
    # A 20 MiB file in multipart (a little over 20 MiB on the wire) reaches the app, as the app accepts it.
    status, _, body = nginx_edge.request(
        "POST", "/api/importacoes", body=big_batch, headers={"Content-Type": "multipart/form-data; boundary=x"}
    )
    assert status == 200 and json.loads(body)["path"] == "/api/importacoes"  # the echo upstream answered
    status, _headers, body = nginx_edge.request(
        "POST", "/api/importacoes?x=1", body=big_batch + b"x" * 65 * 1024, headers={"Content-Type": "text/csv"}
    )
    error = json.loads(body)["erro"]
    assert status == 413 and "importacoes" not in error["mensagem"] and "importação" in error["mensagem"]


def test_nginx_refuses_long_request_lines_and_headers_in_the_envelope(nginx_edge):
    for tls in (True, False):
        status, headers, body = nginx_edge.request("GET", "/api/comentarios?q=" + "a" * 8200, tls=tls)
        assert status == 414 and headers["content-type"].startswith("application/json"), (tls, body[:200])
        error = json.loads(body)["erro"]
        assert error["codigo"] == "uri_muito_longa" and error["detalhes"]["request_id"] == headers["x-request-id"]
    status, headers, body = nginx_edge.request("GET", "/api/comentarios", headers={"X-Grande": "b" * 9000})
    assert status == 431 and json.loads(body)["erro"]["codigo"] == "cabecalhos_muito_grandes"
    # A malformed request (no Host in HTTP/1.1): NGINX's 400 in the envelope too.
    with socket.create_connection(("127.0.0.1", nginx_edge.http_port), timeout=10) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\n\r\n")
        raw = sock.recv(65536)
    assert raw.startswith(b"HTTP/1.1 400") and b'"codigo":"requisicao_invalida"' in raw
    # Under the bound the request goes through.
    status, headers, body = nginx_edge.request("GET", "/api/comentarios?q=" + "a" * 7000)
    assert status == 200 and json.loads(body)["path"].startswith("/api/comentarios?q=")


def test_upstream_down_is_a_503_json_envelope(nginx_edge):
    nginx_edge.stop_upstream()
    status, headers, body = nginx_edge.request("GET", "/api/comentarios")
    assert status == 503
    assert headers["content-type"].startswith("application/json")
    assert json.loads(body)["erro"]["codigo"] == "dependencia_indisponivel"


# The fake `flask` of each replica: log "start", then hold the step until the other replica is provably either
# waiting for the boot lock (an ungranted advisory lock in pg_locks) or inside the step too (a second "start").
# A barrier, not a sleep: without the lock the test fails however slow the machine is, and with it, it passes.
_FAKE_STEP = """#!{python}
import os, sys, time, psycopg
log = {log!r}
with open(log, "a") as fh:
    fh.write(f"start {{os.getpid()}}\\n")
deadline = time.monotonic() + 60
with psycopg.connect({url!r}, autocommit=True) as conn:
    while time.monotonic() < deadline:
        if open(log).read().count("start") >= 2:
            break  # the other replica is in the step as well: no lock
        waiting = conn.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted")
        if waiting.fetchone()[0] or open(log).read().count("end") >= 1:
            break  # the other replica waits for the lock (or already ran)
        time.sleep(0.02)
with open(log, "a") as fh:
    fh.write(f"end {{os.getpid()}}\\n")
"""


def test_boot_lock_serialises_replicas_on_postgresql(tmp_path, request):
    from tests.support import services

    url, name = services.create_pg_database()  # skips locally / fails in CI when PostgreSQL is unreachable
    request.addfinalizer(lambda: services.drop_pg_database(name))
    bin_dir = tmp_path / "stepbin"
    bin_dir.mkdir()
    log = tmp_path / "steps.log"
    (bin_dir / "flask").write_text(_FAKE_STEP.format(python=sys.executable, log=str(log), url=url))
    (bin_dir / "gunicorn").write_text("#!/bin/sh\nexit 0\n")
    for script in bin_dir.iterdir():
        script.chmod(0o755)
    env = {
        **os.environ,
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "PYTHON": sys.executable,
        "DATABASE_URL": url,
        "BOOT_ENSURE_MODEL": "0",
        "BOOT_ENSURE_ADMIN": "0",
    }
    env.pop("REDIS_URL", None)
    env.pop("CELERY_BROKER_URL", None)
    replicas = [subprocess.Popen([str(ROOT / "boot.sh")], env=env, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    for proc in replicas:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
    events = [line.split()[0] for line in log.read_text().splitlines()]
    assert events == ["start", "end", "start", "end"], "two replicas ran `flask db upgrade` at the same time"


# --- NGINX micro-cache for the public report feeds ------------------------------------------------------------------
class _FeedUpstream(BaseHTTPRequestHandler):
    """A stand-in for the report feeds: counts requests per path, answers slowly (so a burst overlaps), and sends
    the freshness headers the app sends (X-Accel-Expires from ?cache=N, ETag, Cache-Control)."""

    protocol_version = "HTTP/1.1"
    hits: dict[str, int] = {}
    lock = threading.Lock()

    def do_GET(self) -> None:
        path, _, query = self.path.partition("?")
        with self.lock:
            self.hits[self.path] = self.hits.get(self.path, 0) + 1
            served = self.hits[self.path]
        time.sleep(0.3)
        cache = dict(p.split("=", 1) for p in query.split("&") if "=" in p).get("cache", "1")
        body = json.dumps({"path": path, "served": served, "pad": "x" * 2048}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Cache-Control", "public, max-age=30")
        self.send_header("X-Accel-Expires", cache)
        self.send_header("ETag", '"feed-v1"')
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def feed_edge(nginx_prefix):
    _FeedUpstream.hits = {}
    yield from _edge(nginx_prefix, _FeedUpstream)


def test_report_feeds_are_micro_cached_with_a_lock_and_stale_while_updating():
    text = (ROOT / "nginx" / "templates" / "alumusic.d" / "report_cache.inc.template").read_text(encoding="utf-8")
    directives = {line.split()[0] for line in text.splitlines() if line.strip() and not line.startswith("#")}
    assert {"proxy_cache", "proxy_cache_lock", "proxy_cache_use_stale", "proxy_cache_key"} <= directives
    assert "proxy_cache_use_stale updating;" in text and "proxy_cache_lock on;" in text
    # Lifetimes come only from the app's headers: a fixed proxy_cache_valid could outlive the app's max-age, and
    # a revalidated entry would be served with its old freshness headers.
    assert "proxy_cache_valid" not in directives and "proxy_cache_revalidate" not in directives
    conf = (ROOT / "nginx" / "templates" / "alumusic.d" / "alumusic.conf.template").read_text(encoding="utf-8")
    for location in ("location ^~ /relatorio/", "location = /api/relatorio/semana"):
        block = conf.split(location, 1)[1].split("}", 1)[0]
        assert "include alumusic.d/report_cache.inc;" in block


def test_a_burst_on_a_cold_feed_reaches_the_upstream_once(feed_edge):
    results: list[tuple[int, dict, bytes]] = []

    def poll() -> None:
        results.append(feed_edge.request("GET", "/relatorio/semana/top_tags_48h.json"))

    threads = [threading.Thread(target=poll) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)
    assert len(results) == 12 and all(status == 200 for status, _, _ in results)
    assert _FeedUpstream.hits["/relatorio/semana/top_tags_48h.json"] == 1  # the lock held the others back
    assert {json.loads(body)["served"] for _, _, body in results} == {1}
    _, headers, _ = feed_edge.request("GET", "/relatorio/semana/top_tags_48h.json")
    assert headers["x-cache-status"] == "HIT"


def test_the_micro_cache_never_outlives_the_apps_lifetime(feed_edge):
    path = "/relatorio/semana/deriva_categorias.csv?cache=1"
    feed_edge.request("GET", path)
    deadline = time.monotonic() + 10
    while _FeedUpstream.hits.get(path, 0) < 2 and time.monotonic() < deadline:
        feed_edge.request("GET", path)  # an entry older than its 1 s is fetched again, not served for 30 s
        time.sleep(0.1)
    assert _FeedUpstream.hits[path] >= 2
    nocache = "/relatorio/semana/deriva_categorias.csv?cache=0"
    for _ in range(3):
        status, _, _ = feed_edge.request("GET", nocache)
        assert status == 200
    assert _FeedUpstream.hits[nocache] == 3  # X-Accel-Expires: 0 is never cached


def test_the_edge_answers_304_for_a_cached_feed(feed_edge):
    feed_edge.request("GET", "/api/relatorio/semana")
    status, headers, body = feed_edge.request("GET", "/api/relatorio/semana", headers={"If-None-Match": '"feed-v1"'})
    assert status == 304 and body == b""
    assert headers["etag"] == '"feed-v1"'
    # NGINX's own headers are kept on cached answers (a location with add_header would have lost them).
    assert headers["x-content-type-options"] == "nosniff"
