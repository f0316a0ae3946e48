"""The whole service wired as `crosspost run` wires it, against the three emulators."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest

from crosspost.app import App, build_app, run_service
from crosspost.config import parse_settings
from crosspost.emulators.ok import OkEmulator
from crosspost.emulators.stack import eventually
from crosspost.emulators.telegram import TelegramEmulator
from crosspost.emulators.vk import VkEmulator
from crosspost.models import Platform
from crosspost.queue import DeliveryRepository
from crosspost.sandbox import (
    ACCOUNTS,
    BOT_TOKEN,
    DEMO_TEXT,
    STAFF_CHAT_ID,
    sandbox_config,
    seed,
    tiny_png,
)


@dataclass
class World:
    tg: TelegramEmulator
    vk: VkEmulator
    ok: OkEmulator
    app: App


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    tg, vk, ok = TelegramEmulator(token=BOT_TOKEN), VkEmulator(), OkEmulator()
    seed(tg, vk, ok)
    data = sandbox_config(await tg.start(), await vk.start(), await ok.start(), tmp_path)
    app = await build_app(parse_settings(data, env={}))
    try:
        yield World(tg=tg, vk=vk, ok=ok, app=app)
    finally:
        await app.close()
        await tg.stop()
        await vk.stop()
        await ok.stop()


async def test_channel_post_reaches_vk_and_ok_and_staff_see_links(world: World) -> None:
    stop = asyncio.Event()
    service = asyncio.create_task(run_service(world.app, stop=stop))
    try:
        await world.tg.wait_for_request("getUpdates")
        adm = ACCOUNTS["administration"]
        world.tg.post_to_channel(adm["channel"], photo=tiny_png(), caption=DEMO_TEXT)
        report = await world.tg.wait_for_sent(
            lambda s: s.chat_id == STAFF_CHAT_ID and (s.text or "").count("✅") == 2,
            timeout=15,
        )
    finally:
        stop.set()
        async with asyncio.timeout(30):
            await service
    (post,) = world.vk.wall(adm["vk_group"])
    assert post.text.startswith("Уважаемые жители!")
    assert len(post.attachments) == 1
    assert world.vk.media(post.attachments[0]).data == tiny_png()
    (topic,) = world.ok.group_topics(adm["ok_group"])
    assert "субботник" in topic.text
    assert world.ok.topic_photos(topic)[0].data == tiny_png()
    text = report[-1].text or ""
    assert f"https://vk.com/wall-{adm['vk_group']}_{post.post_id}" in text
    assert "ok.ru/group/" in text
    assert not world.vk.wall(ACCOUNTS["head"]["vk_group"])  # only the account's own mirror


async def test_ok_token_close_to_lapsing_warns_staff(world: World) -> None:
    now = world.app.clock()
    async with world.app.sessionmaker() as session, session.begin():
        repo = DeliveryRepository(session)
        await repo.record_success("administration", Platform.OK, now - timedelta(days=25))
        await repo.record_success("head", Platform.OK, now - timedelta(days=2))
    lapsing = await world.app.warn_lapsing_tokens()
    assert [(a, p) for a, p, _ in lapsing] == [("administration", Platform.OK)]
    (alert,) = await world.tg.wait_for_sent(
        lambda s: s.chat_id == STAFF_CHAT_ID and "доступ перестанет действовать" in (s.text or "")
    )
    assert "Одноклассники" in (alert.text or "")
    assert "crosspost" not in (alert.text or "")
    # No IT contact in this config: the command to run comes to the staff chat, said as such.
    assert "подробности для ИТ-специалиста" in (alert.text or "")
    (note,) = await world.tg.wait_for_sent(
        lambda s: s.chat_id == STAFF_CHAT_ID and "Для ИТ-специалиста" in (s.text or "")
    )
    assert ACCOUNTS["administration"]["title"] in (note.text or "")
    assert "crosspost check -c" in (note.text or "")


async def test_expired_ok_token_pauses_then_check_resumes(world: World) -> None:
    world.ok.expire_token("sandbox-ok-token-head")
    await world.app.keep_tokens_alive()  # queues the calls
    await world.app.drainer.drain_once()  # makes them
    async with world.app.sessionmaker() as session:
        states = {
            (s.account, s.platform): s for s in await DeliveryRepository(session).target_states()
        }
    assert states[("head", Platform.OK)].paused
    assert (
        not states.get(("administration", Platform.OK))
        or not states[("administration", Platform.OK)].paused
    )
    world.ok.expire_token("sandbox-ok-token-head", expired=False)
    results = await world.app.check()
    assert all(line.ok for line in results[("head", Platform.OK)])
    async with world.app.sessionmaker() as session:
        states = {
            (s.account, s.platform): s for s in await DeliveryRepository(session).target_states()
        }
    assert not states[("head", Platform.OK)].paused


def test_one_run_per_sqlite_database(tmp_path: Path) -> None:
    from crosspost.app import RunLock
    from crosspost.errors import UsageError

    url = f"sqlite+aiosqlite:///{tmp_path / 'crosspost.db'}"
    first = RunLock.acquire(url)
    assert first is not None
    with pytest.raises(UsageError, match="another crosspost run is already using the database"):
        RunLock.acquire(url)
    first.release()
    again = RunLock.acquire(url)  # released (as the OS does when a killed process exits)
    assert again is not None
    again.release()
    assert RunLock.acquire("postgresql+asyncpg://u@h/db") is None


async def test_a_report_the_last_run_did_not_update_is_updated_at_start(world: World) -> None:
    """Issue 9: a run killed between a delivery's commit and its report's edit left the report
    stale for good; the next start brings recent reports up to date."""
    world.tg.fail_next(
        "editMessageText", error_code=400, description="Bad Request: lost edit", times=1000
    )
    # The copies wait until the first report is out, so that only its edits can carry them.
    world.vk.fail_next("wall.post", error=10, times=1000)
    world.ok.fail_next("mediatopic.post", http_status=503, times=1000)
    stop = asyncio.Event()
    service = asyncio.create_task(run_service(world.app, stop=stop))
    try:
        await world.tg.wait_for_request("getUpdates")
        world.tg.post_to_channel(ACCOUNTS["administration"]["channel"], text=DEMO_TEXT)
        await world.tg.wait_for_sent(
            lambda s: s.chat_id == STAFF_CHAT_ID and s.method == "sendMessage", timeout=15
        )
        world.vk.faults.clear()
        world.ok._faults.clear()

        async def all_published() -> bool:
            async with world.app.sessionmaker() as session:
                listed = await DeliveryRepository(session).list_deliveries()
            return {d.status for d in listed} == {"published"}

        await eventually(all_published, within=15)
    finally:
        stop.set()
        async with asyncio.timeout(30):
            await service
    [report] = world.tg.messages(STAFF_CHAT_ID).values()
    assert str(report.get("text", "")).count("✅") < 2  # stale: the edits were lost
    world.tg._faults.clear()
    assert await world.app.refresh_recent_reports() == 1
    [report] = world.tg.messages(STAFF_CHAT_ID).values()
    assert str(report.get("text", "")).count("✅") == 2
