from __future__ import annotations

import hashlib
import os
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from adapters.ok import OkPublisher, create_publisher
from crosspost.config import Settings, parse_settings
from crosspost.emulators.ok import OkEmulator
from crosspost.models import MediaItem, MediaKind
from crosspost.publishing import ThrottleFactory, no_throttle

APP_KEY = "CBAEMULATORKEY"
APP_SECRET = "0123456789ABCDEF0123"
TOKEN = "tkn1-emulated-access-token-0001"
GID = "5555"
ACCOUNT = "administration"


@pytest.fixture
async def ok_emulator() -> AsyncIterator[OkEmulator]:
    emulator = OkEmulator()
    await emulator.start()
    emulator.add_app(APP_KEY, APP_SECRET)
    emulator.add_token(TOKEN)
    emulator.add_group(GID, "Администрация", members=1234)
    yield emulator
    await emulator.stop()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def make_settings(api_base: str, *, timeout: float = 1.0, **ok: Any) -> Settings:
    account_ok = {
        "group_id": GID,
        "application_key": APP_KEY,
        "application_secret_key": APP_SECRET,
        "access_token": TOKEN,
        **ok,
    }
    return parse_settings(
        {
            "telegram": {"token": "1:TEST", "staff_chat_id": -100, "staff": [1]},
            "ok": {"api_base": api_base, "timeout_seconds": timeout},
            "accounts": {ACCOUNT: {"title": "Администрация", "ok": account_ok}},
        },
        env={},
    )


PublisherFactory = Callable[..., OkPublisher]


@pytest.fixture
def make_publisher(ok_emulator: OkEmulator, http: aiohttp.ClientSession) -> PublisherFactory:
    def make(
        *,
        api_base: str | None = None,
        timeout: float = 1.0,
        throttle: ThrottleFactory = no_throttle,
        **ok: Any,
    ) -> OkPublisher:
        settings = make_settings(
            api_base or f"{ok_emulator.base_url}/fb.do", timeout=timeout, **ok
        )
        return create_publisher(settings=settings, account=ACCOUNT, http=http, throttle=throttle)

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
    ) -> MediaItem:
        number = next(counter)
        data = os.urandom(size)
        path = tmp_path / f"media-{number}"
        path.write_bytes(data)
        return MediaItem(
            kind=kind,
            path=path,
            file_name=file_name or f"file-{number}.jpg",
            mime_type=mime_type,
            size=size,
            sha256=hashlib.sha256(data).hexdigest(),
            missing=missing,
        )

    return make
