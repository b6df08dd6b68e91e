"""Temperature-scaled linear classifier: calibrated on out-of-fold scores, predicted with one matrix product."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin


class TemperatureScaledLinear(ClassifierMixin, BaseEstimator):
    """A linear classifier with temperature-scaled softmax probabilities, scored with one matrix product.

    The temperature is fitted on out-of-fold decision values (so it measures how over-confident the model is on
    text it has not seen), then the model is refitted on all rows. Same idea as scikit-learn's
    CalibratedClassifierCV(method="temperature", ensemble=False), but prediction is a plain sparse matmul +
    softmax: the sklearn wrapper's per-call input validation costs milliseconds per batch, more than the model.
    """

    def __init__(self, estimator: Any = None, cv_folds: int = 5, random_state: int = 0) -> None:
        self.estimator = estimator
        self.cv_folds = cv_folds
        self.random_state = random_state

    def fit(self, X: Any, y: Sequence[str]) -> TemperatureScaledLinear:
        from scipy.optimize import minimize_scalar
        from sklearn.base import clone
        from sklearn.model_selection import StratifiedKFold

        y = np.asarray(y, dtype=object)
        self.classes_ = np.asarray(sorted(set(y.tolist())), dtype=object)
        target = np.searchsorted(self.classes_, y)
        final = clone(self.estimator).fit(X, y)
        self.coef_ = np.ascontiguousarray(final.coef_.T, dtype=np.float64)  # (n_features, n_classes)
        self.intercept_ = np.asarray(final.intercept_, dtype=np.float64)
        n_folds = min(self.cv_folds, int(np.bincount(target).min()))
        if n_folds < 2:  # too few rows of some class to measure over-confidence: plain softmax
            self.temperature_ = 1.0
            return self
        scores = np.zeros((len(y), len(self.classes_)))
        folds = StratifiedKFold(n_splits=n_folds, shuffle=True, random_state=self.random_state)
        for tr, te in folds.split(np.zeros(len(y)), y):
            scores[te] = clone(self.estimator).fit(X[tr], y[tr]).decision_function(X[te])

        def nll(log_t: float) -> float:
            z = scores / np.exp(log_t)
            z = z - z.max(axis=1, keepdims=True)
            return float(-(z[np.arange(len(y)), target] - np.log(np.exp(z).sum(axis=1))).mean())

        self.temperature_ = float(np.exp(minimize_scalar(nll, bounds=(-5.0, 5.0), method="bounded").x))
        return self

    def decision_function(self, X: Any) -> np.ndarray:
        return np.asarray(X @ self.coef_) + self.intercept_

    def predict_proba(self, X: Any) -> np.ndarray:
        z = self.decision_function(X) / self.temperature_
        z -= z.max(axis=1, keepdims=True)
        np.exp(z, out=z)
        z /= z.sum(axis=1, keepdims=True)
        return z

    def predict(self, X: Any) -> np.ndarray:
        return self.classes_[self.decision_function(X).argmax(axis=1)]
