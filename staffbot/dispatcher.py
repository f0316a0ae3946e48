"""The aiogram Dispatcher: the channel mirror, then every staff feature under one staff-only
router (see docs/staffbot.md for the order and how to add a feature)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from pathlib import Path

from aiogram import Bot, Dispatcher
from aiogram.exceptions import TelegramAPIError
from aiogram.types import BotCommand, BotCommandScopeAllPrivateChats
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crosspost.config import Settings
from crosspost.drafts import DraftStore
from crosspost.intake.mirror_store import MirrorStore
from crosspost.service import PublicationService
from staffbot.access import staff_router
from staffbot.compose import ComposeDialog
from staffbot.delete import DeleteFeature
from staffbot.help import build_fallback_router, build_help_router
from staffbot.mirror import ALBUM_DEBOUNCE, ChannelMirror
from staffbot.queue import QueueScreen
from staffbot.reports import TelegramReporter
from staffbot.stats import build_stats_router
from staffbot.status import StatusScreen

logger = logging.getLogger(__name__)

COMMANDS = (
    ("queue", "Запланированные публикации"),
    ("status", "Состояние аккаунтов"),
    ("stats", "Подписчики: сегодня и год назад"),
    ("delete", "Удалить пост по ссылке"),
    ("event", "Новое мероприятие"),
    ("events", "Мероприятия: перенести, отменить"),
    ("recurring", "Повторяющиеся публикации"),
    ("help", "Справка"),
)


def build_dispatcher(
    *,
    settings: Settings,
    service: PublicationService,
    sessionmaker: async_sessionmaker[AsyncSession],
    media_dir: Path,
    clock: Callable[[], datetime],
    album_debounce: timedelta = ALBUM_DEBOUNCE,
    on_event_change: Callable[[], Awaitable[None]] | None = None,
    reporter: TelegramReporter | None = None,
) -> Dispatcher:
    """The dispatcher for polling or the webhook. Its startup re-arms albums buffered before a
    restart; its shutdown stops their timers (the items stay in the database).

    `reporter` is the one staff-chat reporter of the process; without it the bot makes its own
    for the Bot it runs with."""
    media_dir.mkdir(parents=True, exist_ok=True)
    own: dict[int, TelegramReporter] = {}

    def reporter_for(bot: Bot) -> TelegramReporter:
        if reporter is not None:
            return reporter
        if bot.id not in own:
            own[bot.id] = TelegramReporter(bot=bot, settings=settings, service=service)
        return own[bot.id]

    # One store for the channel mirror and the compose dialog (both buffer albums).
    store = MirrorStore(sessionmaker)
    mirror = ChannelMirror(
        store=store,
        settings=settings,
        service=service,
        sessionmaker=sessionmaker,
        media_dir=media_dir,
        clock=clock,
        reporter_for=reporter_for,
        album_debounce=album_debounce,
    )
    dialog = ComposeDialog(
        settings=settings,
        service=service,
        drafts=DraftStore(sessionmaker, clock=clock),
        media_dir=media_dir,
        clock=clock,
        reporter_for=reporter_for,
        store=store,
    )
    dialog.albums.debounce = album_debounce.total_seconds()
    dp = Dispatcher(name="crosspost")
    dp["mirror"] = mirror
    dp["dialog"] = dialog
    dp.include_router(mirror.router)
    # Staff features, in order: commands and specific buttons first, compose (which takes any
    # other private message) and the unknown-button answer last.
    staff = staff_router(frozenset(settings.telegram.staff))
    staff.include_router(
        build_stats_router(settings=settings, sessionmaker=sessionmaker, clock=clock)
    )
    # -- events and recurring posts (issue 11): before compose, which takes every message --
    from staffbot.events import EventDialog
    from staffbot.recurring import RecurringDialog

    events = EventDialog(
        settings=settings,
        service=service,
        sessionmaker=sessionmaker,
        media_dir=media_dir,
        clock=clock,
        on_change=on_event_change,
    )
    staff.include_router(events.router)
    staff.include_router(RecurringDialog(settings=settings, service=service, clock=clock).router)
    # -- end of events and recurring posts --
    staff.include_router(
        DeleteFeature(settings=settings, service=service, reporter_for=reporter_for).router
    )
    staff.include_router(build_help_router(settings))
    # -- /queue, /status and report buttons: before compose, which takes any private message --
    staff.include_router(
        QueueScreen(
            settings=settings,
            service=service,
            sessionmaker=sessionmaker,
            clock=clock,
            reporter_for=reporter_for,
        ).router
    )
    staff.include_router(
        StatusScreen(
            settings=settings, service=service, sessionmaker=sessionmaker, clock=clock
        ).router
    )
    # -- end of /queue, /status --
    staff.include_router(dialog.router)
    staff.include_router(build_fallback_router())
    dp.include_router(staff)

    async def on_startup(bot: Bot) -> None:
        restored = await mirror.albums.restore(bot) + await dialog.albums.restore(bot)
        if restored:
            logger.info("re-armed %s album(s) buffered before the restart", restored)
        try:
            await bot.set_my_commands(
                [BotCommand(command=c, description=d) for c, d in COMMANDS],
                scope=BotCommandScopeAllPrivateChats(),
            )
        except TelegramAPIError as exc:
            logger.warning("setMyCommands failed: %s", exc.message)

    async def on_shutdown() -> None:
        await mirror.albums.close()
        await dialog.albums.close()

    dp.startup.register(on_startup)
    dp.shutdown.register(on_shutdown)
    return dp
