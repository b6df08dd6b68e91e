"""N-gram TF-IDF vectorised over the batch (no Python loop per n-gram).

Each n-gram is a 64-bit polynomial hash of its code points, computed for every window of the whole batch at once
with numpy prefix sums; the vocabulary is the sorted array of hashes seen in training (np.searchsorted maps a hash
to its column). This is what makes >10,000 comments/s on one core possible: sklearn's analyzers loop in Python
per n-gram. tests/unit/test_tfidf_property.py checks it against sklearn's TfidfVectorizer on generated text.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator

_U64 = np.uint64
_BASE = 0x100000001B3  # odd, so invertible modulo 2**64


def _inverse_mod64(b: int) -> int:
    x = b
    for _ in range(6):  # Newton iteration doubles the correct low bits each step
        x = (x * (2 - b * x)) % (1 << 64)
    return x


_BASE_INV = _inverse_mod64(_BASE)
_pow_cache: dict[str, np.ndarray] = {}


def _powers(n: int, inverse: bool) -> np.ndarray:
    """[b**0, b**1, ..., b**(n-1)] modulo 2**64 (uint64 arithmetic wraps), cached and grown on demand."""
    key = "inv" if inverse else "pow"
    cached = _pow_cache.get(key)
    if cached is None or len(cached) < n:
        size = max(n, 2 * len(cached) if cached is not None else 4096)
        arr = np.full(size, _BASE_INV if inverse else _BASE, dtype=_U64)
        arr[0] = 1
        with np.errstate(over="ignore"):
            cached = np.cumprod(arr, dtype=_U64)
        _pow_cache[key] = cached
    return cached[:n]


def _salt(n: int) -> np.uint64:
    """Per-order salt so that, say, a 2-gram and a 3-gram never share a hash by construction."""
    return _U64((0x9E3779B97F4A7C15 * (n + 1)) % (1 << 64))


def ngram_hashes(docs: Sequence[str], kind: str, ngram_range: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """(doc index, n-gram hash) for every n-gram of every doc: `kind` is 'word', 'char' or 'char_wb'."""
    # NUL separates documents, so a NUL inside one becomes a space (it carries no meaning in a comment).
    joined = "\x00" + "\x00".join(f" {d.replace(chr(0), ' ')} " for d in docs) + "\x00"
    cps32 = np.frombuffer(joined.encode("utf-32-le"), dtype=np.uint32)
    length = len(cps32)
    is_sep = cps32 == 0
    sep = np.zeros(length + 1, dtype=np.int32)
    np.cumsum(is_sep, out=sep[1:])  # sep[i] = separators in [0, i): the doc index + 1 of position i
    with np.errstate(over="ignore"):
        # prefix[i] = sum_{j<i} cp[j] * B^-j; hash(l, r) = (prefix[r] - prefix[l]) * B^(r-1) = sum cp[j] B^(r-1-j)
        prefix = np.zeros(length + 1, dtype=_U64)
        np.cumsum(cps32.astype(_U64) * _powers(length, inverse=True), out=prefix[1:])
    pows = _powers(length + 1, inverse=False)
    lo, hi = ngram_range
    # The windows [left, right) of each order, hashed all at once at the end: fewer numpy calls per batch, which
    # is most of the cost for a single comment.
    lefts: list[np.ndarray] = []
    rights: list[np.ndarray] = []
    orders: list[int] = []

    if kind == "word":
        delim = is_sep | (cps32 == 32)
        starts = np.flatnonzero(~delim & np.concatenate(([True], delim[:-1])))
        ends = np.flatnonzero(~delim & np.concatenate((delim[1:], [True]))) + 1
        for n in range(lo, hi + 1):
            if len(starts) < n:
                break
            left, right = starts[: len(starts) - n + 1], ends[n - 1 :]
            ok = sep[left] == sep[right]
            lefts.append(left[ok])
            rights.append(right[ok])
            orders.append(n)
    else:
        spaces = np.zeros(length + 1, dtype=np.int32)
        np.cumsum(cps32 == 32, out=spaces[1:])
        for n in range(lo, hi + 1):
            count = length - n + 1
            # Windows starting at every position are contiguous slices: no gathers until the final mask.
            ok = sep[n : n + count] == sep[:count]
            if kind == "char_wb" and n > 2:
                ok &= spaces[n - 1 : n - 1 + count] == spaces[1 : 1 + count]  # spaces only at the window's ends
            elif kind == "char_wb" and n == 2:
                ok &= spaces[2 : 2 + count] - spaces[:count] < 2  # "  " is the padding of an empty doc, no word
            left = np.flatnonzero(ok)
            lefts.append(left)
            rights.append(left + n)
            orders.append(n)
    if not lefts:
        return np.zeros(0, dtype=np.int32), np.zeros(0, dtype=_U64)
    left, right = np.concatenate(lefts), np.concatenate(rights)
    salts = np.repeat(np.array([_salt(n) for n in orders], dtype=_U64), [len(part) for part in lefts])
    with np.errstate(over="ignore"):
        hashes = (prefix[right] - prefix[left]) * pows[right - 1] + salts
    return sep[left] - 1, hashes


_WORD_DROP = str.maketrans("", "", ',.;:()"')
_FIB = _U64(0x9E3779B97F4A7C15)  # 2**64 / golden ratio: the product's high bits depend on every bit of the hash


class VocabularyTable:
    """An n-gram hash -> column map as an open-addressing table (linear probing), looked up for a whole batch at
    once. The same columns as np.searchsorted on the sorted vocabulary (a hash's column is its rank there), in a
    few gathers from a table that stays in cache instead of ~16 dependent binary-search steps per n-gram: the char
    n-grams' lookup was ~10 µs of ~110 µs per comment. Built from the vocabulary when a model is loaded; not
    pickled (HashedTfidf.__getstate__)."""

    def __init__(self, vocabulary: np.ndarray) -> None:
        n = len(vocabulary)
        bits = max(4, int(n * 4 - 1).bit_length())  # >= 4 slots per n-gram: probe chains stay short
        self.shift = _U64(64 - bits)
        self.mask = (1 << bits) - 1
        self.keys = np.zeros(1 << bits, dtype=_U64)
        self.cols = np.full(1 << bits, -1, dtype=np.int32)  # -1: an empty slot
        pending = np.arange(n, dtype=np.int64)
        slots = self._home(vocabulary)
        while len(pending):
            # Each pending n-gram takes its slot when the slot is empty and it is the first asking for it; the
            # others move one slot on. Slots never empty again, so every slot between an n-gram's home and its
            # place is taken: a lookup may stop at the first empty slot.
            free = self.cols[slots] < 0
            taken, first = np.unique(slots[free], return_index=True)
            winners = pending[free][first]
            self.cols[taken] = winners
            self.keys[taken] = vocabulary[winners]
            moved = np.ones(len(pending), dtype=bool)
            moved[np.flatnonzero(free)[first]] = False
            pending, slots = pending[moved], (slots[moved] + 1) & self.mask

    def _home(self, hashes: np.ndarray) -> np.ndarray:
        with np.errstate(over="ignore"):
            return ((hashes * _FIB) >> self.shift).astype(np.int64)

    def lookup(self, hashes: np.ndarray) -> np.ndarray:
        """The column of each hash, -1 for hashes outside the vocabulary."""
        out = np.full(len(hashes), -1, dtype=np.int64)
        idx = np.arange(len(hashes))
        slots = self._home(hashes)
        wanted = hashes
        while len(idx):
            cols = self.cols[slots]
            hit = (self.keys[slots] == wanted) & (cols >= 0)
            out[idx[hit]] = cols[hit]
            going = ~hit & (cols >= 0)  # an empty slot ends the chain: not in the vocabulary
            idx, slots, wanted = idx[going], (slots[going] + 1) & self.mask, wanted[going]
        return out


class HashedTfidf(BaseEstimator):
    """TF-IDF over word or char n-grams (sublinear tf, smooth idf, l2 rows), like sklearn's, but vectorised."""

    def __init__(self, kind: str = "char_wb", ngram_range: tuple[int, int] = (2, 5), min_df: int = 2) -> None:
        self.kind = kind
        self.ngram_range = ngram_range
        self.min_df = min_df

    def _prepare(self, docs: Sequence[str]) -> list[str]:
        if self.kind == "word":
            return [" ".join(d.translate(_WORD_DROP).split()) for d in docs]
        return list(docs)

    def fit(self, docs: Sequence[str], y: Any = None) -> HashedTfidf:
        if self.kind != "word" and self.ngram_range[0] < 2:
            # sklearn's char_wb counts each word's padding spaces as 1-grams; single chars carry nothing here.
            raise ValueError("character n-grams start at 2")
        docs = self._prepare(docs)
        doc_idx, hashes = ngram_hashes(docs, self.kind, tuple(self.ngram_range))
        order = np.lexsort((doc_idx, hashes))
        doc_idx, hashes = doc_idx[order], hashes[order]
        first = np.ones(len(hashes), dtype=bool)
        first[1:] = (hashes[1:] != hashes[:-1]) | (doc_idx[1:] != doc_idx[:-1])
        vocab, df = np.unique(hashes[first], return_counts=True)
        keep = df >= self.min_df
        self.vocabulary_ = vocab[keep]
        self.idf_ = (np.log((1 + len(docs)) / (1 + df[keep])) + 1).astype(np.float32)
        self._table = None
        return self

    def __getstate__(self) -> dict[str, Any]:
        state = super().__getstate__()
        state.pop("_table", None)  # rebuilt from the vocabulary on load: artifacts stay as they were
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        # Built while the model loads (~3-6 ms a vocabulary), not by the first request that classifies.
        self._table = VocabularyTable(self.vocabulary_) if hasattr(self, "vocabulary_") else None

    def _lookup_table(self) -> VocabularyTable:
        table = self.__dict__.get("_table")
        if table is None:
            table = self._table = VocabularyTable(self.vocabulary_)
        return table

    def transform(self, docs: Sequence[str]) -> sp.csr_matrix:
        rows, cols, data = self.weights(docs)
        indptr = np.zeros(len(docs) + 1, dtype=np.int32)
        np.cumsum(np.bincount(rows, minlength=len(docs)), out=indptr[1:])
        return sp.csr_matrix((data, cols, indptr), shape=(len(docs), len(self.vocabulary_)), copy=False)

    def weights(self, docs: Sequence[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(row, column, value) of every non-zero weight, ordered by row then column: `transform` without a scipy
        matrix (building one costs more than the weights themselves for a single comment).

        The float32 operations are those of the former scipy version (sum_duplicates, log, +1, *idf, then the row
        norms summed in float64 in column order), so the weights are bit-for-bit the same."""
        docs = self._prepare(docs)
        doc_idx, hashes = ngram_hashes(docs, self.kind, tuple(self.ngram_range))
        vocab = self.vocabulary_
        width = max(len(vocab), 1)
        col = self._lookup_table().lookup(hashes)
        ok = col >= 0
        # One sort of (row, column) keys counts each n-gram of each doc and orders the entries like CSR does
        # (np.unique(..., return_counts=True) by hand: its Python-level overhead shows for a single comment).
        keys = doc_idx[ok].astype(np.int64) * width + col[ok]
        keys.sort()
        first = np.ones(len(keys) + 1, dtype=bool)
        np.not_equal(keys[1:], keys[:-1], out=first[1:-1])
        bounds = np.flatnonzero(first)  # where each distinct key starts, and len(keys)
        keys, counts = keys[bounds[:-1]], np.diff(bounds)
        rows, cols = np.divmod(keys, width)
        rows, cols = rows.astype(np.int32), cols.astype(np.int32)
        data = np.log(counts.astype(np.float32))
        data += 1.0
        data *= self.idf_[cols]
        norms = np.sqrt(np.bincount(rows, weights=data.astype(np.float64) ** 2, minlength=len(docs)))
        data /= norms[rows].astype(np.float32)  # every row listed has a non-zero norm
        return rows, cols, data
