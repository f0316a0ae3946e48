"""/queue and /status driven through the Telegram emulator as a press officer would."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crosspost.db import DeliveryRow
from crosspost.emulators.telegram import SentMessage, TelegramEmulator
from crosspost.errors import AuthError, PermanentError, Reason, TransientError
from crosspost.models import (
    Content,
    DeliveryStatus,
    NewPublication,
    Platform,
    PublicationSource,
    Target,
)
from crosspost.richtext import RichText
from tests.adapters.telegram.conftest import STAFF_ID
from tests.staffbot.bot_harness import STRANGER_ID, Harness, make_harness, text_has

TZ = ZoneInfo("Asia/Vladivostok")
# 30 Nov 2026 15:00 UTC = Tuesday 1 Dec 2026 01:00 in Vladivostok.
NOW = datetime(2026, 11, 30, 15, 0, tzinfo=UTC)
EVERYWHERE = tuple(
    Target(account=a, platform=p)
    for a in ("administration", "head")
    for p in (Platform.TELEGRAM, Platform.VK, Platform.OK)
)
HEADER = re.compile(
    r"^(Понедельник|Вторник|Среда|Четверг|Пятница|Суббота|Воскресенье), \d{1,2} декабря"
    r"( \(продолжение\))?$"
)


@pytest.fixture
async def harness(
    tg_emulator: TelegramEmulator,
    sessionmaker: async_sessionmaker[AsyncSession],
    tmp_path: Path,
) -> AsyncIterator[Harness]:
    # No drain loop: tests drain by hand after moving the clock.
    h = await make_harness(tg_emulator, sessionmaker, tmp_path, now=NOW)
    try:
        yield h
    finally:
        await h.stop_bot()
        await h.bot.session.close()


def local(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 12, day, hour, minute, tzinfo=TZ)


async def seed(
    harness: Harness, at: datetime, text: str, targets: tuple[Target, ...] = EVERYWHERE
) -> int:
    result = await harness.service.submit(
        NewPublication(
            content=Content(text=RichText(text=text)),
            targets=targets,
            publish_at=at.astimezone(UTC),
            source=PublicationSource.BOT,
            author=f"tg:{STAFF_ID}",
        ),
        actor=f"tg:{STAFF_ID}",
    )
    return result.publication_id


def buttons(message: SentMessage) -> dict[str, str]:
    markup = message.reply_markup or {}
    return {
        b["text"]: b["callback_data"] for row in markup.get("inline_keyboard", []) for b in row
    }


def has_button(label: str) -> Callable[[SentMessage], bool]:
    return lambda s: any(label in text for text in buttons(s))


async def after(harness: Harness, act: Callable[[], object], last: str) -> list[SentMessage]:
    """Messages sent to staff by one action, up to the first whose text holds `last`."""

    def match(s: SentMessage) -> bool:
        return s.method == "sendMessage" and last in (s.text or "")

    start = len(harness.emulator.sent(STAFF_ID))
    before = sum(1 for s in harness.emulator.sent(STAFF_ID) if match(s))
    act()
    await harness.wait_private(STAFF_ID, match, count=before + 1)
    sent = harness.emulator.sent(STAFF_ID)[start:]
    end = next(i for i, s in enumerate(sent) if match(s))
    return [s for s in sent[: end + 1] if s.method == "sendMessage"]


async def statuses(harness: Harness, publication_id: int) -> set[str]:
    async with harness.sessionmaker() as session:
        rows = await session.scalars(
            select(DeliveryRow.status).where(DeliveryRow.publication_id == publication_id)
        )
        return set(rows.all())


async def test_queue_is_a_calendar_of_50_posts_one_message_per_day(harness: Harness) -> None:
    plan = {2: 3, 3: 12, 4: 5, 5: 5, 7: 10, 9: 15}  # day of December → posts that day
    day_of: dict[str, str] = {}
    headers = {
        2: "Среда, 2 декабря",
        3: "Четверг, 3 декабря",
        4: "Пятница, 4 декабря",
        5: "Суббота, 5 декабря",
        7: "Понедельник, 7 декабря",
        9: "Среда, 9 декабря",
    }
    n = 0
    for day, count in plan.items():
        for i in range(count):
            n += 1
            label = f"Новость {n:02d}:"
            day_of[label] = headers[day]
            targets = EVERYWHERE if n != 2 else (Target(account="head", platform=Platform.VK),)
            await seed(
                harness,
                local(day, 9 + i // 12, 5 * (i % 12)),
                f"{label} ремонт дороги на улице Ленина, подробности и схема объезда "
                "в нашем канале",
                targets,
            )
    await harness.start_bot()

    pages: list[list[SentMessage]] = []
    page = await after(
        harness, lambda: harness.emulator.send_private(STAFF_ID, text="/queue"), "Показано"
    )
    while True:
        pages.append(page)
        nav = buttons(page[-1])
        if "Дальше →" not in nav:
            break
        page = await after(
            harness,
            partial(harness.emulator.press_button, STAFF_ID, page[-1].message_id, nav["Дальше →"]),
            "Показано",
        )

    assert len(pages) == 5
    seen: list[str] = []
    for number, page in enumerate(pages):
        first = number * 10 + 1
        shown = "10" if number == 0 else f"{first}–{first + 9}"
        assert page[-1].text is not None
        assert page[-1].text.endswith(f"Показано {shown} из 50.")
        days = [(s.text or "").split("\n")[0] for s in page]
        assert len(days) == len(set(days)), "one message per day"
        for message in page:
            lines = (message.text or "").split("\n")
            assert HEADER.match(lines[0]), lines[0]
            posts = [line for line in lines[1:] if re.match(r"^\d\d:\d\d · ", line)]
            assert posts
            # One button per post (and the paging row on the page's last message).
            post_buttons = [b for b in buttons(message) if re.match(r"^\d\d:\d\d · ", b)]
            assert len(post_buttons) == len(posts)
            for line in posts:
                label = re.search(r"Новость \d\d:", line)
                assert label is not None, line
                assert lines[0].startswith(day_of[label.group()])
                seen.append(label.group())
    assert seen == list(day_of)  # every post once, in time order
    # Thursday's 12 posts cross a page boundary: the next page says it goes on.
    assert [(m.text or "").split("\n")[0] for m in pages[0]] == [
        "Среда, 2 декабря",
        "Четверг, 3 декабря",
    ]
    assert (pages[1][0].text or "").startswith("Четверг, 3 декабря (продолжение)\n")
    first = (pages[0][0].text or "").split("\n")
    assert first[2] == (
        "09:00 · Администрация, Глава · Telegram, ВКонтакте, Одноклассники · "
        "Новость 01: ремонт дороги на улице Ленина…"
    )
    assert first[3].startswith("09:05 · Глава · ВКонтакте · Новость 02:")
    # Back from the second page.
    back = await after(
        harness,
        lambda: harness.emulator.press_button(
            STAFF_ID, pages[1][-1].message_id, buttons(pages[1][-1])["← Раньше"]
        ),
        "Показано",
    )
    assert (back[-1].text or "").endswith("Показано 10 из 50.")
    # A stranger gets nothing from /queue or its buttons.
    harness.emulator.send_private(STRANGER_ID, text="/queue")
    await harness.wait_private(STRANGER_ID, text_has("только сотрудникам"))
    assert not [s for s in harness.emulator.sent(STRANGER_ID) if "Новость" in (s.text or "")]


async def open_card(harness: Harness, label: str) -> SentMessage:
    day = (
        await after(harness, lambda: harness.emulator.send_private(STAFF_ID, text="/queue"), label)
    )[-1]
    button = next(b for b in buttons(day) if label in b)
    card = await after(
        harness,
        lambda: harness.emulator.press_button(STAFF_ID, day.message_id, buttons(day)[button]),
        "Публикация №",
    )
    return card[-1]


async def test_cancel_from_the_queue_asks_first(harness: Harness) -> None:
    pid = await seed(harness, local(3, 10), "Концерт в доме культуры")
    await harness.start_bot()
    card = await open_card(harness, "Концерт")
    assert (card.text or "").startswith(f"Публикация №{pid}\nЧетверг, 3 декабря, 10:00\n")
    harness.emulator.press_button(STAFF_ID, card.message_id, buttons(card)["Отменить публикацию"])
    ask = (await harness.wait_private(STAFF_ID, has_button("Да, отменить")))[-1]
    assert "Отменить публикацию" in (ask.text or "")
    harness.emulator.press_button(STAFF_ID, card.message_id, buttons(ask)["Нет, оставить"])
    await harness.wait_private(
        STAFF_ID, lambda s: s.method == "editMessageText" and has_button("Перенести")(s)
    )
    assert await statuses(harness, pid) == {DeliveryStatus.PENDING}
    harness.emulator.press_button(STAFF_ID, card.message_id, buttons(ask)["Да, отменить"])
    await harness.wait_private(STAFF_ID, text_has(f"Публикация №{pid} отменена"))
    assert await statuses(harness, pid) == {DeliveryStatus.CANCELLED}
    # Its buttons are stale now, and the queue is empty.
    answers = len(harness.emulator.requests("answerCallbackQuery"))
    harness.emulator.press_button(STAFF_ID, card.message_id, buttons(card)["Перенести"])
    await harness.emulator.wait_for_request("answerCallbackQuery", count=answers + 1)
    assert "уже вышла или отменена" in str(harness.emulator.callback_answers()[-1])
    await after(
        harness,
        lambda: harness.emulator.send_private(STAFF_ID, text="/queue"),
        "Запланированных публикаций нет",
    )


async def test_reschedule_with_a_phrase(harness: Harness) -> None:
    pid = await seed(harness, local(3, 10), "Приём граждан главой округа")
    await harness.start_bot()
    card = await open_card(harness, "Приём граждан")
    harness.emulator.press_button(STAFF_ID, card.message_id, buttons(card)["Перенести"])
    await harness.wait_private(
        STAFF_ID, text_has(f"На когда перенести публикацию №{pid}? Сейчас: Четверг, 3 декабря")
    )
    harness.emulator.send_private(STAFF_ID, text="когда-нибудь")
    await harness.wait_private(STAFF_ID, text_has("Не удалось понять время «когда-нибудь»"))
    harness.emulator.send_private(STAFF_ID, text="вчера 10:00")
    await harness.wait_private(STAFF_ID, text_has("уже прошло"))
    # A date without a time: the time is asked for, for that day.
    harness.emulator.send_private(STAFF_ID, text="15 декабря")
    await harness.wait_private(
        STAFF_ID, text_has("Во сколько опубликовать во вторник, 15 декабря?")
    )
    harness.emulator.send_private(STAFF_ID, text="10:00")
    confirm = (
        await harness.wait_private(
            STAFF_ID,
            text_has(
                f"Перенести публикацию №{pid}? Она выйдет во вторник, 15 декабря, в 10:00 "
                "(по владивостокскому времени)."
            ),
        )
    )[-1]
    # Another time, from the quick picks this time.
    harness.emulator.press_button(STAFF_ID, confirm.message_id, buttons(confirm)["Другое время"])
    ask = (await harness.wait_private(STAFF_ID, has_button("Завтра 9:00"), count=2))[-1]
    harness.emulator.press_button(STAFF_ID, ask.message_id, buttons(ask)["Завтра 9:00"])
    confirm = (
        await harness.wait_private(
            STAFF_ID, text_has(f"Перенести публикацию №{pid}? Она выйдет в среду, 2 декабря")
        )
    )[-1]
    harness.emulator.press_button(STAFF_ID, confirm.message_id, buttons(confirm)["Подтвердить"])
    await harness.wait_private(
        STAFF_ID,
        text_has(
            f"Публикация №{pid} перенесена: она выйдет в среду, 2 декабря, в 09:00 "
            "(по владивостокскому времени)."
        ),
    )
    async with harness.sessionmaker() as session:
        due = set((await session.scalars(select(DeliveryRow.due_at))).all())
    assert due == {local(2, 9).astimezone(UTC)}
    # Pressed twice: nothing more happens.
    harness.emulator.press_button(STAFF_ID, confirm.message_id, buttons(confirm)["Подтвердить"])
    await harness.emulator.wait_for_request(
        "answerCallbackQuery", count=len(harness.emulator.requests("answerCallbackQuery")) + 1
    )
    assert harness.emulator.callback_answers()[-1].get("show_alert")
    # While a new time is awaited, a long text is a new post, not a time.
    card = await open_card(harness, "Приём граждан")
    harness.emulator.press_button(STAFF_ID, card.message_id, buttons(card)["Перенести"])
    await harness.wait_private(STAFF_ID, text_has("На когда перенести"), count=2)
    harness.emulator.send_private(
        STAFF_ID,
        text="Завтра в 9 утра на площади пройдёт ярмарка выходного дня, приходите всей семьёй",
    )
    await harness.wait_private(STAFF_ID, has_button("Опубликовать сейчас"))
    harness.emulator.send_private(STAFF_ID, text="15.12 10:00")  # now for nothing of /queue
    await harness.settle_inbox()
    async with harness.sessionmaker() as session:
        due = set((await session.scalars(select(DeliveryRow.due_at))).all())
    assert due == {local(2, 9).astimezone(UTC)}


async def test_edit_text_of_a_scheduled_post_reaches_every_copy(harness: Harness) -> None:
    pid = await seed(harness, local(3, 10), "Отключение воды на улице Мира")
    await harness.start_bot()
    card = await open_card(harness, "Отключение воды")
    harness.emulator.press_button(STAFF_ID, card.message_id, buttons(card)["Изменить текст"])
    await harness.wait_private(
        STAFF_ID, text_has(f"Пришлите новый текст публикации №{pid}", "улице Мира")
    )
    new = "Отключение воды на улице Мира переносится на пятницу"
    harness.emulator.send_private(
        STAFF_ID,
        text=new,
        entities=[{"type": "bold", "offset": 0, "length": 16}],
    )
    confirm = (
        await harness.wait_private(STAFF_ID, text_has(f"Заменить текст публикации №{pid}", new))
    )[-1]
    assert "Администрация, Глава · Telegram, ВКонтакте, Одноклассники" in (confirm.text or "")
    harness.emulator.press_button(STAFF_ID, confirm.message_id, buttons(confirm)["Подтвердить"])
    await harness.wait_private(
        STAFF_ID,
        text_has(f"Текст публикации №{pid} изменён: она выйдет в четверг, 3 декабря, в 10:00"),
    )
    assert await statuses(harness, pid) == {DeliveryStatus.PENDING}
    # At the time, every copy goes out with the new text (bold kept), and nothing else.
    harness.clock.now = local(3, 10, 1).astimezone(UTC)
    async with asyncio.timeout(5):
        while await harness.drainer.drain_once():
            pass
    for fake in harness.fakes.values():
        assert [c.content.text.text for c in fake.calls if c.content] == [new]
        assert fake.calls[0].content is not None
        assert [s.kind for s in fake.calls[0].content.text.spans] == ["bold"]


async def test_status_is_russian_with_a_paused_account_shown_once(harness: Harness) -> None:
    await seed(harness, local(1, 0, 59), "Новости округа")
    harness.fake("head", Platform.VK).fail_next(
        AuthError("invalid access_token (error 5)", code=5)
    )
    harness.fake("administration", Platform.OK).fail_next(
        PermanentError("PARAM : text too long", code=100, reason=Reason.TOO_LONG)
    )
    harness.fake("head", Platform.OK).fail_next(
        TransientError("HTTP 502 Bad Gateway", reason=Reason.PLATFORM_DOWN)
    )
    async with asyncio.timeout(5):
        while await harness.drainer.drain_once():
            pass
    await seed(harness, local(5, 12), "Ещё одна новость")  # waits behind the paused account
    await harness.start_bot()
    status = (
        await after(
            harness,
            lambda: harness.emulator.send_private(STAFF_ID, text="/status"),
            "Состояние аккаунтов",
        )
    )[-1]
    text = status.text or ""
    lines = text.split("\n")
    paused = [line for line in lines if line.startswith("⏸")]
    assert paused == [
        "⏸ Глава · ВКонтакте: приостановлено с 01:00 — доступ бота к аккаунту отозван или "
        "неверен, сообщите ИТ-специалисту. В очереди копий: 2."
    ]
    assert (
        "🟡 Администрация · Одноклассники: не удалось 01:00 — текст оказался слишком длинным "
        "для площадки, сократите его"
    ) in lines
    assert (
        "🟡 Глава · Одноклассники: не удалось 01:00 — "
        "площадка временно не отвечает, повтор автоматически"
    ) in lines
    assert "🟢 Администрация · Telegram: работает, последняя публикация 01:00" in lines
    # Russian only: no English error, no code, no console command.
    latin = re.sub(r"Telegram|MAX", "", text)
    assert not re.search(r"[A-Za-z]", latin), text
    # The press officer can resume the paused account once IT has fixed it.
    assert set(buttons(status)) == {"Возобновить: Глава · ВКонтакте"}
    harness.emulator.press_button(
        STAFF_ID, status.message_id, buttons(status)["Возобновить: Глава · ВКонтакте"]
    )
    edited = (
        await harness.wait_private(
            STAFF_ID, lambda s: s.method == "editMessageText" and "Состояние" in (s.text or "")
        )
    )[-1]
    assert "⏸" not in (edited.text or "")
    states = {(s.account, s.platform): s for s in await harness.service.target_states()}
    assert not states[("head", Platform.VK)].paused
    # The scheduled post is still there for the head's VK.
    harness.clock.now = NOW + timedelta(days=5)
    async with asyncio.timeout(5):
        while await harness.drainer.drain_once():
            pass
    assert len(harness.fake("head", Platform.VK).published) >= 2


async def test_edit_text_after_some_copies_went_out_edits_those_too(harness: Harness) -> None:
    pid = await seed(harness, local(1, 0, 59), "Новость дня: открыт каток")
    late = harness.fake("head", Platform.OK)
    late.fail_next(TransientError("HTTP 502 Bad Gateway", reason=Reason.PLATFORM_DOWN))
    async with asyncio.timeout(5):
        while await harness.drainer.drain_once():
            pass
    assert await statuses(harness, pid) == {DeliveryStatus.PUBLISHED, DeliveryStatus.PENDING}
    await harness.start_bot()
    card = await open_card(harness, "Новость дня")
    assert "Глава · Одноклассники\n" in (card.text or "")  # only the copy still waiting
    harness.emulator.press_button(STAFF_ID, card.message_id, buttons(card)["Изменить текст"])
    await harness.wait_private(STAFF_ID, text_has("Пришлите новый текст"))
    new = "Новость дня: каток откроется в субботу"
    harness.emulator.send_private(STAFF_ID, text=new)
    confirm = (await harness.wait_private(STAFF_ID, text_has("Заменить текст", new)))[-1]
    harness.emulator.press_button(STAFF_ID, confirm.message_id, buttons(confirm)["Подтвердить"])
    await harness.wait_private(STAFF_ID, text_has("Часть копий уже вышла — они будут исправлены"))
    harness.clock.now = NOW + timedelta(hours=1)
    async with asyncio.timeout(5):
        while await harness.drainer.drain_once():
            pass
    assert [c.content.text.text for c in late.calls if c.method == "publish" and c.content] == [
        "Новость дня: открыт каток",
        new,
    ]
    for key, fake in harness.fakes.items():
        if fake is late:
            continue
        assert [c.content.text.text for c in fake.calls if c.method == "edit" and c.content] == [
            new
        ], key
