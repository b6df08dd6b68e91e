"""The comment featurizer: word and char n-gram TF-IDF over normalised text plus the rule features."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, TransformerMixin

from app.classifier.features.names import frequent_words, mask_many
from app.classifier.features.rules import _IDX, RULE_FEATURE_NAMES, rule_features
from app.classifier.features.tfidf import HashedTfidf
from app.classifier.features.wordvec import WordVectors
from app.classifier.normalize import normalize_many

# A capitalised word seen in at least this many training rows is vocabulary, not an unknown title.
_KNOWN_MIN_DF = 3


class CommentFeaturizer(TransformerMixin, BaseEstimator):
    """Word n-grams + char n-grams over normalised text + rule features, as one sparse matrix."""

    def __init__(
        self,
        word_ngram_range: tuple[int, int] = (1, 2),
        char_ngram_range: tuple[int, int] = (2, 5),
        word_min_df: int = 1,
        char_min_df: int = 2,
        use_word: bool = True,
        use_char: bool = True,
        use_rules: bool = True,
        rule_weight: float = 1.0,
        char_analyzer: str = "char_wb",
        rule_exclude: tuple[str, ...] = (),
        mask_names: bool | str = False,
        word_vectors_weight: float = 0.0,
    ) -> None:
        self.word_ngram_range = word_ngram_range
        self.char_ngram_range = char_ngram_range
        self.word_min_df = word_min_df
        self.char_min_df = char_min_df
        self.use_word = use_word
        self.use_char = use_char
        self.use_rules = use_rules
        self.rule_weight = rule_weight
        self.char_analyzer = char_analyzer
        self.rule_exclude = rule_exclude
        self.mask_names = mask_names
        self.word_vectors_weight = word_vectors_weight

    def _normalized(self, texts: list[str], names: Sequence[Sequence[str]] | None) -> list[str]:
        # Artifacts pickled before masking existed have no `mask_names` attribute: they never masked.
        mode = getattr(self, "mask_names", False)
        if not mode:
            return normalize_many(texts)
        known = self.known_words_ if mode == "unknown" else None
        return normalize_many(mask_many(texts, names, known))

    def fit(self, texts: Sequence[str], y: Any = None) -> CommentFeaturizer:
        """`mask_names`: False, True (every inner capitalised word) or "unknown" (those rare in the training data)."""
        texts = list(texts)
        self.known_words_ = frequent_words(texts, _KNOWN_MIN_DF) if self.mask_names == "unknown" else frozenset()
        norms = self._normalized(texts, None)
        self.rule_names_ = tuple(n for n in RULE_FEATURE_NAMES if n not in set(self.rule_exclude))
        self.vectorizers_ = []
        if self.use_word:
            self.vectorizers_.append(HashedTfidf("word", self.word_ngram_range, self.word_min_df).fit(norms))
        if self.use_char:
            chars = HashedTfidf(self.char_analyzer, self.char_ngram_range, self.char_min_df)
            self.vectorizers_.append(chars.fit(norms))
        # The distilled e5 word table (features/wordvec.py), copied into the artifact so it serves on its own.
        self.word_vectors_ = WordVectors.load() if self.word_vectors_weight > 0 else None
        return self

    def transform(self, texts: Sequence[str]) -> sp.csr_matrix:
        return self.transform_with_rules(texts)[0]

    def transform_with_rules(
        self, texts: Sequence[str], names: Sequence[Sequence[str]] | None = None
    ) -> tuple[sp.csr_matrix, np.ndarray]:
        """The feature matrix and the raw rule-feature rows (the override rules read them); `names` per text are
        the request's artist/album fields, masked like inner capitalised words when the model masks names."""
        texts = list(texts)
        norms = self._normalized(texts, names)
        rules = np.asarray([rule_features(r, n) for r, n in zip(texts, norms, strict=True)], dtype=np.float32)
        rules = rules.reshape(len(texts), len(RULE_FEATURE_NAMES))
        # The blocks' (row, column, value) entries, columns offset block by block, go straight into ONE csr_matrix:
        # per-block matrices joined by sp.hstack cost more in scipy's checks than the features for a few comments.
        # The entries, their order (row, then column) and their float32 values are those the hstack produced.
        parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        width = 0
        for v in self.vectorizers_:
            if isinstance(v, HashedTfidf):
                row_idx, cols, data = v.weights(norms)
                parts.append((row_idx, cols + width, data))
                width += len(v.vocabulary_)
            else:  # any other vectoriser an artifact may hold: its matrix's entries, in its row order
                entries = sp.csr_matrix(v.transform(norms)).tocoo()
                parts.append((entries.row, entries.col + width, entries.data.astype(np.float32)))
                width += entries.shape[1]
        dense: list[np.ndarray] = []
        word_vectors = getattr(self, "word_vectors_", None)  # absent from artifacts older than the table
        if word_vectors is not None:
            dense.append(word_vectors.transform(norms) * self.word_vectors_weight)
        if self.use_rules:
            dense.append(self._as_fitted(rules) * self.rule_weight)
        for block in dense:
            row_idx, cols = np.nonzero(block)
            parts.append((row_idx, cols + width, block[row_idx, cols].astype(np.float32)))
            width += block.shape[1]
        n = len(texts)
        if not parts:
            return sp.csr_matrix((n, width), dtype=np.float32), rules
        row_idx = np.concatenate([p[0] for p in parts])
        order = np.argsort(row_idx, kind="stable")  # rows first; within a row, the blocks in order (each sorted)
        indices = np.concatenate([p[1] for p in parts]).astype(np.int32)[order]
        data = np.concatenate([p[2] for p in parts])[order]
        indptr = np.zeros(n + 1, dtype=np.int32)
        np.cumsum(np.bincount(row_idx, minlength=n), out=indptr[1:])
        return sp.csr_matrix((data, indices, indptr), shape=(n, width), copy=False), rules

    def _as_fitted(self, rules: np.ndarray) -> np.ndarray:
        """Rule columns in the order the model was trained with: an artifact outlives edits to the rule list."""
        fitted = getattr(self, "rule_names_", RULE_FEATURE_NAMES)
        if fitted == RULE_FEATURE_NAMES:  # (fast path: the usual case)
            return rules
        out = np.zeros((rules.shape[0], len(fitted)), dtype=rules.dtype)
        for j, name in enumerate(fitted):
            if name in _IDX:  # a rule removed since training reads as "never fires"
                out[:, j] = rules[:, _IDX[name]]
        return out
