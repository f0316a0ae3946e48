"""A running staff bot for tests: emulator ↔ aiogram polling ↔ service ↔ drainer ↔ fakes."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from aiogram import Bot, Dispatcher
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crosspost.config import Settings, parse_settings
from crosspost.db import PublicationRow
from crosspost.emulators.telegram import SentMessage, TelegramEmulator
from crosspost.models import DeliveryRef, Platform
from crosspost.publishing import FakePublisher
from crosspost.service import PublicationService
from scheduler.drain import Drainer
from staffbot.dispatcher import build_dispatcher
from staffbot.intake import TelegramIntake
from staffbot.reports import TelegramReporter
from tests.adapters.telegram.conftest import CHANNEL_ID, CHANNEL_USERNAME, STAFF_ID, make_bot

HEAD_CHANNEL_ID = -1002222222222
STAFF_CHAT_ID = -1009999999999
STRANGER_ID = 700001


def make_settings() -> Settings:
    def account(title: str, channel: int, username: str | None, gid: int) -> dict[str, object]:
        return {
            "title": title,
            "telegram_channel_id": channel,
            "telegram_channel_username": username,
            "mirror": ["vk", "ok"],
            "vk": {"group_id": gid, "community_token": "vk-token"},
            "ok": {
                "group_id": str(gid),
                "application_key": "CBA",
                "application_secret_key": "secret",
                "access_token": "ok-token",
            },
        }

    adm = account("Администрация городского округа", CHANNEL_ID, CHANNEL_USERNAME, 111)
    head = account("Глава городского округа", HEAD_CHANNEL_ID, None, 222)
    del head["telegram_channel_username"]
    return parse_settings(
        {
            "telegram": {
                "token": "123456:TEST-TOKEN",
                "staff_chat_id": STAFF_CHAT_ID,
                "staff": [STAFF_ID],
                "timezone": "Asia/Vladivostok",
            },
            "accounts": {"administration": adm, "head": head},
        },
        env={},
    )


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Harness:
    emulator: TelegramEmulator
    settings: Settings
    sessionmaker: async_sessionmaker[AsyncSession]
    service: PublicationService
    drainer: Drainer
    fakes: dict[tuple[str, Platform], FakePublisher]
    clock: Clock
    media_dir: Path
    bot: Bot
    dp: Dispatcher | None = None
    intake: TelegramIntake | None = None
    # The one reporter, shared by the drainer and the bot (as in crosspost.app).
    reporter: TelegramReporter = field(init=False)
    handle_as_tasks: bool = True  # kept for old tests: the inbox handles a chat in order
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)
    _published: asyncio.Event = field(default_factory=asyncio.Event)

    def fake(self, account: str, platform: Platform) -> FakePublisher:
        return self.fakes[(account, platform)]

    async def start_bot(self) -> Dispatcher:
        from datetime import timedelta

        dp = build_dispatcher(
            settings=self.settings,
            service=self.service,
            sessionmaker=self.sessionmaker,
            media_dir=self.media_dir,
            clock=self.clock,
            reporter=self.reporter,
            album_debounce=timedelta(seconds=0.3),
        )
        self.dp = dp
        self.intake = TelegramIntake(
            bot=self.bot,
            dp=dp,
            settings=self.settings,
            sessionmaker=self.sessionmaker,
            clock=self.clock,
        )
        self._tasks.append(asyncio.create_task(self.intake.run_polling(polling_timeout=1)))
        await self.emulator.wait_for_request("getUpdates")
        return dp

    async def stop_bot(self) -> None:
        if self.intake is not None:
            self.intake.stop()
        for task in self._tasks:
            await task
        self._tasks.clear()
        self.dp = None

    async def settle_inbox(self) -> None:
        """Wait until every update Telegram holds is stored and handled."""
        assert self.intake is not None
        async with asyncio.timeout(5):
            while self.emulator.pending_updates() or (await self.intake.inbox.counts()).get(
                "pending", 0
            ):
                self.intake.processor.progressed.clear()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(0.2):
                        await self.intake.processor.progressed.wait()

    async def wait_published(self, fake: FakePublisher, count: int = 1) -> list[DeliveryRef]:
        async with asyncio.timeout(5):
            while len(fake.published) < count:
                self._published.clear()
                await self._published.wait()
        return fake.published

    async def publications(self) -> int:
        async with self.sessionmaker() as session:
            return int(await session.scalar(select(func.count(PublicationRow.id))) or 0)

    def staff_chat(self) -> list[SentMessage]:
        return self.emulator.sent(STAFF_CHAT_ID)

    async def wait_staff(
        self, predicate: Callable[[SentMessage], bool], *, count: int = 1
    ) -> list[SentMessage]:
        return await self.emulator.wait_for_sent(
            lambda s: s.chat_id == STAFF_CHAT_ID and predicate(s), count=count
        )

    async def wait_private(
        self, user_id: int, predicate: Callable[[SentMessage], bool], *, count: int = 1
    ) -> list[SentMessage]:
        return await self.emulator.wait_for_sent(
            lambda s: s.chat_id == user_id and predicate(s), count=count
        )


def text_has(*needles: str) -> Callable[[SentMessage], bool]:
    return lambda s: all(n in (s.text or s.caption or "") for n in needles)


async def make_harness(
    emulator: TelegramEmulator,
    sessionmaker: async_sessionmaker[AsyncSession],
    tmp_path: Path,
    now: datetime | None = None,
    settings: Settings | None = None,
) -> Harness:
    settings = settings or make_settings()
    emulator.add_channel(HEAD_CHANNEL_ID, "Глава")
    emulator.add_group(STAFF_CHAT_ID, "Пресс-служба")
    emulator.add_user(STRANGER_ID, "Чужой")
    fakes = {
        (a, p): FakePublisher(platform=p, account=a)
        for a in ("administration", "head")
        for p in (Platform.TELEGRAM, Platform.VK, Platform.OK)
    }
    clock = Clock(now or datetime.now(UTC))
    drainer = Drainer(sessionmaker=sessionmaker, publishers=fakes, clock=clock)
    service = PublicationService(sessionmaker, publishers=fakes, wake=drainer.wake, clock=clock)
    bot = make_bot(emulator.api_base, emulator.token)
    harness = Harness(
        emulator=emulator,
        settings=settings,
        sessionmaker=sessionmaker,
        service=service,
        drainer=drainer,
        fakes=fakes,
        clock=clock,
        media_dir=tmp_path / "media",
        bot=bot,
    )
    for fake in fakes.values():
        fake.on_publish = lambda _ref: harness._published.set()
    harness.reporter = TelegramReporter(bot=bot, settings=settings, service=service)
    drainer.sink = harness.reporter
    return harness


@contextlib.asynccontextmanager
async def running(h: Harness) -> AsyncIterator[Harness]:
    """The harness with its drainer running; the bot, drainer and session stopped after."""
    drain = asyncio.create_task(h.drainer.run())
    try:
        yield h
    finally:
        await h.stop_bot()
        await h.drainer.stop()
        await drain
        await h.bot.session.close()
