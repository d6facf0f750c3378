"""The one rate limiter, used per client address by the HTTP API and per chat by the Telegram bot.

A token bucket per key: `per_minute` requests, refilled continuously, so a burst of `per_minute`
is allowed and then one request every `60 / per_minute` seconds. O(1) memory per key, and keys are
bounded (a bucket idle for a minute is full again, so forgetting it changes nothing).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable

Clock = Callable[[], float]
REFILL_S = 60.0


class RateLimiter:
    def __init__(self, per_minute: int, clock: Clock = time.monotonic, max_keys: int = 10_000) -> None:
        self.capacity = float(per_minute)
        self.rate = per_minute / REFILL_S
        self.clock = clock
        self.max_keys = max_keys
        self._buckets: dict[Hashable, tuple[float, float]] = {}  # key -> (tokens, last update)
        self._warned: set[Hashable] = set()

    def hit(self, key: Hashable) -> float:
        """0 when the request may go ahead (and is counted), else the seconds until it may.

        A limit of 0 means unlimited."""
        if self.capacity <= 0:
            return 0.0
        now = self.clock()
        tokens, last = self._buckets.get(key, (self.capacity, now))
        tokens = min(self.capacity, tokens + (now - last) * self.rate)
        if len(self._buckets) >= self.max_keys and key not in self._buckets:
            self.prune()
        if tokens >= 1.0:
            self._buckets[key] = (tokens - 1.0, now)
            self._warned.discard(key)
            return 0.0
        self._buckets[key] = (tokens, now)
        return (1.0 - tokens) / self.rate

    def should_warn(self, key: Hashable) -> bool:
        """True once per blocked stretch, so a flood of requests does not get a flood of replies."""
        if key in self._warned:
            return False
        self._warned.add(key)
        return True

    def prune(self) -> None:
        """Forget buckets that have been idle long enough to be full again."""
        now = self.clock()
        self._buckets = {k: v for k, v in self._buckets.items() if now - v[1] < REFILL_S}
        self._warned &= self._buckets.keys()
