#!/usr/bin/env bash
# Entrypoint of the AluMusic image.
#
#   boot.sh [web]       wait for PostgreSQL and Redis, then -- holding a PostgreSQL advisory lock so that
#                       several web replicas never migrate or train at once -- run
#                         flask db upgrade         (schema)
#                         flask model ensure       (train the classifier if there is no active model)
#                         flask users ensure-admin (create ADMIN_USERNAME if absent)
#                       and exec gunicorn -c gunicorn.conf.py wsgi:app
#   boot.sh CMD ARGS... wait for PostgreSQL and Redis, then exec CMD (celery worker, celery beat, flask shell...)
#
# Tunables (environment): BOOT_WAIT_TIMEOUT (s, default 90), BOOT_LOCK_TIMEOUT (s, default 900),
# BOOT_SKIP_WAIT=1, BOOT_MIGRATE=0, BOOT_ENSURE_MODEL=0, BOOT_ENSURE_ADMIN=0 to skip a step.
set -Eeuo pipefail

cd "$(dirname "$0")"
export FLASK_APP="${FLASK_APP:-wsgi:app}"
PYTHON="${PYTHON:-python}"

log() {
    # One JSON line, like every other log of the stack (messages here are fixed text, no escaping needed).
    printf '{"time":"%s","level":"%s","logger":"boot","message":"%s"}\n' \
        "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$1" "$2" >&2
}

# The helper below waits for the services named in the environment and, with `run`, executes each following
# argument as a command while holding the boot lock. Stdlib + psycopg/redis (both runtime dependencies).
boot_helper() {
    "$PYTHON" - "$@" <<'PY'
import json
import os
import shlex
import subprocess
import sys
import time
from datetime import UTC, datetime
from urllib.parse import urlsplit, urlunsplit

BOOT_LOCK_KEY = 742_0311_2026  # any constant shared by every replica of this app


def log(level, message, **extra):
    entry = {"time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"), "level": level, "logger": "boot"}
    entry.update(message=message, **extra)
    print(json.dumps(entry, separators=(",", ":")), file=sys.stderr, flush=True)


def redact(url):
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = f"{parts.username}:***@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def libpq_url(url):
    """postgresql+psycopg://... (SQLAlchemy style) -> postgresql://... (libpq style); None when not PostgreSQL."""
    scheme, sep, rest = url.partition("://")
    if sep and scheme.split("+", 1)[0] in {"postgres", "postgresql"}:
        return "postgresql://" + rest
    return None


def pg_connect(url, timeout):
    import psycopg

    return psycopg.connect(url, connect_timeout=max(1, int(timeout)), autocommit=True)


def check_postgres(url):
    with pg_connect(url, 3) as conn:
        conn.execute("SELECT 1")


def check_redis(url):
    import redis

    client = redis.Redis.from_url(url, socket_connect_timeout=3, socket_timeout=3)
    try:
        client.ping()
    finally:
        client.close()


def wait_for_services():
    if os.environ.get("BOOT_SKIP_WAIT") == "1":
        return
    checks = []
    db_url = libpq_url(os.environ.get("DATABASE_URL", ""))
    if db_url:
        checks.append(("postgresql", db_url, check_postgres))
    seen = set()
    for name in ("REDIS_URL", "CELERY_BROKER_URL"):
        url = os.environ.get(name, "")
        if url.startswith(("redis://", "rediss://")) and url not in seen:
            seen.add(url)
            checks.append(("redis", url, check_redis))
    deadline = time.monotonic() + float(os.environ.get("BOOT_WAIT_TIMEOUT", "90"))
    for service, url, check in checks:
        attempt = 0
        while True:
            attempt += 1
            try:
                check(url)
            except ImportError as exc:
                log("ERROR", f"cannot check {service}: {exc}")
                sys.exit(4)
            except Exception as exc:
                if time.monotonic() >= deadline:
                    log("ERROR", f"gave up waiting for {service}", url=redact(url), error=str(exc).strip()[:300])
                    sys.exit(3)
                if attempt == 1 or attempt % 5 == 0:
                    log("INFO", f"waiting for {service}", url=redact(url), error=str(exc).strip()[:300])
                time.sleep(min(2.0, 0.25 * attempt))
            else:
                log("INFO", f"{service} is up", url=redact(url))
                break


def run_steps(steps):
    db_url = libpq_url(os.environ.get("DATABASE_URL", ""))
    conn = None
    if db_url:
        # One replica prepares at a time; the others wait here, then find nothing left to do.
        conn = pg_connect(db_url, 10)
        lock_timeout_ms = int(float(os.environ.get("BOOT_LOCK_TIMEOUT", "900")) * 1000)
        conn.execute(f"SET lock_timeout = {lock_timeout_ms}")
        log("INFO", "taking the boot lock")
        conn.execute("SELECT pg_advisory_lock(%s)", (BOOT_LOCK_KEY,))
    try:
        for step in steps:
            log("INFO", f"running: {step}")
            started = time.monotonic()
            code = subprocess.call(shlex.split(step))
            if code != 0:
                log("ERROR", f"failed: {step}", exit_code=code)
                sys.exit(code)
            log("INFO", f"done: {step}", seconds=round(time.monotonic() - started, 2))
    finally:
        if conn is not None:
            conn.close()  # releases the advisory lock


mode, *rest = sys.argv[1:]
wait_for_services()
if mode == "run":
    run_steps(rest)
PY
}

is_on() { [ "${1:-1}" != "0" ]; }

if [ "$#" -eq 0 ] || [ "$1" = "web" ]; then
    steps=()
    is_on "${BOOT_MIGRATE:-1}" && steps+=("flask db upgrade")
    is_on "${BOOT_ENSURE_MODEL:-1}" && steps+=("flask model ensure")
    is_on "${BOOT_ENSURE_ADMIN:-1}" && steps+=("flask users ensure-admin")
    boot_helper run "${steps[@]}"
    # gunicorn parses WEB_CONCURRENCY itself and crashes on an empty value (compose passes "" when unset).
    [ -n "${WEB_CONCURRENCY:-}" ] || unset WEB_CONCURRENCY
    log INFO "starting gunicorn"
    exec gunicorn -c gunicorn.conf.py wsgi:app
fi

boot_helper wait
log INFO "starting: $1"
exec "$@"
