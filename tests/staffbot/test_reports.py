"""The staff report and failure routing, driven as staff see them through the Telegram emulator:
one report per publication, a paused account told once, technical detail to the IT contact
(never to press officers), the author by name, short account labels."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crosspost.config import Settings
from crosspost.emulators.telegram import SentMessage, TelegramEmulator
from crosspost.errors import AuthError, PermanentError, Reason
from crosspost.models import Platform
from staffbot.reports import TelegramReporter
from tests.adapters.telegram.conftest import CHANNEL_ID, STAFF_ID
from tests.staffbot.bot_harness import (
    STAFF_CHAT_ID,
    Harness,
    make_harness,
    make_settings,
    text_has,
)

ADM = "administration"
IT_ID = 600001
IT_CHAT_ID = -1008888888888
OK_TOKEN = "ok-token"  # make_settings' OK access token


def with_telegram(settings: Settings, **changes: object) -> Settings:
    return settings.model_copy(update={"telegram": settings.telegram.model_copy(update=changes)})


@pytest.fixture
async def harnesses(
    tg_emulator: TelegramEmulator,
    sessionmaker: async_sessionmaker[AsyncSession],
    tmp_path: Path,
) -> AsyncIterator[list[Harness]]:
    made: list[Harness] = []
    yield made
    for h in made:
        await h.stop_bot()
        await h.drainer.stop()
        await DRAINS.pop(id(h))
        await h.bot.session.close()


DRAINS: dict[int, asyncio.Task[None]] = {}


async def start(
    harnesses: list[Harness],
    emulator: TelegramEmulator,
    sessionmaker: async_sessionmaker[AsyncSession],
    tmp_path: Path,
    settings: Settings,
) -> Harness:
    h = await make_harness(emulator, sessionmaker, tmp_path, settings=settings)
    harnesses.append(h)
    DRAINS[id(h)] = asyncio.create_task(h.drainer.run())
    await h.start_bot()
    return h


def texts_in(messages: list[SentMessage]) -> list[str]:
    return [m.text or m.caption or "" for m in messages]


def revoked() -> AuthError:
    # An adapter's message may echo the request; the token must still never reach a chat.
    return AuthError(
        f"token revoked (access_token={OK_TOKEN})",
        platform=Platform.OK,
        account=ADM,
        code=102,
        reason=Reason.TOKEN_INVALID,
    )


async def test_pause_is_told_once_and_the_it_contact_gets_the_detail(
    harnesses: list[Harness],
    tg_emulator: TelegramEmulator,
    sessionmaker: async_sessionmaker[AsyncSession],
    tmp_path: Path,
) -> None:
    tg_emulator.add_user(IT_ID, "Сергей", "it_sergey")
    settings = with_telegram(make_settings(), it_contacts=[IT_ID])
    h = await start(harnesses, tg_emulator, sessionmaker, tmp_path, settings)
    h.fake(ADM, Platform.OK).fail_next(revoked())

    tg_emulator.post_to_channel(CHANNEL_ID, text="Первая новость")
    alert = await h.wait_staff(text_has("⏸", "приостановлены"))
    assert "доступ в Одноклассниках отозван или недействителен" in (alert[0].text or "")
    assert "ИТ-специалисту отправлены подробности" in (alert[0].text or "")
    it_note = (await tg_emulator.wait_for_sent(lambda s: s.chat_id == IT_ID))[0].text or ""
    assert "AuthError" in it_note
    assert "crosspost check -c" in it_note
    assert "Администрация городского округа (administration)" in it_note
    assert "Одноклассники" in it_note
    await h.wait_staff(text_has("Первая новость", "✅ Администрация · ВКонтакте"))
    await h.wait_staff(
        text_has("Первая новость", "⏸ Администрация · Одноклассники: ждёт возобновления")
    )

    # A later post to the paused account: its report shows the state, nobody is told again.
    tg_emulator.post_to_channel(CHANNEL_ID, text="Вторая новость")
    await h.wait_published(h.fake(ADM, Platform.VK), count=2)
    second = await h.wait_staff(
        text_has("Вторая новость", "✅", "⏸ Администрация · Одноклассники: ждёт возобновления")
    )
    staff = texts_in(h.staff_chat())
    assert sum("приостановлены" in t for t in staff) == 1
    assert len(tg_emulator.sent(IT_ID)) == 1
    assert "отозван" not in (second[-1].text or "")  # the reason is not repeated per report
    # Press officers never read a console command, an English error or a token.
    for text in staff:
        assert "crosspost" not in text
        assert "AuthError" not in text
    for text in [*staff, it_note]:
        assert OK_TOKEN not in text
    reports = {m.message_id for m in h.staff_chat() if "📰" in (m.text or "")}
    assert len(reports) == 2  # one message per publication


async def test_without_it_contacts_the_detail_goes_to_the_staff_chat_or_it_chat(
    harnesses: list[Harness],
    tg_emulator: TelegramEmulator,
    sessionmaker: async_sessionmaker[AsyncSession],
    tmp_path: Path,
) -> None:
    h = await start(harnesses, tg_emulator, sessionmaker, tmp_path, make_settings())
    h.fake(ADM, Platform.VK).fail_next(
        PermanentError(
            "no access to wall", platform=Platform.VK, account=ADM, reason=Reason.NO_RIGHTS
        )
    )
    tg_emulator.post_to_channel(CHANNEL_ID, text="Объявление")
    report = await h.wait_staff(text_has("Объявление", "❌ Администрация · ВКонтакте"))
    assert "у сервиса нет прав публиковать во ВКонтакте" in (report[-1].text or "")
    assert "подробности для ИТ-специалиста — отдельным сообщением" in (report[-1].text or "")
    note = await h.wait_staff(text_has("Для ИТ-специалиста", "PermanentError", "crosspost check"))
    assert "no access to wall" in (note[0].text or "")


async def test_it_chat_gets_the_note_instead_of_the_staff_chat(
    harnesses: list[Harness],
    tg_emulator: TelegramEmulator,
    sessionmaker: async_sessionmaker[AsyncSession],
    tmp_path: Path,
) -> None:
    tg_emulator.add_group(IT_CHAT_ID, "ИТ-отдел")
    settings = with_telegram(make_settings(), it_chat_id=IT_CHAT_ID)
    h = await start(harnesses, tg_emulator, sessionmaker, tmp_path, settings)
    h.fake(ADM, Platform.OK).fail_next(revoked())
    tg_emulator.post_to_channel(CHANNEL_ID, text="Новость")
    await tg_emulator.wait_for_sent(
        lambda s: s.chat_id == IT_CHAT_ID and "crosspost check" in (s.text or "")
    )
    await h.wait_staff(text_has("⏸", "ИТ-специалисту отправлены подробности"))
    assert not any("Для ИТ-специалиста" in t for t in texts_in(h.staff_chat()))


async def test_bot_publication_report_names_the_author(
    harnesses: list[Harness],
    tg_emulator: TelegramEmulator,
    sessionmaker: async_sessionmaker[AsyncSession],
    tmp_path: Path,
) -> None:
    tg_emulator.add_user(STAFF_ID, "Ирина", "irina", last_name="Петрова")
    h = await start(harnesses, tg_emulator, sessionmaker, tmp_path, make_settings())
    tg_emulator.send_private(STAFF_ID, text="Отключение воды 2 декабря")
    panel = (
        await h.wait_private(
            STAFF_ID,
            lambda s: "Опубликовать сейчас" in str(s.reply_markup or ""),
        )
    )[-1]
    buttons = {
        b["text"]: b["callback_data"]
        for row in (panel.reply_markup or {}).get("inline_keyboard", [])
        for b in row
    }
    tg_emulator.press_button(STAFF_ID, panel.message_id, buttons["Опубликовать сейчас"])
    report = await h.wait_staff(text_has("через бота, автор: Ирина Петрова", "✅"))
    assert "tg:" not in (report[-1].text or "")


async def test_short_titles_label_report_lines(
    harnesses: list[Harness],
    tg_emulator: TelegramEmulator,
    sessionmaker: async_sessionmaker[AsyncSession],
    tmp_path: Path,
) -> None:
    base = make_settings()
    adm = base.accounts[ADM].model_copy(update={"short_title": "Адм. ГО"})
    settings = base.model_copy(update={"accounts": {**base.accounts, ADM: adm}})
    h = await start(harnesses, tg_emulator, sessionmaker, tmp_path, settings)
    tg_emulator.post_to_channel(CHANNEL_ID, text="Коротко")
    report = await h.wait_staff(lambda s: (s.text or "").count("✅") == 2)
    text = report[-1].text or ""
    assert "✅ Адм. ГО · ВКонтакте" in text
    assert "городского округа" not in text


def test_reporter_keeps_no_class_level_state() -> None:
    shared = {
        name: value
        for name, value in vars(TelegramReporter).items()
        if isinstance(value, dict | set | list)
    }
    assert not shared


def test_account_labels_fall_back_to_the_title_when_first_words_clash() -> None:
    settings = make_settings()
    assert settings.account_label(ADM) == "Администрация"
    assert settings.account_label("head") == "Глава"
    twin = settings.accounts[ADM].model_copy(update={"title": "Администрация района"})
    clash = settings.model_copy(update={"accounts": {**settings.accounts, "district": twin}})
    assert clash.account_label(ADM) == "Администрация городского округа"
    assert clash.account_label("district") == "Администрация района"


def test_it_recipients_default_to_the_staff_chat() -> None:
    settings = make_settings()
    assert settings.telegram.it_recipients == [STAFF_CHAT_ID]
    both = with_telegram(settings, it_contacts=[IT_ID], it_chat_id=IT_CHAT_ID)
    assert both.telegram.it_recipients == [IT_ID, IT_CHAT_ID]
