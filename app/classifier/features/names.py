"""Masking proper names (artists, albums, songs) so that an unseen title does not read as an opinion.

"Aurora é o álbum do ano": the model has never seen "Aurora", and its char n-grams ("aur", "ror") can land
anywhere. Names given with the request (`artista`, `album`) and capitalised words inside a sentence are replaced
by one placeholder word before normalisation, so the model reads "_nome_ é o álbum do ano".
"""

from __future__ import annotations

import re
from collections.abc import Sequence

NAME = "_nome_"
# A capitalised word (Initial + lowercase) that does not open a sentence: after a letter, digit or comma and
# whitespace. ALL-CAPS words are emphasis ("QUE SHOW"), not names, so they are left alone.
_INNER_CAPITALISED = re.compile(r"(?<=[\w,;:] )[A-ZÀ-ÖØ-Þ][a-zß-öø-ÿ]+")


def mask_names(text: str, names: Sequence[str] = ()) -> str:
    """`text` with the given names (case-insensitive) and inner capitalised words replaced by NAME."""
    for name in names:
        name = name.strip()
        if len(name) >= 2:
            text = re.sub(rf"(?<!\w){re.escape(name)}(?!\w)", NAME, text, flags=re.IGNORECASE)
    if " " not in text:
        return text
    return _INNER_CAPITALISED.sub(NAME, text)


def mask_many(texts: Sequence[str], names: Sequence[Sequence[str]] | None = None) -> list[str]:
    """mask_names() over a batch; `names` (one sequence per text) are the request's artist/album fields."""
    if names is None:
        return [mask_names(t) for t in texts]
    return [mask_names(t, n) for t, n in zip(texts, names, strict=True)]
