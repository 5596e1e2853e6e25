"""Rate limits kept in this process: token buckets per key (a person, a client address).

Each API instance counts on its own, so behind N instances a caller gets up to N times the
allowance; the edge proxy in front of the instances is where a global limit belongs (see
deploy/README.md). In-process buckets cost no database round trip on the hottest reads."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from app.config import Settings


@dataclass
class _Bucket:
    tokens: float
    at: float


class RateLimiter:
    """`per_minute` events per key on average, in bursts of up to `burst`."""

    def __init__(
        self,
        *,
        per_minute: float,
        burst: int,
        max_keys: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if per_minute <= 0 or burst < 1:
            raise ValueError("a rate limit needs a positive rate and a burst of at least 1")
        self.rate = per_minute / 60.0
        self.burst = float(burst)
        self._max_keys = max_keys
        self._clock = clock
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()
        self._lock = threading.Lock()

    def _bucket(self, key: str, now: float) -> _Bucket:
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = _Bucket(self.burst, now)
            self._buckets[key] = bucket
            if len(self._buckets) > self._max_keys:
                # The key idle longest forgets its history: it had the most time to refill.
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(key)
            bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.at) * self.rate)
            bucket.at = now
        return bucket

    def take(self, key: str) -> float:
        """Spend one event for `key`: 0 when allowed, else the seconds until one would be."""
        with self._lock:
            now = self._clock()
            bucket = self._bucket(key, now)
            if bucket.tokens >= 1:
                bucket.tokens -= 1
                return 0.0
            return (1 - bucket.tokens) / self.rate

    def wait(self, key: str) -> float:
        """Seconds until `key` may have another event (0: now), spending nothing. A key never
        seen has a full bucket: it is not stored (every request's address is asked)."""
        with self._lock:
            if key not in self._buckets:
                return 0.0
            bucket = self._bucket(key, self._clock())
            return 0.0 if bucket.tokens >= 1 else (1 - bucket.tokens) / self.rate


@dataclass
class RateLimits:
    """The limits of one API process: person endpoints per person, failed logins per address."""

    person: RateLimiter | None
    failed_logins: RateLimiter | None

    @classmethod
    def from_settings(cls, settings: Settings) -> RateLimits:
        """The limits the settings ask for; a rate of 0 turns that limit off."""

        def limiter(per_minute: int, burst: int) -> RateLimiter | None:
            return RateLimiter(per_minute=per_minute, burst=burst) if per_minute else None

        return cls(
            person=limiter(settings.person_requests_per_minute, settings.person_requests_burst),
            failed_logins=limiter(settings.failed_logins_per_minute, settings.failed_logins_burst),
        )
