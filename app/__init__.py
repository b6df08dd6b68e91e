"""AluMusic Insights: the application factory. Nothing runs at import time."""

from __future__ import annotations

from typing import Any

from flask import Flask

from app.config import INSTANCE_DIR, load_config


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """config -> extensions -> blueprints -> error handlers -> cli."""
    app = Flask(__name__, instance_path=str(INSTANCE_DIR), instance_relative_config=False)
    app.config.from_mapping(load_config(config))

    register_logging(app)
    register_feed_fast_path(app)
    register_security(app)
    register_extensions(app)
    register_blueprints(app)
    register_error_handlers(app)
    register_cli(app)
    return app


def preload_for_fork() -> str | None:
    """For a pre-fork server's master (gunicorn's `when_ready`, a Celery worker's `worker_init`): import every module
    of the app, load the active model and build the tag taxonomy once, so each child is forked with them in memory
    (pages shared with the parent until written) and a gunicorn worker boots or recycles in ~0.15 s of CPU instead of
    ~4 s. Creates no app and opens no socket: every connection, pool and client stays the child's own. Returns the
    preloaded model version, or None when none is active yet (the first worker trains one, as without a preload)."""
    import contextlib
    import gc
    import importlib
    import pkgutil

    from app.classifier.store import model_dir, preload_active_model
    from app.classifier.tags import TagExtractor

    for module in pkgutil.walk_packages(__path__, f"{__name__}."):
        importlib.import_module(module.name)
    version = preload_active_model(model_dir(load_config()))
    # The taxonomy's ~4,000 compiled patterns (~0.5 s), cached per process; a taxonomy that does not load is reported
    # by each worker, which then classifies without tags (app.classifier.local).
    with contextlib.suppress(Exception):
        TagExtractor.load()
    gc.collect()
    gc.freeze()  # what the workers inherit is never rescanned by their collections (nor copied by the scan)
    return version


def register_logging(app: Flask) -> None:
    from app.logconfig import configure_logging

    configure_logging(app)


def register_feed_fast_path(app: Flask) -> None:
    """The public feeds answered from the snapshot without the request cycle (before TrustedProxies wraps it)."""
    from app.views import feed_fast_path

    feed_fast_path.init_app(app)


def register_security(app: Flask) -> None:
    from app import security

    security.init_app(app)


def register_extensions(app: Flask) -> None:
    from app import auth, classifier, metrics
    from app.extensions import cache, csrf, db, jwt, limiter, mail, migrate
    from app.tasks import celery_init_app

    db.init_app(app)
    migrate.init_app(app, db, directory=str(app.config.get("MIGRATIONS_DIR", "migrations")))
    jwt.init_app(app)
    auth.init_app(app)
    cache.init_app(app)
    mail.init_app(app)
    limiter.init_app(app)
    csrf.init_app(app)
    classifier.init_app(app)
    metrics.init_app(app)
    celery_init_app(app)


def register_blueprints(app: Flask) -> None:
    from app.api import create_blueprint
    from app.extensions import csrf
    from app.views import curation, ops, public

    # The JSON API authenticates with bearer tokens, never cookies: CSRF does not apply to it.
    app.register_blueprint(csrf.exempt(create_blueprint()))
    app.register_blueprint(curation.bp)
    app.register_blueprint(ops.bp)
    app.register_blueprint(public.bp)


def register_error_handlers(app: Flask) -> None:
    from app.errors import register_error_handlers as register

    register(app)


def register_cli(app: Flask) -> None:
    from app.cli import register_commands

    register_commands(app)
