"""The drainer's SQLite hot path (crosspost.db.write_direct and the sqlite3 statements in
crosspost.queue): the same rows and objects as DeliveryRepository, one transaction each,
through the claim index, with the same write discipline as write_session."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crosspost.db import (
    create_engine,
    create_sessionmaker,
    direct_writer,
    migrate,
    reset_write_holds,
    write_direct,
    write_holds,
)
from crosspost.models import Content, MediaItem, MediaKind, Platform, RemotePost
from crosspost.queue import (
    SQLITE_CLAIM_OPERATIONS,
    SQLITE_CLAIM_PENDING,
    SQLITE_CLAIM_UNCERTAIN,
    DeliveryRepository,
    FollowupsNeeded,
    TransitionError,
    sqlite_claim,
    sqlite_mark_published,
    sqlite_publish_and_claim,
)
from crosspost.richtext import RichText, Span, SpanKind
from tests.conftest import PublicationFactory

LEASE = timedelta(minutes=5)
TWO = (("administration", Platform.VK), ("administration", Platform.OK))
Maker = async_sessionmaker[AsyncSession]


@pytest.fixture
async def twin(tmp_path: Path) -> AsyncIterator[Maker]:
    """A second database, filled the same way as `sessionmaker`'s."""
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'twin.db'}")
    await migrate(engine)
    yield create_sessionmaker(engine)
    await engine.dispose()


async def _fill(maker: Maker, factory: PublicationFactory, now: datetime) -> None:
    """Pending deliveries (one with media and spans), an uncertain one and a pending edit."""
    photo = MediaItem(
        kind=MediaKind.PHOTO,
        path=Path("/media/ab.jpg"),
        file_name="ab.jpg",
        mime_type="image/jpeg",
        size=10,
        sha256="ab",
        telegram_file_id="tg-1",
    )
    async with maker() as s, s.begin():
        repo = DeliveryRepository(s)
        first = await repo.enqueue(factory(text="первый", targets=TWO), now)
        second = factory(text="второй с фото", targets=TWO, publish_at=now - timedelta(hours=1))
        rich = RichText(
            text=second.content.text.text, spans=(Span(kind=SpanKind.BOLD, start=0, end=6),)
        )
        content = Content(text=rich, media=(photo,), original_url="https://t.me/x/2")
        await repo.enqueue(replace(second, content=content), now)
        vk, ok = await repo.claim_due(now, LEASE, 2, owner="run-0")  # the older first
        assert {vk.publication_id, ok.publication_id} == {2}
        await repo.mark_published(
            vk.delivery_id,
            RemotePost(platform=vk.platform, account=vk.account, remote_id="1"),
            now,
        )
        await repo.mark_uncertain(ok.delivery_id, "timeout", now)
        await repo.enqueue_edits(vk.publication_id, now, actor="staff")
        assert first.publication_id == 1


async def test_the_direct_claim_returns_what_the_repository_claims(
    sessionmaker: Maker, twin: Maker, publication_factory: PublicationFactory, now: datetime
) -> None:
    for maker in (sessionmaker, twin):
        await _fill(maker, publication_factory, now)
    at = now + timedelta(seconds=1, microseconds=123456)
    ops, claimed, contents = await write_direct(
        sessionmaker,
        partial(sqlite_claim, now=at, lease=LEASE, limit=10, owner="run-a", side=True),
    )
    async with twin() as s, s.begin():
        repo = DeliveryRepository(s)
        want_ops = await repo.claim_operations(at, LEASE, 10, owner="run-a")
        want = await repo.claim_due(at, LEASE, 10 - len(want_ops), owner="run-a")
        want_contents = await repo.contents(d.publication_id for d in want)
    assert ops == want_ops
    assert len(ops) == 1
    assert ops[0].remote is not None
    assert claimed == want
    assert len(claimed) == 3
    assert claimed[0].status.value == "reconciling"  # uncertain ones first
    assert contents == want_contents
    assert contents[2].media[0].telegram_file_id == "tg-1"

    # What the rows say afterwards, read back through the ORM.
    async with sessionmaker() as s:
        direct_rows = await DeliveryRepository(s).list_deliveries()
    async with twin() as s:
        orm_rows = await DeliveryRepository(s).list_deliveries()
    assert direct_rows == orm_rows

    # A second claim skips the cached contents.
    async with sessionmaker() as s, s.begin():
        await DeliveryRepository(s).release(claimed[-1].delivery_id, at)
    _, again, fresh = await write_direct(
        sessionmaker,
        partial(
            sqlite_claim,
            now=at,
            lease=LEASE,
            limit=10,
            owner="run-a",
            cached={(d.publication_id, d.publication_version) for d in claimed},
        ),
    )
    assert [d.delivery_id for d in again] == [claimed[-1].delivery_id]
    assert fresh == {}


async def _settled_state(maker: Maker) -> tuple[object, ...]:
    async with maker() as s:
        repo = DeliveryRepository(s)
        ledger = [await repo.remote_posts(p) for p in (1, 2, 3)]
        return await repo.list_deliveries(), ledger, await repo.target_states()


