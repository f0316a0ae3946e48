from __future__ import annotations

import hashlib
import os
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from adapters.max import MaxPublisher, create_publisher
from crosspost.config import Settings, parse_settings
from crosspost.emulators.max import MaxEmulator
from crosspost.models import MediaItem, MediaKind
from crosspost.publishing import ThrottleFactory, no_throttle

TOKEN = "max-emulated-bot-token-0001"
CHAT_ID = -70000000000001
ACCOUNT = "administration"


class FakeClock:
    """A monotonic clock tests move by hand (the emulator's rate windows read it)."""

    def __init__(self) -> None:
        self.value = 1000.0

    def __call__(self) -> float:
        return self.value

    def advance(self, seconds: float) -> None:
        self.value += seconds


@pytest.fixture
def max_clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def max_emulator(max_clock: FakeClock) -> AsyncIterator[MaxEmulator]:
    emulator = MaxEmulator(monotonic=max_clock)
    await emulator.start()
    emulator.add_bot(TOKEN)
    emulator.add_channel(CHAT_ID, "Администрация", participants_count=4321)
    emulator.add_bot_to(CHAT_ID, TOKEN)
    yield emulator
    await emulator.stop()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def make_settings(api_base: str, *, timeout: float = 1.0, token: str = TOKEN) -> Settings:
    return parse_settings(
        {
            "telegram": {"token": "1:TEST", "staff_chat_id": -100, "staff": [1]},
            "max": {"api_base": api_base, "token": token, "timeout_seconds": timeout},
            "accounts": {ACCOUNT: {"title": "Администрация", "max_chat_id": CHAT_ID}},
        },
        env={},
    )


PublisherFactory = Callable[..., MaxPublisher]


async def no_sleep(seconds: float) -> None:
    return None


@pytest.fixture
def make_publisher(max_emulator: MaxEmulator, http: aiohttp.ClientSession) -> PublisherFactory:
    def make(
        *,
        timeout: float = 1.0,
        throttle: ThrottleFactory = no_throttle,
        token: str = TOKEN,
        **overrides: Any,
    ) -> MaxPublisher:
        settings = make_settings(max_emulator.base_url, timeout=timeout, token=token)
        publisher = create_publisher(
            settings=settings, account=ACCOUNT, http=http, throttle=throttle
        )
        publisher._sleep = no_sleep
        for key, value in overrides.items():
            setattr(publisher, key, value)
        return publisher

    return make


MediaFactory = Callable[..., MediaItem]


@pytest.fixture
def make_media(tmp_path: Path) -> MediaFactory:
    counter = iter(range(1, 10_000))

    def make(
        kind: MediaKind = MediaKind.PHOTO,
        *,
        size: int = 2048,
        mime_type: str = "image/jpeg",
        file_name: str | None = None,
        missing: bool = False,
        data: bytes | None = None,
    ) -> MediaItem:
        number = next(counter)
        payload = data if data is not None else os.urandom(size)
        path = tmp_path / f"media-{number}"
        path.write_bytes(payload)
        return MediaItem(
            kind=kind,
            path=path,
            file_name=file_name or f"file-{number}.jpg",
            mime_type=mime_type,
            size=len(payload),
            sha256=hashlib.sha256(payload).hexdigest(),
            missing=missing,
        )

    return make
