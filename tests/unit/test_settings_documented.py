"""`.env.example` and `Settings` list the same variables: a setting nobody can discover is as bad as a documented
variable the app silently drops (mail would go to localhost)."""

from __future__ import annotations

import re
from pathlib import Path

from app.config import Settings

ENV_EXAMPLE = Path(__file__).resolve().parents[2] / ".env.example"

# Read by docker compose, gunicorn.conf.py or the containers, not by the app's Settings.
COMPOSE_ONLY = frozenset(
    {
        "TZ",
        "POSTGRES_USER",
        "POSTGRES_PASSWORD",
        "POSTGRES_DB",
        "CELERY_WORKER_CONCURRENCY",
        "WEB_CONCURRENCY",
        "GUNICORN_MAX_WORKERS",
        "HOST",  # gunicorn.conf.py reads it (the address gunicorn binds), not the app
        "GUNICORN_TIMEOUT",
        "GUNICORN_MAX_REQUESTS",
        "GUNICORN_MAX_REQUESTS_JITTER",
        "GUNICORN_THREADS",
        "GUNICORN_PRELOAD",
        "HTTP_PORT",
        "HTTPS_PORT",
        "TLS_CERTS",
        "TLS_COMMON_NAME",
        "NGINX_HSTS_MAX_AGE",
        "APP_IMAGE",
    }
)

# `NAME=value`, or `# NAME=value` for a variable documented but left unset on purpose.
_ASSIGNMENT = re.compile(r"^#?\s*([A-Z][A-Z0-9_]*)=")


def documented() -> set[str]:
    names = set()
    for line in ENV_EXAMPLE.read_text(encoding="utf-8").splitlines():
        if match := _ASSIGNMENT.match(line.strip()):
            names.add(match[1])
    return names


def test_every_variable_in_env_example_is_a_setting():
    unknown = documented() - set(Settings.model_fields) - COMPOSE_ONLY
    assert not unknown, f".env.example documents variables the app ignores: {sorted(unknown)}"


def test_every_setting_is_documented_in_env_example():
    missing = set(Settings.model_fields) - documented()
    assert not missing, f"settings missing from .env.example: {sorted(missing)}"


def test_mail_settings_reach_flask_mail_config():
    from app.config import load_config

    cfg = load_config({"MAIL_SERVER": "smtp.example.org", "MAIL_PORT": 2525, "SUMMARY_RECIPIENTS": "a@x.org"})
    assert (cfg["MAIL_SERVER"], cfg["MAIL_PORT"], cfg["SUMMARY_RECIPIENTS"]) == ("smtp.example.org", 2525, "a@x.org")
