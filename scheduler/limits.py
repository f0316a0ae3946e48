"""Per-token rate limits, kept before the platform has to say so (sliding windows)."""

from __future__ import annotations

import asyncio
import hashlib
import math
import time
from collections import deque
from collections.abc import Awaitable, Callable
from types import TracebackType

from crosspost.config import SchedulerConfig
from crosspost.publishing import Throttle

SAFETY_MARGIN = 0.9


class SlidingWindowLimiter:
    """At most `max_calls` requests in any `period`, counted the way the platform counts them.

    A leaky bucket lets a burst through and then spreads the rest, so a platform that counts
    requests in a sliding second (VK: 3 per second per user token) sees 4 in one second. Here
    a request holds its slot while it is in flight and for `period` after its answer came: the
    platform received it somewhere in between, so no `period` on its clock can hold more than
    `max_calls`, whatever the network latency.
    """

    def __init__(
        self,
        max_calls: int,
        period: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if max_calls < 1 or period <= 0:
            raise ValueError("need max_calls >= 1 and period > 0")
        self.max_calls = max_calls
        self.period = period
        self._clock = clock
        self._sleep = sleep
        self._in_flight = 0
        self._finished: deque[float] = deque()
        self._exit = asyncio.Event()
        # Waiters queue here in arrival order, so a slot goes to the one that waited longest.
        self._turn = asyncio.Lock()

    def _busy(self, now: float) -> int:
        while self._finished and self._finished[0] <= now - self.period:
            self._finished.popleft()
        return self._in_flight + len(self._finished)

    async def acquire(self) -> None:
        """Wait until one more request fits in the window, then take its slot."""
        async with self._turn:
            while True:
                now = self._clock()
                if self._busy(now) < self.max_calls:
                    self._in_flight += 1
                    return
                if self._finished:
                    # The oldest finished request leaves the window then.
                    await self._sleep(self._finished[0] + self.period - now)
                else:
                    # Every slot is in flight: its window starts only when its answer comes.
                    self._exit.clear()
                    await self._exit.wait()

    def release(self) -> None:
        """The request's answer came (or it failed): its slot stays taken for one period."""
        self._in_flight -= 1
        self._finished.append(self._clock())
        self._exit.set()

    async def __aenter__(self) -> None:
        await self.acquire()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()


def window_for(rate: float, margin: float = SAFETY_MARGIN) -> tuple[int, float]:
    """(calls, period in seconds) for a platform rate in requests per second.

    A tenth below the platform's number: the period is stretched rather than the count cut,
    so VK's 3/s becomes 3 calls per 1.11 s and Telegram's 1 post per 3 s one per 3.37 s.
    """
    calls = max(1, math.floor(rate))
    return calls, calls / (rate * margin)


class RateLimits:
    """A ThrottleFactory: one limiter per (kind, token); tokens are hashed, never kept."""

    def __init__(
        self,
        config: SchedulerConfig,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.config = config
        self._clock = clock
        self._sleep = sleep
        self._limiters: dict[tuple[str, str], SlidingWindowLimiter] = {}

    def __call__(self, kind: str, token: str) -> Throttle:
        digest = hashlib.sha256(token.encode()).hexdigest()[:16]
        key = (kind, digest)
        limiter = self._limiters.get(key)
        if limiter is None:
            calls, period = window_for(self.config.rate_limit(kind))
            limiter = SlidingWindowLimiter(calls, period, clock=self._clock, sleep=self._sleep)
            self._limiters[key] = limiter
        return limiter

    def __len__(self) -> int:
        return len(self._limiters)
