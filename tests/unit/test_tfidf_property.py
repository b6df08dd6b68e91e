"""The vectorised hashed TF-IDF is scikit-learn's TfidfVectorizer (sublinear tf, smooth idf, l2), checked on
generated batches: same weights per document up to the column order the hashing picks, including empty and
one-character documents anywhere in a batch (a featureless last row once crashed the fast path)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.feature_extraction.text import TfidfVectorizer

from app.classifier.features.tfidf import HashedTfidf, VocabularyTable

# Normalised comments are single-spaced tokens; the alphabet mixes ASCII, accents, punctuation and an emoji.
_WORD = st.text(alphabet="abcdeão?!ç0_🔥", min_size=1, max_size=7)
_DOC = st.one_of(
    st.just(""),
    st.text(alphabet="ab?🔥", min_size=1, max_size=1),
    st.lists(_WORD, min_size=1, max_size=8).map(" ".join),
)
_BATCH = st.lists(_DOC, min_size=1, max_size=12)
_CONFIGS = st.sampled_from([("char_wb", (2, 5)), ("char_wb", (2, 3)), ("word", (1, 2)), ("word", (1, 3))])


def _reference(kind: str, rng: tuple[int, int], min_df: int, docs: list[str]) -> np.ndarray | None:
    options = {"token_pattern": r"\S+"} if kind == "word" else {}
    ref = TfidfVectorizer(analyzer=kind, ngram_range=rng, lowercase=False, sublinear_tf=True, min_df=min_df, **options)
    try:
        return ref.fit(docs).transform(docs).toarray()
    except ValueError:  # "empty vocabulary": every document is featureless
        return None


@settings(max_examples=150, deadline=None)
@given(docs=_BATCH, config=_CONFIGS, min_df=st.sampled_from([1, 2]))
def test_hashed_tfidf_matches_scikit_learn(docs: list[str], config: tuple, min_df: int) -> None:
    kind, rng = config
    ours = HashedTfidf(kind, rng, min_df).fit(docs).transform(docs).toarray()
    ref = _reference(kind, rng, min_df, docs)

    if ref is None:
        assert not ours.any()
        return
    assert ours.shape == ref.shape  # same vocabulary size: no hash collisions, same min_df cut
    np.testing.assert_allclose(np.sort(ours, axis=1), np.sort(ref, axis=1), atol=1e-5)
    assert np.isfinite(ours).all()


@settings(max_examples=60, deadline=None)
@given(train=_BATCH, batch=_BATCH)
def test_unseen_batches_with_featureless_rows_transform_without_error(train: list[str], batch: list[str]) -> None:
    vec = HashedTfidf("char_wb", (2, 5), 1).fit(train)
    out = vec.transform(batch)
    assert out.shape == (len(batch), len(vec.vocabulary_))
    norms = np.sqrt(np.asarray(out.multiply(out).sum(axis=1))).ravel()
    assert np.all((np.abs(norms - 1) < 1e-4) | (norms == 0))  # l2 rows, or all-zero for a featureless one


@settings(max_examples=100, deadline=None)
@given(
    vocab=st.lists(st.integers(0, 2**64 - 1), max_size=300, unique=True),
    others=st.lists(st.integers(0, 2**64 - 1), max_size=100),
    seed=st.integers(0, 2**32 - 1),
)
def test_vocabulary_table_finds_each_hash_where_searchsorted_does(vocab: list[int], others: list[int], seed: int):
    """The hash table behind `weights` answers like a binary search of the sorted vocabulary: a vocabulary hash's
    rank, and -1 for any other hash (zero included: an empty slot's key must not match it). Hashes that differ
    only in their low bits (the polynomial hash's weak bits) and long probe chains are in the mix."""
    ordered = np.array(sorted(vocab), dtype=np.uint64)
    clustered = [(v & ~0xFF) | (v * 7 + k) % 256 for v in vocab[:10] for k in range(4)]
    queries = np.array([*vocab, *others, *clustered, 0], dtype=np.uint64)
    np.random.default_rng(seed).shuffle(queries)
    expected = np.searchsorted(ordered, queries)
    found = expected < len(ordered)
    found[found] = ordered[expected[found]] == queries[found]
    got = VocabularyTable(ordered).lookup(queries)
    assert np.array_equal(got, np.where(found, expected, -1))


def test_the_vocabulary_table_is_not_pickled_with_the_model() -> None:
    """Artifacts keep their size and format: the table is rebuilt on load, and answers the same."""
    import pickle

    docs = ["o show foi lindo", "o som estava baixo", "app travou de novo", "show lindo demais"]
    fitted = HashedTfidf("char_wb", (2, 4), 1).fit(docs)
    before = fitted.weights(docs)
    assert "_table" in fitted.__dict__
    pickled = pickle.dumps(fitted)
    assert len(pickled) < 200 + fitted.vocabulary_.nbytes + fitted.idf_.nbytes + 1000  # no table in it
    restored = pickle.loads(pickled)
    assert isinstance(restored._table, VocabularyTable)  # built on load
    after = restored.weights(docs)
    assert all(np.array_equal(a, b) for a, b in zip(before, after, strict=True))
