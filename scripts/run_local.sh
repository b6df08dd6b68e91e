#!/usr/bin/env bash
# `make run`: gunicorn + one Celery worker + exactly one Celery Beat, all on 127.0.0.1, stopped together.
#
# With no CELERY_BROKER_URL and no REDIS_URL the broker is embedded: kombu's SQLAlchemy transport on a SQLite
# file under instance/, so tasks really leave the request (imports run in the background, Beat schedules the
# periodic work) with nothing else installed. Beat holds a pidfile: a second `make run` cannot start a second Beat.
# Ctrl-C (or any of the three exiting) stops the other two.
set -Eeuo pipefail
cd "$(dirname "$0")/.."
BIN="${BIN:-.venv/bin}"
PORT="${PORT:-8000}"
QUEUES="default,classification,imports,reports,emails,training"
# Where the embedded broker, Beat's schedule and its pidfile live.
STATE_DIR="${RUN_STATE_DIR:-$PWD/instance}"
mkdir -p "$STATE_DIR"

if [[ -z "${CELERY_BROKER_URL:-}" && -z "${REDIS_URL:-}" ]]; then
    export CELERY_BROKER_URL="sqla+sqlite:///$STATE_DIR/celery-broker.sqlite"
fi
export GUNICORN_BIND="${GUNICORN_BIND:-127.0.0.1:$PORT}"
export WEB_CONCURRENCY="${WEB_CONCURRENCY:-2}"

pids=()
stop() {
    trap - INT TERM EXIT
    for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    wait || true
}
trap stop INT TERM EXIT

"$BIN/gunicorn" -c gunicorn.conf.py wsgi:app &
pids+=($!)
"$BIN/celery" -A make_celery worker -Q "$QUEUES" --concurrency=1 --hostname="local-$$@%h" --loglevel=INFO &
pids+=($!)
"$BIN/celery" -A make_celery beat --schedule="$STATE_DIR/celerybeat-schedule" --pidfile="$STATE_DIR/celerybeat.pid" \
    --loglevel=INFO &
pids+=($!)

# The first one to exit (crash or Ctrl-C) brings the others down with it.
wait -n
