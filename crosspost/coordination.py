"""Coordination of several `crosspost run` processes on one queue.

On SQLite there is one process per database (the run lock), so it is always the leader and there
is nobody to wake. On PostgreSQL any number of processes drain the same queue:

- exactly one of them, the leader, runs the inbound listeners and the periodic jobs. Leadership is
  a session-level advisory lock held on a dedicated connection: when the leader dies (even by
  SIGKILL) PostgreSQL closes its connection and releases the lock, and the next process that
  tries takes it over within one `poll` interval;
- an enqueue in one process wakes the drainers of the others through LISTEN/NOTIFY on the same
  connection, so a post does not wait for another process's idle poll.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import zlib
from collections.abc import Callable, Iterable
from datetime import timedelta
from typing import Any, Protocol

from sqlalchemy.engine import make_url

logger = logging.getLogger(__name__)

# pg_try_advisory_lock takes a bigint; this one reads "crosspost" in ASCII.
LEADER_LOCK_KEY = 0x63726F7373706F73
# Each running process holds the two-key advisory lock (OWNER_LOCK_CLASS, hash of its lease owner
# id) for its whole life, so a peer can tell at once whether the owner of a lease is still alive.
OWNER_LOCK_CLASS = 0x63727370
NOTIFY_CHANNEL = "crosspost_queue"
LEADER_POLL = timedelta(seconds=3)
# How often the leader checks that its lock connection is still alive.
LEADER_CHECK = timedelta(seconds=5)


class Coordinator(Protocol):
    """What the service needs from its peers: leadership and cross-process wake-ups."""

    @property
    def is_leader(self) -> bool: ...

    async def start(self, on_notify: Callable[[], None]) -> None:
        """Connect; `on_notify` runs when another process enqueued work."""

    async def wait_leader(self) -> None:
        """Return once this process is the leader."""

    async def lost(self) -> None:
        """Return when leadership, once held, is lost (the lock connection broke)."""

    def notify(self) -> None:
        """Tell the other processes that work was enqueued (after the commit)."""

    async def alive_owners(self, owners: Iterable[str]) -> set[str]:
        """Which of these lease owners belong to a running process."""

    async def close(self) -> None: ...


def owner_key(owner: str) -> int:
    """The second key of an owner's advisory lock: a signed 32-bit hash of the owner id."""
    return _signed32(zlib.crc32(owner.encode()))


def _signed32(value: int) -> int:
    return value - (1 << 32) if value >= 1 << 31 else value


class SingleProcess:
    """SQLite: the run lock makes this process the only one, so it always leads."""

    def __init__(self, owner: str = "") -> None:
        self._owner = owner
        self._closed = asyncio.Event()

    @property
    def is_leader(self) -> bool:
        return True

    async def start(self, on_notify: Callable[[], None]) -> None:
        return None

    async def wait_leader(self) -> None:
        return None

    async def lost(self) -> None:
        await self._closed.wait()

    def notify(self) -> None:
        return None

    async def alive_owners(self, owners: Iterable[str]) -> set[str]:
        # Nobody else can run on this database: every other owner is a process that is gone.
        return {o for o in owners if o == self._owner}

    async def close(self) -> None:
        self._closed.set()


def asyncpg_dsn(url: str) -> str:
    """The libpq-style DSN asyncpg takes, from a SQLAlchemy `postgresql+asyncpg://` URL."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


class PostgresCoordinator:
    """Leadership by advisory lock and wake-ups by LISTEN/NOTIFY, on one dedicated connection."""

    def __init__(
        self,
        url: str,
        *,
        owner: str = "",
        poll: timedelta = LEADER_POLL,
        check: timedelta = LEADER_CHECK,
        lock_key: int = LEADER_LOCK_KEY,
    ) -> None:
        self._dsn = asyncpg_dsn(url)
        self._owner = owner
        self._poll = poll
        self._check = check
        self._lock_key = lock_key
        self._conn: Any = None
        # asyncpg runs one statement at a time per connection.
        self._io = asyncio.Lock()
        self._leader = False
        self._lost = asyncio.Event()
        self._pending_notify: set[asyncio.Task[None]] = set()

    @property
    def is_leader(self) -> bool:
        return self._leader

    async def start(self, on_notify: Callable[[], None]) -> None:
        import asyncpg

        self._conn = await asyncpg.connect(self._dsn)

        def listener(*_: object) -> None:
            on_notify()

        await self._conn.add_listener(NOTIFY_CHANNEL, listener)
        if self._owner:
            await self._conn.execute(
                "SELECT pg_advisory_lock($1, $2)", OWNER_LOCK_CLASS, owner_key(self._owner)
            )
        self._conn.add_termination_listener(lambda *_: self._on_terminated())

    def _on_terminated(self) -> None:
        if self._leader:
            logger.error("the leader lock connection to PostgreSQL is gone: leadership lost")
        self._leader = False
        self._lost.set()

    async def _try_lock(self) -> bool:
        async with self._io:
            got = await self._conn.fetchval("SELECT pg_try_advisory_lock($1)", self._lock_key)
        return bool(got)

    async def wait_leader(self) -> None:
        if self._conn is None:
            raise RuntimeError("start() first")
        while True:
            if await self._try_lock():
                break
            # Polling, not waiting on an event: the holder's death is seen only by PostgreSQL.
            await asyncio.sleep(self._poll.total_seconds())
        self._leader = True
        logger.info("this process is the leader: it runs the inbound listeners and periodic jobs")

    async def lost(self) -> None:
        """Watch the lock connection while leading; return when it is gone."""
        while not self._lost.is_set():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._check.total_seconds()):
                    await self._lost.wait()
            if self._lost.is_set():
                break
            try:
                async with self._io, asyncio.timeout(self._check.total_seconds()):
                    await self._conn.fetchval("SELECT 1")
            except Exception as exc:
                logger.error("leader lock connection check failed: %s", type(exc).__name__)
                self._on_terminated()
        self._leader = False

    def notify(self) -> None:
        if self._conn is None or self._conn.is_closed():
            return
        task = asyncio.get_running_loop().create_task(self._notify())
        self._pending_notify.add(task)
        task.add_done_callback(self._pending_notify.discard)

    async def _notify(self) -> None:
        try:
            async with self._io:
                await self._conn.execute(f"NOTIFY {NOTIFY_CHANNEL}")
        except Exception as exc:
            # The others still find the work on their own poll; nothing is lost.
            logger.warning("NOTIFY failed: %s", type(exc).__name__)

    async def alive_owners(self, owners: Iterable[str]) -> set[str]:
        wanted = {owner_key(o): o for o in owners}
        if not wanted:
            return set()
        async with self._io:
            rows = await self._conn.fetch(
                "SELECT objid::int8 AS key FROM pg_locks"
                " WHERE locktype = 'advisory' AND granted AND classid::int8 = $1",
                OWNER_LOCK_CLASS,
            )
        # pg_locks shows the keys as unsigned oids.
        held = {
            int(r["key"]) - (1 << 32) if int(r["key"]) >= 1 << 31 else int(r["key"]) for r in rows
        }
        return {owner for key, owner in wanted.items() if key in held}

    async def close(self) -> None:
        for task in list(self._pending_notify):
            with contextlib.suppress(Exception):
                await task
        if self._conn is not None and not self._conn.is_closed():
            # Closing the connection releases the advisory lock.
            await self._conn.close()
        self._leader = False


def coordinator_for(url: str, owner: str = "") -> Coordinator:
    if make_url(url).get_backend_name() == "postgresql":
        return PostgresCoordinator(url, owner=owner)
    return SingleProcess(owner)
