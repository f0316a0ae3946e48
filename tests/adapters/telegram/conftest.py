from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer

from adapters.telegram.publisher import TelegramPublisher
from crosspost.emulators.telegram import TelegramEmulator
from crosspost.models import MediaItem, MediaKind
from crosspost.publishing import Throttle, no_throttle

CHANNEL_ID = -1001111111111
CHANNEL_USERNAME = "adm_spassk"
STAFF_ID = 500001


def make_bot(api_base: str, token: str, *, timeout: float = 10.0, is_local: bool = False) -> Bot:
    api = TelegramAPIServer.from_base(api_base, is_local=is_local)
    return Bot(token, session=AiohttpSession(api=api, timeout=timeout))


@pytest.fixture(scope="session")
async def tg_server() -> AsyncIterator[TelegramEmulator]:
    emulator = TelegramEmulator()
    await emulator.start()
    yield emulator
    await emulator.stop()


@pytest.fixture
def tg_emulator(tg_server: TelegramEmulator) -> TelegramEmulator:
    tg_server.reset()
    tg_server.clock_offset = 0.0
    tg_server.add_channel(CHANNEL_ID, "Администрация", CHANNEL_USERNAME, members=1234)
    tg_server.add_user(STAFF_ID, "Мария", "maria")
    return tg_server


@pytest.fixture(scope="session")
async def tg_bot(tg_server: TelegramEmulator) -> AsyncIterator[Bot]:
    bot = make_bot(tg_server.api_base, tg_server.token)
    yield bot
    await bot.session.close()


@dataclass
class RecordingThrottle:
    """A ThrottleFactory that records which buckets were entered."""

    keys: list[tuple[str, str]] = field(default_factory=list)

    def __call__(self, kind: str, token: str) -> Throttle:
        self.keys.append((kind, token))
        return no_throttle(kind, token)


@pytest.fixture
def tg_throttle() -> RecordingThrottle:
    return RecordingThrottle()


@pytest.fixture
def tg_publisher(
    tg_emulator: TelegramEmulator, tg_bot: Bot, tg_throttle: RecordingThrottle
) -> TelegramPublisher:
    return TelegramPublisher(
        account="administration",
        chat_id=CHANNEL_ID,
        bot=tg_bot,
        throttle=tg_throttle,
        channel_username=CHANNEL_USERNAME,
    )


MediaFactory = Callable[..., MediaItem]


@pytest.fixture
def media_factory(tmp_path: Path) -> MediaFactory:
    counter = iter(range(1, 10_000))

    def make(
        kind: MediaKind = MediaKind.PHOTO,
        data: bytes | None = None,
        *,
        file_name: str | None = None,
        telegram_file_id: str | None = None,
        missing: bool = False,
    ) -> MediaItem:
        number = next(counter)
        body = data if data is not None else f"{kind}-{number}".encode() * 50
        digest = hashlib.sha256(body).hexdigest()
        path = tmp_path / digest
        path.write_bytes(body)
        return MediaItem(
            kind=kind,
            path=path,
            file_name=file_name or f"{kind}-{number}.bin",
            mime_type="application/octet-stream",
            size=len(body),
            sha256=digest,
            telegram_file_id=telegram_file_id,
            missing=missing,
        )

    return make
