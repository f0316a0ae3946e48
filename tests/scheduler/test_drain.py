from __future__ import annotations

import asyncio
import random
from datetime import datetime, timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from crosspost.errors import (
    AuthError,
    OutcomeUnknownError,
    PermanentError,
    Reason,
    TransientError,
)
from crosspost.events import DeliveryEvent, EventKind
from crosspost.models import Content, DeliveryStatus, Platform, ReconcileOutcome
from crosspost.publishing import FakePublisher
from crosspost.queue import DeliveryRepository
from scheduler.drain import Drainer
from scheduler.retry import RetryPolicy
from tests.conftest import PublicationFactory


@pytest.fixture
def engine(engine_on_each_database: AsyncEngine) -> AsyncEngine:
    """The queue's contract holds on SQLite and on PostgreSQL: every test here runs on both."""
    return engine_on_each_database


class Clock:
    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta


class Events:
    def __init__(self) -> None:
        self.items: list[DeliveryEvent] = []

    async def delivery_event(self, event: DeliveryEvent) -> None:
        self.items.append(event)

    @property
    def kinds(self) -> list[EventKind]:
        return [e.kind for e in self.items]


Env = tuple[Drainer, FakePublisher, FakePublisher, Clock, Events]


@pytest.fixture
def env(sessionmaker: async_sessionmaker[AsyncSession], now: datetime) -> Env:
    vk = FakePublisher(platform=Platform.VK, account="administration")
    ok = FakePublisher(platform=Platform.OK, account="administration")
    clock = Clock(now)
    events = Events()
    policy = RetryPolicy(
        max_attempts=3,
        base_delay=timedelta(seconds=30),
        max_delay=timedelta(minutes=10),
        jitter=0.0,
        rng=random.Random(1),
    )
    drainer = Drainer(
        sessionmaker=sessionmaker,
        publishers={("administration", Platform.VK): vk, ("administration", Platform.OK): ok},
        policy=policy,
        sink=events,
        clock=clock,
    )
    return drainer, vk, ok, clock, events


async def enqueue(
    sessionmaker: async_sessionmaker[AsyncSession],
    factory: PublicationFactory,
    now: datetime,
    **kw: object,
) -> int:
    async with sessionmaker() as s, s.begin():
        result = await DeliveryRepository(s).enqueue(factory(**kw), now)
    return result.delivery_ids[0]


async def status(
    sessionmaker: async_sessionmaker[AsyncSession], delivery_id: int
) -> DeliveryStatus:
    async with sessionmaker() as s:
        return (await DeliveryRepository(s).get_required(delivery_id)).status


async def test_publish_settles_and_reports(
    env: Env,
    sessionmaker: async_sessionmaker[AsyncSession],
    publication_factory: PublicationFactory,
    now: datetime,
) -> None:
    drainer, vk, _, _, events = env
    delivery_id = await enqueue(sessionmaker, publication_factory, now)
    assert await drainer.drain_once() == 1
    assert [d.delivery_id for d in vk.published] == [delivery_id]
    assert await status(sessionmaker, delivery_id) is DeliveryStatus.PUBLISHED
    assert events.kinds == [EventKind.PUBLISHED]
    assert events.items[0].delivery.remote_url is not None
    assert await drainer.drain_once() == 0


async def test_transient_error_retries_on_backoff_then_fails(
    env: Env,
    sessionmaker: async_sessionmaker[AsyncSession],
    publication_factory: PublicationFactory,
    now: datetime,
) -> None:
    drainer, vk, _, clock, events = env
    delivery_id = await enqueue(sessionmaker, publication_factory, now)
    vk.fail_next(*(TransientError("HTTP 502") for _ in range(3)))
    assert await drainer.drain_once() == 1
    async with sessionmaker() as s:
        d = await DeliveryRepository(s).get_required(delivery_id)
    assert d.status is DeliveryStatus.PENDING
    assert d.due_at == now + timedelta(seconds=30)
    clock.advance(timedelta(seconds=29))
    assert await drainer.drain_once() == 0  # not yet due
    clock.advance(timedelta(seconds=1))
    assert await drainer.drain_once() == 1
    async with sessionmaker() as s:
        d = await DeliveryRepository(s).get_required(delivery_id)
    assert d.due_at == clock.now + timedelta(seconds=60)  # doubled
    clock.advance(timedelta(seconds=60))
    assert await drainer.drain_once() == 1
    assert await status(sessionmaker, delivery_id) is DeliveryStatus.FAILED  # max_attempts=3
    assert events.kinds == [EventKind.RETRY, EventKind.RETRY, EventKind.FAILED]


