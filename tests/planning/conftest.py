"""A queue with fake publishers and a controllable clock for the planning tests."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crosspost.config import Settings, parse_settings
from crosspost.models import Platform
from crosspost.planning.events import EventPlanner
from crosspost.planning.recurring import RecurringPlanner
from crosspost.publishing import FakePublisher
from crosspost.service import PublicationService
from scheduler.drain import Drainer


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def make_settings(tmp_path: Path, timezone: str = "Asia/Vladivostok", **extra: Any) -> Settings:
    def account(title: str, gid: int) -> dict[str, object]:
        return {
            "title": title,
            "telegram_channel_id": -1000000000000 - gid,
            "mirror": ["vk", "ok"],
            "vk": {"group_id": gid, "community_token": "vk-token"},
            "ok": {
                "group_id": str(gid),
                "application_key": "CBA",
                "application_secret_key": "secret",
                "access_token": "ok-token",
            },
        }

    data: dict[str, Any] = {
        "telegram": {
            "token": "123456:TEST",
            "staff_chat_id": -100900,
            "staff": [1],
            "timezone": timezone,
        },
        "media": {"dir": str(tmp_path / "media")},
        "feeds": {"dir": str(tmp_path / "feeds"), "base_url": "https://spassk.example/feeds/"},
        "accounts": {
            "administration": account("Администрация городского округа", 111),
            "head": account("Глава городского округа", 222),
        },
    }
    data.update(extra)
    return parse_settings(data, env={})


@dataclass
class World:
    """One run of the service: what a restart throws away and builds anew."""

    settings: Settings
    sessionmaker: async_sessionmaker[AsyncSession]
    clock: Clock
    fakes: dict[tuple[str, Platform], FakePublisher]
    service: PublicationService = field(init=False)
    drainer: Drainer = field(init=False)
    events: EventPlanner = field(init=False)
    recurring: RecurringPlanner = field(init=False)
    alerts: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.drainer = Drainer(
            sessionmaker=self.sessionmaker, publishers=self.fakes, clock=self.clock
        )
        self.service = PublicationService(
            self.sessionmaker, publishers=self.fakes, wake=self.drainer.wake, clock=self.clock
        )
        self.events = EventPlanner(settings=self.settings, service=self.service)

        async def alert(text: str) -> None:
            self.alerts.append(text)

        self.recurring = RecurringPlanner(
            settings=self.settings, service=self.service, alert=alert
        )

    def restart(self) -> World:
        return World(
            settings=self.settings,
            sessionmaker=self.sessionmaker,
            clock=self.clock,
            fakes=self.fakes,
        )

    def fake(
        self, account: str = "administration", platform: Platform = Platform.VK
    ) -> FakePublisher:
        return self.fakes[(account, platform)]

    def texts(
        self, account: str = "administration", platform: Platform = Platform.VK
    ) -> list[str]:
        return [
            c.content.text.text
            for c in self.fake(account, platform).calls
            if c.method == "publish" and c.content
        ]

    async def drain(self) -> int:
        total = 0
        while (claimed := await self.drainer.drain_once()) > 0:
            total += claimed
        return total


WorldFactory = Callable[..., World]


@pytest.fixture
def world_factory(sessionmaker: async_sessionmaker[AsyncSession], tmp_path: Path) -> WorldFactory:
    def make(now: datetime, timezone: str = "Asia/Vladivostok", **extra: Any) -> World:
        settings = make_settings(tmp_path, timezone, **extra)
        fakes = {
            (a, p): FakePublisher(platform=p, account=a)
            for a in ("administration", "head")
            for p in (Platform.TELEGRAM, Platform.VK, Platform.OK)
        }
        return World(settings=settings, sessionmaker=sessionmaker, clock=Clock(now), fakes=fakes)

    return make
