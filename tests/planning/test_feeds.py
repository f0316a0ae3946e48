"""Feeds for the website: Atom per account and iCalendar of upcoming events, read back."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import feedparser
from icalendar import Calendar

from crosspost.events import FanOutSink, LogSink
from crosspost.media import MediaStore
from crosspost.models import Content, NewPublication, Platform, PublicationSource, Target
from crosspost.planning.events import NewEvent
from crosspost.planning.feeds import FeedWriter, write_atomic
from crosspost.richtext import RichText
from tests.planning.conftest import World, WorldFactory

VLADIVOSTOK = ZoneInfo("Asia/Vladivostok")
NOW = datetime(2026, 12, 1, 9, 0, tzinfo=VLADIVOSTOK).astimezone(UTC)
STARTS = datetime(2026, 12, 5, 10, 0, tzinfo=VLADIVOSTOK).astimezone(UTC)


def writer(world: World, debounce: timedelta = timedelta(0)) -> FeedWriter:
    w = FeedWriter(
        settings=world.settings,
        sessionmaker=world.sessionmaker,
        events=world.events,
        clock=world.clock,
        debounce=debounce,
    )
    world.events.on_change = w.write_all_quietly
    return w


async def test_atom_feed_lists_published_posts_with_links_and_photos(
    world_factory: WorldFactory, tmp_path: Path
) -> None:
    world = world_factory(NOW)
    feeds = writer(world)
    photo_file = tmp_path / "афиша.jpg"
    photo_file.write_bytes(b"\xff\xd8\xff" + b"1" * 500)
    store = MediaStore(tmp_path / "media", max_file_size=10**6)
    photo = await store.put_file(photo_file)
    await world.service.submit(
        NewPublication(
            content=Content(
                text=RichText.plain("Отключение воды 2 декабря\nул. Ленина, 1–15."),
                media=(photo,),
            ),
            targets=(
                Target(account="administration", platform=Platform.TELEGRAM),
                Target(account="administration", platform=Platform.VK),
            ),
            publish_at=NOW,
            source=PublicationSource.CLI,
            author="test",
        ),
        actor="test",
    )
    await world.events.create(
        NewEvent(
            title="Субботник",
            place="парк",
            text="Приходите",
            starts_at=STARTS,
            accounts=("administration",),
            platforms=(Platform.VK,),
        ),
        actor="test",
    )
    # Not yet published: not in the feed; an unpublished post never shows.
    await feeds.write_all()
    parsed = feedparser.parse((tmp_path / "feeds" / "administration.atom").read_bytes())
    assert parsed.bozo == 0
    assert parsed.entries == []

    world.clock.now = NOW + timedelta(minutes=1)
    await world.drain()
    written = await feeds.write_all()
    assert {p.name for p in written} == {
        "administration.atom",
        "administration.ics",
        "head.atom",
        "head.ics",
    }
    parsed = feedparser.parse((tmp_path / "feeds" / "administration.atom").read_bytes())
    assert parsed.bozo == 0, parsed.bozo_exception
    assert parsed.version == "atom10"
    assert parsed.feed.title == "Администрация городского округа"
    titles = [e.title for e in parsed.entries]
    assert titles == ["Субботник", "Отключение воды 2 декабря"] or titles == [
        "Отключение воды 2 декабря",
        "Субботник",
    ]
    water = next(e for e in parsed.entries if e.title.startswith("Отключение"))
    assert water.content[0].value == "Отключение воды 2 декабря\nул. Ленина, 1–15."
    links = {link.href: link.rel for link in water.links}
    assert "https://fake.invalid/telegram/administration/1" in links
    assert "https://fake.invalid/vk/administration/1" in links
    assert sorted(links.values()).count("alternate") == 1
    [enclosure] = water.enclosures
    assert enclosure.href == f"https://spassk.example/feeds/media/{photo.sha256}.jpg"
    assert enclosure.type == "image/jpeg"
    assert (tmp_path / "feeds" / "media" / f"{photo.sha256}.jpg").read_bytes() == (
        photo_file.read_bytes()
    )
    head = feedparser.parse((tmp_path / "feeds" / "head.atom").read_bytes())
    assert head.bozo == 0
    assert head.entries == []


async def test_calendar_lists_upcoming_events_with_changes(
    world_factory: WorldFactory, tmp_path: Path
) -> None:
    world = world_factory(NOW)
    writer(world)
    new = NewEvent(
        title="Субботник в городском парке",
        place="городской парк",
        text="Инвентарь выдадим",
        starts_at=STARTS,
        accounts=("administration",),
        platforms=(Platform.VK,),
    )
    first = (await world.events.create(new, actor="test")).event
    second = (
        await world.events.create(
            NewEvent(
                title="Приём граждан",
                place="каб. 12",
                text="",
                starts_at=STARTS + timedelta(days=2),
                accounts=("administration", "head"),
                platforms=(Platform.VK,),
            ),
            actor="test",
        )
    ).event
    # Every change rewrites the calendar (the planner's hook).
    await world.events.move(first.event_id, STARTS + timedelta(hours=4), actor="test")
    await world.events.cancel(second.event_id, actor="test")

    cal = Calendar.from_ical((tmp_path / "feeds" / "administration.ics").read_bytes())
    events = {str(e["uid"]): e for e in cal.walk("VEVENT")}
    assert set(events) == {
        f"event-{first.event_id}@crosspost",
        f"event-{second.event_id}@crosspost",
    }
    moved = events[f"event-{first.event_id}@crosspost"]
    assert moved.decoded("dtstart") == STARTS + timedelta(hours=4)
    assert str(moved["summary"]) == "Субботник в городском парке"
    assert str(moved["location"]) == "городской парк"
    assert int(moved["sequence"]) == 1
    assert str(moved["status"]) == "CONFIRMED"
    assert str(events[f"event-{second.event_id}@crosspost"]["status"]) == "CANCELLED"
    head = Calendar.from_ical((tmp_path / "feeds" / "head.ics").read_bytes())
    assert [str(e["uid"]) for e in head.walk("VEVENT")] == [f"event-{second.event_id}@crosspost"]
    assert str(cal["version"]) == "2.0"
    assert "prodid" in cal

    # Past events leave the calendar a day after they started.
    world.clock.now = STARTS + timedelta(days=1, hours=5)
    await world.events.on_change()  # type: ignore[misc]
    cal = Calendar.from_ical((tmp_path / "feeds" / "administration.ics").read_bytes())
    assert [str(e["uid"]) for e in cal.walk("VEVENT")] == [f"event-{second.event_id}@crosspost"]


async def test_feeds_are_rewritten_after_a_publication_settles(
    world_factory: WorldFactory, tmp_path: Path
) -> None:
    world = world_factory(NOW)
    feeds = writer(world)
    world.drainer.sink = FanOutSink(LogSink(), feeds)
    await world.service.submit(
        NewPublication(
            content=Content(text=RichText.plain("Новость дня")),
            targets=(Target(account="head", platform=Platform.OK),),
            publish_at=NOW,
            source=PublicationSource.CLI,
            author="test",
        ),
        actor="test",
    )
    feeds.written.clear()
    await world.drain()
    async with asyncio.timeout(5):
        await feeds.written.wait()
    parsed = feedparser.parse((tmp_path / "feeds" / "head.atom").read_bytes())
    assert [e.title for e in parsed.entries] == ["Новость дня"]
    await feeds.close()


def test_write_is_atomic(tmp_path: Path) -> None:
    target = tmp_path / "feeds" / "a.atom"
    write_atomic(target, b"one")
    write_atomic(target, b"two")
    assert target.read_bytes() == b"two"
    assert [p.name for p in target.parent.iterdir()] == ["a.atom"]  # no temporary files left
    assert target.stat().st_mode & 0o777 == 0o644
