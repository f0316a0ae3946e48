"""The service wired as `crosspost run --sandbox` wires it, against all four emulators."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import select

from crosspost.app import App, build_app, run_service
from crosspost.config import parse_settings
from crosspost.db import InboxRow
from crosspost.emulators.max import MaxEmulator
from crosspost.emulators.ok import OkEmulator
from crosspost.emulators.telegram import TelegramEmulator
from crosspost.emulators.vk import VkEmulator
from crosspost.models import DeliveryStatus, Platform
from crosspost.queue import DeliveryRepository
from crosspost.sandbox import (
    ACCOUNTS,
    BOT_TOKEN,
    STAFF_CHAT_ID,
    STAFF_USER_ID,
    sandbox_config,
    seed,
    seed_max,
    tiny_png,
)

ADM = ACCOUNTS["administration"]


@dataclass
class World:
    tg: TelegramEmulator
    vk: VkEmulator
    ok: OkEmulator
    mx: MaxEmulator
    app: App
    stop: asyncio.Event
    service: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.service = asyncio.create_task(run_service(self.app, stop=self.stop))
        await self.tg.wait_for_request("getUpdates")
        # The MAX side is up once it asked MAX anything (a webhook left over, or a poll).
        await self.mx.wait_until(lambda: bool(self.mx.calls))

    async def close(self) -> None:
        if self.service is not None:
            self.stop.set()
            async with asyncio.timeout(30):
                await self.service

    async def statuses(self) -> dict[tuple[str, Platform], DeliveryStatus]:
        async with self.app.sessionmaker() as session:
            rows = await DeliveryRepository(session).list_deliveries(limit=100)
        return {(d.account, d.platform): d.status for d in rows}


async def make_world(
    tmp_path: Path,
    *,
    hide_sender: bool = False,
    max_extra: dict[str, object] | None = None,
    **account: object,
) -> World:
    tg, vk, ok = TelegramEmulator(token=BOT_TOKEN), VkEmulator(), OkEmulator()
    mx = MaxEmulator(hide_channel_sender=hide_sender)
    seed(tg, vk, ok)
    max_base = await mx.start()
    seed_max(mx)
    data = sandbox_config(await tg.start(), await vk.start(), await ok.start(), tmp_path, max_base)
    data["max"]["poll_timeout_seconds"] = 1
    data["max"].update(max_extra or {})
    data["accounts"]["administration"].update(account)
    app = await build_app(parse_settings(data, env={}))
    return World(tg=tg, vk=vk, ok=ok, mx=mx, app=app, stop=asyncio.Event())


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    w = await make_world(tmp_path)
    try:
        yield w
    finally:
        await w.close()
        await w.app.close()
        for emulator in (w.tg, w.vk, w.ok, w.mx):
            await emulator.stop()


def report_done(world: World, count: int) -> object:
    return world.tg.wait_for_sent(
        lambda s: s.chat_id == STAFF_CHAT_ID and (s.text or "").count("✅") == count,
        timeout=20,
    )


async def test_telegram_post_reaches_max_with_its_photo_and_edit_follows(world: World) -> None:
    await world.start()
    post = world.tg.post_to_channel(
        ADM["channel"],
        photo=tiny_png(),
        caption="Субботник в субботу",
        caption_entities=[{"type": "bold", "offset": 0, "length": 9}],
    )
    await world.mx.wait_until(lambda: bool(world.mx.bot_messages(ADM["max_chat"])), timeout=20)
    [message] = world.mx.bot_messages(ADM["max_chat"])
    assert message.raw_text == "<b>Субботник</b> в субботу"
    assert world.mx.attachment_bytes(message.attachments[0]) == tiny_png()
    report = await report_done(world, 3)
    assert message.url in (report[-1].text or "")
    world.tg.edit_channel_post(
        ADM["channel"], post["message_id"], caption="Субботник перенесён на воскресенье"
    )
    await world.mx.wait_until(lambda: message.edits > 0, timeout=20)
    assert message.text == "Субботник перенесён на воскресенье"
    assert len(message.attachments) == 1  # the photo stays
    assert not world.mx.bot_messages(ACCOUNTS["head"]["max_chat"])


async def test_max_post_reaches_vk_ok_and_telegram_and_edit_follows(world: World) -> None:
    await world.start()
    photo = tiny_png(12, 12)
    staff = world.mx.staff_post(
        ADM["max_chat"],
        "Важно: отключение воды 3 декабря",
        markup=[{"type": "strong", "from": 0, "length": 5}],
        images=[photo, tiny_png()],
    )
    await report_done(world, 3)
    (wall_post,) = world.vk.wall(ADM["vk_group"])
    assert wall_post.text.startswith("Важно: отключение воды")
    assert [world.vk.media(a).data for a in wall_post.attachments] == [photo, tiny_png()]
    (topic,) = world.ok.group_topics(ADM["ok_group"])
    assert "отключение воды" in topic.text
    album = [s for s in world.tg.sent(ADM["channel"]) if not s.edited]
    assert [m.data for s in album for m in s.media] == [photo, tiny_png()]
    assert any("<b>Важно</b>" in (s.html or "") for s in album)
    # Our own MAX message (none here) and our Telegram copies never come back as posts.
    assert world.mx.bot_messages(ADM["max_chat"]) == []
    world.mx.staff_edit(staff.mid, "Важно: отключение воды 4 декабря")
    await world.tg.wait_for_sent(
        lambda s: s.chat_id == ADM["channel"] and s.edited and "4 декабря" in (s.html or ""),
        timeout=20,
    )
    statuses = await world.statuses()
    assert statuses[("administration", Platform.VK)] is DeliveryStatus.PUBLISHED
    assert ("administration", Platform.MAX) not in statuses


async def test_our_copies_never_loop_back_even_without_a_sender(tmp_path: Path) -> None:
    w = await make_world(tmp_path, hide_sender=True)
    try:
        await w.start()
        w.tg.post_to_channel(ADM["channel"], text="Приём граждан в пятницу")
        await report_done(w, 3)
        await w.mx.wait_until(lambda: bool(w.mx.bot_messages(ADM["max_chat"])), timeout=20)
        # Let the listener see the update of our own copy, then the next poll.
        polls = len(w.mx.calls_to("GET /updates"))
        await w.mx.wait_until(lambda: len(w.mx.calls_to("GET /updates")) >= polls + 2, timeout=20)
        statuses = await w.statuses()
        assert len(statuses) == 3  # vk, ok, max: nothing queued from our own MAX copy
        assert len(w.vk.wall(ADM["vk_group"])) == 1
    finally:
        await w.close()
        await w.app.close()
        for emulator in (w.tg, w.vk, w.ok, w.mx):
            await emulator.stop()


async def test_updates_missed_while_down_are_mirrored_at_start(world: World) -> None:
    world.mx.staff_post(ADM["max_chat"], "Пост, пока сервис стоял")
    await world.start()
    await report_done(world, 3)
    (wall_post,) = world.vk.wall(ADM["vk_group"])
    assert wall_post.text == "Пост, пока сервис стоял"
    async with world.app.sessionmaker() as session:
        stored = list(await session.scalars(select(InboxRow).where(InboxRow.source == "max")))
    kinds = [json.loads(row.payload)["update_type"] for row in stored]
    assert "message_created" in kinds  # stored raw in the inbox before the marker moved


async def test_max_auth_failure_pauses_only_max(world: World) -> None:
    world.mx.bots.clear()  # the token is revoked
    await world.start()
    world.tg.post_to_channel(ADM["channel"], text="Объявление")
    await world.tg.wait_for_sent(
        lambda s: s.chat_id == STAFF_CHAT_ID and (s.text or "").count("✅") == 2, timeout=20
    )
    async with world.app.sessionmaker() as session:
        states = {
            (s.account, s.platform): s for s in await DeliveryRepository(session).target_states()
        }
    assert states[("administration", Platform.MAX)].paused
    assert not states[("administration", Platform.VK)].paused
    assert not states[("administration", Platform.OK)].paused
    statuses = await world.statuses()
    assert statuses[("administration", Platform.VK)] is DeliveryStatus.PUBLISHED
    assert statuses[("administration", Platform.MAX)] is DeliveryStatus.PENDING


async def test_max_first_then_the_others_with_a_link_to_it(tmp_path: Path) -> None:
    w = await make_world(tmp_path, publish_first="max", link_to_first=True)
    try:
        await w.start()
        w.tg.post_to_channel(ADM["channel"], text="Штормовое предупреждение")
        await report_done(w, 3)
        [message] = w.mx.bot_messages(ADM["max_chat"])
        assert message.text == "Штормовое предупреждение"
        (wall_post,) = w.vk.wall(ADM["vk_group"])
        assert wall_post.text.endswith(f"Первоисточник в MAX: {message.url}")
        (topic,) = w.ok.group_topics(ADM["ok_group"])
        assert message.url in topic.text
    finally:
        await w.close()
        await w.app.close()
        for emulator in (w.tg, w.vk, w.ok, w.mx):
            await emulator.stop()


async def mirrored_max_post(world: World, text: str) -> str:
    """A staff post in the administration's MAX channel, once its three copies are out."""
    staff = world.mx.staff_post(ADM["max_chat"], text, images=[tiny_png()])
    await report_done(world, 3)
    assert len(world.vk.wall(ADM["vk_group"])) == 1
    assert len(world.ok.group_topics(ADM["ok_group"])) == 1
    return staff.mid


