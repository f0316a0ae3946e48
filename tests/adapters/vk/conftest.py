from __future__ import annotations

import hashlib
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import pytest
from pydantic import SecretStr

from adapters.vk.client import VkClient, VkToken, VkTokenKind
from adapters.vk.publisher import VkPublisher
from crosspost.emulators.vk import VkEmulator
from crosspost.models import DeliveryRef, MediaItem, MediaKind, Platform
from crosspost.publishing import ThrottleFactory, no_throttle

GROUP_ID = 111
COMMUNITY = "vk1.a.community-token-SECRET"
USER = "vk1.a.user-token-SECRET"


class FakeClock:
    """Wall clock for the emulator: real time plus an offset, or frozen."""

    def __init__(self) -> None:
        self.offset = 0.0
        self.frozen: float | None = None

    def __call__(self) -> float:
        return self.frozen if self.frozen is not None else time.time() + self.offset

    def freeze(self) -> None:
        self.frozen = time.time() + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += seconds
        if self.frozen is not None:
            self.frozen += seconds

    def now(self) -> datetime:
        return datetime.fromtimestamp(self(), UTC)


@pytest.fixture(scope="session")
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(scope="session")
async def vk_server(clock: FakeClock) -> AsyncIterator[tuple[VkEmulator, str]]:
    emulator = VkEmulator(clock=clock, hang_seconds=10)
    api_base = await emulator.start()
    yield emulator, api_base
    await emulator.stop()


@pytest.fixture
def emu(vk_server: tuple[VkEmulator, str], clock: FakeClock) -> VkEmulator:
    emulator, _ = vk_server
    emulator.reset()
    emulator.keep_bytes = True
    emulator.community_can_read_wall = False
    # VK's real limits (3/s, 20/s) are exercised in test_rate_limits.py; elsewhere they
    # would only make tests wait.
    emulator.user_rate = emulator.community_rate = 10_000.0
    clock.offset = 0.0
    clock.frozen = None
    emulator.add_group(GROUP_ID, "Администрация", 1234, community_token=COMMUNITY, user_token=USER)
    return emulator


@pytest.fixture
def api_base(vk_server: tuple[VkEmulator, str]) -> str:
    return vk_server[1]


@pytest.fixture(scope="session")
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


ClientFactory = Callable[..., VkClient]


@pytest.fixture
def make_client(http: aiohttp.ClientSession, api_base: str) -> ClientFactory:
    def make(
        *, timeout: float = 5.0, throttle: ThrottleFactory = no_throttle, base: str | None = None
    ) -> VkClient:
        return VkClient(
            http=http,
            api_base=base or api_base,
            api_version="5.199",
            timeout_seconds=timeout,
            throttle=throttle,
            account="administration",
        )

    return make


PublisherFactory = Callable[..., VkPublisher]


@pytest.fixture
def make_publisher(make_client: ClientFactory, clock: FakeClock) -> PublisherFactory:
    def make(
        *,
        community: str | None = COMMUNITY,
        user: str | None = USER,
        timeout: float = 5.0,
        throttle: ThrottleFactory = no_throttle,
    ) -> VkPublisher:
        return VkPublisher(
            account="administration",
            group_id=GROUP_ID,
            client=make_client(timeout=timeout, throttle=throttle),
            community_token=VkToken(VkTokenKind.COMMUNITY, SecretStr(community))
            if community
            else None,
            user_token=VkToken(VkTokenKind.USER, SecretStr(user)) if user else None,
            clock=clock.now,
        )

    return make


@pytest.fixture
def user_token() -> VkToken:
    return VkToken(VkTokenKind.USER, SecretStr(USER))


@pytest.fixture
def community_token() -> VkToken:
    return VkToken(VkTokenKind.COMMUNITY, SecretStr(COMMUNITY))


MediaFactory = Callable[..., MediaItem]


@pytest.fixture
def make_media(tmp_path: Path) -> MediaFactory:
    counter = iter(range(1, 10_000))

    def make(
        kind: MediaKind = MediaKind.PHOTO,
        *,
        size: int = 4096,
        name: str | None = None,
        mime: str | None = None,
        missing: bool = False,
    ) -> MediaItem:
        n = next(counter)
        default_mime = {
            MediaKind.PHOTO: "image/jpeg",
            MediaKind.VIDEO: "video/mp4",
            MediaKind.DOCUMENT: "application/pdf",
            MediaKind.ANIMATION: "video/mp4",
            MediaKind.AUDIO: "audio/mpeg",
        }[kind]
        file_name = name or f"file{n}.{default_mime.rsplit('/', 1)[1]}"
        path = tmp_path / f"media-{n}"
        # Distinct, non-trivial bytes per file so a mix-up shows.
        data = (hashlib.sha256(str(n).encode()).digest() * (size // 32 + 1))[:size]
        if not missing:
            path.write_bytes(data)
        return MediaItem(
            kind=kind,
            path=path,
            file_name=file_name,
            mime_type=mime or default_mime,
            size=size,
            sha256=hashlib.sha256(data).hexdigest(),
            missing=missing,
        )

    return make


DeliveryFactory = Callable[..., DeliveryRef]


@pytest.fixture
def make_delivery(clock: FakeClock) -> DeliveryFactory:
    counter = iter(range(1, 10_000))

    def make(*, key: str | None = None, last_attempt_at: datetime | None = None) -> DeliveryRef:
        n = next(counter)
        return DeliveryRef(
            delivery_id=n,
            publication_id=n,
            account="administration",
            platform=Platform.VK,
            idempotency_key=key or f"pub{n}-administration-vk",
            attempts=1,
            last_attempt_at=last_attempt_at or clock.now(),
        )

    return make
