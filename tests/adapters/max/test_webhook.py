"""MAX as a source by webhook: the subscription, the secret header, stored before the 200."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from adapters.max import create_client
from adapters.max.client import JsonObject
from adapters.max.listener import SECRET_HEADER, MaxListener, webhook_app
from crosspost.app import run_service
from crosspost.config import parse_settings
from crosspost.db import InboxRow
from crosspost.emulators.max import MaxEmulator
from crosspost.errors import ConfigError
from crosspost.inbox import InboxUnavailable
from crosspost.publishing import no_throttle
from tests.adapters.max.conftest import CHAT_ID, TOKEN, make_settings
from tests.adapters.max.test_end_to_end import (
    ADM,
    World,
    copies_deleted,
    make_world,
    report_done,
)

SECRET = "max-WEBHOOK_secret-0123456789"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def config_with(
    webhook: dict[str, object], telegram: dict[str, object] | None = None
) -> dict[str, object]:
    telegram = telegram or {}
    return {
        "telegram": {"token": "1:TEST", "staff_chat_id": -100, "staff": [1], **telegram},
        "max": {"token": TOKEN, "webhook": webhook},
        "accounts": {"administration": {"title": "Администрация", "max_chat_id": CHAT_ID}},
    }


def test_config_takes_a_webhook_table() -> None:
    webhook = {"url": "https://crosspost.example.ru/max/webhook", "secret": "${MAX_SECRET}"}
    settings = parse_settings(config_with(webhook), env={"MAX_SECRET": SECRET})
    assert settings.max is not None
    assert settings.max.webhook is not None
    assert settings.max.webhook.secret.get_secret_value() == SECRET
    assert settings.max.webhook.listen_port == 8081
    assert settings.max.webhook.path == "/max/webhook"


@pytest.mark.parametrize(
    ("webhook", "telegram", "expected"),
    [
        (
            {"url": "http://crosspost.example.ru/max", "secret": SECRET},
            {},
            "config key max.webhook.url: must start with https://",
        ),
        (
            {"url": "https://crosspost.example.ru/max", "secret": "abc"},
            {},
            "config key max.webhook.secret: must be 5-256 characters",
        ),
        (
            {"url": "https://crosspost.example.ru/max", "secret": "with space and ~!"},
            {},
            "config key max.webhook.secret: must be 5-256 characters",
        ),
        (
            {"url": "https://crosspost.example.ru/max", "secret": SECRET, "path": "max"},
            {},
            "config key max.webhook.path: must be a path",
        ),
        (
            {"url": "https://x.example.ru/max", "secret": SECRET, "listen_port": 8080},
            {"webhook": {"url": "https://x.example.ru/tg", "secret_token": "tg-secret"}},
            "both listen on port 8080",
        ),
        (
            {"url": "https://crosspost.example.ru/max", "secret": SECRET, "listen": ":1"},
            {},
            "config key max.webhook.listen is not known",
        ),
    ],
)
def test_config_errors_are_one_clear_line_without_the_secret(
    webhook: dict[str, object], telegram: dict[str, object], expected: str
) -> None:
    with pytest.raises(ConfigError) as info:
        parse_settings(config_with(webhook, telegram), env={})
    message = str(info.value)
    assert expected in message
    assert len(message.splitlines()) == 1
    assert SECRET not in message
    assert "with space" not in message


class Recorder:
    """A `store` that fails while `down` is set, as the inbox does when the disk is full."""

    def __init__(self) -> None:
        self.stored: list[JsonObject] = []
        self.down = 0

    async def __call__(self, updates: Sequence[JsonObject]) -> None:
        if self.down:
            self.down -= 1
            raise InboxUnavailable("database is locked")
        self.stored.extend(updates)


@pytest.fixture
async def served(
    max_emulator: MaxEmulator,
) -> AsyncIterator[tuple[str, Recorder]]:
    recorder = Recorder()
    runner = aiohttp.web.AppRunner(webhook_app(path="/hook", secret=SECRET, store=recorder))
    await runner.setup()
    port = free_port()
    await aiohttp.web.TCPSite(runner, "127.0.0.1", port).start()
    yield f"http://127.0.0.1:{port}/hook", recorder
    await runner.cleanup()


async def test_only_requests_with_the_secret_are_stored(
    served: tuple[str, Recorder], http: aiohttp.ClientSession
) -> None:
    url, recorder = served
    update = {"update_type": "message_created", "timestamp": 1}
    for headers in ({}, {SECRET_HEADER: "wrong-secret"}, {SECRET_HEADER: SECRET[:-1]}):
        async with http.post(url, json=update, headers=headers) as response:
            assert response.status == 401
    async with http.post(url, data=b"{not json", headers={SECRET_HEADER: SECRET}) as response:
        assert response.status == 400
    assert recorder.stored == []
    async with http.post(url, json=update, headers={SECRET_HEADER: SECRET}) as response:
        assert response.status == 200
    assert recorder.stored == [update]


async def test_an_update_not_stored_is_refused_and_comes_again(
    served: tuple[str, Recorder], max_emulator: MaxEmulator, http: aiohttp.ClientSession
) -> None:
    url, recorder = served
    max_emulator.webhook_retry_seconds = 0.01
    recorder.down = 2
    client = create_client(make_settings(max_emulator.base_url), http=http, throttle=no_throttle)
    await client.subscribe(url, update_types=["message_created"], secret=SECRET)
    staff = max_emulator.staff_post(CHAT_ID, "Отключение света")
    await max_emulator.wait_until(lambda: bool(recorder.stored))
    assert [d.status for d in max_emulator.webhook_deliveries] == [503, 503, 200]
    [update] = recorder.stored
    message = update["message"]
    assert isinstance(message, dict)
    assert message["body"]["mid"] == staff.mid  # type: ignore[call-overload,index]


async def test_the_emulator_refuses_what_max_refuses(
    max_emulator: MaxEmulator, http: aiohttp.ClientSession
) -> None:
    async def subscribe(body: dict[str, object]) -> tuple[int, dict[str, object]]:
        async with http.post(
            f"{max_emulator.base_url}/subscriptions", json=body, headers={"Authorization": TOKEN}
        ) as response:
            return response.status, await response.json()

    assert (await subscribe({"url": "http://crosspost.example.ru/hook"}))[0] == 400
    assert (await subscribe({"url": "https://x.example.ru/h", "secret": "a b"}))[0] == 400
    assert (await subscribe({"url": "https://x.example.ru/h", "update_types": ["nope"]}))[0] == 400
    assert await subscribe({"url": "https://x.example.ru/h", "secret": SECRET}) == (
        200,
        {"success": True},
    )
    async with http.get(
        f"{max_emulator.base_url}/updates", headers={"Authorization": TOKEN}
    ) as response:
        assert response.status == 400  # no long polling while a webhook is set


async def test_polling_removes_a_left_over_webhook_first(
    max_emulator: MaxEmulator,
    http: aiohttp.ClientSession,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    client = create_client(make_settings(max_emulator.base_url), http=http, throttle=no_throttle)
    await client.subscribe("https://old.example.ru/max", update_types=[], secret=SECRET)
    stored: list[JsonObject] = []

    async def store(updates: Sequence[JsonObject]) -> None:
        stored.extend(updates)

    listener = MaxListener(client=client, sessionmaker=sessionmaker, store=store, hold_seconds=0)
    max_emulator.staff_post(CHAT_ID, "После переезда на опрос")
    await listener.poll_once()
    assert max_emulator.subscriptions == {}
    assert [c.query["url"] for c in max_emulator.calls_to("DELETE /subscriptions")] == [
        "https://old.example.ru/max"
    ]
    assert "message_created" in [u["update_type"] for u in stored]


@pytest.fixture
async def webhook_world(tmp_path: Path) -> AsyncIterator[World]:
    port = free_port()
    # MAX reaches the service over HTTPS in production; the emulator may post to loopback.
    webhook = {"url": f"http://127.0.0.1:{port}/max/webhook", "secret": SECRET}
    w = await make_world(tmp_path, max_extra={"webhook": webhook | {"listen_port": port}})
    w.mx.webhook_retry_seconds = 0.05
    try:
        yield w
    finally:
        await w.close()
        await w.app.close()
        for emulator in (w.tg, w.vk, w.ok, w.mx):
            await emulator.stop()


async def test_service_on_a_webhook_mirrors_a_max_post_and_never_logs_the_secret(
    webhook_world: World, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    w = webhook_world
    w.service = asyncio.create_task(run_service(w.app, stop=w.stop))
    await w.tg.wait_for_request("getUpdates")
    await w.mx.wait_until(lambda: bool(w.mx.subscriptions), timeout=20)
    [sub] = w.mx.subscriptions.values()
    assert sub.secret == SECRET
    assert sub.update_types is not None
    assert {"message_created", "message_edited", "message_removed"} <= sub.update_types
    staff = w.mx.staff_post(ADM["max_chat"], "Приём по личным вопросам в четверг")
    await report_done(w, 3)
    (wall_post,) = w.vk.wall(ADM["vk_group"])
    assert wall_post.text == "Приём по личным вопросам в четверг"
    assert not w.mx.calls_to("GET /updates")  # no long polling at all
    async with w.app.sessionmaker() as session:
        rows = list(await session.scalars(select(InboxRow).where(InboxRow.source == "max")))
    assert any(json.loads(r.payload)["update_type"] == "message_created" for r in rows)
    # Deleting it in MAX reaches the copies through the webhook too.
    w.mx.staff_delete(staff.mid)
    await copies_deleted(w)
    assert all(d.status == 200 for d in w.mx.webhook_deliveries if d.url == sub.url)
    for record in caplog.records:
        assert SECRET not in record.getMessage()
        assert SECRET not in (record.exc_text or "")


async def test_link_command_with_the_webhook_reads_what_the_service_stored(
    max_emulator: MaxEmulator, tmp_path: Path
) -> None:
    from typer.testing import CliRunner

    from adapters.max.listener import inbox_store
    from crosspost.cli import app
    from crosspost.db import create_engine, create_sessionmaker, migrate
    from crosspost.inbox import Inbox

    database = tmp_path / "crosspost.db"
    config = tmp_path / "crosspost.toml"
    config.write_text(
        f"""
