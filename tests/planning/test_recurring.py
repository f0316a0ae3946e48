"""Recurring posts: exact runs, no double enqueue, missed runs within and beyond the grace, DST."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from crosspost.db import PublicationRow, RecurringRunRow
from crosspost.errors import UsageError
from crosspost.models import DeliveryStatus, Platform
from crosspost.planning.recurring import RuleKind, Schedule
from tests.planning.conftest import WorldFactory

VLADIVOSTOK = ZoneInfo("Asia/Vladivostok")
BERLIN = ZoneInfo("Europe/Berlin")
# Tuesday 1 December 2026, 12:00 in Vladivostok.
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=VLADIVOSTOK).astimezone(UTC)
# The next Monday 09:00 in Vladivostok.
MONDAY_9 = datetime(2026, 12, 7, 9, 0, tzinfo=VLADIVOSTOK).astimezone(UTC)
TEXT = "Приём граждан по личным вопросам: каб. 12, с 09:00 до 12:00."


async def publications(world_factory_world: object) -> list[PublicationRow]:
    sessionmaker = world_factory_world.sessionmaker  # type: ignore[attr-defined]
    async with sessionmaker() as session:
        return list((await session.scalars(select(PublicationRow))).all())


@pytest.mark.parametrize("rule", ["0 9 * * 1", "RRULE:FREQ=WEEKLY;BYDAY=MO;BYHOUR=9;BYMINUTE=0"])
async def test_a_run_is_queued_for_its_exact_time_and_only_once(
    world_factory: WorldFactory, rule: str
) -> None:
    world = world_factory(NOW)
    added = await world.recurring.add(
        rule=rule, text=TEXT, accounts=["administration"], actor="test"
    )
    assert added.next_run_at == MONDAY_9
    assert added.kind is (RuleKind.CRON if rule[0].isdigit() else RuleKind.RRULE)
    assert (await world.recurring.tick()).queued == ()
    world.clock.now = MONDAY_9 - timedelta(minutes=3)
    result = await world.recurring.tick()
    assert [(r, at) for r, at, _ in result.queued] == [(added.rule_id, MONDAY_9)]
    # A second tick, a second tick at once, and a restarted service do not enqueue it again.
    again = await asyncio.gather(world.recurring.tick(), world.recurring.tick())
    assert all(r.queued == () for r in again)
    world = world.restart()
    world.clock.now = MONDAY_9 + timedelta(seconds=30)
    assert (await world.recurring.tick()).queued == ()
    pubs = await publications(world)
    assert len(pubs) == 1
    assert pubs[0].publish_at == MONDAY_9
    # Sent on the minute by the drain loop, to every platform the account has.
    world.clock.now = MONDAY_9 - timedelta(seconds=1)
    assert await world.drain() == 0
    world.clock.now = MONDAY_9
    assert await world.drain() == 3
    assert world.texts(platform=Platform.OK) == [TEXT]
    assert world.alerts == []


async def test_missed_run_within_grace_is_made_late(world_factory: WorldFactory) -> None:
    world = world_factory(NOW)
    await world.recurring.add(rule="0 9 * * 1", text=TEXT, accounts=["head"], actor="test")
    # The service was down from before the run until 40 minutes after it (grace: 60 min).
    world = world.restart()
    world.clock.now = MONDAY_9 + timedelta(minutes=40)
    result = await world.recurring.tick()
    assert [at for _, at, _ in result.late] == [MONDAY_9]
    assert result.skipped == ()
    assert await world.drain() == 3
    assert len(world.alerts) == 1
    assert "должна была выйти 07.12.2026 09:00" in world.alerts[0]
    assert "публикуется с опозданием" in world.alerts[0]
    async with world.sessionmaker() as session:
        runs = (await session.scalars(select(RecurringRunRow))).all()
    assert [(r.run_at, r.status) for r in runs] == [(MONDAY_9, "late")]


async def test_missed_runs_beyond_grace_are_skipped_and_staff_told(
    world_factory: WorldFactory,
) -> None:
    world = world_factory(NOW)
    await world.recurring.add(rule="0 9 * * 1", text=TEXT, accounts=["head"], actor="test")
    # Down for two weeks and two hours: two Mondays missed, the last by two hours.
    world = world.restart()
    world.clock.now = MONDAY_9 + timedelta(days=7, hours=2)
    result = await world.recurring.tick()
    assert result.queued == ()
    assert result.late == ()
    assert [(m.count, m.last_at) for m in result.skipped] == [(2, MONDAY_9 + timedelta(days=7))]
    assert await publications(world) == []
    assert len(world.alerts) == 1
    assert "Пропущено выпусков: 2" in world.alerts[0]
    assert "14.12.2026 09:00" in world.alerts[0]
    # Told once: the next tick is quiet, the next Monday runs normally.
    assert (await world.recurring.tick()).skipped == ()
    assert len(world.alerts) == 1
    world.clock.now = MONDAY_9 + timedelta(days=14) - timedelta(minutes=2)
    assert len((await world.recurring.tick()).queued) == 1


async def test_grace_is_configurable(world_factory: WorldFactory) -> None:
    world = world_factory(NOW, events={"recurring_grace_minutes": 180})
    await world.recurring.add(rule="0 9 * * 1", text=TEXT, accounts=["head"], actor="test")
    world.clock.now = MONDAY_9 + timedelta(hours=2)
    assert len((await world.recurring.tick()).late) == 1


async def test_pause_resume_delete(world_factory: WorldFactory) -> None:
    world = world_factory(NOW)
    rule = await world.recurring.add(
        rule="0 9 * * 1", text=TEXT, accounts=["administration"], actor="test"
    )
    world.clock.now = MONDAY_9 - timedelta(minutes=3)
    assert len((await world.recurring.tick()).queued) == 1
    # Paused while the run waits in the queue: it is taken off.
    paused = await world.recurring.pause(rule.rule_id, actor="test")
    assert paused.paused
    assert paused.next_run_at is None
    pub = (await publications(world))[0]
    view = await world.service.view(pub.id)
    assert view is not None
    assert {d.status for d in view.deliveries} == {DeliveryStatus.CANCELLED}
    # A paused rule makes nothing; runs that fell in the pause are not made up on resume.
    world.clock.now = MONDAY_9 + timedelta(days=7, minutes=10)
    assert (await world.recurring.tick()).late == ()
    resumed = await world.recurring.resume(rule.rule_id, actor="test")
    assert resumed.next_run_at == MONDAY_9 + timedelta(days=14)
    result = await world.recurring.tick()
    assert result.late == ()
    assert result.skipped == ()
    assert result.queued == ()
    await world.recurring.delete(rule.rule_id, actor="test")
    assert await world.recurring.list() == []
    with pytest.raises(UsageError):
        await world.recurring.pause(rule.rule_id, actor="test")


@pytest.mark.parametrize(
    "rule",
    ["* * * * *", "0 25 * * *", "FREQ=MINUTELY", "every monday", "0 9 30 2 *"],
)
async def test_bad_rules_are_refused(world_factory: WorldFactory, rule: str) -> None:
    world = world_factory(NOW)
    with pytest.raises(UsageError):
        await world.recurring.add(rule=rule, text=TEXT, accounts=["head"], actor="test")
    assert await world.recurring.list() == []


@pytest.mark.parametrize("rule", ["0 9 * * 1", "FREQ=WEEKLY;BYDAY=MO;BYHOUR=9;BYMINUTE=0"])
def test_runs_keep_local_time_across_dst(rule: str) -> None:
    # Berlin leaves summer time on 25 October 2026: Mondays at 09:00 are 07:00 UTC, then 08:00.
    created = datetime(2026, 10, 14, 12, 0, tzinfo=UTC)
    berlin = Schedule(rule, BERLIN, anchor=created)
    runs = list(berlin.between(created, datetime(2026, 11, 3, tzinfo=UTC)))
    assert runs == [
        datetime(2026, 10, 19, 7, 0, tzinfo=UTC),
        datetime(2026, 10, 26, 8, 0, tzinfo=UTC),
        datetime(2026, 11, 2, 8, 0, tzinfo=UTC),
    ]
    # Vladivostok has no DST: always 23:00 UTC the day before.
    vladivostok = Schedule(rule, VLADIVOSTOK, anchor=created)
    runs = list(vladivostok.between(created, datetime(2026, 11, 3, tzinfo=UTC)))
    assert runs == [
        datetime(2026, 10, 18, 23, 0, tzinfo=UTC),
        datetime(2026, 10, 25, 23, 0, tzinfo=UTC),
        datetime(2026, 11, 1, 23, 0, tzinfo=UTC),
    ]


async def test_berlin_rule_fires_at_the_right_instant_after_the_change(
    world_factory: WorldFactory,
) -> None:
    created = datetime(2026, 10, 20, 12, 0, tzinfo=UTC)
    world = world_factory(created, timezone="Europe/Berlin")
    await world.recurring.add(rule="0 9 * * 1", text=TEXT, accounts=["head"], actor="test")
    world.clock.now = datetime(2026, 10, 26, 7, 58, tzinfo=UTC)  # 08:58 CET
    result = await world.recurring.tick()
    assert [at for _, at, _ in result.queued] == [datetime(2026, 10, 26, 8, 0, tzinfo=UTC)]
