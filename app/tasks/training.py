"""Retraining from curator corrections: train a challenger, promote it only if it is better."""

from __future__ import annotations

from celery import shared_task
from flask import current_app


@shared_task(name="app.tasks.training.retrain_with_corrections", time_limit=1800, soft_time_limit=1700)
def retrain_with_corrections() -> dict:
    """Returns the challenger's metadata and whether it was promoted."""
    from app.classifier.training import train_challenger_and_maybe_promote
    from app.services.corrections import corrected_rows

    return train_challenger_and_maybe_promote(current_app.config, corrected_rows())
