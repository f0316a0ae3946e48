from __future__ import annotations

import asyncio

import pytest

from crosspost.config import SchedulerConfig
from scheduler.limits import RateLimits, SlidingWindowLimiter, window_for


class VirtualTime:
    """A clock that moves only when a limiter sleeps: waits cost no real time."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += max(0.0, seconds)
        await asyncio.sleep(0)


def most_in_any_window(times: list[float], window: float) -> int:
    """The largest number of times inside any half-open window (t - window, t]."""
    times = sorted(times)
    return max(sum(1 for u in times if t - window < u <= t) for t in times)


def test_window_keeps_a_tenth_below_the_platform() -> None:
    assert window_for(3.0) == (3, pytest.approx(3 / 2.7))
    assert window_for(20.0) == (20, pytest.approx(20 / 18))
    calls, period = window_for(0.33)
    assert calls == 1
    assert period == pytest.approx(1 / 0.297)


async def test_a_burst_never_puts_more_than_three_in_one_second() -> None:
    clock = VirtualTime()
    limiter = SlidingWindowLimiter(*window_for(3.0), clock=clock, sleep=clock.sleep)
    started: list[float] = []

    async def call() -> None:
        async with limiter:
            started.append(clock())

    async with asyncio.timeout(5):
        await asyncio.gather(*(call() for _ in range(20)))
    assert len(started) == 20
    assert most_in_any_window(started, 1.0) == 3
    # It does not crawl either: 20 calls take about 20/2.7 s.
    assert clock() < 20 / 2.7 + 1


async def test_a_request_in_flight_keeps_its_slot_until_its_answer_and_one_period_after() -> None:
    clock = VirtualTime()
    limiter = SlidingWindowLimiter(1, 1.0, clock=clock, sleep=clock.sleep)
    await limiter.acquire()
    second = asyncio.create_task(limiter.acquire())
    for _ in range(10):
        await asyncio.sleep(0)
    assert not second.done()  # the first is still in flight, however long it takes
    clock.now = 30.0  # a slow answer
    limiter.release()
    async with asyncio.timeout(5):
        await second
    # The platform may have received the first request just before it answered.
    assert clock() >= 31.0


async def test_tokens_and_kinds_get_their_own_windows() -> None:
    clock = VirtualTime()
    limits = RateLimits(SchedulerConfig(), clock=clock, sleep=clock.sleep)
    assert limits("vk_user", "a") is limits("vk_user", "a")
    assert limits("vk_user", "a") is not limits("vk_user", "b")
    assert limits("vk_user", "a") is not limits("vk_community", "a")
    community: list[float] = []

    async def call(kind: str, out: list[float]) -> None:
        async with limits(kind, "token"):
            out.append(clock())

    async with asyncio.timeout(5):
        await asyncio.gather(*(call("vk_community", community) for _ in range(40)))
    assert most_in_any_window(community, 1.0) == 20


async def test_max_has_its_own_keys() -> None:
    limits = RateLimits(SchedulerConfig())
    per_chat = limits("max", "chat")
    per_bot = limits("max_bot", "token")
    assert isinstance(per_chat, SlidingWindowLimiter)
    assert isinstance(per_bot, SlidingWindowLimiter)
    assert (per_chat.max_calls, per_bot.max_calls) == (2, 30)
