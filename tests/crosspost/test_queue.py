from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from crosspost.db import write_session
from crosspost.models import DeliveryStatus, OperationKind, OperationStatus, Platform, RemotePost
from crosspost.queue import DeliveryRepository, TransitionError
from tests.conftest import PublicationFactory


@pytest.fixture
def engine(engine_on_each_database: AsyncEngine) -> AsyncEngine:
    """The queue's contract holds on SQLite and on PostgreSQL: every test here runs on both."""
    return engine_on_each_database


# SQLite's own mechanics (its query plan, its file lock): these run on SQLite only.
SQLITE_ONLY = pytest.mark.parametrize("engine_on_each_database", ["sqlite"], indirect=True)


LEASE = timedelta(minutes=5)
TWO_TARGETS = (("administration", Platform.VK), ("administration", Platform.OK))


async def test_enqueue_writes_publication_and_all_deliveries(
    sessionmaker: async_sessionmaker[AsyncSession],
    publication_factory: PublicationFactory,
    now: datetime,
) -> None:
    async with sessionmaker() as s, s.begin():
        result = await DeliveryRepository(s).enqueue(publication_factory(targets=TWO_TARGETS), now)
    assert result.created
    assert len(result.delivery_ids) == 2
    async with sessionmaker() as s:
        rows = await DeliveryRepository(s).for_publication(result.publication_id)
    assert {(d.platform, d.status) for d in rows} == {
        (Platform.VK, DeliveryStatus.PENDING),
        (Platform.OK, DeliveryStatus.PENDING),
    }
    assert len({d.idempotency_key for d in rows}) == 2


async def test_second_enqueue_of_same_source_message_is_noop(
    sessionmaker: async_sessionmaker[AsyncSession],
    publication_factory: PublicationFactory,
    now: datetime,
) -> None:
    new = publication_factory(targets=TWO_TARGETS, source_message_id=42)
    async with sessionmaker() as s, s.begin():
        first = await DeliveryRepository(s).enqueue(new, now)
    async with sessionmaker() as s, s.begin():
        second = await DeliveryRepository(s).enqueue(new, now)
    assert second.publication_id == first.publication_id
    assert not second.created
    assert second.delivery_ids == ()
    async with sessionmaker() as s:
        assert len(await DeliveryRepository(s).list_deliveries()) == 2


async def test_rolled_back_enqueue_leaves_nothing(
    sessionmaker: async_sessionmaker[AsyncSession],
    publication_factory: PublicationFactory,
    now: datetime,
) -> None:
    async def crash_before_commit() -> None:
        async with sessionmaker() as s, s.begin():
            await DeliveryRepository(s).enqueue(publication_factory(targets=TWO_TARGETS), now)
            raise RuntimeError("crash before commit")

    with pytest.raises(RuntimeError):
        await crash_before_commit()
    async with sessionmaker() as s:
        assert await DeliveryRepository(s).list_deliveries() == []


async def test_claim_takes_only_due_and_leases(
    sessionmaker: async_sessionmaker[AsyncSession],
    publication_factory: PublicationFactory,
    now: datetime,
) -> None:
    async with sessionmaker() as s, s.begin():
        repo = DeliveryRepository(s)
        await repo.enqueue(publication_factory(), now)
        await repo.enqueue(publication_factory(publish_at=now + timedelta(hours=1)), now)
    async with sessionmaker() as s, s.begin():
        claimed = await DeliveryRepository(s).claim_due(now, LEASE, 10)
    assert len(claimed) == 1
    assert claimed[0].status is DeliveryStatus.SENDING
    assert claimed[0].lease_until == now + LEASE
    assert claimed[0].attempts == 1
    async with sessionmaker() as s:
        assert await DeliveryRepository(s).next_due_at() == now + timedelta(hours=1)


