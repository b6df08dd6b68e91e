"""Pluggable classifiers behind one interface (`classify_many`).

Providers are built once per process and provider name, and reused: the local model is loaded once and picks
up a newly promoted version by itself (see `local.py`).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

from flask import Flask, current_app

from app.classifier.base import CATEGORIES, Classification, Classifier, Tag, normalize_category

__all__ = ["CATEGORIES", "Classification", "Classifier", "Tag", "get_classifier", "init_app", "normalize_category"]

_lock = threading.Lock()


# Process-wide: one instance per provider and configuration, shared by every app in the process
# (gunicorn worker, Celery worker, test session), so the model is loaded once.
_instances: dict[tuple, Classifier] = {}


def init_app(app: Flask) -> None:
    app.extensions["classifiers"] = _instances


def build_classifier(provider: str, config: dict[str, Any]) -> Classifier:
    """Build a provider from a config mapping (Flask config or plain dict; used by CLI and evals too)."""
    if provider == "local":
        from app.classifier.local import LocalClassifier

        # The local answer is final here, so small requests may wait for e5; under openai/hibrido the LLM is the
        # second opinion and the local model stays the fast path.
        return LocalClassifier.from_config(config, inline_second_opinion=True)
    if provider in ("openai", "hibrido"):
        from app.classifier.llm import build_llm_classifier

        return build_llm_classifier(provider, config)
    raise ValueError(f"unknown classifier provider: {provider!r}")


def get_classifier(provider: str | None = None) -> Classifier:
    """The process-wide classifier for `provider` (default: CLASSIFIER_PROVIDER)."""
    app = current_app
    name = provider or app.config["CLASSIFIER_PROVIDER"]
    key = (name, app.config["MODEL_DIR"], app.config.get("OPENAI_BASE_URL"), app.config.get("LLM_MODEL"))
    classifier = _instances.get(key)
    if classifier is None:
        with _lock:
            classifier = _instances.get(key)
            if classifier is None:
                classifier = _instances[key] = build_classifier(name, app.config)
    return classifier


def classify_with_names(
    classifier: Classifier, texts: Sequence[str], names: Sequence[Sequence[str]]
) -> list[Classification]:
    """classify_many(texts), passing each text's artist/album names to classifiers that mask them."""
    if getattr(classifier, "accepts_names", False):
        return classifier.classify_many(texts, names=names)  # type: ignore[call-arg]
    return classifier.classify_many(texts)
