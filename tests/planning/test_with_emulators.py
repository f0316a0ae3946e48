"""Events and feeds wired as `crosspost run` wires them, against the VK and OK emulators."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import feedparser
import pytest
from icalendar import Calendar

from crosspost.app import App, build_app
from crosspost.config import parse_settings
from crosspost.emulators.ok import OkEmulator
from crosspost.emulators.telegram import TelegramEmulator
from crosspost.emulators.vk import VkEmulator
from crosspost.models import Platform
from crosspost.planning.events import NewEvent
from crosspost.sandbox import ACCOUNTS, BOT_TOKEN, sandbox_config, seed


@dataclass
class World:
    vk: VkEmulator
    ok: OkEmulator
    app: App


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    tg, vk, ok = TelegramEmulator(token=BOT_TOKEN), VkEmulator(), OkEmulator()
    seed(tg, vk, ok)
    data = sandbox_config(await tg.start(), await vk.start(), await ok.start(), tmp_path)
    data["feeds"] = {"dir": str(tmp_path / "feeds"), "base_url": "https://spassk.example/feeds"}
    app = await build_app(parse_settings(data, env={}))
    try:
        yield World(vk=vk, ok=ok, app=app)
    finally:
        await app.close()
        await tg.stop()
        await vk.stop()
        await ok.stop()


async def test_event_announcement_reaches_vk_and_ok_and_the_feeds(
    world: World, tmp_path: Path
) -> None:
    planning = world.app.planning
    assert planning is not None
    assert planning.feeds is not None
    planning.feeds.debounce = timedelta(0)
    starts = (datetime.now(UTC) + timedelta(days=3)).replace(second=0, microsecond=0)
    planned = await planning.events.create(
        NewEvent(
            title="Субботник в городском парке",
            place="городской парк",
            text="Приглашаем жителей.",
            starts_at=starts,
            accounts=("administration",),
            platforms=(Platform.VK, Platform.OK),
        ),
        actor="test",
    )
    planning.feeds.written.clear()
    async with asyncio.timeout(20):
        while await world.app.drainer.drain_once():
            pass
        await planning.feeds.written.wait()
        await planning.feeds.settled()
    adm = ACCOUNTS["administration"]
    (post,) = world.vk.wall(adm["vk_group"])
    assert post.text.startswith("Субботник в городском парке\n\n")
    (topic,) = world.ok.group_topics(adm["ok_group"])
    assert "Место: городской парк." in topic.text
    feed = feedparser.parse((tmp_path / "feeds" / "administration.atom").read_bytes())
    assert feed.bozo == 0
    (entry,) = feed.entries
    assert entry.title == "Субботник в городском парке"
    hrefs = {link.href for link in entry.links}
    assert f"https://vk.com/wall-{adm['vk_group']}_{post.post_id}" in hrefs
    cal = Calendar.from_ical((tmp_path / "feeds" / "administration.ics").read_bytes())
    (vevent,) = cal.walk("VEVENT")
    assert vevent.decoded("dtstart") == starts
    assert str(vevent["uid"]) == f"event-{planned.event.event_id}@crosspost"
    # Two reminders wait in the queue for their times.
    reminders = planned.event.reminders
    assert len(reminders) == 2
    assert all(r.due_at > datetime.now(UTC) for r in reminders)