async def test_concurrent_claimers_never_share_a_delivery(
    sessionmaker: async_sessionmaker[AsyncSession],
    publication_factory: PublicationFactory,
    now: datetime,
) -> None:
    async with sessionmaker() as s, s.begin():
        repo = DeliveryRepository(s)
        for i in range(60):
            await repo.enqueue(publication_factory(text=f"post {i}", targets=TWO_TARGETS), now)

    async def claimer() -> list[int]:
        got: list[int] = []
        while True:
            async with sessionmaker() as s, s.begin():
                batch = await DeliveryRepository(s).claim_due(now, LEASE, 3)
            if not batch:
                return got
            got.extend(d.delivery_id for d in batch)

    results = await asyncio.gather(*(claimer() for _ in range(6)))
    all_ids = [i for r in results for i in r]
    assert len(all_ids) == 120
    assert len(set(all_ids)) == 120


async def test_published_is_never_claimed_again_and_ledger_written(
    sessionmaker: async_sessionmaker[AsyncSession],
    publication_factory: PublicationFactory,
    now: datetime,
) -> None:
    async with sessionmaker() as s, s.begin():
        pub = await DeliveryRepository(s).enqueue(publication_factory(), now)
    async with sessionmaker() as s, s.begin():
        (d,) = await DeliveryRepository(s).claim_due(now, LEASE, 10)
    remote = RemotePost(
        platform=Platform.VK,
        account="administration",
        remote_id="77",
        url="https://vk.com/wall-111_77",
    )
    async with sessionmaker() as s, s.begin():
        await DeliveryRepository(s).mark_published(d.delivery_id, remote, now)
    later = now + timedelta(days=1)
    async with sessionmaker() as s, s.begin():
        repo = DeliveryRepository(s)
        assert await repo.claim_due(later, LEASE, 10) == []
        assert await repo.expire_leases(later) == []
        assert await repo.remote_posts(pub.publication_id) == [remote]
        with pytest.raises(TransitionError):
            await repo.retry(d.delivery_id, later)


async def test_expired_lease_turns_uncertain_then_reconciling(
    sessionmaker: async_sessionmaker[AsyncSession],
    publication_factory: PublicationFactory,
    now: datetime,
) -> None:
    async with sessionmaker() as s, s.begin():
        await DeliveryRepository(s).enqueue(publication_factory(), now)
    async with sessionmaker() as s, s.begin():
        (_claimed,) = await DeliveryRepository(s).claim_due(now, LEASE, 10)
    async with sessionmaker() as s, s.begin():
        assert await DeliveryRepository(s).expire_leases(now + LEASE) == []
    after = now + LEASE + timedelta(seconds=1)
    async with sessionmaker() as s, s.begin():
        (expired,) = await DeliveryRepository(s).expire_leases(after)
    assert expired.status is DeliveryStatus.UNCERTAIN
    async with sessionmaker() as s, s.begin():
        (again,) = await DeliveryRepository(s).claim_due(after, LEASE, 10)
    assert again.status is DeliveryStatus.RECONCILING
    assert again.attempts == 1  # reconciling is not a send attempt


async def test_paused_target_is_not_claimed_until_resumed(
    sessionmaker: async_sessionmaker[AsyncSession],
    publication_factory: PublicationFactory,
    now: datetime,
) -> None:
    async with sessionmaker() as s, s.begin():
        repo = DeliveryRepository(s)
        await repo.enqueue(publication_factory(targets=TWO_TARGETS), now)
        assert await repo.pause("administration", Platform.OK, "session_expired", now)
        assert not await repo.pause("administration", Platform.OK, "session_expired", now)
    async with sessionmaker() as s, s.begin():
        claimed = await DeliveryRepository(s).claim_due(now, LEASE, 10)
    assert [d.platform for d in claimed] == [Platform.VK]
    async with sessionmaker() as s, s.begin():
        assert await DeliveryRepository(s).resume("administration", Platform.OK)
    async with sessionmaker() as s, s.begin():
        claimed = await DeliveryRepository(s).claim_due(now, LEASE, 10)
    assert [d.platform for d in claimed] == [Platform.OK]


