"""The vectorised hashed TF-IDF is scikit-learn's TfidfVectorizer (sublinear tf, smooth idf, l2), checked on
generated batches: same weights per document up to the column order the hashing picks, including empty and
one-character documents anywhere in a batch (a featureless last row once crashed the fast path)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.feature_extraction.text import TfidfVectorizer

from app.classifier.features.tfidf import HashedTfidf

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
