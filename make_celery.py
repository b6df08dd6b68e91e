"""Celery entry point: `celery -A make_celery worker` / `celery -A make_celery beat`."""

from app import create_app

# Background work (imports, report recomputes, summaries) gets the long statement timeout (app.config).
flask_app = create_app({"DB_WORK_ROLE": "background"})
celery_app = flask_app.extensions["celery"]
