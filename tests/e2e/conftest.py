"""The docker compose stack, run natively: boot.sh -> gunicorn, a Celery worker, one beat, NGINX with TLS.

Everything is real and throwaway: a PostgreSQL database created and dropped here, a Redis database number claimed
for this run (and flushed only if the claim is still ours), a temporary MODEL_DIR, a beat schedule file, and an
NGINX prefix under /tmp with a self-signed certificate. The command lines mirror docker-compose.yml.

Outside CI a missing nginx/openssl/PostgreSQL/Redis skips the module with the reason; with CI=true it fails.
On any failure the last lines of every process log are attached to the report, and the logs are copied to
instance/e2e/<run>/ (the CI job uploads that folder).
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest
import requests

from tests.support import services

ROOT = Path(__file__).resolve().parents[2]
E2E_DIR = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent
QUEUES = "default,classification,imports,reports,emails,training"
# Seconds to wait for each phase. Boot trains the classifier (about a minute on a small machine).
BOOT_TIMEOUT = float(os.environ.get("E2E_BOOT_TIMEOUT", "300"))
READY_TIMEOUT = 60.0
LOG_TAIL_LINES = 40
REDIS_CLAIM_KEY = "alumusic-e2e:claim"
STACK_KEY = pytest.StashKey["Stack"]()


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _find(binary: str) -> str | None:
    """`nginx` lives in /usr/sbin, which is not on every user's PATH."""
    return shutil.which(binary) or shutil.which(binary, path="/usr/sbin:/sbin:/usr/local/sbin")


def _load_render():
    """nginx/render.py is a script, not a package module: load it by path."""
    spec = importlib.util.spec_from_file_location("alumusic_nginx_render", ROOT / "nginx" / "render.py")
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(module)
    return module


# --------------------------------------------------------------------------------------------------------------
# Processes
# --------------------------------------------------------------------------------------------------------------


@dataclass
class Proc:
    """One long-running process of the stack, in its own session (so its whole tree can be stopped)."""

    name: str
    argv: list[str]
    log: Path
    env: dict[str, str]
    popen: subprocess.Popen | None = None

    def start(self) -> None:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as out:
            self.popen = subprocess.Popen(
                self.argv, cwd=ROOT, env=self.env, stdout=out, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, start_new_session=True,
            )  # fmt: skip

    @property
    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def text(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace") if self.log.exists() else ""

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> None:
        """Signal the leader (graceful), wait, then SIGKILL whatever is left of its process group."""
        if self.popen is None:
            return
        pgid = self.popen.pid  # start_new_session: the leader's pid is the group id
        if self.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.popen.send_signal(sig)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.popen.wait(timeout)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGKILL)  # leftovers: gunicorn/celery children, a boot step mid-way
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(5)


def tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    if not path.exists():
        return "(no log file)"
    content = path.read_text(encoding="utf-8", errors="replace").splitlines()
    return "\n".join(content[-lines:]) or "(empty)"


# --------------------------------------------------------------------------------------------------------------
# Redis: a database number claimed for this run only
# --------------------------------------------------------------------------------------------------------------


@dataclass
class RedisClaim:
    url: str
    db: int
    token: str

    def release(self) -> None:
        """FLUSHDB only while the claim marker is still ours: never drop data another run wrote."""
        import redis

        client = redis.Redis.from_url(self.url, socket_connect_timeout=3)
        try:
            if client.get(REDIS_CLAIM_KEY) == self.token.encode():
                client.flushdb()
        finally:
            client.close()


def claim_redis_db(base_url: str) -> RedisClaim:
    """The highest empty database number of the Redis at base_url, marked as ours with SET NX."""
    import redis

    services.check_redis(base_url)
    parts = urlsplit(base_url)
    probe = redis.Redis.from_url(base_url, socket_connect_timeout=3)
    try:
        count = int(probe.config_get("databases").get("databases", 16))
    except redis.RedisError:  # CONFIG may be disabled (managed Redis): assume the default
        count = 16
    finally:
        probe.close()
    token = secrets.token_hex(16)
    for db in range(count - 1, 0, -1):
        url = urlunsplit(parts._replace(path=f"/{db}"))
        client = redis.Redis.from_url(url, socket_connect_timeout=3)
        try:
            if client.dbsize() != 0 or not client.set(REDIS_CLAIM_KEY, token, nx=True, ex=3600):
                continue
            if client.dbsize() == 1:  # nothing else arrived between the check and the claim
                return RedisClaim(url, db, token)
            if client.get(REDIS_CLAIM_KEY) == token.encode():
                client.delete(REDIS_CLAIM_KEY)
        finally:
            client.close()
    services.unavailable(f"no empty Redis database number at {base_url} to run the end-to-end stack on")
    raise AssertionError("unreachable")