[database]
url = "sqlite+aiosqlite:///{database}"
[telegram]
token = "1:TEST"
staff_chat_id = -100
staff = [1]
[max]
api_base = "{max_emulator.base_url}"
token = "{TOKEN}"
[max.webhook]
url = "https://crosspost.example.ru/max/webhook"
secret = "{SECRET}"
[accounts.administration]
title = "Администрация"
max_chat_id = {CHAT_ID}
""",
        encoding="utf-8",
    )
    engine = create_engine(f"sqlite+aiosqlite:///{database}")
    await migrate(engine)
    inbox = Inbox(create_sessionmaker(engine))
    max_emulator.add_channel(-70000000000044, "Канал главы")
    max_emulator.add_bot_to(-70000000000044, TOKEN)
    settings = make_settings(max_emulator.base_url)
    # What the service's webhook stored when MAX posted the update.
    await inbox_store(inbox, settings)([max_emulator.updates[-1]])
    await engine.dispose()
    result = await asyncio.to_thread(
        CliRunner().invoke, app, ["max", "link", "-c", str(config), "--wait", "1"]
    )
    assert result.exit_code == 0, result.output
    assert "chat_id = -70000000000044" in result.output
    assert "Канал главы" in result.output
    assert not max_emulator.calls_to("GET /updates")
    assert SECRET not in result.output
    assert TOKEN not in result.output