async def test_retry_after_is_a_floor(
    env: Env,
    sessionmaker: async_sessionmaker[AsyncSession],
    publication_factory: PublicationFactory,
    now: datetime,
) -> None:
    drainer, vk, _, _, _ = env
    delivery_id = await enqueue(sessionmaker, publication_factory, now)
    vk.fail_next(TransientError("429", retry_after=timedelta(minutes=7)))
    await drainer.drain_once()
    async with sessionmaker() as s:
        d = await DeliveryRepository(s).get_required(delivery_id)
    assert d.due_at == now + timedelta(minutes=7)


async def test_permanent_error_fails_at_once(
    env: Env,
    sessionmaker: async_sessionmaker[AsyncSession],
    publication_factory: PublicationFactory,
    now: datetime,
) -> None:
    drainer, vk, _, _, events = env
    delivery_id = await enqueue(sessionmaker, publication_factory, now)
    vk.fail_next(PermanentError("text too long", reason=Reason.TOO_LONG))
    await drainer.drain_once()
    assert await status(sessionmaker, delivery_id) is DeliveryStatus.FAILED
    assert events.items[0].error is not None
    assert events.items[0].error.reason is Reason.TOO_LONG


async def test_auth_error_pauses_account_and_holds_delivery(
    env: Env,
    sessionmaker: async_sessionmaker[AsyncSession],
    publication_factory: PublicationFactory,
    now: datetime,
) -> None:
    drainer, vk, _, _, events = env
    first = await enqueue(sessionmaker, publication_factory, now)
    second = await enqueue(sessionmaker, publication_factory, now, text="второй")
    vk.fail_next(AuthError("token revoked", reason=Reason.TOKEN_INVALID))
    drainer.concurrency = 1
    await drainer.drain_once()
    assert events.kinds == [EventKind.PAUSED]
    assert await status(sessionmaker, first) is DeliveryStatus.PENDING
    assert await drainer.drain_once() == 0  # the whole target is held
    async with sessionmaker() as s, s.begin():
        await DeliveryRepository(s).resume("administration", Platform.VK)
    drainer.concurrency = 4
    assert await drainer.drain_once() == 2
    assert await status(sessionmaker, first) is DeliveryStatus.PUBLISHED
    assert await status(sessionmaker, second) is DeliveryStatus.PUBLISHED
    async with sessionmaker() as s:
        assert (await DeliveryRepository(s).get_required(first)).attempts == 1


@pytest.mark.parametrize(
    ("answer", "final", "publishes"),
    [
        (ReconcileOutcome.FOUND, DeliveryStatus.PUBLISHED, 1),
        (ReconcileOutcome.NOT_FOUND, DeliveryStatus.PUBLISHED, 2),
        (ReconcileOutcome.CANNOT_TELL, DeliveryStatus.HELD, 1),
    ],
)
async def test_timeout_goes_uncertain_then_reconcile_decides(
    env: Env,
    sessionmaker: async_sessionmaker[AsyncSession],
    publication_factory: PublicationFactory,
    now: datetime,
    answer: ReconcileOutcome,
    final: DeliveryStatus,
    publishes: int,
) -> None:
    drainer, vk, _, _, events = env
    delivery_id = await enqueue(sessionmaker, publication_factory, now)
    vk.fail_next(OutcomeUnknownError("read timeout after sending"))
    vk.reconcile_answer = answer
    await drainer.drain_once()
    assert await status(sessionmaker, delivery_id) is DeliveryStatus.UNCERTAIN
    await drainer.drain_once()  # reconcile
    if answer is ReconcileOutcome.NOT_FOUND:
        await drainer.drain_once()  # the resend
    assert await status(sessionmaker, delivery_id) is final
    assert len(vk.published) == publishes
    assert [c.method for c in vk.calls].count("reconcile") == 1
    if answer is ReconcileOutcome.CANNOT_TELL:
        assert events.kinds[-1] is EventKind.HELD
        assert await drainer.drain_once() == 0  # never a blind resend


async def test_lease_expiry_reconciles_instead_of_resending(
    env: Env,
    sessionmaker: async_sessionmaker[AsyncSession],
    publication_factory: PublicationFactory,
    now: datetime,
) -> None:
    drainer, vk, _, clock, _ = env
    delivery_id = await enqueue(sessionmaker, publication_factory, now)
    # A process claims the delivery, the platform takes the post, and the process dies.
    async with sessionmaker() as s, s.begin():
        (claimed,) = await DeliveryRepository(s).claim_due(now, drainer.lease, 1)
    await vk.publish(claimed.ref, (await _content(sessionmaker, claimed.publication_id)))
    clock.advance(drainer.lease + timedelta(seconds=1))
    async with sessionmaker() as s, s.begin():
        await DeliveryRepository(s).expire_leases(clock.now)
    await drainer.drain_once()
    assert await status(sessionmaker, delivery_id) is DeliveryStatus.PUBLISHED
    assert len(vk.published) == 1


async def _content(sessionmaker: async_sessionmaker[AsyncSession], publication_id: int) -> Content:
    async with sessionmaker() as s:
        return await DeliveryRepository(s).content(publication_id)


