"""`/stats` in the staff bot: the table for today against a year ago, and the chart."""

from __future__ import annotations

import asyncio
import struct

from crosspost.app import run_service
from crosspost.sandbox import STAFF_USER_ID
from crosspost.stats.chart import HEIGHT_PX, WIDTH_PX
from tests.stats.conftest import World, import_year_ago

STRANGER = 424242


async def test_stats_answers_staff_with_the_table_and_the_chart(world: World) -> None:
    await import_year_ago(world.app)
    await world.app.collect_stats()
    world.tg.add_user(STRANGER, "Посторонний")
    stop = asyncio.Event()
    service = asyncio.create_task(run_service(world.app, stop=stop))
    try:
        await world.tg.wait_for_request("getUpdates")
        world.tg.send_private(STAFF_USER_ID, text="/stats")
        table, photo = await world.tg.wait_for_sent(
            lambda s: s.chat_id == STAFF_USER_ID, count=2, timeout=30
        )
        world.tg.send_private(STRANGER, text="/stats")
        (refusal,) = await world.tg.wait_for_sent(lambda s: s.chat_id == STRANGER, timeout=10)
    finally:
        stop.set()
        async with asyncio.timeout(30):
            await service
    body = table.text or ""
    assert "Подписчики на 1 января 2024 года (сравнение с 1 января 2023 года)" in body
    assert "Telegram: 7855 (было 3927; +3928 человек (+100,0\u00a0%))" in body
    assert "Одноклассники: 914 (было 457; +457 человек (+100,0\u00a0%))" in body
    assert "Всего во всех аккаунтах: 25\u00a0425" in body
    (media,) = photo.media
    assert media.kind == "photo"
    assert media.data[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", media.data[16:24]) == (WIDTH_PX, HEIGHT_PX)
    assert "7855" not in (refusal.text or "")
    assert str(STRANGER) in (refusal.text or "")  # the usual "ask to be added" answer
