"""The inbox: raw inbound updates, stored before the platform is told they arrived.

Nothing is lost at the door. A listener (Telegram long polling or webhook, later MAX) stores
every update it receives, raw, in one short write transaction, and only then confirms it to the
platform (the next getUpdates offset, the webhook's 200). Updates are then processed from here,
in order within a lane, idempotently, resuming after a crash.

Table `inbox` (crosspost.db.InboxRow), unique (source, external_id):

- `source` "telegram" | "max"; `external_id` the platform's id of the update;
- `payload` the update's JSON text (ASCII-escaped, so lone UTF-16 surrogates store safely);
- `status` pending → done | failed; `attempts`, `error` (the last one, technical English),
  `received_at`, `next_attempt_at` (retries back off), `processed_at`, `reported_at` (staff were
  told about a failure: once);
- `priority` (lower first: URGENT channel posts, NORMAL staff, LOW junk), `lane` (updates of one
  lane, e.g. one chat, are handled one after another in id order; lanes run side by side),
  `group_key` (e.g. an album: `pending_in_group` tells whether all its items were handled).

API (code against this):

    inbox = Inbox(sessionmaker, clock=...)
    await inbox.store_many("max", [(external_id, payload_json), ...])  # -> rows new
    await inbox.store_many("telegram", [Incoming(external_id=..., payload=..., priority=URGENT,
                                                  lane="chat:-100123", group_key=None)])
    processor = InboxProcessor(inbox)
    processor.register("max", handler)  # handler(payload: dict[str, object]) -> Awaitable[None]
    inbox.on_stored(processor.wake)     # store_many wakes the processor
    await processor.run()               # until processor.stop()

A handler that returns marks the update done. One that raises `TransientError` (or hits a
database error) is retried with backoff (2 s doubling, capped, at most MAX_ATTEMPTS), so a
network blip never loses a post. Any other exception, or the last failed retry, marks it failed
with its error; `register(..., on_failed=...)` is then called once (a staff report), and the
updates after it go on. `store_many` raises `InboxUnavailable` when the database cannot be
written (read-only, disk full, locked past the busy timeout): the caller must not confirm.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import re
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import cast

from sqlalchemy import Table, and_, delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crosspost.db import InboxRow, write_session
from crosspost.errors import TransientError

logger = logging.getLogger(__name__)

PENDING, DONE, FAILED = "pending", "done", "failed"

# Priorities: channel posts before staff dialog before junk (non-staff, unknown chats).
URGENT, NORMAL, LOW = 0, 1, 2

MAX_ATTEMPTS = 8
RETRY_BASE = timedelta(seconds=2)
RETRY_CAP = timedelta(minutes=5)
FETCH_BATCH = 256
LANE_CONCURRENCY = 8
# LOW items are marked done in batches of this many (a crash re-handles at most these).
LOW_MARK_BATCH = 128
ERROR_MAX_CHARS = 2000
# While the database fails, the processor waits this long before trying again.
DB_RETRY = timedelta(seconds=2)

_TOKEN_IN_TEXT = re.compile(r"(bot)?\d{5,}:[A-Za-z0-9_-]{20,}")

Clock = Callable[[], datetime]
Handler = Callable[[dict[str, object]], Awaitable[None]]


def utcnow() -> datetime:
    return datetime.now(UTC)


class InboxUnavailable(Exception):
    """The inbox could not be written: do not confirm the updates to the platform."""


@dataclass(frozen=True, kw_only=True)
class Incoming:
    """One update to store. `payload` is its JSON text."""

    external_id: str
    payload: str
    priority: int = NORMAL
    lane: str = ""
    group_key: str | None = None


@dataclass(frozen=True, kw_only=True)
class InboxItem:
    id: int
    source: str
    external_id: str
    payload: str
    status: str
    priority: int
    lane: str
    group_key: str | None
    attempts: int
    error: str | None
    received_at: datetime
    next_attempt_at: datetime
    processed_at: datetime | None
    reported_at: datetime | None

    @classmethod
    def from_row(cls, row: InboxRow) -> InboxItem:
        return cls(
            id=row.id,
            source=row.source,
            external_id=row.external_id,
            payload=row.payload,
            status=row.status,
            priority=row.priority,
            lane=row.lane,
            group_key=row.group_key,
            attempts=row.attempts,
            error=row.error,
            received_at=row.received_at,
            next_attempt_at=row.next_attempt_at,
            processed_at=row.processed_at,
            reported_at=row.reported_at,
        )

    def data(self) -> dict[str, object]:
        loaded = json.loads(self.payload)
        return loaded if isinstance(loaded, dict) else {"_": loaded}


def safe_json(payload: str) -> str:
    """The payload as storable text: lone surrogates (which UTF-8 cannot encode) escaped."""
    try:
        payload.encode("utf-8")
    except UnicodeEncodeError:
        return json.dumps(json.loads(payload), ensure_ascii=True)
    return payload


def describe_error(exc: BaseException) -> str:
    """A one-line technical description for the inbox row and the log; never a token."""
    text = f"{type(exc).__name__}: {exc}".replace("\n", " | ")
    text = _TOKEN_IN_TEXT.sub("<token>", text)
    return text[:ERROR_MAX_CHARS]


def is_database_error(exc: BaseException) -> bool:
    return isinstance(exc, (OperationalError, DBAPIError))


class Inbox:
    """The inbox table's SQL. Each method is one short transaction of its own."""

    def __init__(
        self, sessionmaker: async_sessionmaker[AsyncSession], *, clock: Clock = utcnow
    ) -> None:
        self.sessionmaker = sessionmaker
        self.clock = clock
        self._listeners: list[Callable[[], None]] = []

    def on_stored(self, listener: Callable[[], None]) -> None:
        """Call `listener` after every store that added rows (the processor's wake)."""
        self._listeners.append(listener)

    async def store_many(self, source: str, items: Iterable[Incoming | tuple[str, str]]) -> int:
        """Store updates not stored before, in one transaction; returns how many were new.

        Raises InboxUnavailable when the database cannot be written.
        """
        now = self.clock()
        rows: list[dict[str, object]] = []
        for item in items:
            incoming = (
                item
                if isinstance(item, Incoming)
                else Incoming(external_id=item[0], payload=item[1])
            )
            rows.append(
                {
                    "source": source,
                    "external_id": incoming.external_id,
                    "payload": safe_json(incoming.payload),
                    "status": PENDING,
                    "priority": incoming.priority,
                    "lane": incoming.lane[:64],
                    "group_key": incoming.group_key,
                    "attempts": 0,
                    "received_at": now,
                    "next_attempt_at": now,
                }
            )
        if not rows:
            return 0
        try:
            async with write_session(self.sessionmaker, what="inbox") as session:
                dialect = session.get_bind().dialect.name
                insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
                connection = await session.connection()
                # Core executemany: far cheaper than compiling one statement with every row.
                result = await connection.execute(
                    insert(cast(Table, InboxRow.__table__)).on_conflict_do_nothing(), rows
                )
                added = int(result.rowcount or 0)
        except Exception as exc:
            if is_database_error(exc) or isinstance(exc, OSError):
                raise InboxUnavailable(describe_error(exc)) from exc
            raise
        if added:
            for listener in self._listeners:
                listener()
        return added

    async def pending(self, limit: int = FETCH_BATCH) -> list[InboxItem]:
        """Pending items, most urgent first, then in arrival order (due or not)."""
        async with self.sessionmaker() as session:
            rows = await session.scalars(
                select(InboxRow)
                .where(InboxRow.status == PENDING)
                .order_by(InboxRow.priority, InboxRow.id)
                .limit(limit)
            )
            return [InboxItem.from_row(r) for r in rows]

    async def get(self, item_id: int) -> InboxItem | None:
        async with self.sessionmaker() as session:
            row = await session.get(InboxRow, item_id)
            return None if row is None else InboxItem.from_row(row)

    async def items(self, source: str | None = None) -> list[InboxItem]:
        async with self.sessionmaker() as session:
            query = select(InboxRow).order_by(InboxRow.id)
            if source is not None:
                query = query.where(InboxRow.source == source)
            return [InboxItem.from_row(r) for r in await session.scalars(query)]

    async def counts(self) -> dict[str, int]:
        async with self.sessionmaker() as session:
            rows = await session.execute(
                select(InboxRow.status, func.count(InboxRow.id)).group_by(InboxRow.status)
            )
            return {str(status): int(n) for status, n in rows.all()}

    async def pending_in_group(self, source: str, group_key: str) -> int:
        """How many items of a group (an album) are stored but not handled yet."""
        async with self.sessionmaker() as session:
            found = await session.scalar(
                select(func.count(InboxRow.id)).where(
                    InboxRow.source == source,
                    InboxRow.group_key == group_key,
                    InboxRow.status == PENDING,
                )
            )
        return int(found or 0)

    async def mark_done(self, ids: Sequence[int]) -> None:
        if not ids:
            return
        async with write_session(self.sessionmaker, what="inbox") as session:
            await session.execute(
                update(InboxRow)
                .where(InboxRow.id.in_(ids), InboxRow.status == PENDING)
                .values(status=DONE, processed_at=self.clock())
            )

    async def mark_retry(self, item_id: int, error: str, at: datetime) -> None:
        async with write_session(self.sessionmaker, what="inbox") as session:
            await session.execute(
                update(InboxRow)
                .where(InboxRow.id == item_id)
                .values(attempts=InboxRow.attempts + 1, error=error, next_attempt_at=at)
            )

    async def mark_failed(self, item_id: int, error: str) -> None:
        async with write_session(self.sessionmaker, what="inbox") as session:
            await session.execute(
                update(InboxRow)
                .where(InboxRow.id == item_id)
                .values(
                    status=FAILED,
                    attempts=InboxRow.attempts + 1,
                    error=error,
                    processed_at=self.clock(),
                )
            )

    async def unreported_failures(self) -> list[InboxItem]:
        async with self.sessionmaker() as session:
            rows = await session.scalars(
                select(InboxRow)
                .where(and_(InboxRow.status == FAILED, InboxRow.reported_at.is_(None)))
                .order_by(InboxRow.id)
            )
            return [InboxItem.from_row(r) for r in rows]

    async def mark_reported(self, item_id: int) -> None:
        async with write_session(self.sessionmaker, what="inbox") as session:
            await session.execute(
                update(InboxRow).where(InboxRow.id == item_id).values(reported_at=self.clock())
            )

    async def prune(self, processed_before: datetime) -> int:
        """Delete handled items processed before the given time; failed ones are kept."""
        async with write_session(self.sessionmaker, what="inbox") as session:
            result = await session.execute(
                delete(InboxRow).where(
                    InboxRow.status == DONE, InboxRow.processed_at < processed_before
                )
            )
            return int(result.rowcount or 0)  # type: ignore[attr-defined]


