"""The retry policy: capped exponential backoff with jitter; pure, testable without a clock."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from crosspost.errors import PublishError, TransientError


@dataclass(frozen=True, kw_only=True)
class RetryPolicy:
    max_attempts: int = 8
    base_delay: timedelta = timedelta(seconds=30)
    max_delay: timedelta = timedelta(hours=1)
    # Fraction of the delay that is randomised, so many deliveries do not retry in lockstep.
    jitter: float = 0.2
    rng: random.Random = field(default_factory=random.Random, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if not 0 <= self.jitter <= 1:
            raise ValueError("jitter is a fraction between 0 and 1")
        if self.base_delay <= timedelta(0) or self.max_delay < self.base_delay:
            raise ValueError("need 0 < base_delay <= max_delay")

    def delay(self, attempts: int) -> timedelta:
        """Backoff after `attempts` failed attempts (1 = the first failed)."""
        exp = self.base_delay * (2 ** max(0, attempts - 1))
        capped = min(exp, self.max_delay)
        spread = capped.total_seconds() * self.jitter
        return timedelta(seconds=capped.total_seconds() - spread * self.rng.random())

    def next_attempt_at(
        self, error: PublishError, attempts: int, now: datetime
    ) -> datetime | None:
        """When to try again, or None to give up. Only TransientError retries; retry_after
        from the platform is a floor."""
        if not isinstance(error, TransientError) or attempts >= self.max_attempts:
            return None
        delay = self.delay(attempts)
        if error.retry_after is not None and error.retry_after > delay:
            delay = error.retry_after
        return now + delay
