from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from crosspost.coordination import (
    PostgresCoordinator,
    SingleProcess,
    asyncpg_dsn,
    coordinator_for,
)
from tests.conftest import DATABASES, fresh_database_url

POSTGRES = DATABASES[1]
FAST = timedelta(milliseconds=50)


@pytest.fixture(params=[POSTGRES])
async def pg_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    async with fresh_database_url(request.param, tmp_path) as url:
        yield url


async def _lock_holders(url: str) -> int:
    import asyncpg

    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        return int(
            await conn.fetchval("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'")
        )
    finally:
        await conn.close()


async def test_sqlite_process_always_leads() -> None:
    coordinator = coordinator_for("sqlite+aiosqlite:///x.db")
    assert isinstance(coordinator, SingleProcess)
    await coordinator.start(lambda: None)
    await coordinator.wait_leader()
    assert coordinator.is_leader
    await coordinator.close()
    async with asyncio.timeout(1):
        await coordinator.lost()


async def test_one_leader_then_takeover_when_it_dies(pg_url: str) -> None:
    first = PostgresCoordinator(pg_url, poll=FAST, check=FAST)
    second = PostgresCoordinator(pg_url, poll=FAST, check=FAST)
    await first.start(lambda: None)
    await second.start(lambda: None)
    try:
        async with asyncio.timeout(5):
            await first.wait_leader()
        waiting = asyncio.create_task(second.wait_leader())
        # The second tried at least once and is still waiting: one holder only.
        done, _ = await asyncio.wait({waiting}, timeout=0.3)
        assert not done
        assert not second.is_leader
        assert await _lock_holders(pg_url) == 1
        watch = asyncio.create_task(first.lost())
        # SIGKILL of the leader: its socket closes without a goodbye.
        first._conn.terminate()
        async with asyncio.timeout(5):
            await waiting
            await watch
        assert second.is_leader
        assert not first.is_leader
    finally:
        await first.close()
        await second.close()


async def test_enqueue_in_one_process_wakes_the_other(pg_url: str) -> None:
    woken = asyncio.Event()
    sender = PostgresCoordinator(pg_url)
    receiver = PostgresCoordinator(pg_url)
    await sender.start(lambda: None)
    await receiver.start(woken.set)
    try:
        sender.notify()
        async with asyncio.timeout(5):
            await woken.wait()
    finally:
        await sender.close()
        await receiver.close()


async def test_close_releases_leadership(pg_url: str) -> None:
    first = PostgresCoordinator(pg_url, poll=FAST)
    second = PostgresCoordinator(pg_url, poll=FAST)
    await first.start(lambda: None)
    await second.start(lambda: None)
    try:
        await first.wait_leader()
        await first.close()
        async with asyncio.timeout(5):
            await second.wait_leader()
        assert second.is_leader
    finally:
        with contextlib.suppress(Exception):
            await first.close()
        await second.close()


async def test_owner_alive_while_its_process_runs(pg_url: str) -> None:
    running = PostgresCoordinator(pg_url, owner="host-a:101:x")
    peer = PostgresCoordinator(pg_url, owner="host-b:202:y")
    await running.start(lambda: None)
    await peer.start(lambda: None)
    try:
        owners = {"host-a:101:x", "host-b:202:y", "host-c:303:gone"}
        assert await peer.alive_owners(owners) == {"host-a:101:x", "host-b:202:y"}
        running._conn.terminate()
        async with asyncio.timeout(5):
            # The server notices the closed socket on its own; each check is a round trip.
            while "host-a:101:x" in await peer.alive_owners(owners):
                pass
        assert await peer.alive_owners(owners) == {"host-b:202:y"}
    finally:
        await running.close()
        await peer.close()


async def test_sqlite_knows_only_itself_alive() -> None:
    coordinator = coordinator_for("sqlite+aiosqlite:///x.db", owner="me")
    assert await coordinator.alive_owners({"me", "a-dead-run"}) == {"me"}
