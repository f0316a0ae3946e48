from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator

import pytest
from aiogram import Bot, Dispatcher
from aiogram.types import Message
from aiohttp import web
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from crosspost.config import Settings, TelegramConfig, WebhookConfig
from crosspost.emulators.telegram import TelegramEmulator
from staffbot.intake import TelegramIntake, setup_webhook
from tests.adapters.telegram.conftest import CHANNEL_ID, make_bot
from tests.dbfaults import failing_writes
from tests.staffbot.bot_harness import STAFF_CHAT_ID, make_settings

SECRET = "s3cret-Token_1"


class Received:
    def __init__(self) -> None:
        self.texts: list[str] = []
        self.event = asyncio.Event()

    def dispatcher(self) -> Dispatcher:
        dp = Dispatcher()

        @dp.channel_post()
        async def on_post(message: Message) -> None:
            self.texts.append(message.text or "")
            self.event.set()

        return dp

    async def wait(self, count: int) -> None:
        async with asyncio.timeout(5):
            while len(self.texts) < count:
                self.event.clear()
                await self.event.wait()


@pytest.fixture
async def hook_bot(tg_emulator: TelegramEmulator) -> AsyncIterator[Bot]:
    tg_emulator.add_group(STAFF_CHAT_ID, "Пресс-служба")
    bot = make_bot(tg_emulator.api_base, tg_emulator.token)
    yield bot
    await bot.session.close()


@pytest.fixture
def settings() -> Settings:
    return make_settings()


def make_intake(
    bot: Bot, dp: Dispatcher, settings: Settings, sm: async_sessionmaker[AsyncSession]
) -> TelegramIntake:
    return TelegramIntake(bot=bot, dp=dp, settings=settings, sessionmaker=sm)


async def serve(app: web.Application) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    return runner, f"http://127.0.0.1:{port}/telegram/webhook"


def webhook_config(url: str = "http://127.0.0.1:1/telegram/webhook") -> WebhookConfig:
    return WebhookConfig(url=url, secret_token=SecretStr(SECRET))