# --------------------------------------------------------------------------------------------------------------
# The stack
# --------------------------------------------------------------------------------------------------------------


@dataclass
class Stack:
    """Addresses, credentials and processes of one running stack."""

    workdir: Path
    logs: Path
    env: dict[str, str]
    gunicorn_port: int
    http_port: int
    https_port: int
    redis: RedisClaim | None = None
    database: str | None = None
    nginx_prefix: Path | None = None
    cert: Path | None = None
    nginx_logs: dict[str, Path] = field(default_factory=dict)
    procs: dict[str, Proc] = field(default_factory=dict)
    failed: bool = False
    torn_down: bool = False

    @property
    def base(self) -> str:
        return f"https://127.0.0.1:{self.https_port}"

    @property
    def http_base(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def admin(self) -> tuple[str, str]:
        return self.env["ADMIN_USERNAME"], self.env["ADMIN_PASSWORD"]

    def url(self, path: str) -> str:
        return self.base + path

    def session(self) -> requests.Session:
        """A client that trusts only the throwaway certificate (SAN 127.0.0.1): real TLS verification."""
        sess = requests.Session()
        sess.verify = str(self.cert) if self.cert else True
        # Otherwise REQUESTS_CA_BUNDLE/CURL_CA_BUNDLE silently replace `verify`, and *_PROXY could reroute loopback.
        sess.trust_env = False
        return sess

    def proc(self, name: str, argv: list[str]) -> Proc:
        proc = Proc(name, argv, self.logs / f"{name}.log", self.env)
        self.procs[name] = proc
        proc.start()
        return proc

    def log_files(self) -> dict[str, Path]:
        files = {name: p.log for name, p in self.procs.items()}
        files.update({f"nginx {kind}": path for kind, path in self.nginx_logs.items()})
        return files

    def tails(self, lines: int = LOG_TAIL_LINES) -> str:
        out = []
        for name, path in self.log_files().items():
            state = ""
            if name in self.procs:
                proc = self.procs[name]
                state = " (running)" if proc.alive else f" (exited {proc.popen.returncode if proc.popen else '-'})"
            out.append(f"----- {name}{state}: last {lines} lines of {path} -----\n{tail(path, lines)}")
        return "\n".join(out)

    def wait_for_log(self, name: str, pattern: str, timeout: float = 20.0) -> str:
        """The first line of process `name`'s log matching the regex, waiting up to timeout seconds."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while True:
            for line in self.procs[name].text().splitlines():
                if regex.search(line):
                    return line
            if time.monotonic() >= deadline:
                raise AssertionError(f"{name} log has no line matching {pattern!r} after {timeout:.0f}s")
            time.sleep(0.25)

    def json_lines(self, name: str) -> list[dict[str, Any]]:
        out = []
        for line in self.procs[name].text().splitlines():
            with contextlib.suppress(ValueError):
                record = json.loads(line)
                if isinstance(record, dict):
                    out.append(record)
        return out

    def keep_logs(self) -> Path:
        """Copy the logs to instance/e2e/<run>/ (uploaded by CI on failure)."""
        target = ROOT / "instance" / "e2e" / time.strftime("%Y%m%d-%H%M%S")
        target.mkdir(parents=True, exist_ok=True)
        for name, path in self.log_files().items():
            if path.exists():
                shutil.copy2(path, target / (name.replace(" ", "-") + ".log"))
        return target


def _wait(what: str, check: Callable[[], bool], timeout: float, stack: Stack, watch: tuple[str, ...]) -> None:
    """Poll check() until it is true; fail at once (with the logs) when a watched process dies."""
    deadline = time.monotonic() + timeout
    last_error = None
    while True:
        for name in watch:
            if not stack.procs[name].alive:
                pytest.fail(f"{name} exited while waiting for {what} (see the e2e process logs)", pytrace=False)
        try:
            if check():
                return
        except requests.RequestException as exc:
            last_error = exc
        if time.monotonic() >= deadline:
            detail = f"; last error: {last_error!r}" if last_error else ""
            pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}{detail} (see the e2e process logs)",
                        pytrace=False)  # fmt: skip
        time.sleep(0.5)


def _environment(stack: Stack, database_url: str, redis_url: str, model_dir: Path) -> dict[str, str]:
    """What compose's x-app-env gives web, worker and beat, with throwaway values; nothing leaks from the caller."""
    from app.config import Settings

    inherited = {
        k: v
        for k, v in os.environ.items()
        if k not in Settings.model_fields
        and not k.startswith(("GUNICORN_", "CELERY_", "FLASK_", "PROMETHEUS_", "BOOT_", "MAIL_"))
        and k not in {"PORT", "WEB_CONCURRENCY", "FORWARDED_ALLOW_IPS", "SUMMARY_RECIPIENTS", "PYTHONPATH"}
    }
    env = {
        **inherited,
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}",
        "PYTHON": sys.executable,
        "PYTHONUNBUFFERED": "1",
        "APP_ENV": "production",
        "SECRET_KEY": secrets.token_urlsafe(48),
        "JWT_SECRET_KEY": secrets.token_urlsafe(48),
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "CELERY_BROKER_URL": redis_url,
        "ADMIN_USERNAME": "admin",
        "ADMIN_PASSWORD": secrets.token_urlsafe(24),
        "CLASSIFIER_PROVIDER": "local",
        "MODEL_DIR": str(model_dir),
        "LOG_LEVEL": "INFO",
        "MAIL_SERVER": "127.0.0.1",
        "MAIL_PORT": str(_free_port()),  # nothing listens: no e-mail may leave a test run
        "MAIL_DEFAULT_SENDER": "insights@alumusic.local",
        "SUMMARY_RECIPIENTS": "curadoria@alumusic.local",
        "TZ": "America/Sao_Paulo",
        # web service specifics (compose: PORT=8000, WEB_CONCURRENCY); bound to loopback only here.
        "GUNICORN_BIND": f"127.0.0.1:{stack.gunicorn_port}",
        "WEB_CONCURRENCY": "2",
        "FORWARDED_ALLOW_IPS": "127.0.0.1,::1",
        # NGINX runs on loopback in front of gunicorn: only it may name the client (X-Forwarded-For).
        "TRUSTED_PROXIES": "127.0.0.1/32,::1/128",
    }
    return env


