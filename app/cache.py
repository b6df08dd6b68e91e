"""Cache regions: `prefix:region:version:hash(params)` keys, TTLs, locks and hit/miss counters.

A region is one kind of data with its own key prefix and version (bump the version when the stored shape
changes, and old entries are simply never read again). Two stores behind one interface: Redis (production,
shared by every gunicorn worker and Celery worker) and a directory of files (the embedded `make run` path without
Redis, shared the same way through the filesystem). Values are bytes; callers choose the encoding.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

import orjson
from flask import Flask, current_app
from prometheus_client import Counter

CACHE_REQUESTS = Counter(
    "alumusic_cache_requests_total", "Cache region lookups by outcome (hit, stale, miss, error)", ["region", "result"]
)


class Store(Protocol):
    def get(self, key: str) -> bytes | None: ...
    def set(self, key: str, value: bytes, ttl: float) -> None: ...
    def add(self, key: str, value: bytes, ttl: float) -> bool: ...
    def delete(self, key: str) -> None: ...
    def mark(self, key: str, member: str, ttl: float) -> None: ...
    def members(self, key: str, since: float) -> list[str]: ...


class RedisStore:
    """Redis: SET EX, SET NX for locks, a sorted set (score = last use) for the members of a region."""

    def __init__(self, url: str) -> None:
        import redis

        # Short timeouts: a Redis that does not answer must not hold a request for long (the caller falls back).
        self.client = redis.Redis.from_url(url, socket_connect_timeout=0.5, socket_timeout=1.0)

    def get(self, key: str) -> bytes | None:
        return self.client.get(key)

    def set(self, key: str, value: bytes, ttl: float) -> None:
        self.client.set(key, value, px=max(1, int(ttl * 1000)))

    def add(self, key: str, value: bytes, ttl: float) -> bool:
        return bool(self.client.set(key, value, px=max(1, int(ttl * 1000)), nx=True))

    def delete(self, key: str) -> None:
        self.client.delete(key)

    def mark(self, key: str, member: str, ttl: float) -> None:
        now = time.time()
        pipe = self.client.pipeline(transaction=False)
        pipe.zadd(key, {member: now})
        pipe.zremrangebyscore(key, "-inf", now - ttl)
        pipe.expire(key, int(ttl) + 1)
        pipe.execute()

    def members(self, key: str, since: float) -> list[str]:
        return [m.decode() for m in self.client.zrangebyscore(key, since, "+inf")]


class FileStore:
    """A directory: one file per key (atomic replace), expiry in the first line, O_EXCL files as locks."""

    def __init__(self, directory: str | Path) -> None:
        self.root = Path(directory)

    def _path(self, key: str) -> Path:
        return self.root / hashlib.sha256(key.encode()).hexdigest()[:32]

    def get(self, key: str) -> bytes | None:
        try:
            raw = self._path(key).read_bytes()
        except FileNotFoundError:
            return None
        expires, _, value = raw.partition(b"\n")
        if float(expires) < time.time():
            return None
        return value

    def set(self, key: str, value: bytes, ttl: float) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        path = self._path(key)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        tmp.write_bytes(f"{time.time() + ttl}\n".encode() + value)
        os.replace(tmp, path)

    def add(self, key: str, value: bytes, ttl: float) -> bool:
        self.root.mkdir(parents=True, exist_ok=True)
        path = self._path(key)
        if self.get(key) is None:
            path.unlink(missing_ok=True)  # an expired lock left by a killed process
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        except FileExistsError:
            return False
        with os.fdopen(fd, "wb") as fh:
            fh.write(f"{time.time() + ttl}\n".encode() + value)
        return True

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def mark(self, key: str, member: str, ttl: float) -> None:
        folder = self._path(key).with_suffix(".set")
        folder.mkdir(parents=True, exist_ok=True)
        entry = folder / hashlib.sha256(member.encode()).hexdigest()[:32]
        entry.write_text(member, encoding="utf-8")  # mtime = last use
        for old in folder.iterdir():
            with contextlib.suppress(FileNotFoundError):
                if old.stat().st_mtime < time.time() - ttl:
                    old.unlink()

    def members(self, key: str, since: float) -> list[str]:
        folder = self._path(key).with_suffix(".set")
        if not folder.is_dir():
            return []
        out = []
        for entry in folder.iterdir():
            with contextlib.suppress(FileNotFoundError):
                if entry.stat().st_mtime >= since:
                    out.append(entry.read_text(encoding="utf-8"))
        return out


def params_hash(params: Mapping[str, Any]) -> str:
    """A stable short hash of normalised parameters (sorted keys, None dropped)."""
    clean = {k: v for k, v in sorted(params.items()) if v is not None}
    return hashlib.sha256(orjson.dumps(clean, option=orjson.OPT_SORT_KEYS)).hexdigest()[:20]


class Region:
    """One kind of cached data: its keys, its TTL and its counters."""

    def __init__(self, store: Store, prefix: str, name: str, version: int, ttl: float) -> None:
        self.store, self.name, self.ttl = store, name, ttl
        self.base = f"{prefix}{name}:v{version}"

    def key(self, *parts: str) -> str:
        return ":".join((self.base, *parts))

    def get(self, key: str) -> bytes | None:
        return self.store.get(key)

    def set(self, key: str, value: bytes, ttl: float | None = None) -> None:
        self.store.set(key, value, self.ttl if ttl is None else ttl)

    def lock(self, name: str, ttl: float) -> bool:
        """Take a named lock for at most `ttl` seconds (released by `unlock` or by expiry)."""
        return self.store.add(self.key("lock", name), str(os.getpid()).encode(), ttl)

    def unlock(self, name: str) -> None:
        self.store.delete(self.key("lock", name))

    def count(self, result: str) -> None:
        CACHE_REQUESTS.labels(self.name, result).inc()


def store_for(app: Flask) -> Store:
    """Redis when configured, otherwise the shared file store (one per app, created lazily)."""
    store = app.extensions.get("alumusic_cache_store")
    if store is None:
        url = app.config.get("REDIS_URL")
        store = RedisStore(url) if url else FileStore(app.config["REPORT_CACHE_DIR"])
        app.extensions["alumusic_cache_store"] = store
    return store


def region(name: str, version: int, ttl: float, app: Flask | None = None) -> Region:
    app = app or current_app._get_current_object()  # type: ignore[attr-defined]
    return Region(store_for(app), app.config.get("CACHE_KEY_PREFIX", "alumusic:"), name, version, ttl)


def redis_errors() -> tuple[type[Exception], ...]:
    """What a Redis that is down or unreachable raises (the file store raises OSError)."""
    import redis

    return (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OSError)
