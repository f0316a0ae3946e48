"""Compose as a press officer does it, through the Telegram emulator: Russian time phrases with
a fixed clock, quick picks, a new post while the bot waits for a time, stale buttons, the
preview, and strangers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from aiogram.types import Update
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crosspost import texts
from crosspost.dates import describe_local
from crosspost.db import DeliveryRow, PublicationRow, TelegramDraftRow
from crosspost.emulators.telegram import SentMessage, TelegramEmulator
from crosspost.models import Content, NewPublication, Platform, PublicationSource, Target
from crosspost.richtext import RichText
from staffbot.dispatcher import build_dispatcher
from tests.adapters.telegram.conftest import CHANNEL_ID, STAFF_ID
from tests.staffbot.bot_harness import STRANGER_ID, Harness, make_harness, running, text_has

TZ = ZoneInfo("Asia/Vladivostok")
# 30 Nov 2026 15:00 UTC = Tuesday 1 Dec 2026 01:00 in Vladivostok.
NOW = datetime(2026, 11, 30, 15, 0, tzinfo=UTC)
BOLD = [{"type": "bold", "offset": 0, "length": 7}]


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


def panel_of(s: SentMessage) -> bool:
    return "Опубликовать сейчас" in buttons(s)


async def compose(harness: Harness, text: str, count: int = 1) -> SentMessage:
    harness.emulator.send_private(STAFF_ID, text=text)
    return (await harness.wait_private(STAFF_ID, panel_of, count=count))[-1]


async def ask_time(harness: Harness, panel: SentMessage, count: int = 1) -> SentMessage:
    harness.emulator.press_button(STAFF_ID, panel.message_id, buttons(panel)["Запланировать"])
    return (await harness.wait_private(STAFF_ID, text_has("Когда опубликовать?"), count=count))[-1]


async def alert_after(harness: Harness, user_id: int, message_id: int, data: str) -> str:
    """Press a button and return the alert it was answered with."""
    before = len(harness.emulator.callback_answers())
    harness.emulator.press_button(user_id, message_id, data)
    async with asyncio.timeout(5):
        while len(harness.emulator.callback_answers()) <= before:
            await harness.emulator.wait_for_request(
                "answerCallbackQuery",
                count=len(harness.emulator.requests("answerCallbackQuery")) + 1,
            )
    return str(harness.emulator.callback_answers()[before].get("text") or "")


async def due_dates(harness: Harness) -> set[datetime]:
    async with harness.sessionmaker() as session:
        return set((await session.scalars(select(DeliveryRow.due_at))).all())


async def confirm_and_check(harness: Harness, local: datetime) -> None:
    """The confirmation says the time in words and in digits; «Подтвердить» queues it."""
    words = describe_local(local.astimezone(UTC), TZ, now=NOW)
    digits = local.strftime("%d.%m.%Y %H:%M")
    confirm = (await harness.wait_private(STAFF_ID, text_has(words, digits)))[-1]
    assert "по владивостокскому времени" in (confirm.text or "")
    harness.emulator.press_button(STAFF_ID, confirm.message_id, buttons(confirm)["Подтвердить"])
    await harness.wait_private(STAFF_ID, text_has("выйдет", words))
    assert await due_dates(harness) == {local.astimezone(UTC)}


@pytest.mark.parametrize(
    ("typed", "local"),
    [
        ("15.12 10:00", datetime(2026, 12, 15, 10, 0, tzinfo=TZ)),
        ("15 декабря в 10", datetime(2026, 12, 15, 10, 0, tzinfo=TZ)),
        ("завтра в 9", datetime(2026, 12, 2, 9, 0, tzinfo=TZ)),
        ("завтра в 9 вечера", datetime(2026, 12, 2, 21, 0, tzinfo=TZ)),
        ("сегодня в 18", datetime(2026, 12, 1, 18, 0, tzinfo=TZ)),
        ("через 2 часа", datetime(2026, 12, 1, 3, 0, tzinfo=TZ)),
        ("1 декабря в 10 часов", datetime(2026, 12, 1, 10, 0, tzinfo=TZ)),
        ("в пятницу в 11", datetime(2026, 12, 4, 11, 0, tzinfo=TZ)),
        ("20.01.2027 12:30", datetime(2027, 1, 20, 12, 30, tzinfo=TZ)),
    ],
)
async def test_phrases_press_officers_type(harness: Harness, typed: str, local: datetime) -> None:
    await harness.start_bot()
    await ask_time(harness, await compose(harness, "Плановое отключение света"))
    harness.emulator.send_private(STAFF_ID, text=typed)
    await confirm_and_check(harness, local)


async def test_a_date_without_a_time_asks_for_the_time(harness: Harness) -> None:
    await harness.start_bot()
    await ask_time(harness, await compose(harness, "Концерт"))
    harness.emulator.send_private(STAFF_ID, text="15 декабря")
    await harness.wait_private(STAFF_ID, text_has("Во сколько опубликовать", "15 декабря"))
    assert await due_dates(harness) == set()  # nothing guessed
    harness.emulator.send_private(STAFF_ID, text="в 10")
    await confirm_and_check(harness, datetime(2026, 12, 15, 10, 0, tzinfo=TZ))


async def test_unclear_and_past_times_are_refused_with_examples(harness: Harness) -> None:
    await harness.start_bot()
    await ask_time(harness, await compose(harness, "Новость"))
    harness.emulator.send_private(STAFF_ID, text="когда-нибудь потом")
    refusal = (await harness.wait_private(STAFF_ID, text_has("когда-нибудь потом")))[-1]
    assert "завтра в 9" in (refusal.text or "")  # an example to copy
    harness.emulator.send_private(STAFF_ID, text="вчера в 10")
    await harness.wait_private(STAFF_ID, text_has("уже прошло"))
    assert await harness.publications() == 0


async def test_quick_pick_buttons(harness: Harness) -> None:
    await harness.start_bot()
    question = await ask_time(harness, await compose(harness, "Анонс"))
    # 01:00 local: the usual times today and tomorrow, next to free typing and «Отмена».
    assert list(buttons(question)) == [
        "Сегодня 12:00",
        "Сегодня 18:00",
        "Завтра 9:00",
        "Завтра 12:00",
        "Завтра 18:00",
        "Отмена",
    ]
    harness.emulator.press_button(STAFF_ID, question.message_id, buttons(question)["Завтра 9:00"])
    await confirm_and_check(harness, datetime(2026, 12, 2, 9, 0, tzinfo=TZ))


async def test_a_quick_pick_gone_past_asks_again(harness: Harness) -> None:
    await harness.start_bot()
    question = await ask_time(harness, await compose(harness, "Анонс"))
    harness.clock.now = datetime(2026, 12, 1, 3, 30, tzinfo=UTC)  # 13:30 local
    harness.emulator.press_button(
        STAFF_ID, question.message_id, buttons(question)["Сегодня 12:00"]
    )
    again = (await harness.wait_private(STAFF_ID, text_has("уже прошло", "Когда опубликовать?")))[
        -1
    ]
    assert "Сегодня 12:00" not in buttons(again)
    assert await harness.publications() == 0


async def test_a_new_post_while_waiting_for_a_time_is_a_new_post(harness: Harness) -> None:
    await harness.start_bot()
    first = await compose(harness, "Первый пост")
    await ask_time(harness, first)
    # Several lines: a post, not a time.
    harness.emulator.send_private(STAFF_ID, text="Ремонт дороги\nна улице Ленина")
    second = (await harness.wait_private(STAFF_ID, panel_of, count=2))[-1]
    assert second.message_id != first.message_id
    # A photo: a post too.
    harness.emulator.send_private(STAFF_ID, photo=b"photo" * 100, caption="в 18")
    third = (await harness.wait_private(STAFF_ID, panel_of, count=3))[-1]
    async with harness.sessionmaker() as session:
        drafts = (
            await session.scalars(select(TelegramDraftRow).order_by(TelegramDraftRow.id))
        ).all()
    assert [d.text for d in drafts] == ["Первый пост", "Ремонт дороги\nна улице Ленина", "в 18"]
    assert [d.status for d in drafts] == ["superseded", "superseded", "open"]
    # The old panel says what happened to it, and does nothing.
    said = await alert_after(
        harness, STAFF_ID, first.message_id, buttons(first)["Опубликовать сейчас"]
    )
    assert said == texts.BOT_STALE_SUPERSEDED
    # A short phrase is still a time for the newest draft.
    await ask_time(harness, third, count=2)
    harness.emulator.send_private(STAFF_ID, text="в 18")
    await confirm_and_check(harness, datetime(2026, 12, 1, 18, 0, tzinfo=TZ))
    async with harness.sessionmaker() as session:
        texts_ = (await session.scalars(select(PublicationRow.text))).all()
    assert texts_ == ["в 18"]


async def test_stale_buttons_say_what_happened_and_never_duplicate(harness: Harness) -> None:
    harness.handle_as_tasks = False
    await harness.start_bot()
    # Scheduled: «Подтвердить» again.
    await ask_time(harness, await compose(harness, "Запланированный"))
    harness.emulator.send_private(STAFF_ID, text="завтра в 9")
    confirm = (await harness.wait_private(STAFF_ID, text_has("Опубликовать в")))[-1]
    ok = buttons(confirm)["Подтвердить"]
    harness.emulator.press_button(STAFF_ID, confirm.message_id, ok)
    await harness.wait_private(STAFF_ID, text_has("выйдет"))
    assert await alert_after(harness, STAFF_ID, confirm.message_id, ok) == (
        "Уже запланировано — см. /queue."
    )
    # Published: «Опубликовать сейчас» again.
    panel = await compose(harness, "Срочный", count=2)
    now = buttons(panel)["Опубликовать сейчас"]
    harness.emulator.press_button(STAFF_ID, panel.message_id, now)
    await harness.wait_published(harness.fake("administration", Platform.VK))
    async with asyncio.timeout(5):
        while True:
            said = await alert_after(harness, STAFF_ID, panel.message_id, now)
            if said != texts.BOT_STALE_SENDING:  # the other copies may still be on their way
                break
    assert said == "Уже опубликовано. Отчёт — в чате пресс-службы."
    # Cancelled: any of its buttons.
    cancelled = await compose(harness, "Передумали", count=3)
    harness.emulator.press_button(STAFF_ID, cancelled.message_id, buttons(cancelled)["Отмена"])
    await harness.wait_private(STAFF_ID, text_has("Черновик отменён"))
    said = await alert_after(
        harness, STAFF_ID, cancelled.message_id, buttons(cancelled)["Опубликовать сейчас"]
    )
    assert said.startswith("Черновик отменён")
    assert await harness.publications() == 2
    assert "Эта кнопка устарела" not in str(harness.emulator.callback_answers())


async def test_preview_one_message_per_distinct_rendering(harness: Harness) -> None:
    await harness.start_bot()
    harness.emulator.send_private(STAFF_ID, text="Главное: вода будет завтра", entities=BOLD)
    await harness.wait_private(STAFF_ID, panel_of)
    previews = [
        (s.text or "").split("\n")[0]
        for s in harness.emulator.sent(STAFF_ID)
        if "Предпросмотр" in (s.text or "")
    ]
    # Bold shows in Telegram only; VK and OK show the same plain text.
    assert previews == ["Предпросмотр — Telegram:", "Предпросмотр — ВКонтакте, Одноклассники:"]


async def test_preview_shows_the_photo(harness: Harness) -> None:
    await harness.start_bot()
    harness.emulator.send_private(STAFF_ID, photo=b"sunrise" * 100, caption="Рассвет над бухтой")
    await harness.wait_private(STAFF_ID, panel_of)
    sent = harness.emulator.sent(STAFF_ID)
    photos = [s for s in sent if s.method == "sendPhoto"]
    assert len(photos) == 1
    assert photos[0].media[0].data == b"sunrise" * 100
    # One rendering: the preview is the photo's caption, no separate text message.
    assert (photos[0].caption or "").startswith(
        "Предпросмотр — Telegram, ВКонтакте, Одноклассники:"
    )
    assert "Рассвет над бухтой" in (photos[0].caption or "")
    assert not [s for s in sent if s.method == "sendMessage" and "Предпросмотр" in (s.text or "")]


async def test_preview_photo_with_renderings_that_differ(harness: Harness) -> None:
    await harness.start_bot()
    harness.emulator.send_private(
        STAFF_ID, photo=b"bay" * 100, caption="Главное: рассвет", caption_entities=BOLD
    )
    await harness.wait_private(STAFF_ID, panel_of)
    sent = harness.emulator.sent(STAFF_ID)
    methods = [s.method for s in sent if s.method in ("sendPhoto", "sendMessage")]
    # The photo once, then one text per rendering, then the panel.
    assert methods == ["sendPhoto", "sendMessage", "sendMessage", "sendMessage"]
    assert [(s.text or "").split("\n")[0] for s in sent if s.method == "sendMessage"][:2] == [
        "Предпросмотр — Telegram:",
        "Предпросмотр — ВКонтакте, Одноклассники:",
    ]


async def test_delete_prompt_says_the_telegram_original_stays(harness: Harness) -> None:
    await harness.start_bot()
    harness.emulator.post_to_channel(CHANNEL_ID, text="Пост в канале")
    await harness.wait_published(harness.fake("administration", Platform.VK))
    harness.emulator.send_private(STAFF_ID, text="/delete https://t.me/adm_spassk/1")
    prompt = (await harness.wait_private(STAFF_ID, text_has("Удалить публикацию")))[-1]
    assert texts.BOT_DELETE_ORIGINAL_STAYS in (prompt.text or "")


async def test_strangers_reach_no_feature(harness: Harness) -> None:
    """Past the intake's own refusal (updates fed to the dispatcher directly): the staff-only
    router refuses once and runs no handler, whatever the stranger sends or presses."""
    dp = build_dispatcher(
        settings=harness.settings,
        service=harness.service,
        sessionmaker=harness.sessionmaker,
        media_dir=harness.media_dir,
        clock=harness.clock,
    )
    result = await harness.service.submit(
        NewPublication(
            content=Content(text=RichText(text="Пост")),
            targets=(Target(account="administration", platform=Platform.VK),),
            publish_at=NOW + timedelta(days=1),
            source=PublicationSource.BOT,
            author="tg:1",
        ),
        actor="tg:1",
    )
    user = {"id": STRANGER_ID, "is_bot": False, "first_name": "Чужой"}
    chat = {"id": STRANGER_ID, "type": "private", "first_name": "Чужой"}
    typed = ("Реклама", "/delete https://t.me/adm_spassk/1", "/help", "завтра в 9")
    for n, text in enumerate(typed, start=1):
        raw = {"message_id": n, "date": 1, "chat": chat, "from": user, "text": text}
        await dp.feed_update(harness.bot, Update.model_validate({"update_id": n, "message": raw}))
    [refusal] = harness.emulator.sent(STRANGER_ID)
    assert "только сотрудникам" in (refusal.text or "")
    pid = result.publication_id
    for n, data in enumerate((f"x:yes:{pid}", "d:1:now:", "garbage"), start=10):
        query = harness.emulator.press_button(STRANGER_ID, refusal.message_id, data)
        await dp.feed_update(
            harness.bot, Update.model_validate({"update_id": n, "callback_query": query})
        )
    assert len(harness.emulator.sent(STRANGER_ID)) == 1
    assert all(not a.get("text") for a in harness.emulator.callback_answers())
    async with harness.sessionmaker() as session:
        assert not (await session.scalars(select(TelegramDraftRow))).all()
        assert await session.scalar(select(PublicationRow.deleted_at)) is None


async def test_preview_of_an_album_shows_every_photo(harness: Harness) -> None:
    await harness.start_bot()
    harness.emulator.send_private(
        STAFF_ID, photo=b"one" * 100, caption="Два фото", extra={"media_group_id": "g1"}
    )
    harness.emulator.send_private(STAFF_ID, photo=b"two" * 100, extra={"media_group_id": "g1"})
    await harness.wait_private(STAFF_ID, panel_of)
    album = [s for s in harness.emulator.sent(STAFF_ID) if s.method == "sendMediaGroup"]
    assert [s.media[0].data for s in album] == [b"one" * 100, b"two" * 100]
    assert (album[0].caption or "").startswith("Предпросмотр — Telegram, ВКонтакте")
    assert "Два фото" in (album[0].caption or "")