async def copies_deleted(world: World) -> None:
    """Wait until the staff report notes all three copies deleted, then check each platform."""
    await world.tg.wait_for_sent(
        lambda s: s.chat_id == STAFF_CHAT_ID and (s.text or "").count(": удалено") == 3,
        timeout=20,
    )
    assert copies_gone(world)


def copies_gone(world: World) -> bool:
    return (
        not world.vk.wall(ADM["vk_group"])
        and not world.ok.group_topics(ADM["ok_group"])
        and not world.tg.messages(ADM["channel"])
    )


async def test_a_max_post_deleted_in_max_is_deleted_everywhere(world: World) -> None:
    await world.start()
    mid = await mirrored_max_post(world, "Объявление, которое уберут")
    assert world.tg.messages(ADM["channel"])
    world.mx.staff_delete(mid)
    await copies_deleted(world)
    async with world.app.sessionmaker() as session:
        repo = DeliveryRepository(session)
        [publication_id] = {d.publication_id for d in await repo.list_deliveries(limit=10)}
        ops = await repo.operations(publication_id=publication_id)
    # Through the queue: one delete operation per copy, each done once.
    assert sorted(str(op.platform) for op in ops) == ["ok", "telegram", "vk"]
    # A replay of the same update changes nothing.
    world.mx._push(dict(world.mx.updates[-1]))
    polls = len(world.mx.calls_to("GET /updates"))
    await world.mx.wait_until(lambda: len(world.mx.calls_to("GET /updates")) >= polls + 2)
    async with world.app.sessionmaker() as session:
        assert (
            len(await DeliveryRepository(session).operations(publication_id=publication_id)) == 3
        )


