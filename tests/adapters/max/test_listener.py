"""MAX as a source: the listener, the channel mirror and `crosspost max link`."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import aiohttp
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from typer.testing import CliRunner

from adapters.max import create_client
from adapters.max.listener import (
    MaxChannelMirror,
    MaxListener,
    handle_in_place,
    load_marker,
    rich_text,
    wait_for_bot_added,
)
from crosspost.config import Settings, parse_settings
from crosspost.emulators.max import MaxEmulator
from crosspost.models import Platform
from crosspost.publishing import no_throttle
from crosspost.richtext import SpanKind
from crosspost.service import PublicationService
from tests.adapters.max.conftest import CHAT_ID, TOKEN


def settings_for(base: str, tmp_path: Path) -> Settings:
    return parse_settings(
        {
            "telegram": {"token": "1:TEST", "staff_chat_id": -100, "staff": [1]},
            "max": {"api_base": base, "token": TOKEN, "poll_timeout_seconds": 0},
            "media": {"dir": str(tmp_path / "media")},
            "accounts": {
                "administration": {
                    "title": "Администрация",
                    "telegram_channel_id": -1001111111111,
                    "max_chat_id": CHAT_ID,
                    "mirror": ["telegram", "max"],
                }
            },
        },
        env={},
    )


async def make_mirror(
    max_emulator: MaxEmulator,
    http: aiohttp.ClientSession,
    sessionmaker: async_sessionmaker[AsyncSession],
    tmp_path: Path,
) -> tuple[MaxChannelMirror, MaxListener, PublicationService]:
    settings = settings_for(max_emulator.base_url, tmp_path)
    service = PublicationService(sessionmaker, publishers={})
    client = create_client(settings, http=http, throttle=no_throttle)
    mirror = MaxChannelMirror(
        settings=settings,
        service=service,
        sessionmaker=sessionmaker,
        client=client,
        media_dir=tmp_path / "media",
        max_file_size=10 * 1024 * 1024,
    )
    listener = MaxListener(
        client=client, sessionmaker=sessionmaker, store=handle_in_place(mirror), hold_seconds=0
    )
    return mirror, listener, service


def test_markup_becomes_rich_text() -> None:
    body: dict[str, Any] = {
        "text": "Жирный и ссылка 🙂 тут",
        "markup": [
            {"type": "strong", "from": 0, "length": 6},
            {"type": "link", "from": 9, "length": 6, "url": "https://spassk-d.ru"},
            {"type": "emphasized", "from": 19, "length": 3},
            {"type": "unknown", "from": 0, "length": 1},
        ],
    }
    rt = rich_text(body)
    kinds = {(s.kind, rt.text[s.start : s.end]) for s in rt.spans}
    assert (SpanKind.BOLD, "Жирный") in kinds
    assert (SpanKind.LINK, "ссылка") in kinds
    assert (SpanKind.ITALIC, "тут") in kinds  # offsets count UTF-16 units, 🙂 is two


async def test_staff_post_is_queued_once_and_marker_saved(
    max_emulator: MaxEmulator,
    http: aiohttp.ClientSession,
    sessionmaker: async_sessionmaker[AsyncSession],
    tmp_path: Path,
) -> None:
    _mirror, listener, service = await make_mirror(max_emulator, http, sessionmaker, tmp_path)
    photo = b"\x89PNG fake photo bytes"
    staff = max_emulator.staff_post(CHAT_ID, "Приём граждан", images=[photo])
    assert await listener.poll_once() >= 1
    views = await service.scheduled()
    [view] = views
    assert [d.platform for d in view.deliveries] == [Platform.TELEGRAM]
    content = await service.content(view.info.publication_id)
    assert content.text.text == "Приём граждан"
    assert content.media[0].path.read_bytes() == photo
    assert content.original_url == staff.url
    marker = await load_marker(sessionmaker)
    assert marker == len(max_emulator.updates)
    # A replay of the same updates (a crash before the marker was saved) queues nothing new.
    listener.marker = 0
    await listener.poll_once()
    assert len(await service.scheduled()) == 1


async def test_bot_messages_and_other_chats_are_ignored(
    max_emulator: MaxEmulator,
    http: aiohttp.ClientSession,
    sessionmaker: async_sessionmaker[AsyncSession],
    tmp_path: Path,
) -> None:
    _mirror, listener, service = await make_mirror(max_emulator, http, sessionmaker, tmp_path)
    async with http.post(
        f"{max_emulator.base_url}/messages",
        params={"chat_id": CHAT_ID},
        json={"text": "Копия от бота"},
        headers={"Authorization": TOKEN},
    ) as response:
        assert response.status == 200
    max_emulator.add_channel(-7999, "Чужой канал")
    max_emulator.add_bot_to(-7999, TOKEN)
    max_emulator.staff_post(-7999, "Не наш канал")
    await listener.poll_once()
    assert await service.scheduled() == []


async def test_edit_of_a_mirrored_post_edits_the_publication(
    max_emulator: MaxEmulator,
    http: aiohttp.ClientSession,
    sessionmaker: async_sessionmaker[AsyncSession],
    tmp_path: Path,
) -> None:
    _mirror, listener, service = await make_mirror(max_emulator, http, sessionmaker, tmp_path)
    staff = max_emulator.staff_post(CHAT_ID, "Было")
    await listener.poll_once()
    max_emulator.staff_edit(staff.mid, "Стало")
    await listener.poll_once()
    [view] = await service.scheduled()
    assert (await service.content(view.info.publication_id)).text.text == "Стало"
    assert view.info.version == 2


async def test_removal_of_a_pending_post_cancels_it_and_other_removals_do_nothing(
    max_emulator: MaxEmulator,
    http: aiohttp.ClientSession,
    sessionmaker: async_sessionmaker[AsyncSession],
    tmp_path: Path,
) -> None:
    _mirror, listener, service = await make_mirror(max_emulator, http, sessionmaker, tmp_path)
    staff = max_emulator.staff_post(CHAT_ID, "Опубликую и передумаю")
    max_emulator.staff_post(CHAT_ID, "Этот останется")
    await listener.poll_once()
    assert len(await service.scheduled()) == 2
    max_emulator.staff_delete(staff.mid)
    max_emulator._push(
        {"update_type": "message_removed", "message_id": "mid.unknown", "chat_id": CHAT_ID}
    )
    await listener.poll_once()
    remaining = await service.scheduled()
    assert len(remaining) == 1  # the removed post's copies were cancelled, not sent
    assert (await service.content(remaining[0].info.publication_id)).text.text == (
        "Этот останется"
    )


async def test_wait_for_bot_added_and_link_command(
    max_emulator: MaxEmulator, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    settings = settings_for(max_emulator.base_url, tmp_path)
    client = create_client(settings, http=http, throttle=no_throttle)
    max_emulator.add_channel(-70000000000042, "Глава округа", participants_count=5)
    max_emulator.add_bot_to(-70000000000042, TOKEN)
    update = await wait_for_bot_added(client, hold_seconds=0)
    assert update is not None
    assert update["chat_id"] == CHAT_ID  # the first bot_added (the fixture's channel)

    config = tmp_path / "crosspost.toml"
    config.write_text(
        f"""
[telegram]
token = "1:TEST"
staff_chat_id = -100
staff = [1]
[max]
api_base = "{max_emulator.base_url}"
token = "{TOKEN}"
poll_timeout_seconds = 1
[accounts.administration]
title = "Администрация"
max_chat_id = {CHAT_ID}
""",
        encoding="utf-8",
    )
    from crosspost.cli import app

    max_emulator.acknowledged = len(max_emulator.updates)
    max_emulator.add_channel(-70000000000043, "Новый канал")
    max_emulator.add_bot_to(-70000000000043, TOKEN)
    result = await asyncio.to_thread(
        CliRunner().invoke, app, ["max", "link", "-c", str(config), "--wait", "1"]
    )
    assert result.exit_code == 0, result.output
    assert "chat_id = -70000000000043" in result.output
    assert "Новый канал" in result.output
    assert TOKEN not in result.output
