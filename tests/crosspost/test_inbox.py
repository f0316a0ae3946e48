from __future__ import annotations

import asyncio
import json
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from crosspost.db import create_engine, create_sessionmaker
from crosspost.errors import TransientError
from crosspost.inbox import (
    DONE,
    FAILED,
    LOW,
    PENDING,
    URGENT,
    Inbox,
    InboxItem,
    InboxProcessor,
    InboxUnavailable,
    Incoming,
)
from tests.dbfaults import failing_writes


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 12, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def inbox(sessionmaker: async_sessionmaker[AsyncSession], clock: Clock) -> Inbox:
    return Inbox(sessionmaker, clock=clock)


def update(n: int, **extra: object) -> tuple[str, str]:
    return str(n), json.dumps({"update_id": n, **extra})


async def test_store_many_is_idempotent_per_source(inbox: Inbox) -> None:
    assert await inbox.store_many("telegram", [update(1), update(2)]) == 2
    assert await inbox.store_many("telegram", [update(2), update(3)]) == 1
    assert await inbox.store_many("max", [update(1)]) == 1
    items = await inbox.items()
    assert [(i.source, i.external_id, i.status) for i in items] == [
        ("telegram", "1", PENDING),
        ("telegram", "2", PENDING),
        ("telegram", "3", PENDING),
        ("max", "1", PENDING),
    ]


async def test_lone_surrogates_store_and_come_back(inbox: Inbox) -> None:
    raw = json.dumps({"update_id": 1, "text": "caption \ud83d alone"}, ensure_ascii=False)
    await inbox.store_many("telegram", [("1", raw)])
    [item] = await inbox.items()
    assert item.data()["text"] == "caption \ud83d alone"


