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
  `key` (stored in the lane column after "|": what must stay in order inside the lane, e.g. one
  channel message and its edits; an item waiting for its retry holds back only the later items
  of its lane with the same key, or all of them when it or they have none; lane "" is no lane),
  `group_key` (e.g. an album: `pending_in_group` tells whether all its items were handled).

API (code against this):

    inbox = Inbox(sessionmaker, clock=...)
    await inbox.store_many("max", [(external_id, payload_json), ...])  # -> rows new
    await inbox.store_many("telegram", [Incoming(external_id=..., payload=..., priority=URGENT,
                                                  lane="chat:-100123", key="m:42")])
    processor = InboxProcessor(inbox)
    processor.register("max", handler)  # handler(payload: dict[str, object]) -> Awaitable[None]
    inbox.on_stored(processor.wake)     # store_many wakes the processor
    await processor.run()               # until processor.stop()

A handler that returns marks the update done. One that raises `TransientError` (or hits a
database error) is retried with backoff (2 s doubling, capped, at most MAX_ATTEMPTS), so a
network blip never loses a post; meanwhile the later items of its lane go on unless they share
its key. Any other exception, or the last failed retry, marks it failed with its error;
`register(..., on_failed=...)` is then called once (a staff report), and the updates after it go
on. `run()` keeps two workers: one for channel posts and staff, one for junk (LOW), so a flood
of strangers never stands in front of a channel post. `store_many` raises `InboxUnavailable`
when the database cannot be written (read-only, disk full, locked past the busy timeout): the
caller must not confirm.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import random
import re
from collections.abc import Awaitable, Callable, Collection, Iterable, Sequence
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
# Stored in the lane column between the lane and the item's ordering key.
KEY_SEPARATOR = "|"
LANE_CHARS = 64
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
    key: str | None = None
    group_key: str | None = None
    # Nothing is to be done with it (a stranger already refused): stored as handled.
    done: bool = False


def lane_column(lane: str, key: str | None) -> str:
    """The stored lane: `lane|key`, within the column's width (a long key is hashed)."""
    lane = lane.replace(KEY_SEPARATOR, "/")[: LANE_CHARS // 2]
    if key is None or not lane:
        return lane
    room = LANE_CHARS - len(lane) - 1
    if len(key) > room:
        key = hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[: min(room, 32)]
    return f"{lane}{KEY_SEPARATOR}{key}"


def split_lane(stored: str) -> tuple[str, str | None]:
    lane, separator, key = stored.partition(KEY_SEPARATOR)
    return lane, (key if separator else None)


@dataclass(frozen=True, kw_only=True)
class InboxItem:
    id: int
    source: str
    external_id: str
    payload: str
    status: str
    priority: int
    lane: str
    key: str | None
    group_key: str | None
    attempts: int
    error: str | None
    received_at: datetime
    next_attempt_at: datetime
    processed_at: datetime | None
    reported_at: datetime | None

    @classmethod
    def from_row(cls, row: InboxRow) -> InboxItem:
        lane, key = split_lane(row.lane)
        return cls(
            id=row.id,
            source=row.source,
            external_id=row.external_id,
            payload=row.payload,
            status=row.status,
            priority=row.priority,
            lane=lane,
            key=key,
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
        woken = False
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
                    "status": DONE if incoming.done else PENDING,
                    "priority": incoming.priority,
                    "lane": lane_column(incoming.lane, incoming.key),
                    "group_key": incoming.group_key,
                    "attempts": 0,
                    "received_at": now,
                    "next_attempt_at": now,
                    "processed_at": now if incoming.done else None,
                }
            )
            woken = woken or not incoming.done
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
        if added and woken:
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

    async def received_since(
        self, source: str, since: datetime, *, external_prefix: str = ""
    ) -> list[InboxItem]:
        """Items of `source` stored at or after `since` whose external id starts with
        `external_prefix`, oldest first (`crosspost max link` reads `bot_added` this way)."""
        async with self.sessionmaker() as session:
            query = (
                select(InboxRow)
                .where(
                    InboxRow.source == source,
                    InboxRow.received_at >= since,
                    InboxRow.external_id.startswith(external_prefix, autoescape=True),
                )
                .order_by(InboxRow.id)
            )
            return [InboxItem.from_row(r) for r in await session.scalars(query)]

    async def counts(self) -> dict[str, int]:
        async with self.sessionmaker() as session:
            rows = await session.execute(
                select(InboxRow.status, func.count(InboxRow.id)).group_by(InboxRow.status)
            )
            return {str(status): int(n) for status, n in rows.all()}

    async def due(
        self,
        now: datetime,
        *,
        sources: Sequence[str],
        junk: bool | None = None,
        limit: int = FETCH_BATCH,
    ) -> list[InboxItem]:
        """Pending items of these sources whose time has come, most urgent first, then in
        arrival order; `junk` True only LOW ones, False only the others, None both."""
        query = select(InboxRow).where(
            InboxRow.status == PENDING,
            InboxRow.source.in_(sources),
            InboxRow.next_attempt_at <= now,
        )
        if junk is not None:
            query = query.where(InboxRow.priority >= LOW if junk else InboxRow.priority < LOW)
        async with self.sessionmaker() as session:
            rows = await session.scalars(
                query.order_by(InboxRow.priority, InboxRow.id).limit(limit)
            )
            return [InboxItem.from_row(r) for r in rows]

    async def waiting(self, now: datetime, *, sources: Sequence[str]) -> list[Waiting]:
        """Pending items waiting for a retry: they hold back later items of their lane."""
        async with self.sessionmaker() as session:
            rows = await session.execute(
                select(InboxRow.id, InboxRow.source, InboxRow.lane, InboxRow.next_attempt_at)
                .where(
                    InboxRow.status == PENDING,
                    InboxRow.source.in_(sources),
                    InboxRow.next_attempt_at > now,
                )
                .order_by(InboxRow.id)
            )
            return [
                Waiting(id=i, source=source, lane=split_lane(lane)[0], key=split_lane(lane)[1])
                for i, source, lane, _at in rows.all()
            ]

    async def next_due_at(
        self, now: datetime, *, sources: Sequence[str], junk: bool | None = None
    ) -> datetime | None:
        """When the soonest item waiting for a retry comes due (None: none waits)."""
        query = select(func.min(InboxRow.next_attempt_at)).where(
            InboxRow.status == PENDING,
            InboxRow.source.in_(sources),
            InboxRow.next_attempt_at > now,
        )
        if junk is not None:
            query = query.where(InboxRow.priority >= LOW if junk else InboxRow.priority < LOW)
        async with self.sessionmaker() as session:
            soonest = await session.scalar(query)
        if soonest is None:
            return None
        # func.min bypasses the column type: SQLite hands back naive text or datetime.
        if isinstance(soonest, str):
            soonest = datetime.fromisoformat(soonest)
        return soonest if soonest.tzinfo is not None else soonest.replace(tzinfo=UTC)

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


