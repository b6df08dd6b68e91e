"""The distilled word table: a comment's vector is the weighted mean of the vectors of the words it knows."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from app.classifier.features.wordvec import WordVectors, build_table


def test_comments_with_the_same_words_meet_and_unknown_words_are_ignored(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    words = {w: w for w in ("lindo", "maravilhoso", "horrivel", "chato", "o", "disco")}
    base = rng.normal(size=(1, 384))
    vectors = np.vstack([base + rng.normal(scale=0.1, size=(1, 384)) if w in ("lindo", "maravilhoso") else
                         rng.normal(size=(1, 384)) for w in words])  # fmt: skip
    frequencies = {"o": 0.05, "disco": 1e-4}
    table = WordVectors.load(build_table(words, frequencies, vectors, tmp_path / "words.npz"))

    out = table.transform(["o disco lindo", "o disco maravilhoso", "o disco horrivel", "palavras desconhecidas", ""])

    assert out.shape == (5, min(128, len(words)))
    np.testing.assert_allclose(np.linalg.norm(out[:3], axis=1), 1.0, atol=1e-5)
    assert not out[3:].any()  # nothing known: a zero row, not NaN
    assert out[0] @ out[1] > out[0] @ out[2]  # "lindo" and "maravilhoso" were embedded close together
    assert table.weights[table.words.index("o")] < table.weights[table.words.index("disco")]  # SIF: "o" counts less
