"""The drain loop: woken at once on enqueue, otherwise asleep until the next due delivery."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Mapping
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crosspost.errors import (
    NeedsAttentionError,
    OutcomeUnknownError,
    PermanentError,
    PublishError,
    Reason,
    TransientError,
)
from crosspost.events import DeliveryEvent, EventKind, EventSink, LogSink
from crosspost.models import (
    Content,
    Delivery,
    DeliveryStatus,
    Platform,
    PublishResult,
    ReconcileOutcome,
    RemotePost,
)
from crosspost.publishing import Publisher
from crosspost.queue import DeliveryRepository, TransitionError
from scheduler.retry import RetryPolicy

logger = logging.getLogger(__name__)

Clock = Callable[[], datetime]
CONTENT_CACHE_SIZE = 256


def utc_clock() -> datetime:
    return datetime.now(UTC)


class Drainer:
    """Claims due deliveries, fans them out to publishers with bounded concurrency, settles them.

    Enqueuers call `wake()` after their commit. Tests call `drain_once()` directly.
    """

    def __init__(
        self,
        *,
        sessionmaker: async_sessionmaker[AsyncSession],
        publishers: Mapping[tuple[str, Platform], Publisher],
        policy: RetryPolicy | None = None,
        sink: EventSink | None = None,
        concurrency: int = 4,
        lease: timedelta = timedelta(minutes=5),
        idle_poll: timedelta = timedelta(seconds=5),
        clock: Clock = utc_clock,
    ) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self.sessionmaker = sessionmaker
        self.publishers = publishers
        self.policy = policy or RetryPolicy()
        self.sink: EventSink = sink or LogSink()
        self.concurrency = concurrency
        self.lease = lease
        # Other processes (`crosspost post`, `check`) write to the same database: look again
        # this often even when nobody woke us.
        self.idle_poll = idle_poll
        self.clock = clock
        self._wake = asyncio.Event()
        self._stopping = False
        self._in_flight: set[asyncio.Task[None]] = set()
        self._stopped = asyncio.Event()
        # One writer at a time inside this process: concurrent SQLite writers would otherwise
        # wait in SQLite's busy handler, which sleeps in steps of up to tens of milliseconds.
        self._write_lock = asyncio.Lock()
        self._published_batch: list[tuple[Delivery, RemotePost, asyncio.Future[Delivery]]] = []
        self._contents: OrderedDict[tuple[int, int], Content] = OrderedDict()

    @contextlib.asynccontextmanager
    async def _writing(self) -> AsyncIterator[DeliveryRepository]:
        async with self._write_lock, self.sessionmaker() as session, session.begin():
            yield DeliveryRepository(session)

    async def _load_contents(self, deliveries: list[Delivery]) -> None:
        """Fill the content cache for a claimed batch in one read (keyed by publication and
        version: an edit bumps the version, so a cached entry is never stale)."""
        missing = {
            d.publication_id
            for d in deliveries
            if (d.publication_id, d.publication_version) not in self._contents
        }
        if missing:
            async with self.sessionmaker() as session:
                loaded = await DeliveryRepository(session).contents(missing)
            for d in deliveries:
                if d.publication_id in loaded:
                    self._contents[(d.publication_id, d.publication_version)] = loaded[
                        d.publication_id
                    ]
        while len(self._contents) > CONTENT_CACHE_SIZE:
            self._contents.popitem(last=False)

    async def _content(self, delivery: Delivery) -> Content:
        content = self._contents.get((delivery.publication_id, delivery.publication_version))
        if content is None:
            async with self.sessionmaker() as session:
                content = await DeliveryRepository(session).content(delivery.publication_id)
        return content

    def wake(self) -> None:
        self._wake.set()

    @property
    def in_flight(self) -> int:
        return len(self._in_flight)

    async def run(self) -> None:
        """Drain until `stop()`; each pass claims only as many deliveries as slots are free."""
        self._stopped.clear()
        try:
            while not self._stopping:
                self._wake.clear()  # before draining, so an enqueue during the drain is not lost
                backlog = False
                try:
                    room = self.concurrency - len(self._in_flight)
                    backlog = room > 0 and len(await self._claim_and_start()) == room
                except Exception:
                    logger.exception("drain pass failed; trying again after the idle poll")
                # With every slot taken (or just filled, so more may be due), the next finished
                # send wakes us; only when the queue ran dry is the next due time worth a query.
                if backlog or len(self._in_flight) >= self.concurrency:
                    timeout = self.idle_poll.total_seconds()
                else:
                    timeout = await self._seconds_until_next_due()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(timeout):
                        await self._wake.wait()
        finally:
            self._stopped.set()

    async def stop(self, grace: float = 20.0) -> None:
        """Stop claiming; let in-flight sends finish within `grace` seconds, then cancel them
        (a cancelled send becomes `uncertain`: it may have reached the platform)."""
        self._stopping = True
        self._wake.set()
        if self._in_flight:
            _done, pending = await asyncio.wait(set(self._in_flight), timeout=grace)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending)

    async def drain_once(self) -> int:
        """Claim what is due (up to the free slots), process it; returns how many were claimed."""
        tasks = await self._claim_and_start()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        return len(tasks)

    async def _claim_and_start(self) -> list[asyncio.Task[None]]:
        room = self.concurrency - len(self._in_flight)
        if room <= 0 or self._stopping:
            return []
        async with self._writing() as repo:
            now = self.clock()
            claimed = await repo.claim_due(now, self.lease, room)
            if self._stopping:
                # stop() came while we were claiming: hand the rows back unsent.
                for delivery in claimed:
                    if delivery.status is DeliveryStatus.SENDING:
                        await repo.release(delivery.delivery_id, now)
                    else:
                        await repo.mark_uncertain(delivery.delivery_id, "released at stop", now)
                return []
        if claimed:
            await self._load_contents(claimed)
        tasks = []
        for delivery in claimed:
            task = asyncio.create_task(self._process(delivery))
            self._in_flight.add(task)
            task.add_done_callback(self._finished)
            tasks.append(task)
        return tasks

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._in_flight.discard(task)
        self._wake.set()  # a slot is free

    async def _seconds_until_next_due(self) -> float:
        if self._stopping:
            return 0.0
        limit = self.idle_poll.total_seconds()
        if len(self._in_flight) >= self.concurrency:
            return limit
        async with self.sessionmaker() as session:
            next_due = await DeliveryRepository(session).next_due_at()
        if next_due is None:
            return limit
        return max(0.0, min(limit, (next_due - self.clock()).total_seconds()))

    # -- one delivery -------------------------------------------------------------------------

    async def _process(self, delivery: Delivery) -> None:
        try:
            content = await self._content(delivery)
            publisher = self.publishers.get((delivery.account, delivery.platform))
            if publisher is None:
                error = PermanentError(
                    "no publisher is configured for this account and platform",
                    platform=delivery.platform,
                    account=delivery.account,
                    reason=Reason.CONFIG,
                )
                await self._settle_error(delivery, error)
            elif delivery.status is DeliveryStatus.RECONCILING:
                await self._reconcile(delivery, publisher, content)
            else:
                await self._send(delivery, publisher, content)
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception(
                "delivery=%s account=%s platform=%s processing failed",
                delivery.delivery_id,
                delivery.account,
                delivery.platform,
            )

    async def _send(self, delivery: Delivery, publisher: Publisher, content: Content) -> None:
        log_args = (delivery.delivery_id, delivery.account, delivery.platform)
        logger.info(
            "delivery=%s account=%s platform=%s sending attempt=%s", *log_args, delivery.attempts
        )
        try:
            result = await publisher.publish(delivery.ref, content)
        except asyncio.CancelledError:
            # Shutdown ran out of time mid-send: the request may have left.
            await asyncio.shield(
                self._uncertain(delivery, "stopped while sending: the post may exist")
            )
            raise
        except PublishError as exc:
            await self._settle_error(delivery, exc)
            return
        except Exception as exc:
            logger.exception("delivery=%s account=%s platform=%s publisher crashed", *log_args)
            await self._uncertain(delivery, f"publisher crashed: {type(exc).__name__}")
            return
        await self._published(delivery, result)

    async def _published(self, delivery: Delivery, result: PublishResult) -> None:
        settled = await self._settle_published(delivery, result.remote)
        logger.info(
            "delivery=%s account=%s platform=%s published remote=%s url=%s",
            delivery.delivery_id,
            delivery.account,
            delivery.platform,
            result.remote.remote_id,
            result.remote.url,
        )
        await self._emit(
            DeliveryEvent(kind=EventKind.PUBLISHED, delivery=settled, notices=result.notices)
        )

    async def _settle_published(self, delivery: Delivery, remote: RemotePost) -> Delivery:
        """Record a publish. Publishes that finish while another is being written are
        committed together in one transaction: a commit costs more than the statements."""
        future: asyncio.Future[Delivery] = asyncio.get_running_loop().create_future()
        self._published_batch.append((delivery, remote, future))
        async with self._write_lock:
            if not future.done():
                batch, self._published_batch = self._published_batch, []
                try:
                    async with self.sessionmaker() as session, session.begin():
                        outcomes = await DeliveryRepository(session).mark_published_many(
                            [(d, r) for d, r, _ in batch], self.clock()
                        )
                except BaseException as exc:
                    for _, _, item_future in batch:
                        if not item_future.done():
                            item_future.set_exception(exc)
                    raise
                # Only after the commit: a rolled-back batch must not look settled.
                for (_, _, item_future), outcome in zip(batch, outcomes, strict=True):
                    if isinstance(outcome, TransitionError):
                        item_future.set_exception(outcome)
                    else:
                        item_future.set_result(outcome)
        return await future

    async def _uncertain(self, delivery: Delivery, reason: str) -> None:
        async with self._writing() as repo:
            settled = await repo.mark_uncertain(delivery.delivery_id, reason, self.clock())
        logger.warning(
            "delivery=%s account=%s platform=%s uncertain: %s",
            delivery.delivery_id,
            delivery.account,
            delivery.platform,
            reason,
        )
        await self._emit(DeliveryEvent(kind=EventKind.UNCERTAIN, delivery=settled))

    async def _settle_error(self, delivery: Delivery, error: PublishError) -> None:
        now = self.clock()
        log_args = (delivery.delivery_id, delivery.account, delivery.platform, error)
        if isinstance(error, OutcomeUnknownError):
            await self._uncertain(delivery, str(error))
            return
        async with self._writing() as repo:
            if isinstance(error, NeedsAttentionError) and error.pause_account:
                newly = await repo.pause(
                    delivery.account, delivery.platform, str(error.reason), now
                )
                await repo.record_error(delivery.account, delivery.platform, str(error), now)
                settled = await repo.release(delivery.delivery_id, now)
                kind = EventKind.PAUSED
                logger.error("delivery=%s account=%s platform=%s paused: %s", *log_args)
                if not newly:
                    kind = EventKind.RETRY  # already paused: staff were told once
            elif isinstance(error, TransientError):
                at = self.policy.next_attempt_at(error, delivery.attempts, now)
                if at is None:
                    settled = await repo.mark_failed(
                        delivery.delivery_id, str(error), str(error.reason), now
                    )
                    kind = EventKind.FAILED
                    logger.error(
                        "delivery=%s account=%s platform=%s failed after retries: %s", *log_args
                    )
                else:
                    settled = await repo.mark_retry(
                        delivery.delivery_id, at, str(error), str(error.reason), now
                    )
                    kind = (
                        EventKind.CANCELLED
                        if settled.status is DeliveryStatus.CANCELLED
                        else EventKind.RETRY
                    )
                    logger.warning(
                        "delivery=%s account=%s platform=%s retry at %s: %s",
                        delivery.delivery_id,
                        delivery.account,
                        delivery.platform,
                        at.isoformat(),
                        error,
                    )
                    await self._emit(
                        DeliveryEvent(kind=kind, delivery=settled, error=error, retry_at=at)
                    )
                    return
            else:
                settled = await repo.mark_failed(
                    delivery.delivery_id, str(error), str(error.reason), now
                )
                kind = (
                    EventKind.CANCELLED
                    if settled.status is DeliveryStatus.CANCELLED
                    else EventKind.FAILED
                )
                logger.error("delivery=%s account=%s platform=%s failed: %s", *log_args)
        await self._emit(DeliveryEvent(kind=kind, delivery=settled, error=error))

    async def _reconcile(self, delivery: Delivery, publisher: Publisher, content: Content) -> None:
        now = self.clock()
        try:
            result = await publisher.reconcile(delivery.ref, content)
        except (TransientError, OutcomeUnknownError) as exc:
            # Could not look: stay uncertain and look again later, never resend blindly.
            async with self._writing() as repo:
                await repo.mark_uncertain(
                    delivery.delivery_id,
                    f"reconcile failed: {exc}",
                    now,
                    reconcile_at=now + self.policy.delay(1),
                )
            return
        except Exception as exc:
            logger.warning(
                "delivery=%s account=%s platform=%s reconcile failed: %s",
                delivery.delivery_id,
                delivery.account,
                delivery.platform,
                exc,
            )
            async with self._writing() as repo:
                settled = await repo.mark_held(
                    delivery.delivery_id, f"reconcile failed: {exc}", now
                )
            await self._emit(DeliveryEvent(kind=EventKind.HELD, delivery=settled))
            return
        if result.outcome is ReconcileOutcome.FOUND and result.remote is not None:
            logger.info(
                "delivery=%s account=%s platform=%s reconcile: already there",
                delivery.delivery_id,
                delivery.account,
                delivery.platform,
            )
            await self._published(delivery, PublishResult(remote=result.remote))
            return
        async with self._writing() as repo:
            if result.outcome is ReconcileOutcome.NOT_FOUND:
                settled = await repo.mark_not_found(delivery.delivery_id, now)
                kind = (
                    EventKind.CANCELLED
                    if settled.status is DeliveryStatus.CANCELLED
                    else EventKind.RETRY
                )
            else:
                settled = await repo.mark_held(
                    delivery.delivery_id, result.detail or "cannot tell whether it was posted", now
                )
                kind = EventKind.HELD
        logger.warning(
            "delivery=%s account=%s platform=%s reconcile: %s",
            delivery.delivery_id,
            delivery.account,
            delivery.platform,
            result.outcome,
        )
        if kind is EventKind.RETRY:
            self.wake()
        await self._emit(DeliveryEvent(kind=kind, delivery=settled))

    async def _emit(self, event: DeliveryEvent) -> None:
        try:
            await self.sink.delivery_event(event)
        except Exception:
            logger.exception("delivery=%s event sink failed", event.delivery.delivery_id)


__all__ = ["Drainer", "TransitionError", "utc_clock"]
