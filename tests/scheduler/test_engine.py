"""The delivery engine: one outbound path (operations), recovery, retries by class, reconcile
guards, and no event sent from inside a write transaction."""

from __future__ import annotations

import asyncio
import random
from datetime import datetime, timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from crosspost.db import write_lock, write_session
from crosspost.errors import OutcomeUnknownError, PermanentError, Reason, TransientError
from crosspost.events import DeliveryEvent, EventKind
from crosspost.models import (
    Content,
    DeliveryRef,
    DeliveryStatus,
    OperationKind,
    OperationStatus,
    Platform,
    ReconcileOutcome,
)
from crosspost.publishing import FakePublisher
from crosspost.queue import DeliveryRepository
from crosspost.richtext import RichText
from crosspost.service import PublicationService
from scheduler.drain import Drainer
from scheduler.retry import RetryPolicy
from tests.conftest import PublicationFactory
from tests.scheduler.test_drain import Clock

ADM = "administration"
BOTH = ((ADM, Platform.VK), (ADM, Platform.OK))
LEASE = timedelta(minutes=5)


class CheckedEvents:
    """A sink that records events and fails the test if one arrives inside a write
    transaction (the staff report goes over the network: never with the write lock held)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.items: list[DeliveryEvent] = []
        self.inside_write: list[DeliveryEvent] = []

    async def delivery_event(self, event: DeliveryEvent) -> None:
        if write_lock(self.engine).locked():
            self.inside_write.append(event)
        self.items.append(event)

    @property
    def kinds(self) -> list[EventKind]:
        return [e.kind for e in self.items]


class World:
    def __init__(
        self, engine: AsyncEngine, sessionmaker: async_sessionmaker[AsyncSession], now: datetime
    ) -> None:
        self.sessionmaker = sessionmaker
        self.vk = FakePublisher(platform=Platform.VK, account=ADM)
        self.ok = FakePublisher(platform=Platform.OK, account=ADM)
        self.publishers = {(ADM, Platform.VK): self.vk, (ADM, Platform.OK): self.ok}
        self.clock = Clock(now)
        self.events = CheckedEvents(engine)
        self.policy = RetryPolicy(
            max_attempts=3, base_delay=timedelta(seconds=2), jitter=0.0, rng=random.Random(1)
        )
        self.drainer = self.make_drainer()
        self.service = PublicationService(
            sessionmaker, publishers=self.publishers, wake=self.drainer.wake, clock=self.clock
        )

    def make_drainer(self, owner: str | None = None) -> Drainer:
        return Drainer(
            sessionmaker=self.sessionmaker,
            publishers=self.publishers,
            policy=self.policy,
            sink=self.events,
            clock=self.clock,
            owner=owner,
        )

    async def status(self, delivery_id: int) -> DeliveryStatus:
        async with self.sessionmaker() as s:
            return (await DeliveryRepository(s).get_required(delivery_id)).status

    async def settle(self, *, limit: timedelta = timedelta(minutes=10)) -> timedelta:
        """Drain, moving the fake clock to the next due time whenever nothing is due; returns
        the simulated time it took."""
        start = self.clock.now
        while True:
            if await self.drainer.drain_once():
                continue
            async with self.sessionmaker() as s:
                next_due = await DeliveryRepository(s).next_due_at()
            if next_due is None:
                return self.clock.now - start
            assert self.clock.now - start < limit, "the queue did not settle"
            self.clock.now = max(self.clock.now, next_due)


@pytest.fixture
def world(
    engine: AsyncEngine, sessionmaker: async_sessionmaker[AsyncSession], now: datetime
) -> World:
    return World(engine, sessionmaker, now)


async def publish_both(world: World, factory: PublicationFactory, now: datetime) -> int:
    result = await world.service.submit(factory(targets=BOTH), actor="test")
    await world.settle()
    for d in result.delivery_ids:
        assert await world.status(d) is DeliveryStatus.PUBLISHED
    return result.publication_id


def new_content(text: str) -> Content:
    return Content(text=RichText.plain(text))


async def test_edit_and_delete_only_enqueue_and_the_drainer_runs_them(
    world: World, publication_factory: PublicationFactory, now: datetime
) -> None:
    pid = await publish_both(world, publication_factory, now)
    result = await world.service.edit(pid, new_content("Новый текст"), actor="test")
    assert result.changed
    assert [c.method for c in world.vk.calls + world.ok.calls].count("edit") == 0  # not inline
    await world.settle()
    edits = [c for c in world.vk.calls + world.ok.calls if c.method == "edit"]
    assert [c.content.text.text for c in edits if c.content] == ["Новый текст"] * 2
    ops = [e.operation for e in world.events.items if e.kind is EventKind.OPERATION]
    assert {(o.kind, o.status, o.version) for o in ops if o} == {
        (OperationKind.EDIT, OperationStatus.DONE, 2)
    }

    await world.service.delete(pid, actor="test")
    assert not [c for c in world.vk.calls + world.ok.calls if c.method == "delete"]
    await world.settle()
    assert len([c for c in world.vk.calls + world.ok.calls if c.method == "delete"]) == 2
    async with world.sessionmaker() as s:
        assert await DeliveryRepository(s).remote_posts(pid) == []  # both marked deleted
    assert world.events.inside_write == []


async def test_a_crash_between_the_vk_and_the_ok_edit_finishes_the_rest_after_restart(
    world: World, publication_factory: PublicationFactory, now: datetime
) -> None:
    pid = await publish_both(world, publication_factory, now)
    await world.service.edit(pid, new_content("Исправлено"), actor="test")
    # A run claims both edits, edits VK, and is killed before it edits OK.
    async with write_session(world.sessionmaker) as s:
        repo = DeliveryRepository(s)
        ops = await repo.claim_operations(now, LEASE, 10, owner="killed-run")
        vk_op = next(o for o in ops if o.platform is Platform.VK)
        await repo.finish_operation(vk_op, OperationStatus.DONE, now, version=2)
    restarted = world.make_drainer(owner="new-run")
    world.drainer = restarted
    assert await restarted.recover() == 1  # at once, not when the lease runs out
    await world.settle()
    assert [c.method for c in world.ok.calls].count("edit") == 1
    assert [c.method for c in world.vk.calls].count("edit") == 0  # done before the crash


async def test_uncertain_edit_is_retried_and_permanent_failure_reported(
    world: World, publication_factory: PublicationFactory, now: datetime
) -> None:
    pid = await publish_both(world, publication_factory, now)
    world.vk.fail_next(OutcomeUnknownError("read timeout"))
    world.ok.fail_next(PermanentError("no rights", reason=Reason.NO_RIGHTS))
    await world.service.edit(pid, new_content("Ещё раз"), actor="test")
    await world.settle()
    assert [c.method for c in world.vk.calls].count("edit") == 2  # idempotent: sent again
    ops = {
        e.operation.platform: e.operation.status
        for e in world.events.items
        if e.kind is EventKind.OPERATION and e.operation
    }
    assert ops == {Platform.VK: OperationStatus.DONE, Platform.OK: OperationStatus.FAILED}


async def test_keep_alive_is_a_queued_operation(world: World, now: datetime) -> None:
    async with write_session(world.sessionmaker) as s:
        repo = DeliveryRepository(s)
        assert await repo.enqueue_keep_alive(ADM, Platform.OK, now) is not None
        assert await repo.enqueue_keep_alive(ADM, Platform.OK, now) is None  # one waiting
    await world.settle()
    assert [c.method for c in world.ok.calls] == ["keep_alive"]


async def test_rate_limit_answers_wait_their_hint_and_are_not_attempts(
    world: World, publication_factory: PublicationFactory, now: datetime
) -> None:
    limited = [
        TransientError("VK error 6", reason=Reason.RATE_LIMITED, retry_after=timedelta(seconds=1))
        for _ in range(5)  # more than max_attempts=3
    ]
    world.vk.fail_next(*limited)
    result = await world.service.submit(publication_factory(), actor="test")
    (delivery_id,) = result.delivery_ids
    await world.drainer.drain_once()
    async with world.sessionmaker() as s:
        d = await DeliveryRepository(s).get_required(delivery_id)
    assert (d.status, d.due_at, d.attempts) == (
        DeliveryStatus.PENDING,
        now + timedelta(seconds=1),
        0,
    )
    elapsed = await world.settle()
    async with world.sessionmaker() as s:
        d = await DeliveryRepository(s).get_required(delivery_id)
    assert (d.status, d.attempts) == (DeliveryStatus.PUBLISHED, 1)
    assert elapsed == timedelta(seconds=5)


def test_transient_backoff_starts_near_two_seconds_doubles_with_full_jitter_and_caps() -> None:
    policy = RetryPolicy(rng=random.Random(7))
    error = TransientError("HTTP 502")
    for attempts, ceiling in [(1, 2), (2, 4), (3, 8), (4, 16), (12, 600), (14, 600)]:
        delays = [policy.delay(attempts).total_seconds() for _ in range(200)]
        assert all(0 <= d <= ceiling for d in delays)
        assert max(delays) > ceiling * 0.9  # full jitter spreads over the whole range
        assert min(delays) < ceiling * 0.1
    now = datetime.fromisoformat("2026-12-01T00:00:00+00:00")
    assert policy.next_attempt_at(PermanentError("bad"), 1, now) is None
    assert policy.next_attempt_at(error, policy.max_attempts, now) is None
    limited = TransientError("429", reason=Reason.RATE_LIMITED, retry_after=timedelta(seconds=9))
    assert policy.next_attempt_at(limited, 99, now) == now + timedelta(seconds=9)


async def test_ten_posts_under_thirty_percent_faults_publish_within_fifteen_seconds(
    world: World, publication_factory: PublicationFactory, now: datetime
) -> None:
    world.drainer.policy = RetryPolicy(rng=random.Random(2026))  # the defaults: 2 s, full jitter
    faults = random.Random(30)
    failed = 0

    def flaky(ref: DeliveryRef) -> None:
        nonlocal failed
        if faults.random() < 0.3:
            failed += 1
            raise TransientError("HTTP 502 injected", platform=ref.platform, account=ref.account)

    world.vk.on_publish = world.ok.on_publish = flaky
    ids: list[int] = []
    for i in range(10):
        result = await world.service.submit(
            publication_factory(text=f"пост {i}", targets=BOTH), actor="test"
        )
        ids += result.delivery_ids
    elapsed = await world.settle()
    assert failed > 0
    assert {await world.status(d) for d in ids} == {DeliveryStatus.PUBLISHED}
    assert elapsed <= timedelta(seconds=15)


async def test_recovery_at_start_settles_an_orphaned_send_without_waiting_for_the_lease(
    world: World, publication_factory: PublicationFactory, now: datetime
) -> None:
    result = await world.service.submit(publication_factory(), actor="test")
    (delivery_id,) = result.delivery_ids
    async with write_session(world.sessionmaker) as s:
        (claimed,) = await DeliveryRepository(s).claim_due(now, LEASE, 1, owner="killed-run")
    async with world.sessionmaker() as s:
        content = await DeliveryRepository(s).content(claimed.publication_id)
    await world.vk.publish(claimed.ref, content)  # the post was made, then SIGKILL
    assert await world.drainer.recover() == 1
    await world.drainer.drain_once()  # reconcile finds it: no second post, no lease wait
    assert await world.status(delivery_id) is DeliveryStatus.PUBLISHED
    assert len(world.vk.published) == 1
    assert world.clock.now == now


async def test_leases_are_renewed_while_a_send_is_in_flight(
    world: World, publication_factory: PublicationFactory, now: datetime
) -> None:
    result = await world.service.submit(publication_factory(), actor="test")
    (delivery_id,) = result.delivery_ids
    world.vk.gate = asyncio.Event()
    started = asyncio.Event()
    world.vk.on_publish = lambda _ref: started.set()
    drain = asyncio.create_task(world.drainer.drain_once())
    async with asyncio.timeout(5):
        await started.wait()
    world.clock.advance(LEASE - timedelta(seconds=10))
    assert await world.drainer.renew_leases() == 1
    world.clock.advance(timedelta(seconds=30))  # past the first lease
    async with write_session(world.sessionmaker) as s:
        assert await DeliveryRepository(s).expire_leases(world.clock.now) == []
    world.vk.gate.set()
    async with asyncio.timeout(5):
        await drain
    assert await world.status(delivery_id) is DeliveryStatus.PUBLISHED


async def test_reconcile_never_adopts_a_post_recorded_for_another_delivery(
    world: World, publication_factory: PublicationFactory, now: datetime
) -> None:
    first = await world.service.submit(publication_factory(text="первый"), actor="test")
    await world.settle()
    second = await world.service.submit(publication_factory(text="второй"), actor="test")
    (second_id,) = second.delivery_ids
    world.vk.fail_next(OutcomeUnknownError("read timeout"))
    await world.drainer.drain_once()
    assert await world.status(second_id) is DeliveryStatus.UNCERTAIN
    # A read-back that matches the first publication's post (say, by its look alone).
    async with world.sessionmaker() as s:
        d = await DeliveryRepository(s).get_required(second_id)
        (first_remote,) = await DeliveryRepository(s).remote_posts(first.publication_id)
    world.vk.by_key[d.idempotency_key] = first_remote.remote_id
    world.vk.reconcile_answer = ReconcileOutcome.FOUND
    await world.drainer.drain_once()
    assert await world.status(second_id) is DeliveryStatus.HELD  # never published with it


@pytest.mark.parametrize(
    ("answer", "final", "publishes"),
    [
        (ReconcileOutcome.FOUND, DeliveryStatus.PUBLISHED, 0),
        (ReconcileOutcome.NOT_FOUND, DeliveryStatus.PUBLISHED, 1),
        # Staff checked by hand and asked for a resend: "cannot tell" does not hold it again.
        (ReconcileOutcome.CANNOT_TELL, DeliveryStatus.PUBLISHED, 1),
    ],
)
async def test_staff_retry_of_a_held_delivery_reconciles_first(
    world: World,
    publication_factory: PublicationFactory,
    now: datetime,
    answer: ReconcileOutcome,
    final: DeliveryStatus,
    publishes: int,
) -> None:
    result = await world.service.submit(publication_factory(), actor="test")
    (delivery_id,) = result.delivery_ids
    world.vk.fail_next(OutcomeUnknownError("read timeout"))
    world.vk.reconcile_answer = ReconcileOutcome.CANNOT_TELL
    await world.settle()
    assert await world.status(delivery_id) is DeliveryStatus.HELD
    before = len(world.vk.published)
    world.vk.reconcile_answer = answer
    if answer is ReconcileOutcome.FOUND:
        async with world.sessionmaker() as s:
            key = (await DeliveryRepository(s).get_required(delivery_id)).idempotency_key
        world.vk.by_key[key] = "77"
    retried = await world.service.retry_delivery(delivery_id, actor="staff")
    assert retried.status is DeliveryStatus.UNCERTAIN
    await world.settle()
    assert await world.status(delivery_id) is final
    assert len(world.vk.published) - before == publishes


async def test_a_copy_published_after_its_publication_was_deleted_is_deleted(
    world: World, publication_factory: PublicationFactory, now: datetime
) -> None:
    result = await world.service.submit(publication_factory(), actor="test")
    world.vk.gate = asyncio.Event()
    started = asyncio.Event()
    world.vk.on_publish = lambda _ref: started.set()
    drain = asyncio.create_task(world.drainer.drain_once())
    async with asyncio.timeout(5):
        await started.wait()
    await world.service.delete(result.publication_id, actor="staff")
    world.vk.gate.set()
    async with asyncio.timeout(5):
        await drain
    await world.settle()
    assert [c.method for c in world.vk.calls] == ["publish", "delete"]


async def test_events_are_sent_only_after_the_commit(
    world: World, publication_factory: PublicationFactory, now: datetime
) -> None:
    world.vk.fail_next(
        TransientError("HTTP 502"),
        OutcomeUnknownError("timeout"),
        PermanentError("too long", reason=Reason.TOO_LONG),
    )
    world.vk.reconcile_answer = ReconcileOutcome.NOT_FOUND
    await world.service.submit(publication_factory(), actor="test")
    await world.service.submit(publication_factory(text="второй"), actor="test")
    await world.settle()
    assert {EventKind.RETRY, EventKind.UNCERTAIN, EventKind.FAILED, EventKind.PUBLISHED} <= set(
        world.events.kinds
    )
    assert world.events.inside_write == []
