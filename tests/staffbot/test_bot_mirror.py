from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crosspost.emulators.telegram import TelegramEmulator
from crosspost.errors import AuthError, OutcomeUnknownError, Reason
from crosspost.models import Platform, ReconcileOutcome
from staffbot import reports
from tests.adapters.telegram.conftest import CHANNEL_ID, STAFF_ID
from tests.staffbot.bot_harness import (
    STAFF_CHAT_ID,
    STRANGER_ID,
    Harness,
    make_harness,
    running,
    text_has,
)

ADM = "administration"


@pytest.fixture
async def harness(
    tg_emulator: TelegramEmulator,
    sessionmaker: async_sessionmaker[AsyncSession],
    tmp_path: Path,
) -> AsyncIterator[Harness]:
    h = await make_harness(tg_emulator, sessionmaker, tmp_path)
    async with running(h):
        yield h


async def test_channel_post_becomes_deliveries_and_one_report(harness: Harness) -> None:
    await harness.start_bot()
    harness.emulator.post_to_channel(
        CHANNEL_ID,
        text="Приём граждан в пятницу",
        entities=[{"type": "bold", "offset": 0, "length": 5}],
    )
    vk = harness.fake(ADM, Platform.VK)
    ok = harness.fake(ADM, Platform.OK)
    await harness.wait_published(vk)
    await harness.wait_published(ok)
    content = vk.calls[0].content
    assert content is not None
    assert content.text.text == "Приём граждан в пятницу"
    assert content.original_url == "https://t.me/adm_spassk/1"
    assert not harness.fake(ADM, Platform.TELEGRAM).calls  # the source is not re-posted
    assert not harness.fake("head", Platform.VK).calls
    final = await harness.wait_staff(lambda s: (s.text or "").count("✅") == 2)
    sends = [s for s in harness.staff_chat() if s.method == "sendMessage"]
    assert len(sends) == 1  # one report, edited in place
    assert final[0].message_id == sends[0].message_id
    assert "https://fake.invalid/vk/administration/1" in (final[0].text or "")


async def test_report_says_what_failed_and_what_to_do(harness: Harness) -> None:
    harness.fake(ADM, Platform.OK).fail_next(
        AuthError("token revoked", platform=Platform.OK, account=ADM, reason=Reason.TOKEN_INVALID)
    )
    await harness.start_bot()
    harness.emulator.post_to_channel(CHANNEL_ID, text="Новость")
    report = await harness.wait_staff(text_has("📰", "⏸", "✅"))
    await harness.wait_staff(text_has("приостановлены", "доступ в Одноклассниках отозван"))
    # No IT contact configured: the technical note comes to the staff chat, said as such.
    await harness.wait_staff(text_has("Для ИТ-специалиста", "crosspost check -c", "AuthError"))
    reports = [s for s in harness.staff_chat() if "📰" in (s.text or "")]
    assert report[0].message_id == reports[0].message_id
    assert len({s.message_id for s in reports}) == 1  # one report, edited in place