def _start(stack: Stack, nginx: str) -> None:
    boot = ["bash", str(ROOT / "boot.sh")]
    # web: boot.sh migrates, ensures the model and the admin, then execs gunicorn (compose: command ["web"]).
    stack.proc("web", [*boot, "web"])
    health, probe = f"http://127.0.0.1:{stack.gunicorn_port}/health", stack.session()
    _wait("gunicorn /health (boot: migrate, model ensure, ensure-admin)",
          lambda: probe.get(health, timeout=2).status_code == 200, BOOT_TIMEOUT, stack, ("web",))  # fmt: skip

    # worker and beat start once web is healthy (compose: depends_on web service_healthy), through boot.sh too.
    stack.proc("worker", [
        *boot, "celery", "-A", "make_celery", "worker", "-Q", QUEUES, "--concurrency=1",
        f"--hostname=e2e-{stack.redis.token[:8]}@%h", "--loglevel=INFO",
    ])  # fmt: skip
    stack.proc("beat", [
        *boot, "celery", "-A", "make_celery", "beat",
        f"--schedule={stack.workdir / 'beat' / 'celerybeat-schedule'}", "--loglevel=INFO",
    ])  # fmt: skip

    # NGINX: the real templates rendered into a /tmp prefix (0755: workers must traverse it).
    render = _load_render()
    prefix = Path(tempfile.mkdtemp(prefix="alumusic-e2e-nginx-", dir="/tmp"))
    prefix.chmod(0o755)
    stack.nginx_prefix = prefix
    rendered = render.render_native(
        prefix, upstream=f"127.0.0.1:{stack.gunicorn_port}", http_port=stack.http_port, https_port=stack.https_port
    )
    stack.cert = rendered.cert
    stack.nginx_logs = {"error": rendered.error_log, "access": rendered.access_log}
    check = subprocess.run(rendered.test_command(nginx), capture_output=True, text=True, check=False)
    if check.returncode != 0:
        pytest.fail(f"nginx -t refused the rendered config:\n{check.stderr}", pytrace=False)
    stack.proc("nginx", rendered.command(nginx))

    sess = stack.session()

    def ready() -> bool:
        resp = sess.get(stack.url("/ready"), timeout=5)
        if not resp.headers.get("Content-Type", "").startswith("application/json"):
            return False
        checks = resp.json().get("checks", {})
        return resp.status_code == 200 and all(checks.get(k, {}).get("ok") for k in ("banco", "redis", "broker"))

    _wait("/ready through NGINX (banco, redis, broker ok)", ready, READY_TIMEOUT, stack, ("web", "nginx"))
    _wait("the Celery worker to be ready", lambda: " ready." in stack.procs["worker"].text(), READY_TIMEOUT, stack,
          ("worker",))  # fmt: skip