async def test_store_on_a_read_only_database_raises_unavailable(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    readonly = create_engine(
        f"sqlite+aiosqlite:///file:{tmp_path / 'crosspost.db'}?mode=ro&uri=true"
    )
    try:
        inbox = Inbox(create_sessionmaker(readonly))
        with pytest.raises(InboxUnavailable, match="readonly"):
            await inbox.store_many("telegram", [update(1)])
    finally:
        await readonly.dispose()


async def test_store_on_a_full_disk_raises_unavailable(engine: AsyncEngine, inbox: Inbox) -> None:
    with failing_writes(engine, "database or disk is full"), pytest.raises(InboxUnavailable):
        await inbox.store_many("telegram", [update(1)])
    assert await inbox.store_many("telegram", [update(1)]) == 1


class Recorder:
    def __init__(self) -> None:
        self.seen: list[int] = []
        self.fail: dict[int, BaseException] = {}
        self.failed_reports: list[InboxItem] = []

    async def handle(self, payload: dict[str, object]) -> None:
        n = payload["update_id"]
        assert isinstance(n, int)
        self.seen.append(n)
        error = self.fail.get(n)
        if error is not None:
            raise error

    async def on_failed(self, item: InboxItem) -> None:
        self.failed_reports.append(item)


def processor_for(inbox: Inbox, recorder: Recorder, **kwargs: object) -> InboxProcessor:
    processor = InboxProcessor(inbox, retry_base=timedelta(seconds=2), **kwargs)  # type: ignore[arg-type]
    processor.register("telegram", recorder.handle, on_failed=recorder.on_failed)
    return processor


async def test_a_failing_update_is_kept_reported_once_and_the_rest_go_on(inbox: Inbox) -> None:
    recorder = Recorder()
    recorder.fail[2] = ValueError("cannot parse")
    await inbox.store_many(
        "telegram",
        [Incoming(external_id=str(n), payload=update(n)[1], lane="a") for n in (1, 2, 3)],
    )
    processor = processor_for(inbox, recorder)
    assert await processor.process_once() == 3
    assert recorder.seen == [1, 2, 3]
    items = {i.external_id: i for i in await inbox.items()}
    assert items["2"].status == FAILED
    assert items["2"].error == "ValueError: cannot parse"
    assert items["2"].reported_at is not None
    assert items["1"].status == items["3"].status == DONE
    assert [i.external_id for i in recorder.failed_reports] == ["2"]
    # Nothing more to do; the failure is not reported again.
    assert await processor.process_once() == 0
    await processor.report_failures()
    assert len(recorder.failed_reports) == 1


async def test_transient_errors_retry_with_backoff_holding_the_lane(
    inbox: Inbox, clock: Clock
) -> None:
    recorder = Recorder()
    recorder.fail[1] = TransientError("getFile timed out")
    await inbox.store_many(
        "telegram",
        [
            Incoming(external_id="1", payload=update(1)[1], lane="chat:1"),
            Incoming(external_id="2", payload=update(2)[1], lane="chat:1"),
            Incoming(external_id="3", payload=update(3)[1], lane="chat:2"),
        ],
    )
    processor = processor_for(inbox, recorder)
    assert await processor.process_once() == 1  # only the other lane's update
    assert sorted(recorder.seen) == [1, 3]
    first = await inbox.get(1)
    assert first is not None
    assert first.status == PENDING
    assert first.attempts == 1
    assert timedelta(seconds=1) <= first.next_attempt_at - clock.now <= timedelta(seconds=2)
    # Not due yet: the lane waits (update 2 must not overtake update 1).
    assert await processor.process_once() == 0
    del recorder.fail[1]
    clock.now = first.next_attempt_at
    assert await processor.process_once() == 2
    assert recorder.seen[-2:] == [1, 2]
    assert not recorder.failed_reports  # recovered: staff never hear of it


async def test_a_retry_holds_back_only_later_items_with_its_key(
    inbox: Inbox, clock: Clock
) -> None:
    """A post waiting for its retry (a getFile 5xx) does not hold back the channel's later
    posts; an edit of that post waits for it."""
    recorder = Recorder()
    recorder.fail[1] = TransientError("getFile 502")

    def item(n: int, key: str) -> Incoming:
        return Incoming(external_id=str(n), payload=update(n)[1], lane="chat:-1", key=key)

    await inbox.store_many("telegram", [item(1, "m:1"), item(2, "m:2"), item(3, "m:1")])
    processor = processor_for(inbox, recorder)
    assert await processor.process_once() == 1
    assert recorder.seen == [1, 2]
    assert {i.external_id: i.status for i in await inbox.items()} == {
        "1": PENDING,
        "2": DONE,
        "3": PENDING,
    }
    await inbox.store_many("telegram", [item(4, "m:4")])
    assert await processor.process_once() == 1  # the edit still waits; the new post goes
    assert recorder.seen == [1, 2, 4]
    first = await inbox.get(1)
    assert first is not None
    assert (first.lane, first.key) == ("chat:-1", "m:1")
    del recorder.fail[1]
    clock.now = first.next_attempt_at
    assert await processor.process_once() == 2
    assert recorder.seen[-2:] == [1, 3]  # the post, then its edit
    assert not recorder.failed_reports


async def test_a_keyless_retry_holds_the_whole_lane_and_keys_fit_the_column(
    inbox: Inbox,
) -> None:
    recorder = Recorder()
    recorder.fail[1] = TransientError("down")
    await inbox.store_many(
        "telegram",
        [
            Incoming(external_id="1", payload=update(1)[1], lane="chat:5"),
            Incoming(external_id="2", payload=update(2)[1], lane="chat:5", key="x" * 200),
        ],
    )
    processor = processor_for(inbox, recorder)
    assert await processor.process_once() == 0
    assert recorder.seen == [1]
    second = await inbox.get(2)
    assert second is not None
    assert second.lane == "chat:5"
    assert second.key is not None
    assert len(f"{second.lane}|{second.key}") <= 64


async def test_items_stored_as_done_are_never_handled(inbox: Inbox) -> None:
    recorder = Recorder()
    woken: list[int] = []
    inbox.on_stored(lambda: woken.append(1))
    junk = Incoming(external_id="1", payload=update(1)[1], priority=LOW, done=True)
    assert await inbox.store_many("telegram", [junk]) == 1
    assert not woken  # nothing to do: the processor is not woken
    [item] = await inbox.items()
    assert (item.status, item.processed_at) == (DONE, item.received_at)
    assert await processor_for(inbox, recorder).process_once() == 0
    assert recorder.seen == []


async def test_other_sources_backlog_does_not_starve_a_registered_one(inbox: Inbox) -> None:
    recorder = Recorder()
    await inbox.store_many("max", [update(n) for n in range(1, 400)])
    await inbox.store_many("telegram", [update(1000)])
    assert await processor_for(inbox, recorder).process_once() == 1
    assert recorder.seen == [1000]


async def test_run_starts_a_channel_post_while_junk_and_a_slow_lane_are_busy(
    inbox: Inbox,
) -> None:
    """The channel post is handled while a flood of junk and another chat's slow update are
    still in hand: neither stands in front of it."""
    gate = asyncio.Event()
    seen: list[int] = []
    both_busy = asyncio.Event()
    post_done = asyncio.Event()

    async def handle(payload: dict[str, object]) -> None:
        n = payload["update_id"]
        assert isinstance(n, int)
        seen.append(n)
        if n == 999:
            post_done.set()
            return
        if 1 in seen and 500 in seen:
            both_busy.set()
        await gate.wait()  # junk and the slow update hang until the post is through

    processor = InboxProcessor(inbox)
    processor.register("telegram", handle)
    inbox.on_stored(processor.wake)
    running = asyncio.create_task(processor.run())
    try:
        junk = [
            Incoming(external_id=str(n), payload=update(n)[1], priority=LOW) for n in range(1, 50)
        ]
        slow = Incoming(external_id="500", payload=update(500)[1], priority=URGENT, lane="a")
        await inbox.store_many("telegram", [*junk, slow])
        async with asyncio.timeout(5):
            await both_busy.wait()
        post = Incoming(external_id="999", payload=update(999)[1], priority=URGENT, lane="b")
        await inbox.store_many("telegram", [post])
        async with asyncio.timeout(5):
            await post_done.wait()
        assert not gate.is_set()
    finally:
        gate.set()
        processor.stop()
        async with asyncio.timeout(5):
            await running
    assert {i.external_id: i.status for i in await inbox.items()}["999"] == DONE


async def test_transient_errors_give_up_after_max_attempts_and_report(
    inbox: Inbox, clock: Clock
) -> None:
    recorder = Recorder()
    recorder.fail[1] = TransientError("down")
    await inbox.store_many("telegram", [update(1)])
    processor = processor_for(inbox, recorder, max_attempts=3)
    for _ in range(3):
        await processor.process_once()
        clock.now += timedelta(hours=1)
    [item] = await inbox.items()
    assert (item.status, item.attempts) == (FAILED, 3)
    assert len(recorder.failed_reports) == 1


async def test_urgent_lanes_go_before_junk(inbox: Inbox) -> None:
    recorder = Recorder()
    junk = [
        Incoming(external_id=str(n), payload=update(n)[1], priority=LOW, lane=f"user:{n}")
        for n in range(1, 300)
    ]
    post = Incoming(external_id="300", payload=update(300)[1], priority=URGENT, lane="chat:-1")
    await inbox.store_many("telegram", [*junk, post])
    processor = processor_for(inbox, recorder, concurrency=1)
    await processor.process_once()
    assert recorder.seen[0] == 300


async def test_after_a_crash_pending_updates_are_processed_by_the_next_process(
    inbox: Inbox,
) -> None:
    first = Recorder()
    await inbox.store_many("telegram", [update(1), update(2)])
    # The process dies while handling update 1: nothing was marked.
    gate = asyncio.Event()

    async def hang(payload: dict[str, object]) -> None:
        await gate.wait()

    dying = InboxProcessor(inbox)
    dying.register("telegram", hang)
    task = asyncio.create_task(dying.process_once())
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert {i.status for i in await inbox.items()} == {PENDING}
    restarted = processor_for(inbox, first)
    assert await restarted.process_once() == 2
    assert first.seen == [1, 2]


async def test_a_database_error_while_handling_is_retried(inbox: Inbox) -> None:
    await inbox.store_many("telegram", [update(1)])
    processor = InboxProcessor(inbox)

    async def locked(payload: dict[str, object]) -> None:
        cause = sqlite3.OperationalError("database is locked")
        raise OperationalError("INSERT INTO publications", {}, cause)

    processor.register("telegram", locked)
    await processor.process_once()
    [item] = await inbox.items()
    assert (item.status, item.attempts) == (PENDING, 1)
    assert item.error is not None
    assert "database is locked" in item.error


async def test_run_wakes_on_store_and_stops(inbox: Inbox) -> None:
    recorder = Recorder()
    processor = processor_for(inbox, recorder)
    inbox.on_stored(processor.wake)
    running = asyncio.create_task(processor.run())
    await inbox.store_many("telegram", [update(1)])
    async with asyncio.timeout(5):
        await processor.progressed.wait()
    processor.stop()
    async with asyncio.timeout(5):
        await running
    assert recorder.seen == [1]


async def test_prune_forgets_handled_updates_but_keeps_failures(
    inbox: Inbox, clock: Clock
) -> None:
    await inbox.store_many("telegram", [update(1), update(2), update(3)])
    await inbox.mark_done([1, 2])
    await inbox.mark_failed(3, "ValueError: broken")
    assert await inbox.prune(clock.now - timedelta(days=1)) == 0
    assert await inbox.prune(clock.now + timedelta(seconds=1)) == 2
    assert [(i.external_id, i.status) for i in await inbox.items()] == [("3", FAILED)]


async def test_while_writes_fail_the_processor_pauses_then_resumes_on_the_next_store(
    engine: AsyncEngine, inbox: Inbox
) -> None:
    """An update handled while the database refuses writes stays pending; the processor does
    not spin on it, and picks it up again as soon as a store shows writing works."""
    seen: list[int] = []
    called = asyncio.Event()

    async def handle(payload: dict[str, object]) -> None:
        n = payload["update_id"]
        assert isinstance(n, int)
        seen.append(n)
        called.set()

    processor = InboxProcessor(inbox, db_retry=timedelta(hours=1))
    processor.register("telegram", handle)
    inbox.on_stored(processor.wake)
    await inbox.store_many("telegram", [update(1)])
    with failing_writes(engine, "database or disk is full") as fault:
        running = asyncio.create_task(processor.run())
        try:
            async with asyncio.timeout(5):
                await called.wait()
                while not fault.refused:
                    processor.progressed.clear()
                    await processor.progressed.wait()
            called.clear()
            # A hot loop would handle it again at once; the pause holds for an hour.
            with pytest.raises(TimeoutError):
                async with asyncio.timeout(0.5):
                    await called.wait()
            assert seen == [1]
        except BaseException:
            processor.stop()
            await running
            raise
    try:
        await inbox.store_many("telegram", [update(2)])
        async with asyncio.timeout(5):
            while {i.status for i in await inbox.items()} != {DONE}:
                processor.progressed.clear()
                await processor.progressed.wait()
    finally:
        processor.stop()
        async with asyncio.timeout(5):
            await running
    assert seen == [1, 1, 2]