async def test_the_direct_settle_writes_what_mark_published_many_writes(
    sessionmaker: Maker, twin: Maker, publication_factory: PublicationFactory, now: datetime
) -> None:
    for maker in (sessionmaker, twin):
        async with maker() as s, s.begin():
            repo = DeliveryRepository(s)
            for i in range(3):
                await repo.enqueue(publication_factory(text=f"{i}", targets=TWO), now)
            batch = await repo.claim_due(now, LEASE, 10, owner="run-a")
        async with maker() as s, s.begin():  # one moves on before the batch settles
            await DeliveryRepository(s).mark_failed(batch[0].delivery_id, "x", "unknown", now)
    items = [
        (d, RemotePost(platform=d.platform, account=d.account, remote_id=f"r{d.delivery_id}"))
        for d in batch
    ]
    at = now + timedelta(microseconds=7)
    direct = await write_direct(sessionmaker, partial(sqlite_mark_published, items=items, now=at))
    async with twin() as s, s.begin():
        orm = await DeliveryRepository(s).mark_published_many(items, at)
    assert isinstance(direct[0], TransitionError)
    assert isinstance(orm[0], TransitionError)
    assert direct[1:] == orm[1:]
    assert len(direct) == 6
    assert await _settled_state(sessionmaker) == await _settled_state(twin)


async def test_a_publication_edited_during_the_send_is_settled_by_the_repository(
    sessionmaker: Maker, publication_factory: PublicationFactory, now: datetime
) -> None:
    async with sessionmaker() as s, s.begin():
        repo = DeliveryRepository(s)
        await repo.enqueue(publication_factory(targets=TWO), now)
        vk, _ok = await repo.claim_due(now, LEASE, 2)
        await repo.update_content(1, Content(text=RichText.plain("правка")))
    items = [(d, RemotePost(platform=d.platform, account=d.account, remote_id="9")) for d in (vk,)]
    with pytest.raises(FollowupsNeeded):
        await write_direct(
            sessionmaker,
            partial(
                sqlite_publish_and_claim, items=items, now=now, lease=LEASE, limit=5, owner=None
            ),
        )
    async with sessionmaker() as s:  # rolled back: nothing settled, nothing claimed
        repo = DeliveryRepository(s)
        assert [d.status.value for d in await repo.list_deliveries()] == ["sending", "sending"]
        assert await repo.remote_posts(1) == []


async def test_write_direct_commits_rolls_back_and_records_how_long_it_held(
    sessionmaker: Maker, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    insert = "INSERT INTO audit_log (at, actor, action, detail) VALUES ('2026-12-01', 't', ?, '')"

    def write(action: str, conn: sqlite3.Connection) -> int:
        conn.execute(insert, (action,))
        if action == "boom":
            raise RuntimeError("boom")
        return 7

    reset_write_holds()
    assert await write_direct(sessionmaker, partial(write, "kept"), what="test kept") == 7
    with pytest.raises(RuntimeError):
        await write_direct(sessionmaker, partial(write, "boom"), what="test boom")
    async with sessionmaker() as s:
        assert (await s.execute(text("SELECT action FROM audit_log"))).scalars().all() == ["kept"]
    holds = write_holds()
    assert holds["test kept"].count == 1
    assert holds["test kept"].longest_ms < 250

    monkeypatch.setenv("CROSSPOST_MAX_WRITE_MS", "1")
    ticks = iter([100.0, 100.5])  # begin, end: 500 ms apart
    monkeypatch.setattr("crosspost.db.time.perf_counter", lambda: next(ticks))
    await write_direct(sessionmaker, partial(write, "slow"), what="test slow")
    assert any(
        r.levelname == "ERROR" and "write transaction held 500 ms (test slow)" in r.getMessage()
        for r in caplog.records
    )


async def test_write_direct_waits_for_another_process_and_keeps_its_connection(
    sessionmaker: Maker, tmp_path: Path
) -> None:
    other = sqlite3.connect(tmp_path / "crosspost.db", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another process holds the write lock

    def write(conn: sqlite3.Connection) -> None:
        conn.execute(
            "INSERT INTO audit_log (at, actor, action, detail) VALUES ('2026-12-01', 't', 't', '')"
        )

    async with direct_writer(sessionmaker):
        task = asyncio.create_task(write_direct(sessionmaker, write))
        for _ in range(5):  # yields to the loop (not a wait for time): the task starts its write
            await asyncio.sleep(0)
        assert not task.done()
        other.execute("COMMIT")
        other.close()
        async with asyncio.timeout(10):
            await task
        await write_direct(sessionmaker, write)  # on the kept connection
    async with sessionmaker() as s:
        assert await s.scalar(text("SELECT count(*) FROM audit_log")) == 2


@pytest.mark.parametrize(
    ("statement", "index"),
    [
        (SQLITE_CLAIM_PENDING, "ix_deliveries_status_due_at"),
        (SQLITE_CLAIM_UNCERTAIN, "ix_deliveries_status_due_at"),
        (SQLITE_CLAIM_OPERATIONS, "ix_delivery_operations_status_due_at"),
    ],
)
async def test_direct_claims_read_through_their_index_whatever_the_backlog(
    sessionmaker: Maker,
    publication_factory: PublicationFactory,
    now: datetime,
    tmp_path: Path,
    statement: str,
    index: str,
) -> None:
    async with sessionmaker() as s, s.begin():
        repo = DeliveryRepository(s)
        for i in range(500):
            await repo.enqueue(publication_factory(text=f"пост {i}", targets=TWO), now)
    with contextlib.closing(sqlite3.connect(tmp_path / "crosspost.db")) as conn:
        params = (None,) * statement.count("?")
        rows = conn.execute(f"EXPLAIN QUERY PLAN {statement}", params).fetchall()
    plan = " | ".join(str(r[-1]) for r in rows)
    assert f"{index} (status=? AND due_at<?)" in plan, plan
    assert "TEMP B-TREE" not in plan, plan
    assert "SCAN deliveries" not in plan, plan
    assert "SCAN delivery_operations" not in plan, plan
