"""A consecutive-failure circuit breaker for an LLM endpoint.

pybreaker was considered and rejected: its `call` holds one lock for the whole call, which would serialise the
concurrent requests of a batch.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

log = logging.getLogger(__name__)


class CircuitBreaker:
    """Consecutive-failure breaker: opens after `failure_threshold` failures in a row, skips calls for
    `reset_timeout` seconds, then half-opens: one trial call decides between closed and open again.

    Thread-safe, and holds its lock only to update state (never during the guarded call).
    """

    CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"

    def __init__(self, failure_threshold: int, reset_timeout: float, clock: Callable[[], float] = time.monotonic):
        if failure_threshold < 1 or reset_timeout <= 0:
            raise ValueError("failure_threshold must be >= 1 and reset_timeout > 0")
        self.failure_threshold = failure_threshold
        self.reset_timeout = reset_timeout
        self._clock = clock
        self._lock = threading.Lock()
        self._state = self.CLOSED
        self._failures = 0
        self._opened_at = 0.0
        self._trial_started_at: float | None = None

    @property
    def state(self) -> str:
        with self._lock:
            if self._state == self.OPEN and self._clock() - self._opened_at >= self.reset_timeout:
                return self.HALF_OPEN
            return self._state

    def allow(self) -> bool:
        """Whether a call may go through now; in half-open, only one trial call at a time is let through."""
        with self._lock:
            now = self._clock()
            if self._state == self.CLOSED:
                return True
            if self._state == self.OPEN:
                if now - self._opened_at < self.reset_timeout:
                    return False
                self._state = self.HALF_OPEN
                self._trial_started_at = now
                log.info("llm circuit half-open: sending one trial call")
                return True
            # Half-open: a trial is in flight. Guard against a trial that never reported back.
            if self._trial_started_at is None or now - self._trial_started_at >= self.reset_timeout:
                self._trial_started_at = now
                return True
            return False

    def record_success(self) -> None:
        with self._lock:
            if self._state != self.CLOSED:
                log.info("llm circuit closed: endpoint answered")
            self._state = self.CLOSED
            self._failures = 0
            self._trial_started_at = None

    def record_failure(self) -> None:
        with self._lock:
            self._failures += 1
            if self._state == self.HALF_OPEN or (
                self._state == self.CLOSED and self._failures >= self.failure_threshold
            ):
                log.warning(
                    "llm circuit open for %.1fs after %d consecutive failures", self.reset_timeout, self._failures
                )
                self._state = self.OPEN
                self._opened_at = self._clock()
                self._trial_started_at = None
