from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator

import pytest
from aiogram import Bot, Dispatcher
from aiogram.types import Message
from aiohttp import web
from pydantic import SecretStr

from adapters.telegram.webhook import (
    build_webhook_app,
    serve_webhook,
    setup_webhook,
    start_polling,
)
from crosspost.config import TelegramConfig, WebhookConfig
from crosspost.emulators.telegram import TelegramEmulator

from .conftest import CHANNEL_ID, make_bot

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
    bot = make_bot(tg_emulator.api_base, tg_emulator.token)
    yield bot
    await bot.session.close()


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
    tg_emulator: TelegramEmulator, hook_bot: Bot
) -> None:
    received = Received()
    app = build_webhook_app(bot=hook_bot, dp=received.dispatcher(), cfg=webhook_config())
    runner, url = await serve(app)
    update = {"channel_post": tg_emulator.post_to_channel(CHANNEL_ID, text="Пост")}
    try:
        missing = await tg_emulator.deliver_webhook(url, update, None)
        wrong = await tg_emulator.deliver_webhook(url, update, "not-the-secret")
        right = await tg_emulator.deliver_webhook(url, update, SECRET)
        await received.wait(1)
    finally:
        await runner.cleanup()

    assert (missing, wrong, right) == (401, 401, 200)
    assert received.texts == ["Пост"]


async def test_setup_webhook_registers_secret_and_update_types(
    tg_emulator: TelegramEmulator, hook_bot: Bot
) -> None:
    received = Received()
    dp = received.dispatcher()
    app = build_webhook_app(bot=hook_bot, dp=dp, cfg=webhook_config())
    runner, url = await serve(app)
    config = TelegramConfig(
        token=SecretStr(tg_emulator.token),
        api_base=tg_emulator.api_base,
        staff_chat_id=-1,
        staff=[1],
        webhook=webhook_config(url),
    )
    tg_emulator.post_to_channel(CHANNEL_ID, text="пока сервис лежал")
    try:
        await setup_webhook(hook_bot, dp, config)
        tg_emulator.post_to_channel(CHANNEL_ID, text="после")
        await received.wait(2)
    finally:
        await hook_bot.delete_webhook()
        await runner.cleanup()

    [request] = tg_emulator.requests("setWebhook")
    assert request["params"]["secret_token"] == SECRET
    assert request["params"]["allowed_updates"] == '["channel_post"]'
    assert request["params"].get("drop_pending_updates") in {None, "false"}
    # The post made before the webhook was set is delivered, not dropped.
    assert received.texts == ["пока сервис лежал", "после"]


async def test_polling_gets_pending_and_new_posts(
    tg_emulator: TelegramEmulator, hook_bot: Bot
) -> None:
    received = Received()
    dp = received.dispatcher()
    await hook_bot.set_webhook("http://127.0.0.1:1/old", secret_token=SECRET)
    tg_emulator.post_to_channel(CHANNEL_ID, text="ждал")
    polling = asyncio.create_task(start_polling(hook_bot, dp, polling_timeout=1))
    try:
        await received.wait(1)
        tg_emulator.post_to_channel(CHANNEL_ID, text="новый")
        await received.wait(2)
    finally:
        await dp.stop_polling()
        async with asyncio.timeout(5):
            await polling

    assert received.texts == ["ждал", "новый"]
    [delete] = tg_emulator.requests("deleteWebhook")
    assert delete["params"].get("drop_pending_updates") in {None, "false"}
    assert tg_emulator.webhook is None


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


async def test_serve_webhook_listens_registers_and_stops(
    tg_emulator: TelegramEmulator, hook_bot: Bot
) -> None:
    received = Received()
    dp = received.dispatcher()
    port = free_port()
    cfg = WebhookConfig(
        url=f"http://127.0.0.1:{port}/telegram/webhook",
        secret_token=SecretStr(SECRET),
        listen_port=port,
    )
    serving = asyncio.create_task(serve_webhook(hook_bot, dp, cfg))
    try:
        await tg_emulator.wait_for_request("setWebhook")
        tg_emulator.post_to_channel(CHANNEL_ID, text="через вебхук")
        await received.wait(1)
    finally:
        serving.cancel()
        with pytest.raises(asyncio.CancelledError):
            await serving
        await hook_bot.delete_webhook()

    assert received.texts == ["через вебхук"]