async def test_webhook_refuses_requests_without_the_right_secret(
    tg_emulator: TelegramEmulator,
    hook_bot: Bot,
    settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    received = Received()
    intake = make_intake(hook_bot, received.dispatcher(), settings, sessionmaker)
    runner, url = await serve(intake.webhook_app(webhook_config()))
    processing = asyncio.create_task(intake.processor.run())
    update = {"channel_post": tg_emulator.post_to_channel(CHANNEL_ID, text="Пост")}
    try:
        missing = await tg_emulator.deliver_webhook(url, update, None)
        wrong = await tg_emulator.deliver_webhook(url, update, "not-the-secret")
        stored_before = len(await intake.inbox.items())
        right = await tg_emulator.deliver_webhook(url, update, SECRET)
        await received.wait(1)
    finally:
        intake.processor.stop()
        await processing
        await runner.cleanup()

    assert (missing, wrong, right) == (401, 401, 200)
    assert stored_before == 0
    assert received.texts == ["Пост"]


async def test_webhook_answers_200_only_after_storing(
    tg_emulator: TelegramEmulator,
    hook_bot: Bot,
    settings: Settings,
    engine: AsyncEngine,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    received = Received()
    intake = make_intake(hook_bot, received.dispatcher(), settings, sessionmaker)
    runner, url = await serve(intake.webhook_app(webhook_config()))
    processing = asyncio.create_task(intake.processor.run())
    update = {"channel_post": tg_emulator.post_to_channel(CHANNEL_ID, text="Пост")}
    try:
        with failing_writes(engine):
            refused = await tg_emulator.deliver_webhook(url, update, SECRET)
            again = await tg_emulator.deliver_webhook(url, update, SECRET)
        accepted = await tg_emulator.deliver_webhook(url, update, SECRET)
        await received.wait(1)
    finally:
        intake.processor.stop()
        await processing
        await runner.cleanup()

    assert (refused, again, accepted) == (503, 503, 200)
    assert received.texts == ["Пост"]
    # Staff heard once about the outage and once that it is over.
    staff = [s.text for s in tg_emulator.sent(STAFF_CHAT_ID)]
    assert len(staff) == 2
    assert "только для чтения" in (staff[0] or "")
    assert "снова работает" in (staff[1] or "")


async def test_setup_webhook_registers_secret_and_update_types(
    tg_emulator: TelegramEmulator,
    hook_bot: Bot,
    settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    received = Received()
    dp = received.dispatcher()
    intake = make_intake(hook_bot, dp, settings, sessionmaker)
    runner, url = await serve(intake.webhook_app(webhook_config()))
    processing = asyncio.create_task(intake.processor.run())
    config = TelegramConfig(
        token=SecretStr(tg_emulator.token),
        api_base=tg_emulator.api_base,
        staff_chat_id=-1,
        staff=[1],
        webhook=webhook_config(url),
    )
    tg_emulator.post_to_channel(CHANNEL_ID, text="пока сервис лежал")
    try:
        await setup_webhook(intake, config)
        tg_emulator.post_to_channel(CHANNEL_ID, text="после")
        await received.wait(2)
    finally:
        await hook_bot.delete_webhook()
        intake.processor.stop()
        await processing
        await runner.cleanup()

    [request] = tg_emulator.requests("setWebhook")
    assert request["params"]["secret_token"] == SECRET
    assert request["params"]["allowed_updates"] == '["channel_post"]'
    assert request["params"].get("drop_pending_updates") in {None, "false"}
    # The post made before the webhook was set is delivered, not dropped.
    assert received.texts == ["пока сервис лежал", "после"]


async def test_polling_gets_pending_and_new_posts(
    tg_emulator: TelegramEmulator,
    hook_bot: Bot,
    settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    received = Received()
    intake = make_intake(hook_bot, received.dispatcher(), settings, sessionmaker)
    await hook_bot.set_webhook("http://127.0.0.1:1/old", secret_token=SECRET)
    tg_emulator.post_to_channel(CHANNEL_ID, text="ждал")
    polling = asyncio.create_task(intake.run_polling(polling_timeout=1))
    try:
        await received.wait(1)
        tg_emulator.post_to_channel(CHANNEL_ID, text="новый")
        await received.wait(2)
    finally:
        intake.stop()
        async with asyncio.timeout(5):
            await polling

    assert received.texts == ["ждал", "новый"]
    [delete] = tg_emulator.requests("deleteWebhook")
    assert delete["params"].get("drop_pending_updates") in {None, False, "false"}
    assert tg_emulator.webhook is None


async def test_polling_confirms_only_what_is_stored(
    tg_emulator: TelegramEmulator,
    hook_bot: Bot,
    settings: Settings,
    engine: AsyncEngine,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    """While the database cannot be written, getUpdates never moves past the update (Telegram
    keeps it), staff and the IT contact hear once, and intake resumes by itself."""
    received = Received()
    it_contact = 900001
    tg_emulator.add_user(it_contact, "ИТ")
    settings = settings.model_copy(
        update={
            "telegram": settings.telegram.model_copy(update={"it_contacts": [it_contact]}),
        }
    )
    intake = make_intake(hook_bot, received.dispatcher(), settings, sessionmaker)
    polling: asyncio.Task[None] | None = None
    try:
        with failing_writes(engine, "database or disk is full") as fault:
            tg_emulator.post_to_channel(CHANNEL_ID, text="во время сбоя")
            polling = asyncio.create_task(intake.run_polling(polling_timeout=1))
            await tg_emulator.wait_for_sent(lambda s: s.chat_id == it_contact)
            # Two more rounds against the failing database; still nothing confirmed.
            calls = len(tg_emulator.requests("getUpdates"))
            await tg_emulator.wait_for_request("getUpdates", count=calls + 2, timeout=10)
            assert fault.refused >= 2
            assert len(tg_emulator.pending_updates()) == 1
            assert received.texts == []
        await received.wait(1)
    finally:
        intake.stop()
        if polling is not None:
            async with asyncio.timeout(5):
                await polling

    assert received.texts == ["во время сбоя"]
    for chat in (STAFF_CHAT_ID, it_contact):
        texts_sent = [s.text or "" for s in tg_emulator.sent(chat)]
        assert len(texts_sent) == 2, texts_sent
        assert "диск заполнен" in texts_sent[0]
        assert "снова работает" in texts_sent[1]
    offsets = [r["params"].get("offset") for r in tg_emulator.requests("getUpdates")]
    first_stored_offset = next(i for i, o in enumerate(offsets) if o is not None)
    # Every poll before the batch was stored asked without an offset: nothing confirmed.
    assert first_stored_offset >= 3


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


async def test_serve_webhook_listens_registers_and_stops(
    tg_emulator: TelegramEmulator,
    hook_bot: Bot,
    settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    received = Received()
    intake = make_intake(hook_bot, received.dispatcher(), settings, sessionmaker)
    port = free_port()
    cfg = WebhookConfig(
        url=f"http://127.0.0.1:{port}/telegram/webhook",
        secret_token=SecretStr(SECRET),
        listen_port=port,
    )
    serving = asyncio.create_task(intake.serve_webhook(cfg))
    try:
        await tg_emulator.wait_for_request("setWebhook")
        tg_emulator.post_to_channel(CHANNEL_ID, text="через вебхук")
        await received.wait(1)
    finally:
        intake.stop()
        async with asyncio.timeout(5):
            await serving
        await hook_bot.delete_webhook()

    assert received.texts == ["через вебхук"]