@dataclass(frozen=True, kw_only=True)
class Waiting:
    id: int
    source: str
    lane: str
    key: str | None


def holds_back(waiting_key: str | None, key: str | None) -> bool:
    """Whether an earlier item of the same lane with `waiting_key`, waiting for its retry,
    holds back a later one with `key`: the same key, or either has none."""
    return waiting_key is None or key is None or waiting_key == key


@dataclass(frozen=True)
class _Registration:
    handler: Handler
    on_failed: Callable[[InboxItem], Awaitable[None]] | None


LaneKey = tuple[str, str]


class InboxProcessor:
    """Handles pending inbox items: lanes side by side, each lane in id order.

    `run()` keeps two workers until `stop()`: channel posts and staff (priority below LOW)
    and junk (LOW), so a flood of junk never delays a channel post. Each starts the lanes that
    have due items as soon as it is woken (`wake()`, called after each store), a lane ends, or
    a retry comes due. Tests call `process_once()` directly.
    """

    def __init__(
        self,
        inbox: Inbox,
        *,
        max_attempts: int = MAX_ATTEMPTS,
        concurrency: int = LANE_CONCURRENCY,
        retry_base: timedelta = RETRY_BASE,
        db_retry: timedelta = DB_RETRY,
    ) -> None:
        self.inbox = inbox
        self.max_attempts = max_attempts
        self.retry_base = retry_base
        self.concurrency = concurrency
        self._handlers: dict[str, _Registration] = {}
        self._wakes = {False: asyncio.Event(), True: asyncio.Event()}
        self._reporting: set[int] = set()
        self.db_retry = db_retry
        self._paused_until = 0.0
        self._stopping = False
        # Set after every lane or pass that handled (or retried) something: tests wait on it.
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
        # A store just succeeded: the database takes writes again, no need to keep pausing.
        self._paused_until = 0.0
        for event in self._wakes.values():
            event.set()

    def stop(self) -> None:
        self._stopping = True
        self.wake()

    @property
    def _sources(self) -> list[str]:
        return list(self._handlers)

    async def run(self) -> None:
        self._stopping = False
        await asyncio.gather(self._worker(junk=False), self._worker(junk=True))

    def _pause(self) -> float:
        self._paused_until = asyncio.get_running_loop().time() + self.db_retry.total_seconds()
        return self.db_retry.total_seconds()

    async def _worker(self, *, junk: bool) -> None:
        wake = self._wakes[junk]
        limit = asyncio.Semaphore(self.concurrency)
        running: dict[LaneKey, asyncio.Task[int]] = {}
        loop = asyncio.get_running_loop()
        try:
            while not self._stopping:
                wake.clear()  # before looking, so a store meanwhile is not lost
                timeout: float | None
                if loop.time() < self._paused_until:
                    # The database failed a moment ago: no hot loop over the same items.
                    timeout = self._paused_until - loop.time()
                else:
                    try:
                        if not junk:
                            await self.report_failures()
                        await self._start_lanes(junk, running, limit)
                        timeout = await self._seconds_until_next_due(junk)
                    except Exception as exc:
                        if not is_database_error(exc):
                            raise
                        logger.warning(
                            "inbox: database unavailable, retrying: %s", describe_error(exc)
                        )
                        timeout = self._pause()
                woken = asyncio.ensure_future(wake.wait())
                try:
                    await asyncio.wait(
                        [woken, *running.values()],
                        timeout=timeout,
                        return_when=asyncio.FIRST_COMPLETED,
                    )
                finally:
                    woken.cancel()
                if self._reap(running):
                    self._pause()
        except asyncio.CancelledError:
            for task in running.values():
                task.cancel()
            await asyncio.gather(*running.values(), return_exceptions=True)
            raise
        # Stopping: each lane ends after the update in hand (the rest stay pending).
        await asyncio.gather(*running.values(), return_exceptions=True)

    def _reap(self, running: dict[LaneKey, asyncio.Task[int]]) -> bool:
        """Forget finished lanes; True if one stopped on a database error."""
        failed = False
        for key, task in list(running.items()):
            if not task.done():
                continue
            del running[key]
            self.progressed.set()
            exc = task.exception()
            if exc is not None:
                # A bookkeeping write failed: the lane's unmarked items are handled again.
                logger.warning("inbox lane %s stopped: %s", key[1], describe_error(exc))
                failed = True
        return failed

    async def _due_lanes(
        self, junk: bool | None, busy: Collection[LaneKey] = ()
    ) -> list[list[InboxItem]]:
        """Due items grouped by lane (most urgent lane first), without the items held back by
        an earlier one of their lane waiting for its retry."""
        sources = self._sources
        if not sources:
            return []
        now = self.inbox.clock()
        items = await self.inbox.due(now, sources=sources, junk=junk)
        if not items:
            return []
        held: dict[LaneKey, list[Waiting]] = {}
        for waiting in await self.inbox.waiting(now, sources=sources):
            if waiting.lane:
                held.setdefault((waiting.source, waiting.lane), []).append(waiting)
        lanes: dict[LaneKey, list[InboxItem]] = {}
        for item in sorted(items, key=lambda i: i.id):
            lane = (item.source, item.lane)
            if lane in busy:
                continue
            if item.lane and any(
                w.id < item.id and holds_back(w.key, item.key) for w in held.get(lane, ())
            ):
                continue
            lanes.setdefault(lane, []).append(item)
        return sorted(lanes.values(), key=lambda lane: (lane[0].priority, lane[0].id))

    async def _start_lanes(
        self, junk: bool, running: dict[LaneKey, asyncio.Task[int]], limit: asyncio.Semaphore
    ) -> None:
        for lane in await self._due_lanes(junk, busy=running):
            key = (lane[0].source, lane[0].lane)
            running[key] = asyncio.create_task(self._limited(lane, limit))

    async def _limited(self, lane: list[InboxItem], limit: asyncio.Semaphore) -> int:
        async with limit:
            return await self._run_lane(lane)

    async def _seconds_until_next_due(self, junk: bool | None) -> float | None:
        now = self.inbox.clock()
        soonest = await self.inbox.next_due_at(now, sources=self._sources, junk=junk)
        if soonest is None:
            return None
        return max((soonest - now).total_seconds(), 0.05)

    async def process_once(self) -> int:
        """One pass over due items; returns how many were settled (done or failed)."""
        lanes = await self._due_lanes(None)
        if not lanes:
            return 0
        limit = asyncio.Semaphore(self.concurrency)
        counts = await asyncio.gather(*(self._limited(lane, limit) for lane in lanes))
        self.progressed.set()
        return sum(counts)

    async def _run_lane(self, lane: list[InboxItem]) -> int:
        settled = 0
        low_done: list[int] = []
        held_keys: set[str] = set()
        held_all = False
        try:
            for item in lane:
                if self._stopping:
                    break
                if item.lane and (
                    held_all or item.key in held_keys or (item.key is None and held_keys)
                ):
                    continue  # an earlier item with its key waits for a retry
                outcome = await self._handle(item)
                if outcome == "retry":
                    if item.key is None:
                        held_all = True
                    else:
                        held_keys.add(item.key)
                    continue
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
        # A lane and report_failures may reach the same failure at once: one reports it.
        if item_id in self._reporting:
            return
        self._reporting.add(item_id)
        try:
            await self._report_once(item_id, registration)
        finally:
            self._reporting.discard(item_id)

    async def _report_once(self, item_id: int, registration: _Registration) -> None:
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
