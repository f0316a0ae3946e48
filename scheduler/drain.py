"""The drain loop: woken at once on enqueue, otherwise asleep until the next due delivery."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping
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
)
from crosspost.publishing import Publisher
from crosspost.queue import DeliveryRepository, TransitionError
from scheduler.retry import RetryPolicy

logger = logging.getLogger(__name__)

Clock = Callable[[], datetime]


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
                try:
                    await self._claim_and_start()
                except Exception:
                    logger.exception("drain pass failed; trying again after the idle poll")
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
        now = self.clock()
        async with self.sessionmaker() as session, session.begin():
            claimed = await DeliveryRepository(session).claim_due(now, self.lease, room)
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
            async with self.sessionmaker() as session:
                content = await DeliveryRepository(session).content(delivery.publication_id)
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
        async with self.sessionmaker() as session, session.begin():
            settled = await DeliveryRepository(session).mark_published(
                delivery.delivery_id, result.remote, self.clock()
            )
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

    async def _uncertain(self, delivery: Delivery, reason: str) -> None:
        async with self.sessionmaker() as session, session.begin():
            settled = await DeliveryRepository(session).mark_uncertain(
                delivery.delivery_id, reason, self.clock()
            )
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
        async with self.sessionmaker() as session, session.begin():
            repo = DeliveryRepository(session)
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
        except TransientError as exc:
            async with self.sessionmaker() as session, session.begin():
                await DeliveryRepository(session).mark_uncertain(
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
            async with self.sessionmaker() as session, session.begin():
                settled = await DeliveryRepository(session).mark_held(
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
        async with self.sessionmaker() as session, session.begin():
            repo = DeliveryRepository(session)
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