async def test_a_report_update_lost_to_a_telegram_fault_is_made_again(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 9: a 5xx on the report's last edit left it stale for good (no event follows)."""
    monkeypatch.setattr(reports, "REPORT_RETRY_SECONDS", (0.01, 0.01, 0.01, 0.01, 0.01))
    await harness.start_bot()
    harness.emulator.fail_next("editMessageText", error_code=500, times=3)
    harness.emulator.post_to_channel(CHANNEL_ID, text="Новость")
    await harness.wait_published(harness.fake(ADM, Platform.VK))
    await harness.wait_published(harness.fake(ADM, Platform.OK))
    final = await harness.wait_staff(lambda s: (s.text or "").count("✅") == 2)
    assert len([s for s in harness.staff_chat() if s.method == "sendMessage"]) == 1
    assert final[0].message_id == harness.staff_chat()[0].message_id


async def test_album_of_ten_is_one_publication(harness: Harness) -> None:
    await harness.start_bot()
    for i in range(10):
        harness.emulator.post_to_channel(
            CHANNEL_ID,
            photo=f"photo-{i}".encode() * 100,
            caption="Субботник в парке" if i == 0 else None,
            media_group_id="album-1",
        )
    vk = harness.fake(ADM, Platform.VK)
    await harness.wait_published(vk)
    content = vk.calls[0].content
    assert content is not None
    assert len(content.media) == 10
    assert content.text.text == "Субботник в парке"
    assert await harness.publications() == 1


async def test_noop_edit_sends_nothing_and_real_edit_edits_every_copy(harness: Harness) -> None:
    harness.handle_as_tasks = False  # updates in order: the no-op edit is done before the next
    await harness.start_bot()
    post = harness.emulator.post_to_channel(CHANNEL_ID, text="Было")
    vk = harness.fake(ADM, Platform.VK)
    ok = harness.fake(ADM, Platform.OK)
    await harness.wait_published(vk)
    await harness.wait_published(ok)
    await harness.wait_staff(lambda s: (s.text or "").count("✅") == 2)
    before = len(harness.staff_chat())
    harness.emulator.edit_channel_post(CHANNEL_ID, post["message_id"], text="Было")
    harness.emulator.edit_channel_post(CHANNEL_ID, post["message_id"], text="Стало")
    # The edits are queued operations: the report shows each copy once it is edited.
    await harness.wait_staff(lambda s: (s.text or "").count("изменено (версия 2)") == 2)
    edits = [c for f in (vk, ok) for c in f.calls if c.method == "edit"]
    assert len(edits) == 2
    assert all(c.content is not None and c.content.text.text == "Стало" for c in edits)
    # The no-op edit sent nothing, and the report was edited in place, never sent anew.
    sends = [m for m in harness.staff_chat() if m.method == "sendMessage"]
    assert len(sends) == len(
        [m for m in harness.staff_chat()[:before] if m.method == "sendMessage"]
    )


async def test_poll_in_channel_tells_staff_nothing_was_mirrored(harness: Harness) -> None:
    await harness.start_bot()
    harness.emulator.post_to_channel(
        CHANNEL_ID,
        extra={
            "poll": {
                "id": "1",
                "question": "Когда субботник?",
                "options": [
                    {"text": "Суббота", "voter_count": 0, "persistent_id": "a"},
                    {"text": "Воскресенье", "voter_count": 0, "persistent_id": "b"},
                ],
                "total_voter_count": 0,
                "is_closed": False,
                "is_anonymous": True,
                "type": "regular",
                "allows_multiple_answers": False,
                "allows_revoting": False,
                "members_only": False,
            }
        },
    )
    await harness.wait_staff(text_has("Опрос", "ничего не опубликовано"))
    assert await harness.publications() == 0


async def test_voice_with_caption_publishes_text_and_tells_staff(harness: Harness) -> None:
    await harness.start_bot()
    harness.emulator.post_to_channel(
        CHANNEL_ID,
        caption="Обращение главы",
        extra={
            "voice": {"file_id": "v1", "file_unique_id": "uv1", "duration": 3},
        },
    )
    vk = harness.fake(ADM, Platform.VK)
    await harness.wait_published(vk)
    content = vk.calls[0].content
    assert content is not None
    assert content.text.text == "Обращение главы"
    assert not content.media
    await harness.wait_staff(text_has("Голосовое сообщение не переносится", "только текст"))


async def test_album_survives_a_restart(harness: Harness) -> None:
    await harness.start_bot()
    assert harness.dp is not None
    mirror = harness.dp["mirror"]
    mirror.albums.debounce = 30.0  # the first process "dies" before the album is complete
    for i in range(3):
        harness.emulator.post_to_channel(
            CHANNEL_ID,
            photo=f"p{i}".encode() * 50,
            media_group_id="album-r",
            caption="До перезапуска" if i == 0 else None,
        )
    async with asyncio.timeout(5):
        while mirror.albums.pending == 0 or len(harness.emulator.pending_updates()) > 0:
            mirror.albums.stored.clear()
            await mirror.albums.stored.wait()
    await harness.stop_bot()
    assert await harness.publications() == 0
    await harness.start_bot()  # restore() re-arms the buffered album
    vk = harness.fake(ADM, Platform.VK)
    await harness.wait_published(vk)
    content = vk.calls[0].content
    assert content is not None
    assert len(content.media) == 3
    assert content.text.text == "До перезапуска"


async def test_reply_delete_to_report_deletes_every_copy(harness: Harness) -> None:
    await harness.start_bot()
    harness.emulator.post_to_channel(CHANNEL_ID, text="Удалим")
    report = (await harness.wait_staff(lambda s: (s.text or "").count("✅") == 2))[0]
    from tests.adapters.telegram.conftest import STAFF_ID
    from tests.staffbot.bot_harness import STAFF_CHAT_ID

    harness.emulator.send_group_message(
        STAFF_CHAT_ID, STAFF_ID, text="удалить", reply_to_message_id=report.message_id
    )
    confirm = (
        await harness.wait_staff(
            text_has("Удалить публикацию", "Оригинал в Telegram-канале останется")
        )
    )[0]
    buttons = confirm.reply_markup["inline_keyboard"][0]  # type: ignore[index]
    harness.emulator.press_button(
        STAFF_ID, confirm.message_id, buttons[0]["callback_data"], chat_id=STAFF_CHAT_ID
    )
    await harness.wait_staff(text_has("удаляется"))
    # The deletes are queued operations: the report shows each copy once it is gone.
    await harness.wait_staff(lambda s: (s.text or "").count("удалено") == 2)
    deleted = [
        c
        for f in (harness.fake(ADM, Platform.VK), harness.fake(ADM, Platform.OK))
        for c in f.calls
        if c.method == "delete"
    ]
    assert len(deleted) == 2


async def test_held_delivery_gets_a_retry_button_only_staff_can_press(harness: Harness) -> None:
    ok = harness.fake(ADM, Platform.OK)
    ok.fail_next(OutcomeUnknownError("read timeout", platform=Platform.OK, account=ADM))
    ok.reconcile_answer = ReconcileOutcome.CANNOT_TELL
    await harness.start_bot()
    harness.emulator.post_to_channel(CHANNEL_ID, text="Объявление о собрании")
    held = await harness.wait_staff(lambda s: "✋" in (s.text or "") and bool(s.reply_markup))
    report = held[-1]
    assert report.reply_markup is not None
    buttons = {
        b["text"]: b["callback_data"]
        for row in report.reply_markup["inline_keyboard"]
        for b in row
    }
    retry = next(data for text, data in buttons.items() if text.startswith("Повторить"))
    assert len(ok.published) == 1  # the uncertain send, never repeated on its own

    harness.emulator.press_button(STRANGER_ID, report.message_id, retry, chat_id=STAFF_CHAT_ID)
    harness.emulator.press_button(
        STAFF_ID, report.message_id, "r:retry:99999", chat_id=STAFF_CHAT_ID
    )
    async with asyncio.timeout(5):
        while len(harness.emulator.callback_answers()) < 2:
            await harness.emulator.wait_for_request("answerCallbackQuery", count=2)
    assert len(ok.published) == 1  # neither a stranger nor a forged button resends

    harness.emulator.press_button(STAFF_ID, report.message_id, retry, chat_id=STAFF_CHAT_ID)
    await harness.wait_published(ok, count=2)
    done = await harness.wait_staff(lambda s: (s.text or "").count("✅") == 2)
    assert not done[-1].reply_markup or not done[-1].reply_markup.get("inline_keyboard")


async def test_file_too_big_to_fetch_still_publishes_text_and_tells_staff(
    harness: Harness,
) -> None:
    limit = harness.emulator.download_limit
    harness.emulator.download_limit = 100  # stands for the cloud Bot API's 20 MB
    try:
        await harness.start_bot()
        harness.emulator.post_to_channel(
            CHANNEL_ID, document=b"%PDF" + b"0" * 500, file_name="smeta.pdf", caption="Смета"
        )
        vk = harness.fake(ADM, Platform.VK)
        await harness.wait_published(vk)
    finally:
        harness.emulator.download_limit = limit
    content = vk.calls[0].content
    assert content is not None
    assert content.text.text == "Смета"
    assert [m.missing for m in content.media] == [True]
    assert content.original_url == "https://t.me/adm_spassk/1"
    await harness.wait_staff(text_has("smeta.pdf", "больше 20 МБ", "✅"))


async def test_delete_command_with_post_link_deletes_every_copy(harness: Harness) -> None:
    await harness.start_bot()
    harness.emulator.post_to_channel(CHANNEL_ID, text="Пост для удаления")
    await harness.wait_staff(lambda s: (s.text or "").count("✅") == 2)
    harness.emulator.send_private(STAFF_ID, text="/delete https://t.me/adm_spassk/1")
    confirm = (await harness.wait_private(STAFF_ID, text_has("Удалить публикацию")))[0]
    assert confirm.reply_markup is not None
    yes = confirm.reply_markup["inline_keyboard"][0][0]["callback_data"]
    harness.emulator.press_button(STAFF_ID, confirm.message_id, yes)
    await harness.wait_staff(text_has("🗑 Удалена"))  # the report says so
    deleted = [
        c.remote
        for f in (harness.fake(ADM, Platform.VK), harness.fake(ADM, Platform.OK))
        for c in f.calls
        if c.method == "delete"
    ]
    assert len(deleted) == 2


async def test_an_album_item_edited_before_the_album_goes_out_keeps_the_edit(
    harness: Harness,
) -> None:
    dp = await harness.start_bot()
    assert harness.intake is not None
    inbox, processor = harness.intake.inbox, harness.intake.processor
    albums = dp["mirror"].albums
    caught_up = albums.caught_up
    albums.caught_up = lambda: None  # the album waits until the edit is handled
    first = harness.emulator.post_to_channel(
        CHANNEL_ID, photo=b"a" * 300, caption="Черновик", media_group_id="album-e"
    )
    harness.emulator.post_to_channel(CHANNEL_ID, photo=b"b" * 300, media_group_id="album-e")
    await harness.settle_inbox()
    # Edited after its item was buffered (the emulator's queued update would carry the edit).
    harness.emulator.edit_channel_post(CHANNEL_ID, first["message_id"], caption="Итог")
    await harness.settle_inbox()
    assert {i.status for i in await inbox.items()} == {"done"}
    albums.caught_up = caught_up
    processor.wake()
    vk = harness.fake(ADM, Platform.VK)
    await harness.wait_published(vk)
    content = vk.calls[0].content
    assert content is not None
    assert len(content.media) == 2
    assert content.text.text == "Итог"
    await harness.settle_inbox()
    assert await harness.publications() == 1
    assert not [c for c in vk.calls if c.method == "edit"]
