"""A daily budget of LLM calls, shared across processes through Redis when one is given."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

log = logging.getLogger(__name__)

# Daily budget counters live one day past their date, then Redis drops them.
BUDGET_KEY_PREFIX = "alumusic:llm:orcamento_diario"
BUDGET_KEY_TTL_SECONDS = 2 * 24 * 3600


class DailyLLMBudget:
    """How many units (calls, comments) may still go to the LLM today (UTC), shared through Redis when a client
    is given. `limit == 0` means unlimited. Without Redis (or when Redis fails) the count is per process.
    """

    def __init__(
        self,
        limit: int,
        redis_client: Any | None = None,
        *,
        key_prefix: str = BUDGET_KEY_PREFIX,
        today: Callable[[], date] = lambda: datetime.now(UTC).date(),
    ) -> None:
        self.limit = limit
        self._redis = redis_client
        self._key_prefix = key_prefix
        self._today = today
        self._lock = threading.Lock()
        self._local: dict[date, int] = {}

    def key(self, day: date | None = None) -> str:
        return f"{self._key_prefix}:{(day or self._today()).isoformat()}"

    def reserve(self, wanted: int) -> int:
        """Take up to `wanted` units from today's budget; return how many were granted."""
        if wanted <= 0:
            return 0
        if self.limit == 0:
            return wanted
        if self._redis is not None:
            try:
                return self._reserve_redis(wanted)
            except Exception as exc:  # the budget must not take the caller down with Redis
                log.warning("llm budget: redis unavailable (%s); counting in this process", exc)
        return self._reserve_local(wanted)

    def release(self, unused: int) -> None:
        """Give back units reserved but not spent (e.g. comments skipped by the open circuit)."""
        if unused <= 0 or self.limit == 0:
            return
        if self._redis is not None:
            try:
                self._redis.decrby(self.key(), unused)
                return
            except Exception as exc:
                log.warning("llm budget: redis unavailable (%s); releasing in this process", exc)
        with self._lock:
            day = self._today()
            self._local[day] = max(0, self._local.get(day, 0) - unused)

    def used_today(self) -> int:
        if self._redis is not None:
            try:
                return int(self._redis.get(self.key()) or 0)
            except Exception:
                pass
        with self._lock:
            return self._local.get(self._today(), 0)

    def _reserve_redis(self, wanted: int) -> int:
        key = self.key()
        pipe = self._redis.pipeline()
        pipe.incrby(key, wanted)
        pipe.expire(key, BUDGET_KEY_TTL_SECONDS)
        total, _ = pipe.execute()
        granted = max(0, min(wanted, self.limit - (int(total) - wanted)))
        if granted < wanted:
            # Concurrent reservers each give back their own excess, so the total never overshoots the limit.
            self._redis.decrby(key, wanted - granted)
        return granted

    def _reserve_local(self, wanted: int) -> int:
        with self._lock:
            day = self._today()
            for old in [d for d in self._local if d != day]:
                del self._local[old]
            used = self._local.get(day, 0)
            granted = max(0, min(wanted, self.limit - used))
            self._local[day] = used + granted
            return granted


def redis_for_budget(url: str) -> Any | None:
    """A Redis client with short timeouts for budget counters, or None without a URL."""
    if not url:
        return None
    import redis

    return redis.Redis.from_url(url, socket_timeout=1.0, socket_connect_timeout=1.0)
