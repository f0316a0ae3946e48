"""No secret leaves: a run through every intake failure, then every configured token and
secret searched for in the logs, the database file, the media store and what staff were sent.
Also: file names from Telegram never become paths outside the media store."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from aiohttp import web
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from crosspost.config import WebhookConfig, parse_settings
from crosspost.emulators.telegram import TelegramEmulator
from crosspost.models import Platform
from tests.adapters.telegram.conftest import CHANNEL_ID, CHANNEL_USERNAME, STAFF_ID
from tests.dbfaults import failing_writes
from tests.staffbot.bot_harness import (
    HEAD_CHANNEL_ID,
    STAFF_CHAT_ID,
    STRANGER_ID,
    Harness,
    make_harness,
    running,
)

ADM = "administration"
SECRETS = {
    "vk": "vk1.a.SECRET-community-Zq81x",
    "vk_user": "vk1.a.SECRET-user-Pw02m",
    "ok_app": "SECRET-ok-app-K9d3",
    "ok_token": "SECRET-ok-token-Hh7r",
    "ok_session": "SECRET-ok-session-Vv4t",
    "webhook": "SECRET-webhook-Jj5q",
}
CHANNEL_CHAT = {"id": CHANNEL_ID, "type": "channel", "title": "Администрация"}


@pytest.fixture
async def harness(
    tg_emulator: TelegramEmulator,
    sessionmaker: async_sessionmaker[AsyncSession],
    tmp_path: Path,
) -> AsyncIterator[Harness]:
    h = await make_harness(tg_emulator, sessionmaker, tmp_path)

    def account(title: str, channel: int, gid: int) -> dict[str, object]:
        return {
            "title": title,
            "telegram_channel_id": channel,
            "mirror": ["vk", "ok"],
            "vk": {
                "group_id": gid,
                "community_token": SECRETS["vk"],
                "user_token": SECRETS["vk_user"],
            },
            "ok": {
                "group_id": str(gid),
                "application_key": "CBA",
                "application_secret_key": SECRETS["ok_app"],
                "access_token": SECRETS["ok_token"],
                "session_secret_key": SECRETS["ok_session"],
            },
        }

    adm = account("Администрация городского округа", CHANNEL_ID, 111)
    adm["telegram_channel_username"] = CHANNEL_USERNAME
    h.settings = parse_settings(
        {
            "telegram": {
                "token": tg_emulator.token,
                "staff_chat_id": STAFF_CHAT_ID,
                "staff": [STAFF_ID],
                "it_contacts": [STAFF_ID],
                "webhook": {
                    "url": "https://example.invalid/telegram/webhook",
                    "secret_token": SECRETS["webhook"],
                },
            },
            "accounts": {
                "administration": adm,
                "head": account("Глава городского округа", HEAD_CHANNEL_ID, 222),
            },
        },
        env={},
    )
    async with running(h):
        yield h


async def test_no_token_or_secret_anywhere_after_every_failure_kind(
    harness: Harness,
    engine: AsyncEngine,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    emulator = harness.emulator
    vk = harness.fake(ADM, Platform.VK)
    # Before the start: a post Telegram holds while the database cannot be written.
    emulator.post_to_channel(CHANNEL_ID, text="Во время сбоя базы")
    with failing_writes(engine, "attempt to write a readonly database"):
        await harness.start_bot()
        await emulator.wait_for_sent(lambda s: "не может записать" in (s.text or ""), count=2)
    await harness.wait_published(vk)
    assert harness.intake is not None
    # An update that cannot be parsed; a permanent and a transient getFile failure.
    emulator.inject_update({"channel_post": {"message_id": 70, "chat": CHANNEL_CHAT}})
    emulator.fail_next("getFile", error_code=400, description="Bad Request: wrong file_id")
    emulator.post_to_channel(CHANNEL_ID, photo=b"p" * 100, caption="Не скачать")
    await harness.wait_staff(lambda s: "не удалось обработать" in (s.text or ""), count=2)
    emulator.fail_next("getFile", error_code=502, description="Bad Gateway")
    emulator.post_to_channel(CHANNEL_ID, photo=b"q" * 100, caption="Скачать со второго раза")
    inbox, processor = harness.intake.inbox, harness.intake.processor
    async with asyncio.timeout(5):
        while not [i for i in await inbox.items() if i.attempts == 1 and i.status == "pending"]:
            processor.progressed.clear()
            await processor.progressed.wait()
    harness.clock.now += timedelta(hours=1)
    processor.wake()
    await harness.wait_published(vk, 2)
    # A stranger, a forged button, a webhook call without the secret.
    emulator.send_private(STRANGER_ID, text="Дайте токен")
    await harness.wait_private(STRANGER_ID, lambda s: True)
    runner = web.AppRunner(
        harness.intake.webhook_app(
            WebhookConfig(url="https://x.invalid/h", secret_token=SecretStr(SECRETS["webhook"]))
        )
    )
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    url = f"http://127.0.0.1:{runner.addresses[0][1]}/telegram/webhook"
    try:
        assert await emulator.deliver_webhook(url, {"update_id": 1}, "wrong") == 401
    finally:
        await runner.cleanup()
    await harness.settle_inbox()

    needles = [*SECRETS.values(), emulator.token, emulator.token.split(":", 1)[1]]
    haystacks: dict[str, bytes] = {
        "log": "\n".join(
            r.getMessage() + (caplog.text if r.exc_info else "") for r in caplog.records
        ).encode("utf-8", "surrogatepass"),
        "staff": "\n".join(
            f"{s.text}\n{s.caption}" for s in emulator.sent() if s.chat_id != STRANGER_ID
        ).encode("utf-8", "surrogatepass"),
    }
    files = await asyncio.to_thread(lambda: [p for p in tmp_path.rglob("*") if p.is_file()])
    for path in files:
        haystacks[str(path)] = await asyncio.to_thread(path.read_bytes)
    assert any(p.name.endswith(".db") for p in files)
    found = [
        (where, needle)
        for where, data in haystacks.items()
        for needle in needles
        if needle.encode() in data
    ]
    assert not found


async def test_file_names_never_leave_the_media_store(harness: Harness, tmp_path: Path) -> None:
    await harness.start_bot()
    escape = tmp_path / "escaped.txt"
    names = ["../../escaped.txt", str(escape), "..\\..\\escaped.txt", "/etc/passwd"]
    for n, name in enumerate(names):
        harness.emulator.post_to_channel(
            CHANNEL_ID, document=f"evil {n}".encode(), file_name=name, caption=f"Файл {n}"
        )
    vk = harness.fake(ADM, Platform.VK)
    published = await harness.wait_published(vk, len(names))
    assert len(published) == len(names)
    media_dir = harness.media_dir.resolve()
    for call in vk.calls:
        assert call.content is not None
        for item in call.content.media:
            assert item.path.resolve().parent == media_dir
            assert "/" not in item.file_name
            assert "\\" not in item.file_name
            assert not item.file_name.startswith(".")
    assert not escape.exists()
    assert not (tmp_path.parent / "escaped.txt").exists()
    files = await asyncio.to_thread(lambda: [p for p in tmp_path.rglob("*") if p.is_file()])
    outside = [p for p in files if media_dir not in p.parents]
    assert all(p.suffix in (".db", ".db-wal", ".db-shm") for p in outside), outside
