"""The bot flows for events and recurring posts, through the Telegram emulator."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crosspost.db import EventDraftRow, EventRow
from crosspost.emulators.telegram import SentMessage, TelegramEmulator
from crosspost.models import Platform
from crosspost.planning.events import EventPlanner, NewEvent, PostStatus
from crosspost.planning.recurring import RecurringPlanner
from tests.adapters.telegram.conftest import STAFF_ID
from tests.staffbot.bot_harness import STRANGER_ID, Harness, make_harness, running, text_has

TZ = ZoneInfo("Asia/Vladivostok")
# 30 Nov 2026 15:00 UTC = Tuesday 1 Dec 2026 01:00 in Vladivostok.
NOW = datetime(2026, 11, 30, 15, 0, tzinfo=UTC)
STARTS = datetime(2026, 12, 5, 10, 0, tzinfo=TZ).astimezone(UTC)


@pytest.fixture
async def harness(
    tg_emulator: TelegramEmulator,
    sessionmaker: async_sessionmaker[AsyncSession],
    tmp_path: Path,
) -> AsyncIterator[Harness]:
    h = await make_harness(tg_emulator, sessionmaker, tmp_path, now=NOW)
    async with running(h):
        yield h


def buttons(message: SentMessage) -> dict[str, str]:
    markup = message.reply_markup or {}
    return {
        b["text"]: b["callback_data"] for row in markup.get("inline_keyboard", []) for b in row
    }


def with_button(label: str) -> object:
    return lambda s: any(label in text for text in buttons(s))


async def say(harness: Harness, text: str, expect: str) -> SentMessage:
    harness.emulator.send_private(STAFF_ID, text=text)
    return (await harness.wait_private(STAFF_ID, text_has(expect)))[-1]


async def press(harness: Harness, message: SentMessage, label: str) -> None:
    harness.emulator.press_button(STAFF_ID, message.message_id, buttons(message)[label])


def planner(harness: Harness) -> EventPlanner:
    return EventPlanner(settings=harness.settings, service=harness.service)


async def start_event(harness: Harness) -> SentMessage:
    await say(harness, "/event", "Как оно называется?")
    await say(harness, "Субботник в городском парке", "Когда оно начнётся?")
    await say(harness, "когда-нибудь", "Не удалось понять время «когда-нибудь»")
    await say(harness, "05.12 10:00", "Где?")
    await say(harness, "городской парк, центральный вход", "Текст анонса")
    return await say(harness, "Приглашаем жителей на субботник.", "Пришлите фото")


async def test_create_an_event_in_the_bot(harness: Harness) -> None:
    await harness.start_bot()
    ask_photo = await start_event(harness)
    await press(harness, ask_photo, "Без фото")
    panel = (await harness.wait_private(STAFF_ID, with_button("Создать")))[-1]  # type: ignore[arg-type]
    assert "В субботу, 5 декабря, в 10:00" in (panel.text or "")
    assert "Напоминания: 04.12 10:00, 05.12 08:00" in (panel.text or "")
    # Only the administration, only VK.
    await press(harness, panel, "☑️ Глава")
    await harness.wait_private(
        STAFF_ID,
        lambda s: s.method == "editMessageText" and "Аккаунты: Администрация" in (s.text or ""),
    )
    for label in ("☑️ Telegram", "☑️ Одноклассники"):
        await press(harness, panel, label)
    await harness.wait_private(STAFF_ID, text_has("Площадки: ВКонтакте\n"))
    await press(harness, panel, "Создать")
    done = await harness.wait_private(STAFF_ID, text_has("Мероприятие №1"))
    assert "Анонс: сейчас. Напоминания: 04.12 10:00, 05.12 08:00." in (done[-1].text or "")
    vk = harness.fake("administration", Platform.VK)
    await harness.wait_published(vk)
    assert vk.calls[0].content is not None
    assert vk.calls[0].content.text.text.startswith(
        "Субботник в городском парке\n\nВ субботу, 5 декабря, в 10:00."
    )
    assert not harness.fake("head", Platform.VK).calls
    assert not harness.fake("administration", Platform.OK).calls
    event = await planner(harness).require(1)
    assert event.starts_at == STARTS
    assert [r.status for r in event.reminders] == [PostStatus.QUEUED, PostStatus.QUEUED]
    async with harness.sessionmaker() as session:
        assert await session.scalar(select(func.count(EventDraftRow.id))) == 0


async def test_photo_later_announcement_and_own_reminders(harness: Harness) -> None:
    await harness.start_bot()
    await start_event(harness)
    harness.emulator.send_private(STAFF_ID, photo=b"\xff\xd8\xff" + b"7" * 300)
    panel = (await harness.wait_private(STAFF_ID, with_button("Создать")))[-1]  # type: ignore[arg-type]
    await press(harness, panel, "Анонс позже…")
    await say(harness, "03.12 12:00", "Анонс: 03.12 12:00")
    await press(harness, panel, "Изменить напоминания…")
    await harness.wait_private(STAFF_ID, text_has("Напишите время напоминаний"))
    await say(harness, "06.12 10:00", "не раньше начала")
    # 01.12 00:30 has passed (it is 01:00 there): it is kept and reported as skipped.
    panel = await say(
        harness,
        "накануне в 18:00\nза 30 минут\n01.12 00:30",
        "Напоминания: 01.12 00:30, 04.12 18:00, 05.12 09:30",
    )
    await press(harness, panel, "Создать")
    done = await harness.wait_private(STAFF_ID, text_has("Мероприятие №1"))
    assert "Анонс: 03.12 12:00. Напоминания: 04.12 18:00, 05.12 09:30." in (done[-1].text or "")
    assert "Не будут отправлены (их время уже прошло): 01.12 00:30." in (done[-1].text or "")
    event = await planner(harness).require(1)
    assert event.photo is not None
    assert event.announcement is not None
    assert event.announcement.due_at == datetime(2026, 12, 3, 12, 0, tzinfo=TZ)
    assert [r.status for r in event.reminders] == [
        PostStatus.SKIPPED,
        PostStatus.QUEUED,
        PostStatus.QUEUED,
    ]
    view = await harness.service.view(event.announcement.publication_id or 0)
    assert view is not None
    content = await harness.service.content(view.info.publication_id)
    assert len(content.media) == 1


async def make_event(harness: Harness) -> int:
    planned = await planner(harness).create(
        NewEvent(
            title="Приём граждан",
            place="каб. 12",
            text="Приходите",
            starts_at=STARTS,
            accounts=("administration",),
            platforms=(Platform.VK,),
        ),
        actor="test",
    )
    vk = harness.fake("administration", Platform.VK)
    await harness.wait_published(vk)
    return planned.event.event_id


async def test_move_offers_notice_and_edit(harness: Harness) -> None:
    event_id = await make_event(harness)
    await harness.start_bot()
    await say(harness, f"/event_move {event_id}", "На когда перенести?")
    offer = await say(
        harness, "06.12 11:00", "перенесено и состоится в воскресенье, 6 декабря, в 11:00"
    )
    assert "Сдвинуто напоминаний: 2." in (offer.text or "")
    assert set(buttons(offer)) == {"Опубликовать", "Исправить анонс", "Не нужно"}
    await press(harness, offer, "Исправить анонс")
    await harness.wait_private(STAFF_ID, text_has("Анонс будет исправлен"))
    vk = harness.fake("administration", Platform.VK)
    async with asyncio.timeout(5):
        while not [c for c in vk.calls if c.method == "edit"]:
            await harness.emulator.wait_for_sent(count=len(harness.emulator.sent()) + 1)
    edits = [c for c in vk.calls if c.method == "edit"]
    assert edits
    assert edits[-1].content is not None
    assert "В воскресенье, 6 декабря, в 11:00." in edits[-1].content.text.text
    await press(harness, offer, "Опубликовать")
    await harness.wait_private(STAFF_ID, text_has("Сообщение поставлено в очередь"))
    await harness.wait_published(vk, count=2)
    assert vk.calls[-1].content is not None
    assert vk.calls[-1].content.text.text.startswith("Перенос: «Приём граждан» состоится")


async def test_cancel_asks_then_offers_notice(harness: Harness) -> None:
    event_id = await make_event(harness)
    await harness.start_bot()
    question = await say(harness, f"/event_cancel {event_id}", "Отменить мероприятие №1")
    await press(harness, question, "Нет")
    await harness.wait_private(STAFF_ID, text_has("остаётся в силе"))
    question = await say(harness, f"/event_cancel {event_id}", "Отменить мероприятие №1")
    await press(harness, question, "Да, отменить")
    offer = (
        await harness.wait_private(STAFF_ID, text_has("отменено. Снято с очереди публикаций: 2"))
    )[-1]
    await press(harness, offer, "Опубликовать")
    await harness.wait_private(STAFF_ID, text_has("Сообщение поставлено в очередь"))
    vk = harness.fake("administration", Platform.VK)
    await harness.wait_published(vk, count=2)
    assert vk.calls[-1].content is not None
    assert vk.calls[-1].content.text.text.startswith("Отменено: «Приём граждан»")
    await say(harness, "/events", "Предстоящие мероприятия")
    listing = harness.emulator.sent(STAFF_ID)[-1].text or ""
    assert "№1 · в субботу, 5 декабря, в 10:00 · Приём граждан · каб. 12 · ОТМЕНЕНО" in listing
    await say(harness, f"/event_move {event_id}", "уже отменено")


async def test_recurring_list_pause_resume_delete(harness: Harness) -> None:
    rules = RecurringPlanner(settings=harness.settings, service=harness.service)
    rule = await rules.add(
        rule="0 9 * * 1", text="Приём граждан по личным вопросам", accounts=["head"], actor="t"
    )
    await harness.start_bot()
    listing = await say(harness, "/recurring", "Повторяющиеся публикации:")
    assert "№1 · 0 9 * * 1 · действует · следующая: 07.12.2026 09:00" in (listing.text or "")
    await press(harness, listing, f"⏸ №{rule.rule_id}")
    await harness.wait_private(
        STAFF_ID, lambda s: s.method == "editMessageText" and "на паузе" in (s.text or "")
    )
    assert (await rules.list())[0].paused
    listing = (await harness.wait_private(STAFF_ID, with_button("▶️ №1")))[-1]  # type: ignore[arg-type]
    await press(harness, listing, "▶️ №1")
    await harness.wait_private(
        STAFF_ID, lambda s: s.method == "editMessageText" and "действует" in (s.text or "")
    )
    await press(harness, listing, "🗑 №1")
    confirm = await harness.wait_private(
        STAFF_ID, text_has("Удалить повторяющуюся публикацию №1?")
    )
    await press(harness, confirm[-1], "Да, удалить")
    await harness.wait_private(STAFF_ID, text_has("Повторяющаяся публикация №1 удалена."))
    assert await rules.list() == []


async def test_strangers_cannot_start_events(harness: Harness) -> None:
    await harness.start_bot()
    harness.emulator.send_private(STRANGER_ID, text="/event")
    await harness.wait_private(STRANGER_ID, text_has("только сотрудникам"))
    harness.emulator.send_private(STRANGER_ID, text="/recurring")
    async with harness.sessionmaker() as session:
        assert await session.scalar(select(func.count(EventDraftRow.id))) == 0
        assert await session.scalar(select(func.count(EventRow.id))) == 0
