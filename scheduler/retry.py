"""The retry policy by error class; pure, testable without a clock (inject `rng`)."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from crosspost.errors import PublishError, TransientError

# A rate-limit answer without a hint: the limiter's next slot is about this far away.
RATE_LIMIT_FALLBACK = timedelta(seconds=1)


@dataclass(frozen=True, kw_only=True)
class RetryPolicy:
    """Transient errors: capped exponential backoff from `base_delay` with full jitter.
    Rate-limit answers: wait the platform's hint (or the limiter's next slot), not counted as an
    attempt. Anything else: give up at once (the caller fails or pauses)."""

    max_attempts: int = 15
    base_delay: timedelta = timedelta(seconds=2)
    max_delay: timedelta = timedelta(minutes=10)
    # Fraction of the delay that is randomised (1.0 = "full jitter": anywhere from 0 to the
    # delay), so deliveries that failed together do not retry in lockstep.
    jitter: float = 1.0
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
        exp = self.base_delay * (2 ** min(max(0, attempts - 1), 32))
        capped = min(exp, self.max_delay)
        spread = capped.total_seconds() * self.jitter
        return timedelta(seconds=capped.total_seconds() - spread * self.rng.random())

    @staticmethod
    def counts_as_attempt(error: PublishError) -> bool:
        """A rate-limit answer is the platform's flow control, not a failed attempt."""
        return not (isinstance(error, TransientError) and error.rate_limited)

    def next_attempt_at(
        self, error: PublishError, attempts: int, now: datetime
    ) -> datetime | None:
        """When to try again, or None to give up. Only TransientError retries; a rate-limit
        answer waits its hint and never gives up; retry_after is a floor."""
        if not isinstance(error, TransientError):
            return None
        if error.rate_limited:
            wait = error.retry_after or RATE_LIMIT_FALLBACK
            return now + min(max(wait, timedelta(0)), self.max_delay)
        if attempts >= self.max_attempts:
            return None
        delay = self.delay(attempts)
        if error.retry_after is not None and error.retry_after > delay:
            delay = error.retry_after
        return now + delay
