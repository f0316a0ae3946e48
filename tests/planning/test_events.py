"""Events: announcement and reminders at their times (across a restart), move, cancel, DST."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from crosspost.db import PublicationRow
from crosspost.errors import UsageError
from crosspost.models import DeliveryStatus, Platform
from crosspost.planning.events import NewEvent, PostKind, PostStatus, default_reminders
from tests.planning.conftest import WorldFactory

VLADIVOSTOK = ZoneInfo("Asia/Vladivostok")
BERLIN = ZoneInfo("Europe/Berlin")
# Tuesday 1 December 2026, 09:00 in Vladivostok.
NOW = datetime(2026, 12, 1, 9, 0, tzinfo=VLADIVOSTOK).astimezone(UTC)
# Saturday 5 December 2026, 10:00 in Vladivostok.
STARTS = datetime(2026, 12, 5, 10, 0, tzinfo=VLADIVOSTOK).astimezone(UTC)


def subbotnik(**overrides: object) -> NewEvent:
    values: dict[str, object] = {
        "title": "Субботник в городском парке",
        "place": "городской парк, центральный вход",
        "text": "Приглашаем жителей. Инвентарь выдадим на месте.",
        "starts_at": STARTS,
        "accounts": ("administration",),
        "platforms": (Platform.VK, Platform.OK),
    }
    values.update(overrides)
    return NewEvent(**values)  # type: ignore[arg-type]


async def test_announcement_now_and_default_reminders_fire_at_their_times_across_a_restart(
    world_factory: WorldFactory,
) -> None:
    world = world_factory(NOW)
    planned = await world.events.create(subbotnik(), actor="test")
    event = planned.event
    assert planned.skipped == ()
    assert [(p.kind, p.due_at) for p in event.posts] == [
        (PostKind.ANNOUNCEMENT, NOW),
        # The day before at 10:00 and two hours before, local time.
        (PostKind.REMINDER, datetime(2026, 12, 4, 10, 0, tzinfo=VLADIVOSTOK).astimezone(UTC)),
        (PostKind.REMINDER, datetime(2026, 12, 5, 8, 0, tzinfo=VLADIVOSTOK).astimezone(UTC)),
    ]
    assert await world.drain() == 2  # the announcement on VK and OK
    assert world.texts()[0].startswith(
        "Субботник в городском парке\n\nВ субботу, 5 декабря, в 10:00."
    )

    # The service restarts; nothing of the old process is kept but the database.
    world = world.restart()
    first, second = event.reminders
    world.clock.now = first.due_at - timedelta(seconds=1)
    assert await world.drain() == 0
    world.clock.now = first.due_at
    assert await world.drain() == 2
    assert world.texts()[-1].startswith(
        "Напоминаем: «Субботник в городском парке» — завтра, в субботу, 5 декабря, в 10:00."
    )
    world = world.restart()
    world.clock.now = second.due_at - timedelta(minutes=1)
    assert await world.drain() == 0
    world.clock.now = second.due_at + timedelta(seconds=5)
    assert await world.drain() == 2
    assert world.texts()[-1].startswith(
        "Напоминаем: «Субботник в городском парке» — сегодня, в 10:00."
    )
    assert len(world.fake().published) == 3


async def test_announcement_later_and_own_reminders(world_factory: WorldFactory) -> None:
    world = world_factory(NOW)
    announce_at = NOW + timedelta(hours=3)
    remind = STARTS - timedelta(minutes=30)
    planned = await world.events.create(
        subbotnik(announce_at=announce_at, reminders=(remind,)), actor="test"
    )
    assert [(p.kind, p.due_at) for p in planned.event.posts] == [
        (PostKind.ANNOUNCEMENT, announce_at),
        (PostKind.REMINDER, remind),
    ]
    assert await world.drain() == 0
    world.clock.now = announce_at
    assert await world.drain() == 2


async def test_reminders_already_past_are_skipped_and_named(world_factory: WorldFactory) -> None:
    # Created on Friday 4 December at 12:00: «the day before at 10:00» has passed.
    now = datetime(2026, 12, 4, 12, 0, tzinfo=VLADIVOSTOK).astimezone(UTC)
    world = world_factory(now)
    planned = await world.events.create(subbotnik(), actor="test")
    day_before = datetime(2026, 12, 4, 10, 0, tzinfo=VLADIVOSTOK).astimezone(UTC)
    assert planned.skipped == (day_before,)
    statuses = {p.due_at: p.status for p in planned.event.reminders}
    assert statuses == {
        day_before: PostStatus.SKIPPED,
        STARTS - timedelta(hours=2): PostStatus.QUEUED,
    }
    assert await world.drain() == 2  # only the announcement; the skipped reminder never goes


async def test_bad_events_are_refused_and_write_nothing(world_factory: WorldFactory) -> None:
    world = world_factory(NOW)
    with pytest.raises(UsageError):
        await world.events.create(subbotnik(starts_at=NOW - timedelta(hours=1)), actor="t")
    with pytest.raises(UsageError):
        await world.events.create(subbotnik(reminders=(STARTS + timedelta(hours=1),)), actor="t")
    with pytest.raises(UsageError):
        await world.events.create(subbotnik(accounts=("nobody",)), actor="t")
    async with world.sessionmaker() as session:
        assert (await session.scalars(select(PublicationRow))).all() == []


async def test_move_shifts_pending_reminders_and_offers_notice_and_edit(
    world_factory: WorldFactory,
) -> None:
    world = world_factory(NOW)
    event = (await world.events.create(subbotnik(), actor="test")).event
    await world.drain()
    # Moved a day and a half later (Sunday 6 December 22:00).
    new_start = STARTS + timedelta(days=1, hours=12)
    moved = await world.events.move(event.event_id, new_start, actor="test")
    assert moved.shifted == 2
    assert moved.skipped == ()
    assert moved.announcement_published
    assert [p.due_at for p in moved.event.reminders] == [
        r.due_at + timedelta(days=1, hours=12) for r in event.reminders
    ]
    for reminder in moved.event.reminders:
        assert reminder.publication_id is not None
        view = await world.service.view(reminder.publication_id)
        assert view is not None
        assert {d.due_at for d in view.deliveries} == {reminder.due_at}
        assert "в 22:00" in view.info.text
    first = await world.service.view(moved.event.reminders[0].publication_id or 0)
    assert first is not None
    assert "завтра, в воскресенье, 6 декабря, в 22:00" in first.info.text

    edit = await world.events.edit_announcement(event.event_id, actor="test")
    assert edit is not None
    assert edit.changed
    await world.drain()  # the edit of each published copy is a queued operation
    edited = [c for c in world.fake().calls if c.method == "edit"]
    assert edited
    assert edited[-1].content is not None
    assert "В воскресенье, 6 декабря, в 22:00." in edited[-1].content.text.text

    notice = await world.events.post_notice(event.event_id, actor="test")
    assert await world.drain() == 2
    assert world.texts()[-1] == (
        "Перенос: «Субботник в городском парке» состоится в воскресенье, 6 декабря, в 22:00 "
        "(ранее планировалось в субботу, 5 декабря, в 10:00).\n"
        "Место: городской парк, центральный вход."
    )
    assert notice > 0
    # The reminders go at their new times only.
    world.clock.now = event.reminders[0].due_at
    assert await world.drain() == 0
    world.clock.now = moved.event.reminders[0].due_at
    assert await world.drain() == 2


async def test_move_earlier_skips_reminders_whose_new_time_passed(
    world_factory: WorldFactory,
) -> None:
    world = world_factory(NOW)
    event = (await world.events.create(subbotnik(), actor="test")).event
    # Moved to Wednesday 2 December 08:00: the day-before reminder would go on 1 December at
    # 08:00, an hour ago; the one two hours before (06:00) is still ahead.
    new_start = datetime(2026, 12, 2, 8, 0, tzinfo=VLADIVOSTOK).astimezone(UTC)
    moved = await world.events.move(event.event_id, new_start, actor="test")
    assert len(moved.skipped) == 1
    assert moved.shifted == 1
    skipped = [p for p in moved.event.reminders if p.status is PostStatus.SKIPPED]
    assert len(skipped) == 1
    assert skipped[0].publication_id is not None
    view = await world.service.view(skipped[0].publication_id)
    assert view is not None
    assert {d.status for d in view.deliveries} == {DeliveryStatus.CANCELLED}


async def test_cancel_cancels_pending_posts_and_offers_notice(world_factory: WorldFactory) -> None:
    world = world_factory(NOW)
    event = (await world.events.create(subbotnik(), actor="test")).event
    await world.drain()
    cancelled = await world.events.cancel(event.event_id, actor="test")
    assert cancelled.cancelled == 2
    assert cancelled.announcement_published
    assert all(p.status is PostStatus.CANCELLED for p in cancelled.event.reminders)
    edit = await world.events.edit_announcement(event.event_id, actor="test")
    assert edit is not None
    assert edit.changed
    await world.drain()
    edited = [c for c in world.fake().calls if c.method == "edit"]
    assert edited[-1].content is not None
    assert edited[-1].content.text.text.startswith("ОТМЕНЕНО\n\nСубботник")
    await world.events.post_notice(event.event_id, actor="test")
    world.clock.now = STARTS
    assert await world.drain() == 2  # only the notice
    assert world.texts()[-1] == (
        "Отменено: «Субботник в городском парке» в субботу, 5 декабря, в 10:00 не состоится."
    )
    with pytest.raises(UsageError):
        await world.events.cancel(event.event_id, actor="test")
    with pytest.raises(UsageError):
        await world.events.move(event.event_id, STARTS + timedelta(days=1), actor="test")


async def test_upcoming_lists_future_events_only(world_factory: WorldFactory) -> None:
    world = world_factory(NOW)
    event = (await world.events.create(subbotnik(), actor="test")).event
    assert [e.event_id for e in await world.events.upcoming()] == [event.event_id]
    world.clock.now = STARTS + timedelta(minutes=1)
    assert await world.events.upcoming() == []


@pytest.mark.parametrize(
    ("zone", "starts_local", "expected_utc"),
    [
        # Vladivostok: UTC+10 all year.
        (
            "Asia/Vladivostok",
            (2026, 10, 25, 12, 0),
            [(2026, 10, 24, 0, 0), (2026, 10, 25, 0, 0)],
        ),
        # Berlin: summer time ends at 03:00 on 25 October 2026. The day before at 10:00 is
        # still CEST (UTC+2); the event at 12:00 is CET (UTC+1), two hours before is 10:00 CET.
        (
            "Europe/Berlin",
            (2026, 10, 25, 12, 0),
            [(2026, 10, 24, 8, 0), (2026, 10, 25, 9, 0)],
        ),
        # Berlin, spring: summer time starts at 02:00 on 29 March 2026.
        (
            "Europe/Berlin",
            (2026, 3, 29, 12, 0),
            [(2026, 3, 28, 9, 0), (2026, 3, 29, 8, 0)],
        ),
    ],
)
async def test_local_times_across_dst_give_right_utc_instants(
    world_factory: WorldFactory,
    zone: str,
    starts_local: tuple[int, ...],
    expected_utc: list[tuple[int, ...]],
) -> None:
    tz = ZoneInfo(zone)
    starts = datetime(*starts_local, tzinfo=tz).astimezone(UTC)
    expected = [datetime(*e, tzinfo=UTC) for e in expected_utc]
    assert default_reminders(["1d@10:00", "2h"], starts, tz) == expected
    world = world_factory(starts - timedelta(days=7), timezone=zone)
    planned = await world.events.create(subbotnik(starts_at=starts), actor="test")
    assert [p.due_at for p in planned.event.reminders] == expected
    # Each reminder fires at its instant and says the local time of the event.
    for reminder in planned.event.reminders:
        world.clock.now = reminder.due_at
        assert await world.drain() in (2, 4)
    assert "в 12:00" in world.texts()[-1]


async def test_crash_between_submit_and_link_does_not_post_twice(
    world_factory: WorldFactory,
) -> None:
    world = world_factory(NOW)
    event = (await world.events.create(subbotnik(), actor="test")).event
    reminder = event.reminders[0]
    # As if the process died after the submit committed, before the post row was linked.
    from sqlalchemy import update

    from crosspost.db import EventPostRow

    async with world.sessionmaker() as session, session.begin():
        await session.execute(
            update(EventPostRow)
            .where(EventPostRow.id == reminder.post_id)
            .values(status="planned", publication_id=None)
        )
    world = world.restart()
    world.clock.now = NOW + timedelta(minutes=5)
    assert await world.events.recover() == 1
    again = await world.events.require(event.event_id)
    assert again.reminders[0].publication_id == reminder.publication_id
    async with world.sessionmaker() as session:
        assert len((await session.scalars(select(PublicationRow))).all()) == 3