async def test_cancel_while_sending_wins_over_retry(
    sessionmaker: async_sessionmaker[AsyncSession],
    publication_factory: PublicationFactory,
    now: datetime,
) -> None:
    async with sessionmaker() as s, s.begin():
        await DeliveryRepository(s).enqueue(publication_factory(), now)
    async with sessionmaker() as s, s.begin():
        (d,) = await DeliveryRepository(s).claim_due(now, LEASE, 10)
    async with sessionmaker() as s, s.begin():
        flagged = await DeliveryRepository(s).cancel(d.delivery_id, now)
    assert flagged.status is DeliveryStatus.SENDING
    assert flagged.cancel_requested
    async with sessionmaker() as s, s.begin():
        settled = await DeliveryRepository(s).mark_retry(
            d.delivery_id, now + timedelta(minutes=1), "HTTP 502", "network", now
        )
    assert settled.status is DeliveryStatus.CANCELLED


async def test_reschedule_moves_only_pending(
    sessionmaker: async_sessionmaker[AsyncSession],
    publication_factory: PublicationFactory,
    now: datetime,
) -> None:
    async with sessionmaker() as s, s.begin():
        pub = await DeliveryRepository(s).enqueue(
            publication_factory(publish_at=now + timedelta(hours=2)), now
        )
    (delivery_id,) = pub.delivery_ids
    async with sessionmaker() as s, s.begin():
        moved = await DeliveryRepository(s).reschedule(delivery_id, now + timedelta(hours=5), now)
    assert moved.due_at == now + timedelta(hours=5)
    async with sessionmaker() as s, s.begin():
        await DeliveryRepository(s).cancel(delivery_id, now)
    async with sessionmaker() as s, s.begin():
        with pytest.raises(TransitionError):
            await DeliveryRepository(s).reschedule(delivery_id, now, now)


async def test_mark_published_many_settles_a_batch_and_skips_moved_rows(
    sessionmaker: async_sessionmaker[AsyncSession],
    publication_factory: PublicationFactory,
    now: datetime,
) -> None:
    async with sessionmaker() as s, s.begin():
        repo = DeliveryRepository(s)
        for i in range(3):
            await repo.enqueue(publication_factory(text=f"{i}", targets=TWO_TARGETS), now)
    async with sessionmaker() as s, s.begin():
        claimed = await DeliveryRepository(s).claim_due(now, LEASE, 10)
    assert len(claimed) == 6
    async with sessionmaker() as s, s.begin():  # one moves on before the batch settles
        await DeliveryRepository(s).mark_failed(claimed[0].delivery_id, "x", "unknown", now)
    items = [
        (d, RemotePost(platform=d.platform, account=d.account, remote_id=f"r{d.delivery_id}"))
        for d in claimed
    ]
    async with sessionmaker() as s, s.begin():
        outcome = await DeliveryRepository(s).mark_published_many(items, now)
    assert isinstance(outcome[0], TransitionError)
    assert all(
        not isinstance(o, TransitionError) and o.status is DeliveryStatus.PUBLISHED
        for o in outcome[1:]
    )
    async with sessionmaker() as s:
        repo = DeliveryRepository(s)
        rows = {d.delivery_id: d for d in await repo.list_deliveries()}
        assert rows[claimed[0].delivery_id].status is DeliveryStatus.FAILED
        assert [rows[d.delivery_id].remote_id for d in claimed[1:]] == [
            f"r{d.delivery_id}" for d in claimed[1:]
        ]
        ledger = await repo.remote_posts(claimed[1].publication_id)
        assert [r.remote_id for r in ledger] == [f"r{claimed[1].delivery_id}"]
        states = await repo.target_states()
        assert {(t.account, t.platform) for t in states if t.last_success_at == now} == {
            ("administration", Platform.VK),
            ("administration", Platform.OK),
        }


# -- the engine: indexed claims, leases with owners, operations, the ledger guard -------------


async def _plans(
    engine: AsyncEngine, run: Callable[[], Awaitable[object]], table: str
) -> list[list[str]]:
    """EXPLAIN QUERY PLAN of every UPDATE on `table` that `run` executes."""
    seen: list[tuple[str, Any]] = []

    def capture(conn: Any, cursor: Any, statement: str, params: Any, *_: Any) -> None:
        if statement.lstrip().upper().startswith(f"UPDATE {table.upper()} "):
            seen.append((statement, params))

    event.listen(engine.sync_engine, "before_cursor_execute", capture)
    try:
        await run()
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", capture)
    plans = []
    async with engine.connect() as conn:
        for statement, params in seen:
            rows = await conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", params)
            plans.append([str(r[-1]) for r in rows])
    return plans


