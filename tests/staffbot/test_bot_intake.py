"""Nothing lost at the door: updates that cannot be parsed or handled, retries, albums."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crosspost.emulators.telegram import TelegramEmulator
from crosspost.inbox import DONE, FAILED
from crosspost.intake.telegram import SOURCE
from crosspost.models import Platform
from tests.adapters.telegram.conftest import CHANNEL_ID
from tests.staffbot.bot_harness import STRANGER_ID, Harness, make_harness, running, text_has

ADM = "administration"
CHANNEL_CHAT = {"id": CHANNEL_ID, "type": "channel", "title": "Администрация"}
FAILED_REPORT = "не удалось обработать"


@pytest.fixture
async def harness(
    tg_emulator: TelegramEmulator,
    sessionmaker: async_sessionmaker[AsyncSession],
    tmp_path: Path,
) -> AsyncIterator[Harness]:
    h = await make_harness(tg_emulator, sessionmaker, tmp_path)
    async with running(h):
        yield h


def failure_reports(harness: Harness) -> list[str]:
    return [s.text or "" for s in harness.staff_chat() if FAILED_REPORT in (s.text or "")]


async def test_updates_that_cannot_be_parsed_are_kept_reported_once_and_skipped(
    harness: Harness,
) -> None:
    now = harness.emulator.now()
    broken = [
        # A poll as an older local Bot API server sends it: fields aiogram 3.31 requires missing.
        {
            "message_id": 90,
            "date": now,
            "chat": CHANNEL_CHAT,
            "poll": {"id": "p1", "question": "Голосуем?", "options": []},
        },
        {"message_id": 91, "chat": CHANNEL_CHAT, "text": "без даты"},
        {"message_id": "девяносто два", "date": now, "chat": CHANNEL_CHAT, "text": "id"},
        {
            "message_id": 93,
            "date": now,
            "chat": CHANNEL_CHAT,
            "text": "жирный",
            "entities": [{"type": "bold", "length": 6}],
        },
    ]
    for post in broken:
        harness.emulator.inject_update({"channel_post": post})
    harness.emulator.inject_update({"callback_query": {"id": "cb1", "chat_instance": "1"}})
    await harness.start_bot()
    harness.emulator.post_to_channel(CHANNEL_ID, text="Обычный пост после сломанных")
    vk = harness.fake(ADM, Platform.VK)
    await harness.wait_published(vk)
    content = vk.calls[0].content
    assert content is not None
    assert content.text.text == "Обычный пост после сломанных"
    await harness.wait_staff(lambda s: FAILED_REPORT in (s.text or ""), count=5)
    await harness.settle_inbox()
    assert harness.intake is not None
    items = await harness.intake.inbox.items()
    failed = [i for i in items if i.status == FAILED]
    assert len(failed) == 5
    assert all(i.error and "ValidationError" in i.error for i in failed)
    assert all(i.reported_at is not None for i in failed)
    assert {i.status for i in items} == {DONE, FAILED}
    reports = failure_reports(harness)
    assert len(reports) == 5  # once each
    assert sum("Администрация городского округа" in r for r in reports) == 4
    # The next pass reports nothing again.
    await harness.intake.processor.report_failures()
    assert len(failure_reports(harness)) == 5


async def test_a_transient_getfile_error_is_retried_not_lost(harness: Harness) -> None:
    harness.emulator.fail_next("getFile", error_code=502, description="Bad Gateway")
    await harness.start_bot()
    harness.emulator.post_to_channel(CHANNEL_ID, photo=b"photo" * 100, caption="Фото дня")
    assert harness.intake is not None
    inbox, processor = harness.intake.inbox, harness.intake.processor
    async with asyncio.timeout(5):
        while not [i for i in await inbox.items() if i.attempts == 1]:
            processor.progressed.clear()
            await processor.progressed.wait()
    [item] = [i for i in await inbox.items() if i.attempts == 1]
    assert item.error is not None
    assert "Bad Gateway" in item.error
    # The retry comes due (the harness clock stands still until moved).
    harness.clock.now = item.next_attempt_at + timedelta(seconds=1)
    processor.wake()
    vk = harness.fake(ADM, Platform.VK)
    await harness.wait_published(vk)
    content = vk.calls[0].content
    assert content is not None
    assert len(content.media) == 1
    assert content.text.text == "Фото дня"
    assert not failure_reports(harness)


async def test_a_handler_that_fails_for_good_is_reported_once_with_the_channel(
    harness: Harness,
) -> None:
    harness.emulator.fail_next("getFile", error_code=400, description="Bad Request: wrong file_id")
    await harness.start_bot()
    harness.emulator.post_to_channel(CHANNEL_ID, photo=b"photo" * 100, caption="Не скачать")
    harness.emulator.post_to_channel(CHANNEL_ID, text="Следующий пост")
    vk = harness.fake(ADM, Platform.VK)
    await harness.wait_published(vk)
    [report] = await harness.wait_staff(text_has(FAILED_REPORT, "Администрация городского округа"))
    assert "входящее №1" in (report.text or "")
    await harness.settle_inbox()
    assert len(failure_reports(harness)) == 1
    content = vk.calls[0].content
    assert content is not None
    assert content.text.text == "Следующий пост"


async def test_album_items_with_lone_surrogates_keep_their_caption(harness: Harness) -> None:
    await harness.start_bot()
    caption = "Субботник \ud83d в парке"  # a lone high surrogate, as seen in the wild
    for i in range(3):
        harness.emulator.post_to_channel(
            CHANNEL_ID,
            photo=f"photo-{i}".encode() * 100,
            caption=caption if i == 0 else None,
            media_group_id="album-s",
        )
    vk = harness.fake(ADM, Platform.VK)
    await harness.wait_published(vk)
    content = vk.calls[0].content
    assert content is not None
    assert len(content.media) == 3
    assert content.text.text.startswith("Субботник")
    assert content.text.text.endswith("в парке")


async def test_an_album_waits_for_every_stored_item(harness: Harness) -> None:
    """An album item stored but not yet handled holds the album back, past the debounce."""
    await harness.start_bot()
    assert harness.intake is not None
    inbox = harness.intake.inbox
    checks: list[int] = []
    original = inbox.pending_in_group
    release = asyncio.Event()
    checked = asyncio.Event()

    async def pending_in_group(source: str, group_key: str) -> int:
        found = await original(source, group_key)
        # The second item "is still being handled" until released.
        held = 0 if release.is_set() else 1
        checks.append(found + held)
        checked.set()
        return found + held

    inbox.pending_in_group = pending_in_group  # type: ignore[method-assign]
    for i in range(2):
        harness.emulator.post_to_channel(
            CHANNEL_ID,
            photo=f"photo-{i}".encode() * 100,
            caption="Два фото" if i == 0 else None,
            media_group_id="album-w",
        )
    async with asyncio.timeout(5):
        while len(checks) < 3:
            checked.clear()
            await checked.wait()
    vk = harness.fake(ADM, Platform.VK)
    assert not vk.calls  # past the debounce, still held
    release.set()
    await harness.wait_published(vk)
    content = vk.calls[0].content
    assert content is not None
    assert len(content.media) == 2


async def test_an_album_waiting_for_a_retry_does_not_hold_back_the_channel(
    harness: Harness,
) -> None:
    """The album's getFile fails (502): the channel's next post is mirrored meanwhile; an edit
    of the album's caption waits for the album; the album goes out on its retry, then the edit."""
    harness.emulator.fail_next("getFile", error_code=502, description="Bad Gateway")
    await harness.start_bot()
    assert harness.intake is not None
    inbox, processor = harness.intake.inbox, harness.intake.processor
    first = harness.emulator.post_to_channel(
        CHANNEL_ID, photo=b"a" * 300, caption="Альбом", media_group_id="album-r"
    )
    harness.emulator.post_to_channel(CHANNEL_ID, photo=b"b" * 300, media_group_id="album-r")

    async def retrying() -> list[object]:
        return [i for i in await inbox.items() if i.attempts == 1 and i.status == "pending"]

    async with asyncio.timeout(5):
        while not await retrying():
            processor.progressed.clear()
            await processor.progressed.wait()
    [flush] = await retrying()
    assert flush.key == "a:album-r"
    harness.emulator.edit_channel_post(CHANNEL_ID, first["message_id"], caption="Альбом, правка")
    harness.emulator.post_to_channel(CHANNEL_ID, text="Следующий пост")
    vk = harness.fake(ADM, Platform.VK)
    await harness.wait_published(vk)
    content = vk.calls[0].content
    assert content is not None
    assert content.text.text == "Следующий пост"
    # Handled in id order, the edit would have gone before the next post: it was held back.
    edits = [i for i in await inbox.items() if "edited_channel_post" in i.payload]
    assert [e.status for e in edits] == ["pending"]
    harness.clock.now = flush.next_attempt_at + timedelta(seconds=1)
    processor.wake()
    await harness.wait_published(vk, count=2)
    album = vk.calls[1].content
    assert album is not None
    assert len(album.media) == 2
    assert album.text.text == "Альбом"
    await harness.wait_staff(lambda s: "изменено (версия 2)" in (s.text or ""))
    [edit] = [c for c in vk.calls if c.method == "edit"]
    assert edit.content is not None
    assert edit.content.text.text == "Альбом, правка"
    assert not failure_reports(harness)