def _teardown(stack: Stack) -> None:
    """Always runs: stop every process we started, then drop the database, the Redis data and the NGINX prefix."""
    if stack.torn_down:
        return
    stack.torn_down = True
    order = [("nginx", signal.SIGQUIT, 10), ("beat", signal.SIGTERM, 10), ("worker", signal.SIGTERM, 30),
             ("web", signal.SIGTERM, 30)]  # fmt: skip
    for name, sig, timeout in order:
        if name in stack.procs:
            stack.procs[name].stop(sig, timeout)
    if stack.failed:
        try:
            sys.stderr.write(f"\n[e2e] logs kept in {stack.keep_logs()}\n")
        except OSError as exc:  # never let a log copy stop the cleanup below
            sys.stderr.write(f"\n[e2e] could not keep the logs: {exc}\n")
    if stack.database:
        with contextlib.suppress(Exception):
            services.drop_pg_database(stack.database)
    if stack.redis:
        with contextlib.suppress(Exception):
            stack.redis.release()
    if stack.nginx_prefix:
        for kind, path in list(stack.nginx_logs.items()):  # keep NGINX's logs with the others
            if path.exists():
                stack.nginx_logs[kind] = Path(shutil.copy2(path, stack.logs / f"nginx-{kind}.log"))
        shutil.rmtree(stack.nginx_prefix, ignore_errors=True)


@pytest.fixture(scope="session")
def stack(request, tmp_path_factory) -> Iterator[Stack]:
    nginx = _find("nginx")
    if nginx is None:
        services.unavailable("nginx is not installed (apt-get install -y nginx): the end-to-end stack needs it")
    if _find("openssl") is None:
        services.unavailable("openssl is not installed: the end-to-end stack needs a throwaway certificate")

    workdir = tmp_path_factory.mktemp("e2e")
    model_dir = workdir / "models"
    pretrained = os.environ.get("ALUMUSIC_TEST_MODEL_DIR")
    if pretrained and (Path(pretrained) / "active.json").is_file():
        shutil.copytree(pretrained, model_dir)  # a copy: retraining writes new versions into MODEL_DIR
    else:
        model_dir.mkdir()  # empty: boot.sh's `flask model ensure` trains the first model
    (workdir / "beat").mkdir()

    stack = Stack(workdir=workdir, logs=workdir / "logs", env={}, gunicorn_port=_free_port(),
                  http_port=_free_port(), https_port=_free_port())  # fmt: skip
    request.config.stash[STACK_KEY] = stack
    try:
        stack.redis = claim_redis_db(services.redis_url())
        database_url, stack.database = services.create_pg_database()
        stack.env = _environment(stack, database_url, stack.redis.url, model_dir)
        _start(stack, nginx)
    except BaseException as exc:
        stack.failed = not isinstance(exc, pytest.skip.Exception)
        _teardown(stack)
        raise
    yield stack
    _teardown(stack)


def pytest_configure(config):
    config.addinivalue_line("markers", "e2e: the whole stack run natively (gunicorn, Celery worker + beat, NGINX)")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_teardown(item, nextitem):
    """Stop the stack as soon as the run leaves tests/e2e, not at the end of a whole-suite session."""
    yield
    stack = item.config.stash.get(STACK_KEY, None)
    if stack is not None and (nextitem is None or E2E_DIR not in Path(nextitem.path).parents):
        _teardown(stack)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Attach the tail of every process log to a failing e2e test's report."""
    outcome = yield
    report = outcome.get_result()
    stack = item.config.stash.get(STACK_KEY, None)
    if stack is not None and report.failed:
        stack.failed = True
        report.sections.append(("e2e process logs", stack.tails()))
