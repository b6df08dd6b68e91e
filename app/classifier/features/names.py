"""Masking proper names (artists, albums, songs) so that an unseen title does not read as an opinion.

"Aurora é o álbum do ano": the model has never seen "Aurora", and its char n-grams ("aur", "ror") can land
anywhere. Names given with the request (`artista`, `album`) and capitalised words inside a sentence are replaced
by one placeholder word before normalisation, so the model reads "_nome_ é o álbum do ano".
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Sequence

from app.classifier.normalize import strip_accents

NAME = "_nome_"
# A capitalised word (Initial + lowercase) that does not open a sentence: after a letter, digit or comma and
# whitespace. ALL-CAPS words are emphasis ("QUE SHOW"), not names, so they are left alone.
_INNER_CAPITALISED = re.compile(r"(?<=[\w,;:] )[A-ZÀ-ÖØ-Þ][a-zß-öø-ÿ]+")


def _replacer(known: Collection[str] | None) -> Callable[[re.Match[str]], str]:
    if known is None:
        return lambda m: NAME
    # A capitalised word the training data uses often ("Deus", "Spotify", a big artist) keeps its signal.
    return lambda m: m.group(0) if strip_accents(m.group(0).lower()) in known else NAME


def mask_names(text: str, names: Sequence[str] = (), known: Collection[str] | None = None) -> str:
    """`text` with the given names (case-insensitive) and inner capitalised words replaced by NAME; with `known`,
    only capitalised words outside that vocabulary (lowercase, no accents) are masked."""
    for name in names:
        name = name.strip()
        if len(name) >= 2:
            text = re.sub(rf"(?<!\w){re.escape(name)}(?!\w)", NAME, text, flags=re.IGNORECASE)
    if " " not in text:
        return text
    return _INNER_CAPITALISED.sub(_replacer(known), text)


def mask_many(
    texts: Sequence[str], names: Sequence[Sequence[str]] | None = None, known: Collection[str] | None = None
) -> list[str]:
    """mask_names() over a batch; `names` (one sequence per text) are the request's artist/album fields."""
    if names is None:
        return [mask_names(t, (), known) for t in texts]
    return [mask_names(t, n, known) for t, n in zip(texts, names, strict=True)]


def frequent_words(texts: Sequence[str], min_df: int) -> frozenset[str]:
    """Words (lowercase, no accents) in at least `min_df` of `texts`: the vocabulary that is not a stranger."""
    df: dict[str, int] = {}
    for text in texts:
        for word in set(strip_accents(text.lower()).split()):
            df[word] = df.get(word, 0) + 1
    return frozenset(w for w, c in df.items() if c >= min_df)