async def test_an_album_is_not_published_while_getupdates_fails(harness: Harness) -> None:
    """Item 1 is stored; the next getUpdates fails, so item 2 waits in Telegram past the
    debounce: the album must wait for it, not go out with one photo."""
    await harness.start_bot()  # a long poll is in flight
    harness.emulator.fail_next("getUpdates", error_code=502, description="Bad Gateway")
    harness.emulator.post_to_channel(
        CHANNEL_ID, photo=b"a" * 300, caption="Два фото", media_group_id="album-p"
    )
    await harness.emulator.wait_for_request("getUpdates", count=2)  # the failing one
    harness.emulator.post_to_channel(CHANNEL_ID, photo=b"b" * 300, media_group_id="album-p")
    vk = harness.fake(ADM, Platform.VK)
    await harness.wait_published(vk)
    await harness.settle_inbox()
    content = vk.calls[0].content
    assert content is not None
    assert len(content.media) == 2
    assert await harness.publications() == 1


async def test_a_strangers_flood_is_stored_as_handled_at_the_door(harness: Harness) -> None:
    """Only the update that may earn the stranger a refusal reaches the processor; the rest
    are stored as handled (still stored before they are confirmed)."""
    await harness.start_bot()
    assert harness.intake is not None
    handled: list[dict[str, object]] = []
    handle = harness.intake.handle

    async def recording(payload: dict[str, object]) -> None:
        handled.append(payload)
        await handle(payload)

    harness.intake.processor.register(SOURCE, recording)
    for n in range(30):
        harness.emulator.send_private(STRANGER_ID, text=f"реклама {n}")
    harness.emulator.inject_update(
        {
            "callback_query": {
                "id": "forged",
                "from": {"id": STRANGER_ID, "is_bot": False, "first_name": "Чужой"},
                "chat_instance": "1",
                "data": "retry:1",
            }
        }
    )
    await harness.wait_private(STRANGER_ID, lambda s: True)
    await harness.settle_inbox()
    items = await harness.intake.inbox.items()
    assert len(items) == 31
    assert {i.status for i in items} == {DONE}
    assert len(handled) == 1  # the first message, which drew the one refusal
    assert len(harness.emulator.sent(STRANGER_ID)) == 1
    assert not harness.emulator.requests("answerCallbackQuery")
