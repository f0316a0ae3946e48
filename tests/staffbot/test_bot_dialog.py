from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crosspost.db import AuditRow, DeliveryRow, TelegramDraftRow
from crosspost.emulators.telegram import SentMessage, TelegramEmulator
from crosspost.models import Platform
from tests.adapters.telegram.conftest import STAFF_ID
from tests.staffbot.bot_harness import STRANGER_ID, Harness, make_harness, running, text_has

TZ = ZoneInfo("Asia/Vladivostok")
# 30 Nov 2026 15:00 UTC = 1 Dec 2026 01:00 in Vladivostok.
NOW = datetime(2026, 11, 30, 15, 0, tzinfo=UTC)


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


def has_button(label: str) -> object:
    return lambda s: any(label in text for text in buttons(s))


async def compose(harness: Harness, text: str) -> SentMessage:
    harness.emulator.send_private(STAFF_ID, text=text)
    panel = await harness.wait_private(STAFF_ID, has_button("Опубликовать сейчас"))  # type: ignore[arg-type]
    return panel[-1]


async def count(harness: Harness, column: object) -> int:
    async with harness.sessionmaker() as session:
        return int(await session.scalar(select(func.count(column))) or 0)  # type: ignore[arg-type]


async def test_publish_now_from_the_bot(harness: Harness) -> None:
    await harness.start_bot()
    panel = await compose(harness, "Отключение воды 2 декабря")
    previews = [s for s in harness.emulator.sent(STAFF_ID) if "Предпросмотр" in (s.text or "")]
    # Plain text looks the same everywhere: one preview, named with every platform.
    assert [p.text.split("\n")[0] for p in previews if p.text] == [
        "Предпросмотр — Telegram, ВКонтакте, Одноклассники:"
    ]
    # Only the head of the district, only VK.
    harness.emulator.press_button(STAFF_ID, panel.message_id, buttons(panel)["☑️ Администрация"])
    await harness.wait_private(
        STAFF_ID, lambda s: s.method == "editMessageText" and "Аккаунты: Глава" in (s.text or "")
    )
    for label in ("☑️ Telegram", "☑️ Одноклассники"):
        harness.emulator.press_button(STAFF_ID, panel.message_id, buttons(panel)[label])
    await harness.wait_private(STAFF_ID, text_has("Площадки: ВКонтакте\n"))
    harness.emulator.press_button(
        STAFF_ID, panel.message_id, buttons(panel)["Опубликовать сейчас"]
    )
    vk = harness.fake("head", Platform.VK)
    await harness.wait_published(vk)
    assert vk.calls[0].content is not None
    assert vk.calls[0].content.text.text == "Отключение воды 2 декабря"
    assert not harness.fake("administration", Platform.VK).calls
    assert not harness.fake("head", Platform.OK).calls
    await harness.wait_private(STAFF_ID, text_has("Принято: публикация №1"))
    async with harness.sessionmaker() as session:
        actors = set((await session.scalars(select(AuditRow.actor))).all())
    assert actors == {f"tg:{STAFF_ID}"}


