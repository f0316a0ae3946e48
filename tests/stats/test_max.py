"""MAX joins the statistics by its publisher alone: participants_count and post views."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path

import pytest

from crosspost.app import App, build_app
from crosspost.config import parse_settings
from crosspost.emulators.max import MaxEmulator
from crosspost.emulators.ok import OkEmulator
from crosspost.emulators.telegram import TelegramEmulator
from crosspost.emulators.vk import VkEmulator
from crosspost.models import Platform
from crosspost.sandbox import ACCOUNTS, BOT_TOKEN, sandbox_config, seed_max
from crosspost.stats.render import render_text
from crosspost.stats.report import build_report
from tests.stats.conftest import NOW, ON, SEED, publish_record, seed_counts


@pytest.fixture
async def app_with_max(tmp_path: Path) -> AsyncIterator[tuple[App, MaxEmulator]]:
    tg, vk, ok, mx = TelegramEmulator(token=BOT_TOKEN), VkEmulator(), OkEmulator(), MaxEmulator()
    seed_counts(tg, vk, ok)
    seed_max(mx)
    mx.chats[ACCOUNTS["administration"]["max_chat"]].participants_count = 1234
    mx.chats[ACCOUNTS["head"]["max_chat"]].participants_count = 567
    bases = [await e.start() for e in (tg, vk, ok)]
    config = sandbox_config(*bases, tmp_path, max_base=await mx.start())
    app = await build_app(parse_settings(config, env={}))
    app.clock = lambda: NOW
    try:
        yield app, mx
    finally:
        await app.close()
        for e in (tg, vk, ok, mx):
            await e.stop()


async def test_max_counts_and_views_are_collected_and_reported(
    app_with_max: tuple[App, MaxEmulator],
) -> None:
    app, mx = app_with_max
    chat = ACCOUNTS["administration"]["max_chat"]
    post = mx.staff_post(chat, "Новость")
    post.views = 321
    await publish_record(app, "administration", Platform.MAX, post.mid, NOW.replace(day=20))
    collection = await app.collect_stats()
    counts = {(r.account, r.platform): r.subscribers for r in collection.readings}
    assert counts == {**SEED, ("administration", "max"): 1234, ("head", "max"): 567}
    assert collection.views_read == 1
    report = await build_report(settings=app.settings, sessionmaker=app.sessionmaker, on=ON)
    assert report.views[("administration", "max")] == {date(2023, 12, 1): 321}
    body = render_text(report)
    assert "Одноклассники — 2357, MAX — 1234 (всего — 15\u00a0682)" in body
    assert "MAX — 321" in body
