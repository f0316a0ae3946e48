"""The drain loop: woken at once on enqueue, otherwise asleep until the next due delivery.

Every platform action goes through here: first publishes (deliveries) and the queued edits,
deletes and keep-alives (operations). No database transaction is open while a platform is
called or while anything waits; events (staff reports) go out only after the commit.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from functools import partial

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crosspost.db import direct_writer, direct_writes, write_direct, write_session
from crosspost.errors import (
    NeedsAttentionError,
    OutcomeUnknownError,
    PermanentError,
    PublishError,
    Reason,
    TransientError,
    UnsupportedError,
)
from crosspost.events import DeliveryEvent, EventKind, EventSink, LogSink
from crosspost.models import (
    Content,
    Delivery,
    DeliveryOperation,
    DeliveryRef,
    DeliveryStatus,
    OperationKind,
    OperationStatus,
    Platform,
    PublishResult,
    ReconcileOutcome,
    RemotePost,
)
from crosspost.publishing import Publisher
from crosspost.queue import (
    STAFF_RETRY,
    DeliveryRepository,
    FollowupsNeeded,
    TransitionError,
    sqlite_claim,
    sqlite_mark_uncertain,
    sqlite_publish_and_claim,
    sqlite_settle_error,
    sqlite_settle_reconcile,
)
from scheduler.retry import RetryPolicy

logger = logging.getLogger(__name__)

Clock = Callable[[], datetime]
CONTENT_CACHE_SIZE = 256
# During a long backlog drain, uncertain deliveries and operations are still looked for this
# often (seconds).
SIDE_CLAIM_EVERY = 1.0
# A target's last success (for token-lapse warnings, counted in days) is written at most this
# often during a busy drain.
SUCCESS_RECORD_EVERY = timedelta(minutes=1)
# Called when a keep-alive finishes: (operation, error or None, whether the account was paused
# just now). The app alerts staff from it.
KeepAliveHook = Callable[[DeliveryOperation, PublishError | None, bool], Awaitable[None]]


def utc_clock() -> datetime:
    return datetime.now(UTC)


def new_owner_id() -> str:
    """Who holds a lease: this process on this host, unique per run."""
    return f"{socket.gethostname()[:32]}:{os.getpid()}:{secrets.token_hex(4)}"


class Drainer:
    """Claims due deliveries and operations, runs them on publishers with bounded concurrency,
    settles them.

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
        owner: str | None = None,
        on_keep_alive: KeepAliveHook | None = None,
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
        self.owner = owner or new_owner_id()
        self.on_keep_alive = on_keep_alive
        self._wake = asyncio.Event()
        self._stopping = False
        self._in_flight: set[asyncio.Task[None]] = set()
        self._stopped = asyncio.Event()
        self._published_batch: list[tuple[Delivery, RemotePost, asyncio.Future[Delivery]]] = []
        self._batch_lock = asyncio.Lock()
        self._contents: OrderedDict[tuple[int, int], Content] = OrderedDict()
        # Uncertain deliveries and operations are rare: their claims run only when something
        # may have made one due (a wake-up, an uncertain send, the idle poll), not on every pass
        # of a backlog drain.
        self._side_claims = True
        self._side_claimed_at = 0.0
        self._success_at: dict[tuple[str, Platform], datetime] = {}
        # SQLite: the claim and the settling of publishes run in one round trip each.
        self._direct = direct_writes(sessionmaker)
        # Inside run(), settling publishes also claims what the freed slots take next.
        self._running = False

    @contextlib.asynccontextmanager
    async def _writing(self, what: str) -> AsyncIterator[DeliveryRepository]:
        async with write_session(self.sessionmaker, what=what) as session:
            yield DeliveryRepository(session)

    async def _load_contents(self, repo: DeliveryRepository, deliveries: list[Delivery]) -> None:
        """Fill the content cache for a claimed batch in one read, inside the claim's
        transaction (keyed by publication and version: an edit bumps the version, so a cached
        entry is never stale)."""
        missing = {
            d.publication_id
            for d in deliveries
            if (d.publication_id, d.publication_version) not in self._contents
        }
        if missing:
            self._cache_contents(deliveries, await repo.contents(missing))

    def _cache_contents(self, deliveries: Sequence[Delivery], loaded: dict[int, Content]) -> None:
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
        self._side_claims = True
        self._wake.set()

    @property
    def in_flight(self) -> int:
        return len(self._in_flight)

    # -- the loop -----------------------------------------------------------------------------

    async def run(self) -> None:
        """Drain until `stop()`; each pass claims only as many items as slots are free."""
        async with direct_writer(self.sessionmaker):
            self._running = True
            try:
                await self._run()
            finally:
                self._running = False

    async def _run(self) -> None:
        self._stopped.clear()
        heartbeat = asyncio.create_task(self._heartbeat(), name="lease-heartbeat")
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
                try:
                    async with asyncio.timeout(timeout):
                        await self._wake.wait()
                except TimeoutError:
                    self._side_claims = True  # another process may have queued something
        finally:
            heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await heartbeat
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
        self._side_claims = True
        tasks = await self._claim_and_start()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        return len(tasks)

    async def recover(self, alive_owners: Iterable[str] = ()) -> int:
        """At start: settle at once what runs that are gone left leased (sends → uncertain and
        reconciled right away, operations → pending). Only for a database this run owns
        alone (the SQLite run lock); elsewhere leases expire. Returns how many were settled."""
        now = self.clock()
        async with self._writing("recover orphaned leases") as repo:
            deliveries, ops = await repo.recover_orphans({self.owner, *alive_owners}, now)
        return self._recovered(deliveries, ops)

    async def recover_gone(self, alive: Callable[[set[str]], Awaitable[set[str]]]) -> int:
        """On a database shared by several runs: settle at once the leases of runs that are
        gone. `alive` tells which of the current lease owners still run."""
        async with self._writing("list lease owners") as repo:
            owners = await repo.lease_owners()
        gone = owners - await alive(owners) - {self.owner}
        if not gone:
            return 0
        now = self.clock()
        async with self._writing("recover leases of runs that are gone") as repo:
            deliveries, ops = await repo.recover_owners(gone, now)
        return self._recovered(deliveries, ops)

    def _recovered(self, deliveries: list[Delivery], ops: list[DeliveryOperation]) -> int:
        for d in deliveries:
            logger.warning(
                "delivery=%s account=%s platform=%s was in flight when the last run stopped: "
                "uncertain, reconciling now",
                d.delivery_id,
                d.account,
                d.platform,
            )
        for op in ops:
            logger.warning(
                "operation=%s kind=%s account=%s platform=%s was running when the last run "
                "stopped: pending again",
                op.operation_id,
                op.kind,
                op.account,
                op.platform,
            )
        if deliveries or ops:
            self.wake()
        return len(deliveries) + len(ops)

    async def renew_leases(self) -> int:
        """Extend the leases of everything this run has in flight (a long upload never becomes
        uncertain under its own feet). Returns how many rows were extended."""
        now = self.clock()
        async with self._writing("renew leases") as repo:
            return await repo.renew_leases(self.owner, now + self.lease, now)

    async def _heartbeat(self) -> None:
        period = max(self.lease.total_seconds() / 3, 0.1)
        while True:
            await asyncio.sleep(period)
            if not self._in_flight:
                continue
            try:
                await self.renew_leases()
            except Exception:
                logger.exception("renewing leases failed; trying again in %.0f s", period)

    async def _claim_and_start(self) -> list[asyncio.Task[None]]:
        room = self.concurrency - len(self._in_flight)
        if room <= 0 or self._stopping:
            return []
        loop_time = asyncio.get_running_loop().time()
        side = self._side_claims or loop_time - self._side_claimed_at >= SIDE_CLAIM_EVERY
        self._side_claims = False
        if side:
            self._side_claimed_at = loop_time
        ops: list[DeliveryOperation] = []
        if self._direct:
            ops, claimed, contents = await write_direct(
                self.sessionmaker,
                partial(
                    sqlite_claim,
                    now=self.clock(),
                    lease=self.lease,
                    limit=room,
                    owner=self.owner,
                    side=side,
                    cached=self._contents.keys(),
                ),
                what="claim",
            )
            self._cache_contents(claimed, contents)
        else:
            async with self._writing("claim") as repo:
                now = self.clock()
                if side:
                    ops = await repo.claim_operations(now, self.lease, room, owner=self.owner)
                claimed = await repo.claim_due(
                    now, self.lease, room - len(ops), owner=self.owner, uncertain=side
                )
                if claimed and not self._stopping:
                    await self._load_contents(repo, claimed)
        if ops or any(d.status is DeliveryStatus.RECONCILING for d in claimed):
            self._side_claims = True  # more may be due
        return await self._start(claimed, ops)

    async def _start(
        self, claimed: Sequence[Delivery], ops: Sequence[DeliveryOperation] = ()
    ) -> list[asyncio.Task[None]]:
        if self._stopping and (claimed or ops):
            # stop() came while we were claiming: hand the rows back unsent.
            async with self._writing("release at stop") as repo:
                now = self.clock()
                for delivery in claimed:
                    if delivery.status is DeliveryStatus.SENDING:
                        await repo.release(delivery.delivery_id, now)
                    else:
                        await repo.mark_uncertain(delivery.delivery_id, "released at stop", now)
                for op in ops:
                    await repo.release_operation(op, now)
            return []
        tasks = []
        for job in [*(self._run_operation(op) for op in ops), *map(self._process, claimed)]:
            task = asyncio.create_task(job)
            self._in_flight.add(task)
            task.add_done_callback(self._finished)
            tasks.append(task)
        return tasks

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._in_flight.discard(task)
        if len(self._in_flight) < self.concurrency or self._stopping:
            self._wake.set()  # a slot is free (not when a fused claim has filled it already)

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
            result = await publisher.publish(self._ref(delivery), content)
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

    def _ref(self, delivery: Delivery) -> DeliveryRef:
        async def taken(remote_id: str) -> bool:
            async with self.sessionmaker() as session:
                return await DeliveryRepository(session).remote_id_taken(
                    delivery.platform, delivery.account, remote_id, delivery.delivery_id
                )

        return replace(delivery.ref, remote_id_taken=taken)

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
        """Record a publish. Publishes that finish while another batch is being written are
        committed together in one transaction: a commit costs more than the statements."""
        future: asyncio.Future[Delivery] = asyncio.get_running_loop().create_future()
        self._published_batch.append((delivery, remote, future))
        async with self._batch_lock:
            if not future.done():
                batch, self._published_batch = self._published_batch, []
                followups = 0
                try:
                    outcomes, followups, claimed = await self._write_published(
                        [(d, r) for d, r, _ in batch]
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
                if followups:
                    self.wake()
                if claimed:
                    await self._start(claimed)
        return await future

    async def _write_published(
        self, items: list[tuple[Delivery, RemotePost]]
    ) -> tuple[list[Delivery | TransitionError], int, list[Delivery]]:
        """Settle a batch of publishes in one transaction; returns the outcomes, how many
        follow-up edits or deletes were queued, and what was claimed for the freed slots."""
        now = self.clock()
        targets = {(d.account, d.platform) for d, _ in items}
        if self._direct:
            fresh = {t for t in targets if self._success_fresh(t)}
            # During a backlog drain the loop would claim for these slots as soon as the sends
            # end: claiming in this transaction saves one. Not when a side claim is due
            # (uncertain deliveries, operations): the loop does that one.
            busy = sum(1 for task in self._in_flight if not task.done())
            room = self.concurrency - busy + len(items)
            loop_time = asyncio.get_running_loop().time()
            fuse = (
                self._running
                and not self._stopping
                and not self._side_claims
                and loop_time - self._side_claimed_at < SIDE_CLAIM_EVERY
            )
            try:
                outcomes, claimed, contents = await write_direct(
                    self.sessionmaker,
                    partial(
                        sqlite_publish_and_claim,
                        items=items,
                        now=now,
                        success_fresh=fresh,
                        lease=self.lease,
                        limit=room if fuse else 0,
                        owner=self.owner,
                        cached=self._contents.keys(),
                    ),
                    what="settle published",
                )
            except FollowupsNeeded:
                pass  # rolled back: the repository queues the edits or deletes
            else:
                for target in targets:
                    self._success_at.setdefault(target, now)
                self._cache_contents(claimed, contents)
                return outcomes, 0, claimed
        async with self._writing("settle published") as repo:
            outcomes = await repo.mark_published_many(items, now, skip_success=self._success_fresh)
            followups = await repo.enqueue_followups(
                [o for o in outcomes if isinstance(o, Delivery)], now
            )
        for target in targets:
            self._success_at.setdefault(target, now)
        return outcomes, followups, []

    def _success_fresh(self, target: tuple[str, Platform]) -> bool:
        """A target's last success was written less than a minute ago (by this drainer)."""
        at = self._success_at.get(target)
        if at is not None and self.clock() - at < SUCCESS_RECORD_EVERY:
            return True
        self._success_at.pop(target, None)
        return False

    async def _uncertain(self, delivery: Delivery, reason: str) -> None:
        if self._direct:
            settled = await write_direct(
                self.sessionmaker,
                partial(
                    sqlite_mark_uncertain,
                    delivery_id=delivery.delivery_id,
                    error=reason,
                    now=self.clock(),
                ),
                what="mark uncertain",
            )
        else:
            async with self._writing("mark uncertain") as repo:
                settled = await repo.mark_uncertain(delivery.delivery_id, reason, self.clock())
        self._side_claims = True
        logger.warning(
            "delivery=%s account=%s platform=%s uncertain: %s",
            delivery.delivery_id,
            delivery.account,
            delivery.platform,
            reason,
        )
        self.wake()  # reconcile at once
        await self._emit(DeliveryEvent(kind=EventKind.UNCERTAIN, delivery=settled))

    async def _settle_error(self, delivery: Delivery, error: PublishError) -> None:
        now = self.clock()
        log_args = (delivery.delivery_id, delivery.account, delivery.platform, error)
        if isinstance(error, OutcomeUnknownError):
            await self._uncertain(delivery, str(error))
            return
        retry_at: datetime | None = None
        pause = isinstance(error, NeedsAttentionError) and error.pause_account
        if self._direct and not pause:
            if isinstance(error, TransientError):
                retry_at = self.policy.next_attempt_at(error, delivery.attempts, now)
            settled = await write_direct(
                self.sessionmaker,
                partial(
                    sqlite_settle_error,
                    delivery_id=delivery.delivery_id,
                    now=now,
                    error=str(error),
                    reason=str(error.reason),
                    retry_at=retry_at,
                    count_attempt=self.policy.counts_as_attempt(error),
                ),
                what="settle error",
            )
            if settled.status is DeliveryStatus.CANCELLED:
                kind = EventKind.CANCELLED
            else:
                kind = EventKind.FAILED if retry_at is None else EventKind.RETRY
        else:
            kind, settled, retry_at = await self._settle_error_orm(delivery, error, now)
        if kind is EventKind.PAUSED:
            logger.error("delivery=%s account=%s platform=%s paused: %s", *log_args)
        elif kind is EventKind.FAILED:
            logger.error("delivery=%s account=%s platform=%s failed: %s", *log_args)
        elif retry_at is not None:
            logger.warning(
                "delivery=%s account=%s platform=%s retry at %s: %s",
                delivery.delivery_id,
                delivery.account,
                delivery.platform,
                retry_at.isoformat(),
                error,
            )
        await self._emit(
            DeliveryEvent(kind=kind, delivery=settled, error=error, retry_at=retry_at)
        )

    async def _settle_error_orm(
        self, delivery: Delivery, error: PublishError, now: datetime
    ) -> tuple[EventKind, Delivery, datetime | None]:
        retry_at: datetime | None = None
        async with self._writing("settle error") as repo:
            if isinstance(error, NeedsAttentionError) and error.pause_account:
                newly = await repo.pause(
                    delivery.account, delivery.platform, str(error.reason), now
                )
                await repo.record_error(delivery.account, delivery.platform, str(error), now)
                settled = await repo.release(delivery.delivery_id, now)
                # Already paused: staff were told once.
                kind = EventKind.PAUSED if newly else EventKind.RETRY
            elif isinstance(error, TransientError):
                retry_at = self.policy.next_attempt_at(error, delivery.attempts, now)
                if retry_at is None:
                    settled = await repo.mark_failed(
                        delivery.delivery_id, str(error), str(error.reason), now
                    )
                    kind = EventKind.FAILED
                else:
                    settled = await repo.mark_retry(
                        delivery.delivery_id,
                        retry_at,
                        str(error),
                        str(error.reason),
                        now,
                        count_attempt=self.policy.counts_as_attempt(error),
                    )
                    kind = (
                        EventKind.CANCELLED
                        if settled.status is DeliveryStatus.CANCELLED
                        else EventKind.RETRY
                    )
            else:
                settled = await repo.mark_failed(
                    delivery.delivery_id, str(error), str(error.reason), now
                )
                kind = (
                    EventKind.CANCELLED
                    if settled.status is DeliveryStatus.CANCELLED
                    else EventKind.FAILED
                )
        return kind, settled, retry_at

    async def _reconcile(self, delivery: Delivery, publisher: Publisher, content: Content) -> None:
        now = self.clock()
        log_args = (delivery.delivery_id, delivery.account, delivery.platform)
        try:
            result = await publisher.reconcile(self._ref(delivery), content)
        except (TransientError, OutcomeUnknownError) as exc:
            # Could not look: stay uncertain and look again later, never resend blindly.
            at = now + self.policy.delay(1)
            if isinstance(exc, TransientError) and exc.rate_limited:
                at = self.policy.next_attempt_at(exc, 0, now) or at
            reason = f"reconcile failed: {exc}"
            if self._direct:
                await write_direct(
                    self.sessionmaker,
                    partial(
                        sqlite_mark_uncertain,
                        delivery_id=delivery.delivery_id,
                        error=reason,
                        now=now,
                        reconcile_at=at,
                    ),
                    what="reconcile later",
                )
            else:
                async with self._writing("reconcile later") as repo:
                    await repo.mark_uncertain(delivery.delivery_id, reason, now, reconcile_at=at)
            return
        except Exception as exc:
            logger.warning(
                "delivery=%s account=%s platform=%s reconcile failed: %s", *log_args, exc
            )
            async with self._writing("hold") as repo:
                settled = await repo.mark_held(
                    delivery.delivery_id, f"reconcile failed: {exc}", now
                )
            await self._emit(DeliveryEvent(kind=EventKind.HELD, delivery=settled))
            return
        if result.outcome is ReconcileOutcome.FOUND and result.remote is not None:
            async with self.sessionmaker() as session:
                taken = await DeliveryRepository(session).remote_id_taken(
                    delivery.platform,
                    delivery.account,
                    result.remote.remote_id,
                    delivery.delivery_id,
                )
            if not taken:
                logger.info(
                    "delivery=%s account=%s platform=%s reconcile: already there", *log_args
                )
                await self._published(delivery, PublishResult(remote=result.remote))
                return
            # Never adopt another delivery's post: that would record a post that does not
            # exist for this one (and a delete would remove the other publication's post).
            logger.error(
                "delivery=%s account=%s platform=%s reconcile matched remote=%s, which belongs "
                "to another delivery: held for staff",
                *log_args,
                result.remote.remote_id,
            )
            result = replace(
                result,
                outcome=ReconcileOutcome.CANNOT_TELL,
                remote=None,
                detail="the post found belongs to another publication",
            )
        staff_retry = delivery.error_reason == STAFF_RETRY
        # Not there (or staff checked by hand and asked for a resend): send again.
        resend = result.outcome is ReconcileOutcome.NOT_FOUND or staff_retry
        held = None if resend else result.detail or "cannot tell whether it was posted"
        if self._direct:
            settled = await write_direct(
                self.sessionmaker,
                partial(
                    sqlite_settle_reconcile, delivery_id=delivery.delivery_id, now=now, held=held
                ),
                what="settle reconcile",
            )
        else:
            async with self._writing("settle reconcile") as repo:
                if held is None:
                    settled = await repo.mark_not_found(delivery.delivery_id, now)
                else:
                    settled = await repo.mark_held(delivery.delivery_id, held, now)
        if held is not None:
            kind = EventKind.HELD
        elif settled.status is DeliveryStatus.CANCELLED:
            kind = EventKind.CANCELLED
        else:
            kind = EventKind.RETRY
        logger.warning(
            "delivery=%s account=%s platform=%s reconcile: %s", *log_args, result.outcome
        )
        if kind is EventKind.RETRY:
            self.wake()
        await self._emit(DeliveryEvent(kind=kind, delivery=settled))

    # -- one operation ------------------------------------------------------------------------

    async def _run_operation(self, op: DeliveryOperation) -> None:
        log_args = (op.operation_id, op.kind, op.account, op.platform)
        try:
            await self._operation(op)
        except asyncio.CancelledError:
            # Shutdown ran out of time: edits and deletes are idempotent, so just run it again.
            with contextlib.suppress(Exception):
                await asyncio.shield(self._release_operation(op))
            raise
        except Exception:
            logger.exception("operation=%s kind=%s account=%s platform=%s failed", *log_args)

    async def _release_operation(self, op: DeliveryOperation) -> None:
        async with self._writing("release operation") as repo:
            await repo.release_operation(op, self.clock())

    async def _operation(self, op: DeliveryOperation) -> None:
        publisher = self.publishers.get((op.account, op.platform))
        if publisher is None:
            await self._finish_operation(
                op,
                OperationStatus.FAILED,
                error=PermanentError(
                    "no publisher is configured for this account and platform",
                    platform=op.platform,
                    account=op.account,
                    reason=Reason.CONFIG,
                ),
            )
            return
        version: int | None = None
        logger.info(
            "operation=%s kind=%s account=%s platform=%s attempt=%s",
            op.operation_id,
            op.kind,
            op.account,
            op.platform,
            op.attempts,
        )
        try:
            if op.kind is OperationKind.KEEP_ALIVE:
                keeper = getattr(publisher, "keep_alive", None) or getattr(
                    publisher, "touch_session", None
                )
                if keeper is not None:
                    await keeper()
            elif op.remote is None or op.publication_id is None:
                await self._finish_operation(op, OperationStatus.CANCELLED)
                return
            elif op.kind is OperationKind.EDIT:
                async with self.sessionmaker() as session:
                    repo = DeliveryRepository(session)
                    info = await repo.publication(op.publication_id)
                    content = await repo.content(op.publication_id)
                if info is None or info.deleted_at is not None:
                    await self._finish_operation(op, OperationStatus.CANCELLED)
                    return
                version = info.version
                await publisher.edit(op.remote, content)
            else:
                await publisher.delete(op.remote)
        except UnsupportedError as exc:
            await self._finish_operation(op, OperationStatus.UNSUPPORTED, error=exc)
            return
        except PublishError as exc:
            await self._operation_error(op, exc)
            return
        await self._finish_operation(op, OperationStatus.DONE, version=version)

    async def _operation_error(self, op: DeliveryOperation, error: PublishError) -> None:
        now = self.clock()
        if isinstance(error, NeedsAttentionError) and error.pause_account:
            async with self._writing("pause") as repo:
                newly = await repo.pause(op.account, op.platform, str(error.reason), now)
                await repo.record_error(op.account, op.platform, str(error), now)
                await repo.release_operation(op, now)
            logger.error(
                "operation=%s account=%s platform=%s paused: %s",
                op.operation_id,
                op.account,
                op.platform,
                error,
            )
            if op.kind is OperationKind.KEEP_ALIVE:
                await self._keep_alive_done(op, error, newly)
            return
        # An edit or delete whose outcome is unknown is simply retried: both are idempotent.
        retryable = isinstance(error, TransientError | OutcomeUnknownError)
        at = None
        if retryable:
            as_transient = (
                error
                if isinstance(error, TransientError)
                else TransientError(str(error), reason=error.reason)
            )
            at = self.policy.next_attempt_at(as_transient, op.attempts, now)
        if at is None:
            await self._finish_operation(op, OperationStatus.FAILED, error=error)
            return
        async with self._writing("retry operation") as repo:
            await repo.retry_operation(
                op,
                at,
                now,
                error=str(error),
                reason=str(error.reason),
                count_attempt=self.policy.counts_as_attempt(error),
            )
        logger.warning(
            "operation=%s kind=%s account=%s platform=%s retry at %s: %s",
            op.operation_id,
            op.kind,
            op.account,
            op.platform,
            at.isoformat(),
            error,
        )

    async def _finish_operation(
        self,
        op: DeliveryOperation,
        status: OperationStatus,
        *,
        version: int | None = None,
        error: PublishError | None = None,
    ) -> None:
        now = self.clock()
        delivery: Delivery | None = None
        async with self._writing("finish operation") as repo:
            finished = await repo.finish_operation(
                op,
                status,
                now,
                version=version,
                error=None if error is None else str(error),
                reason=None if error is None else str(error.reason),
            )
            if op.delivery_id is not None:
                delivery = await repo.get(op.delivery_id)
        log = logger.error if status is OperationStatus.FAILED else logger.info
        log(
            "operation=%s kind=%s account=%s platform=%s %s%s",
            op.operation_id,
            op.kind,
            op.account,
            op.platform,
            status,
            f": {error}" if error is not None else "",
        )
        if op.kind is OperationKind.KEEP_ALIVE:
            await self._keep_alive_done(finished, error, False)
        elif delivery is not None and status is not OperationStatus.CANCELLED:
            await self._emit(
                DeliveryEvent(
                    kind=EventKind.OPERATION, delivery=delivery, error=error, operation=finished
                )
            )

    async def _keep_alive_done(
        self, op: DeliveryOperation, error: PublishError | None, newly_paused: bool
    ) -> None:
        if self.on_keep_alive is None:
            return
        try:
            await self.on_keep_alive(op, error, newly_paused)
        except Exception:
            logger.exception("operation=%s keep-alive hook failed", op.operation_id)

    async def _emit(self, event: DeliveryEvent) -> None:
        try:
            await self.sink.delivery_event(event)
        except Exception:
            logger.exception("delivery=%s event sink failed", event.delivery.delivery_id)


__all__ = ["Drainer", "TransitionError", "new_owner_id", "utc_clock"]