async def test_delete_command_takes_a_max_post_link(world: World) -> None:
    await world.start()
    mid = await mirrored_max_post(world, "Пост, который удалят через бота")
    url = world.mx.messages[mid].url
    world.tg.send_private(STAFF_USER_ID, text=f"/delete {url}")
    [confirm] = await world.tg.wait_for_sent(
        lambda s: s.chat_id == STAFF_USER_ID and "Удалить публикацию" in (s.text or ""),
        timeout=20,
    )
    assert confirm.reply_markup is not None
    yes = confirm.reply_markup["inline_keyboard"][0][0]["callback_data"]
    world.tg.press_button(STAFF_USER_ID, confirm.message_id, yes)
    await copies_deleted(world)
    # The staff post in MAX itself is the staff's: the bot leaves it alone.
    assert not world.mx.messages[mid].deleted


async def test_telegram_album_reaches_max_as_one_message_with_the_same_bytes(
    world: World,
) -> None:
    await world.start()
    photos = [tiny_png(10 + i, 10 + i) for i in range(4)]
    for i, photo in enumerate(photos):
        world.tg.post_to_channel(
            ADM["channel"],
            photo=photo,
            caption="Фотоотчёт с субботника" if i == 0 else None,
            media_group_id="album-max",
        )
    await report_done(world, 3)
    [message] = world.mx.bot_messages(ADM["max_chat"])
    assert message.text == "Фотоотчёт с субботника"
    assert [a["type"] for a in message.attachments] == ["image"] * 4
    assert [world.mx.attachment_bytes(a) for a in message.attachments] == photos
    async with world.app.sessionmaker() as session:
        rows = await DeliveryRepository(session).list_deliveries(limit=10)
    assert len({d.publication_id for d in rows}) == 1