def retry_delay(
    attempts: int, floor: timedelta | None = None, base: timedelta = RETRY_BASE
) -> timedelta:
    """Jitter from about `base`, doubling per attempt, capped; `floor` is a minimum."""
    ceiling = min(base * (2 ** max(attempts - 1, 0)), RETRY_CAP)
    delay = timedelta(seconds=random.uniform(ceiling.total_seconds() / 2, ceiling.total_seconds()))  # noqa: S311
    return max(delay, floor) if floor is not None else delay


@dataclass(frozen=True)
class _Registration:
    handler: Handler
    on_failed: Callable[[InboxItem], Awaitable[None]] | None


class InboxProcessor:
    """Handles pending inbox items: lanes in parallel, each lane in id order.

    `run()` loops until `stop()`: it wakes on `wake()` (called after each store) or when the
    next retry is due. Tests call `process_once()` directly.
    """

    def __init__(
        self,
        inbox: Inbox,
        *,
        max_attempts: int = MAX_ATTEMPTS,
        concurrency: int = LANE_CONCURRENCY,
        retry_base: timedelta = RETRY_BASE,
    ) -> None:
        self.inbox = inbox
        self.max_attempts = max_attempts
        self.retry_base = retry_base
        self.concurrency = concurrency
        self._handlers: dict[str, _Registration] = {}
        self._wake = asyncio.Event()
        self._stopping = False
        # Set after every pass that handled (or retried) something: tests wait on it.
        self.progressed = asyncio.Event()

    def register(
        self,
        source: str,
        handler: Handler,
        *,
        on_failed: Callable[[InboxItem], Awaitable[None]] | None = None,
    ) -> None:
        self._handlers[source] = _Registration(handler, on_failed)

    def wake(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        self._stopping = True
        self._wake.set()

    async def run(self) -> None:
        self._stopping = False
        while not self._stopping:
            self._wake.clear()  # before the pass, so a store during the pass is not lost
            try:
                await self.report_failures()
                settled = await self.process_once()
                timeout = 0.0 if settled else await self._seconds_until_next_due()
            except Exception as exc:
                if not is_database_error(exc):
                    raise
                logger.warning("inbox: database unavailable, retrying: %s", describe_error(exc))
                timeout = DB_RETRY.total_seconds()
            if timeout == 0.0:
                continue
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    await self._wake.wait()

    async def _seconds_until_next_due(self) -> float | None:
        items = [i for i in await self.inbox.pending() if i.source in self._handlers]
        if not items:
            return None
        soonest = min(i.next_attempt_at for i in items)
        return max((soonest - self.inbox.clock()).total_seconds(), 0.05)

    async def process_once(self) -> int:
        """One pass over due items; returns how many were settled (done or failed)."""
        items = await self.inbox.pending()
        now = self.inbox.clock()
        lanes: dict[tuple[str, str], list[InboxItem]] = {}
        blocked: set[tuple[str, str]] = set()
        for item in sorted(items, key=lambda i: i.id):
            key = (item.source, item.lane)
            if item.source not in self._handlers or key in blocked:
                continue
            if item.next_attempt_at > now:
                blocked.add(key)  # later items of the lane wait for this one
                continue
            lanes.setdefault(key, []).append(item)
        if not lanes:
            return 0
        # Most urgent lanes start first.
        ordered = sorted(lanes.values(), key=lambda lane: (lane[0].priority, lane[0].id))
        limit = asyncio.Semaphore(self.concurrency)
        settled = 0

        async def run_lane(lane: list[InboxItem]) -> None:
            nonlocal settled
            async with limit:
                settled += await self._run_lane(lane)

        await asyncio.gather(*(run_lane(lane) for lane in ordered))
        self.progressed.set()
        return settled

    async def _run_lane(self, lane: list[InboxItem]) -> int:
        settled = 0
        low_done: list[int] = []
        try:
            for item in lane:
                outcome = await self._handle(item)
                if outcome == "retry":
                    break
                settled += 1
                if outcome == "done":
                    if item.priority >= LOW:
                        low_done.append(item.id)
                        if len(low_done) >= LOW_MARK_BATCH:
                            await self.inbox.mark_done(low_done)
                            low_done = []
                    else:
                        await self.inbox.mark_done([item.id])
        finally:
            await self.inbox.mark_done(low_done)
        return settled

    async def _handle(self, item: InboxItem) -> str:
        registration = self._handlers[item.source]
        try:
            await registration.handler(item.data())
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            transient = isinstance(exc, TransientError) or is_database_error(exc)
            error = describe_error(exc)
            attempts = item.attempts + 1
            if transient and attempts < self.max_attempts:
                floor = exc.retry_after if isinstance(exc, TransientError) else None
                at = self.inbox.clock() + retry_delay(attempts, floor, self.retry_base)
                logger.warning(
                    "inbox=%s source=%s external_id=%s attempt %s failed, retry at %s: %s",
                    item.id,
                    item.source,
                    item.external_id,
                    attempts,
                    at.isoformat(timespec="seconds"),
                    error,
                )
                await self.inbox.mark_retry(item.id, error, at)
                return "retry"
            logger.error(
                "inbox=%s source=%s external_id=%s failed, skipped: %s",
                item.id,
                item.source,
                item.external_id,
                error,
            )
            logger.debug("inbox=%s traceback", item.id, exc_info=exc)
            await self.inbox.mark_failed(item.id, error)
            await self._report(item.id, registration)
            return "failed"
        return "done"

    async def _report(self, item_id: int, registration: _Registration) -> None:
        failed = await self.inbox.get(item_id)
        if failed is None or failed.reported_at is not None:
            return
        if registration.on_failed is not None:
            try:
                await registration.on_failed(failed)
            except Exception as exc:
                # Left unreported: report_failures tries again on the next pass.
                logger.warning(
                    "inbox=%s failure report not sent: %s", item_id, describe_error(exc)
                )
                return
        await self.inbox.mark_reported(item_id)

    async def report_failures(self) -> None:
        """Report failures left unreported (the process died, or the report could not go)."""
        for item in await self.inbox.unreported_failures():
            registration = self._handlers.get(item.source)
            if registration is not None:
                await self._report(item.id, registration)