async def test_cancel_while_sending_keeps_published_post_published(
    env: Env,
    sessionmaker: async_sessionmaker[AsyncSession],
    publication_factory: PublicationFactory,
    now: datetime,
) -> None:
    drainer, vk, _, _, _ = env
    delivery_id = await enqueue(sessionmaker, publication_factory, now)
    vk.gate = asyncio.Event()
    started = asyncio.Event()
    vk.on_publish = lambda _ref: started.set()
    drain = asyncio.create_task(drainer.drain_once())
    async with asyncio.timeout(5):
        await started.wait()
    async with sessionmaker() as s, s.begin():
        flagged = await DeliveryRepository(s).cancel(delivery_id, now)
    assert flagged.cancel_requested
    vk.gate.set()
    async with asyncio.timeout(5):
        await drain
    # The platform took it before the cancel could matter: it is recorded, never lost.
    assert await status(sessionmaker, delivery_id) is DeliveryStatus.PUBLISHED


async def test_cancel_while_sending_then_failure_ends_cancelled(
    env: Env,
    sessionmaker: async_sessionmaker[AsyncSession],
    publication_factory: PublicationFactory,
    now: datetime,
) -> None:
    drainer, vk, _, _, events = env
    delivery_id = await enqueue(sessionmaker, publication_factory, now)
    vk.gate = asyncio.Event()
    started = asyncio.Event()
    vk.on_publish = lambda _ref: started.set()
    vk.fail_next(TransientError("HTTP 503"))
    drain = asyncio.create_task(drainer.drain_once())
    async with asyncio.timeout(5):
        await started.wait()
    async with sessionmaker() as s, s.begin():
        await DeliveryRepository(s).cancel(delivery_id, now)
    vk.gate.set()
    async with asyncio.timeout(5):
        await drain
    assert await status(sessionmaker, delivery_id) is DeliveryStatus.CANCELLED
    assert events.kinds == [EventKind.CANCELLED]


async def test_restart_in_the_middle_delivers_each_exactly_once(
    sessionmaker: async_sessionmaker[AsyncSession],
    publication_factory: PublicationFactory,
    now: datetime,
) -> None:
    targets = (("administration", Platform.VK), ("administration", Platform.OK))
    ids = []
    for i in range(10):
        async with sessionmaker() as s, s.begin():
            ids += (
                await DeliveryRepository(s).enqueue(
                    publication_factory(text=f"пост {i}", targets=targets), now
                )
            ).delivery_ids

    def make() -> tuple[Drainer, FakePublisher, FakePublisher]:
        vk = FakePublisher(platform=Platform.VK, account="administration")
        ok = FakePublisher(platform=Platform.OK, account="administration")
        d = Drainer(
            sessionmaker=sessionmaker,
            publishers={("administration", Platform.VK): vk, ("administration", Platform.OK): ok},
            concurrency=2,
            clock=lambda: now,
        )
        return d, vk, ok

    first, vk1, ok1 = make()
    gate = asyncio.Event()
    count = 0

    def after_five(_ref: object) -> None:
        nonlocal count
        count += 1
        if count == 5:
            gate.set()

    vk1.on_publish = ok1.on_publish = after_five
    runner = asyncio.create_task(first.run())
    async with asyncio.timeout(5):
        await gate.wait()
    await first.stop(grace=5)
    async with asyncio.timeout(5):
        await runner

    remaining = len(ids) - len(vk1.published) - len(ok1.published)
    assert remaining > 0
    second, vk2, ok2 = make()
    done = asyncio.Event()

    def count_second(_ref: object) -> None:
        if len(vk2.published) + len(ok2.published) == remaining:
            done.set()

    vk2.on_publish = ok2.on_publish = count_second
    runner = asyncio.create_task(second.run())
    async with asyncio.timeout(10):
        await done.wait()
    await second.stop(grace=5)
    await runner
    async with sessionmaker() as s:
        states = {d.status for d in await DeliveryRepository(s).list_deliveries()}
    assert states == {DeliveryStatus.PUBLISHED}
    sent = [r.delivery_id for p in (vk1, ok1, vk2, ok2) for r in p.published]
    assert sorted(sent) == sorted(ids)


async def test_wake_starts_a_send_without_waiting_for_the_poll(
    env: Env,
    sessionmaker: async_sessionmaker[AsyncSession],
    publication_factory: PublicationFactory,
    now: datetime,
) -> None:
    drainer, vk, _, _, _ = env
    drainer.idle_poll = timedelta(hours=1)
    published = asyncio.Event()
    vk.on_publish = lambda _ref: published.set()
    runner = asyncio.create_task(drainer.run())
    await asyncio.sleep(0)
    await enqueue(sessionmaker, publication_factory, now)
    drainer.wake()
    async with asyncio.timeout(5):
        await published.wait()
    await drainer.stop()
    await runner
