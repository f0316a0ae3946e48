"""Per-token rate limits, kept before the platform has to say so (aiolimiter leaky buckets)."""

from __future__ import annotations

import hashlib

from aiolimiter import AsyncLimiter

from crosspost.config import SchedulerConfig
from crosspost.publishing import Throttle

SAFETY_MARGIN = 0.9


class RateLimits:
    """A ThrottleFactory: one bucket per (kind, token); tokens are hashed, never kept."""

    def __init__(self, config: SchedulerConfig) -> None:
        self.config = config
        self._limiters: dict[tuple[str, str], AsyncLimiter] = {}

    def __call__(self, kind: str, token: str) -> Throttle:
        digest = hashlib.sha256(token.encode()).hexdigest()[:16]
        key = (kind, digest)
        limiter = self._limiters.get(key)
        if limiter is None:
            # A tenth below the platform's number: our clock and theirs see the same requests
            # a few milliseconds apart, and a bucket filled exactly to the limit trips on that.
            rate = self.config.rate_limit(kind) * SAFETY_MARGIN
            # A bucket of one second's worth (at least 1): short bursts pass, sustained load waits.
            if rate >= 1:
                limiter = AsyncLimiter(max_rate=rate, time_period=1.0)
            else:
                limiter = AsyncLimiter(max_rate=1, time_period=1.0 / rate)
            self._limiters[key] = limiter
        return limiter

    def __len__(self) -> int:
        return len(self._limiters)
