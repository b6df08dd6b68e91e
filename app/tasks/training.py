"""Retraining from curator corrections: train a challenger, promote it only if it is better."""

from __future__ import annotations

from celery import shared_task
from flask import current_app


@shared_task(name="app.tasks.training.retrain_with_corrections", time_limit=1800, soft_time_limit=1700)
def retrain_with_corrections(job_id: str | None = None) -> dict:
    """Returns the challenger's metadata and whether it was promoted; `job_id` names the pollable job."""
    from app.services.training_jobs import run

    return run(current_app.config, job_id)