@pytest.mark.parametrize(
    ("typed", "local"),
    [
        ("01.12 10:00", datetime(2026, 12, 1, 10, 0, tzinfo=TZ)),
        ("1 декабря 10:00", datetime(2026, 12, 1, 10, 0, tzinfo=TZ)),
        ("завтра 9:30", datetime(2026, 12, 2, 9, 30, tzinfo=TZ)),
        ("через 2 часа", datetime(2026, 12, 1, 3, 0, tzinfo=TZ)),
    ],
)
async def test_scheduling_with_typed_time(harness: Harness, typed: str, local: datetime) -> None:
    await harness.start_bot()
    panel = await compose(harness, "Плановое отключение света")
    harness.emulator.press_button(STAFF_ID, panel.message_id, buttons(panel)["Запланировать"])
    await harness.wait_private(STAFF_ID, text_has("Когда опубликовать?"))
    harness.emulator.send_private(STAFF_ID, text="вчера 10:00")
    await harness.wait_private(STAFF_ID, text_has("уже прошло"))
    harness.emulator.send_private(STAFF_ID, text="когда-нибудь потом")
    await harness.wait_private(STAFF_ID, text_has("Не удалось понять время «когда-нибудь потом»"))
    harness.emulator.send_private(STAFF_ID, text=typed)
    shown = local.strftime("%d.%m.%Y %H:%M")
    confirm = (await harness.wait_private(STAFF_ID, text_has("Опубликовать в", shown)))[0]
    harness.emulator.press_button(STAFF_ID, confirm.message_id, buttons(confirm)["Подтвердить"])
    await harness.wait_private(STAFF_ID, text_has("выйдет", f"({shown})"))
    async with harness.sessionmaker() as session:
        due = set((await session.scalars(select(DeliveryRow.due_at))).all())
    assert due == {local.astimezone(UTC)}
    assert await count(harness, DeliveryRow.id) == 6  # 2 accounts × 3 platforms


async def test_non_staff_is_refused_once_and_nothing_is_stored(harness: Harness) -> None:
    harness.handle_as_tasks = False
    await harness.start_bot()
    harness.emulator.send_private(STRANGER_ID, text="Опубликуйте мою рекламу")
    refusal = await harness.wait_private(STRANGER_ID, text_has("только сотрудникам"))
    harness.emulator.send_private(STRANGER_ID, text="/queue")
    harness.emulator.press_button(STRANGER_ID, refusal[0].message_id, "d:1:now:")
    harness.emulator.send_private(STAFF_ID, text="/help")
    await harness.wait_private(STAFF_ID, text_has("Как опубликовать пост"))
    await harness.settle_inbox()
    assert len(harness.emulator.sent(STRANGER_ID)) == 1
    assert not harness.emulator.callback_answers()  # within the period: no more answers
    assert await count(harness, TelegramDraftRow.id) == 0
    # The one refusal is audited; the stranger's updates stay in the inbox, handled.
    assert await count(harness, AuditRow.id) == 1
    assert await harness.publications() == 0


async def test_forged_and_stale_buttons_do_nothing(harness: Harness) -> None:
    harness.handle_as_tasks = False
    await harness.start_bot()
    panel = await compose(harness, "Черновик")
    draft_button = buttons(panel)["Опубликовать сейчас"]
    forged = ["d:999:now:", "garbage", "q:cancel:12345", draft_button.replace("now", "zzz")]
    for data in forged:
        harness.emulator.press_button(STAFF_ID, panel.message_id, data)
    harness.emulator.press_button(STAFF_ID, panel.message_id, buttons(panel)["Отмена"])
    await harness.wait_private(STAFF_ID, text_has("Черновик отменён"))
    harness.emulator.press_button(STAFF_ID, panel.message_id, draft_button)  # stale now
    async with asyncio.timeout(5):
        while len(harness.emulator.callback_answers()) < len(forged) + 2:
            await harness.emulator.wait_for_request(
                "answerCallbackQuery",
                count=len(harness.emulator.requests("answerCallbackQuery")) + 1,
            )
    alerts = [a for a in harness.emulator.callback_answers() if a.get("show_alert")]
    assert len(alerts) == len(forged) + 1
    assert await harness.publications() == 0


async def test_sticker_in_the_dialog_is_refused_specifically(harness: Harness) -> None:
    await harness.start_bot()
    harness.emulator.send_private(
        STAFF_ID,
        extra={
            "sticker": {
                "file_id": "s1",
                "file_unique_id": "us1",
                "type": "regular",
                "width": 512,
                "height": 512,
                "is_animated": False,
                "is_video": False,
            }
        },
    )
    await harness.wait_private(STAFF_ID, text_has("Стикер не переносится"))
    assert await count(harness, TelegramDraftRow.id) == 0