@SQLITE_ONLY
@pytest.mark.parametrize("backlog", [10, 2000])
async def test_claims_read_through_their_index_whatever_the_backlog(
    engine: AsyncEngine,
    sessionmaker: async_sessionmaker[AsyncSession],
    publication_factory: PublicationFactory,
    now: datetime,
    backlog: int,
) -> None:
    async with sessionmaker() as s, s.begin():
        repo = DeliveryRepository(s)
        for i in range(backlog):
            await repo.enqueue(publication_factory(text=f"пост {i}"), now)
    await engine.dispose()  # fresh connections, so ANALYZE-free plans are what runs

    async def claim() -> None:
        async with write_session(sessionmaker) as s:
            repo = DeliveryRepository(s)
            await repo.claim_due(now, LEASE, 16, owner="run-a")

    plans = await _plans(engine, claim, "deliveries")
    assert len(plans) == 2  # uncertain first, then pending: one indexed statement each
    for plan in plans:
        text = " | ".join(plan)
        assert "ix_deliveries_status_due_at (status=? AND due_at<?)" in text, text
        assert "TEMP B-TREE" not in text, text
        assert not any(line.startswith("SCAN deliveries") for line in plan), text

    async def claim_ops() -> None:
        async with write_session(sessionmaker) as s:
            await DeliveryRepository(s).claim_operations(now, LEASE, 16, owner="run-a")

    (op_plan,) = await _plans(engine, claim_ops, "delivery_operations")
    text = " | ".join(op_plan)
    assert "ix_delivery_operations_status_due_at (status=? AND due_at<?)" in text, text
    assert "TEMP B-TREE" not in text, text


async def test_leases_carry_their_owner_and_orphans_are_settled_at_once(
    sessionmaker: async_sessionmaker[AsyncSession],
    publication_factory: PublicationFactory,
    now: datetime,
) -> None:
    async with write_session(sessionmaker) as s:
        repo = DeliveryRepository(s)
        await repo.enqueue(publication_factory(targets=TWO_TARGETS), now)
        mine, theirs = await repo.claim_due(now, LEASE, 1, owner="alive") + await repo.claim_due(
            now, LEASE, 1, owner="gone"
        )
        await repo.enqueue_keep_alive("administration", Platform.OK, now)
        (op,) = await repo.claim_operations(now, LEASE, 5, owner="gone")
    assert (mine.lease_owner, theirs.lease_owner, op.lease_owner) == ("alive", "gone", "gone")
    # Long before the lease would run out, a run that knows "gone" is dead settles its work.
    async with write_session(sessionmaker) as s:
        deliveries, ops = await DeliveryRepository(s).recover_orphans(
            {"alive"}, now + timedelta(seconds=1)
        )
    assert [d.delivery_id for d in deliveries] == [theirs.delivery_id]
    assert deliveries[0].status is DeliveryStatus.UNCERTAIN  # a send: reconcile comes next
    assert [(o.operation_id, o.status) for o in ops] == [
        (op.operation_id, OperationStatus.PENDING)  # idempotent: simply run again
    ]
    async with sessionmaker() as s:
        assert (await DeliveryRepository(s).get_required(mine.delivery_id)).status is (
            DeliveryStatus.SENDING
        )


async def test_renewing_extends_only_this_runs_leases(
    sessionmaker: async_sessionmaker[AsyncSession],
    publication_factory: PublicationFactory,
    now: datetime,
) -> None:
    async with write_session(sessionmaker) as s:
        repo = DeliveryRepository(s)
        await repo.enqueue(publication_factory(targets=TWO_TARGETS), now)
        await repo.claim_due(now, LEASE, 1, owner="me")
        (other,) = await repo.claim_due(now, LEASE, 1, owner="other")
    later = now + LEASE - timedelta(seconds=1)
    async with write_session(sessionmaker) as s:
        assert await DeliveryRepository(s).renew_leases("me", later + LEASE, later) == 1
    async with write_session(sessionmaker) as s:
        expired = await DeliveryRepository(s).expire_leases(now + LEASE + timedelta(seconds=1))
    assert [d.delivery_id for d in expired] == [other.delivery_id]


async def test_remote_id_taken_by_another_delivery_or_as_a_part(
    sessionmaker: async_sessionmaker[AsyncSession],
    publication_factory: PublicationFactory,
    now: datetime,
) -> None:
    async with write_session(sessionmaker) as s:
        repo = DeliveryRepository(s)
        await repo.enqueue(publication_factory(), now)
        (d,) = await repo.claim_due(now, LEASE, 1)
        remote = RemotePost(
            platform=Platform.VK, account="administration", remote_id="10", parts=("11",)
        )
        await repo.mark_published(d.delivery_id, remote, now)
    async with sessionmaker() as s:
        repo = DeliveryRepository(s)
        assert await repo.remote_id_taken(Platform.VK, "administration", "10", d.delivery_id + 1)
        assert await repo.remote_id_taken(Platform.VK, "administration", "11")
        assert not await repo.remote_id_taken(Platform.VK, "administration", "10", d.delivery_id)
        assert not await repo.remote_id_taken(Platform.VK, "head", "10")
        assert not await repo.remote_id_taken(Platform.OK, "administration", "10")


async def test_edits_coalesce_per_copy_and_a_delete_cancels_waiting_edits(
    sessionmaker: async_sessionmaker[AsyncSession],
    publication_factory: PublicationFactory,
    now: datetime,
) -> None:
    async with write_session(sessionmaker) as s:
        repo = DeliveryRepository(s)
        pub = await repo.enqueue(publication_factory(targets=TWO_TARGETS), now)
        for d in await repo.claim_due(now, LEASE, 5):
            await repo.mark_published(
                d.delivery_id,
                RemotePost(platform=d.platform, account=d.account, remote_id=str(d.delivery_id)),
                now,
            )
    async with write_session(sessionmaker) as s:
        repo = DeliveryRepository(s)
        assert len(await repo.enqueue_edits(pub.publication_id, now)) == 2
        assert await repo.enqueue_edits(pub.publication_id, now) == []  # one waiting per copy
        deletes = await repo.enqueue_deletes(pub.publication_id, now)
        ops = await repo.operations(publication_id=pub.publication_id)
    assert len(deletes) == 2
    assert sorted(o.status for o in ops if o.kind is OperationKind.EDIT) == [
        OperationStatus.CANCELLED,
        OperationStatus.CANCELLED,
    ]


async def test_write_session_flags_a_transaction_held_too_long(
    sessionmaker: async_sessionmaker[AsyncSession],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setenv("CROSSPOST_MAX_WRITE_MS", "1")
    ticks = iter([100.0, 100.5])  # the clock the check reads: begin, end (500 ms apart)
    monkeypatch.setattr("crosspost.db.time.perf_counter", lambda: next(ticks))
    async with write_session(sessionmaker, what="test write") as s:
        await s.execute(text("SELECT 1"))
    assert any(
        r.levelname == "ERROR" and "write transaction held 500 ms (test write)" in r.getMessage()
        for r in caplog.records
    )


@SQLITE_ONLY
async def test_write_session_waits_for_another_process_instead_of_failing(
    engine: AsyncEngine, sessionmaker: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    import sqlite3

    other = sqlite3.connect(tmp_path / "crosspost.db", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another process holds the write lock
    entered = asyncio.Event()

    async def write() -> None:
        async with write_session(sessionmaker) as s:
            entered.set()
            await s.execute(
                text(
                    "INSERT INTO audit_log (at, actor, action, detail) "
                    "VALUES ('2026-12-01 00:00:00', 't', 't', '')"
                )
            )

    task = asyncio.create_task(write())
    for _ in range(5):
        await asyncio.sleep(0)
    assert not entered.is_set()  # it waits for the lock before reading anything
    other.execute("COMMIT")
    other.close()
    async with asyncio.timeout(10):
        await task
    async with sessionmaker() as s:
        assert await s.scalar(text("SELECT count(*) FROM audit_log")) == 1
