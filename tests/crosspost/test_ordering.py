"""publish_first / link_to_first: the first platform's copy goes out, then the others."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crosspost.config import Settings, parse_settings
from crosspost.errors import AuthError
from crosspost.models import (
    Content,
    DeliveryStatus,
    NewPublication,
    Platform,
    PublicationSource,
    Target,
)
from crosspost.ordering import FirstOrder, with_link, wrap_for_links
from crosspost.publishing import FakePublisher, Publisher
from crosspost.queue import DeliveryRepository
from crosspost.richtext import RichText, SpanKind
from crosspost.service import PublicationService
from scheduler.drain import Drainer


def make_settings(**account: object) -> Settings:
    return parse_settings(
        {
            "telegram": {"token": "1:TEST", "staff_chat_id": -100, "staff": [1]},
            "max": {"api_base": "http://127.0.0.1:9", "token": "t"},
            "accounts": {
                "administration": {
                    "title": "Администрация",
                    "telegram_channel_id": -1001,
                    "max_chat_id": -7001,
                    "vk": {"group_id": 1, "community_token": "c"},
                    "mirror": ["vk", "max"],
                    **account,
                }
            },
        },
        env={},
    )


class World:
    def __init__(
        self,
        settings: Settings,
        sessionmaker: async_sessionmaker[AsyncSession],
        now: datetime,
    ) -> None:
        self.now = now
        self.sessionmaker = sessionmaker
        self.fakes = {
            p: FakePublisher(platform=p, account="administration")
            for p in (Platform.MAX, Platform.VK, Platform.TELEGRAM)
        }
        publishers: dict[tuple[str, Platform], Publisher] = {
            ("administration", p): f for p, f in self.fakes.items()
        }
        wrap_for_links(settings, publishers, sessionmaker)
        self.order = FirstOrder(settings, sessionmaker, wake=lambda: None, clock=self.clock)
        self.drainer = Drainer(
            sessionmaker=sessionmaker, publishers=publishers, sink=self.order, clock=self.clock
        )
        self.service = PublicationService(
            sessionmaker,
            publishers=publishers,
            clock=self.clock,
            after_enqueue=self.order.after_enqueue,
        )

    def clock(self) -> datetime:
        return self.now

    async def submit(self, *platforms: Platform) -> int:
        result = await self.service.submit(
            NewPublication(
                content=Content(text=RichText.plain("Отключение воды")),
                targets=tuple(Target(account="administration", platform=p) for p in platforms),
                publish_at=self.now,
                source=PublicationSource.CLI,
                author="test",
            ),
            actor="test",
        )
        return result.publication_id

    async def statuses(self) -> dict[Platform, DeliveryStatus]:
        async with self.sessionmaker() as session:
            rows = await DeliveryRepository(session).list_deliveries(limit=100)
        return {d.platform: d.status for d in rows}


async def test_others_wait_for_the_first_and_link_to_it(
    sessionmaker: async_sessionmaker[AsyncSession], now: datetime
) -> None:
    world = World(make_settings(publish_first="max", link_to_first=True), sessionmaker, now)
    await world.submit(Platform.VK, Platform.TELEGRAM, Platform.MAX)
    await world.drainer.drain_once()
    # Only MAX went out; its event released the others, which now carry its link.
    assert [c.method for c in world.fakes[Platform.MAX].calls] == ["publish"]
    assert world.fakes[Platform.VK].calls == []
    await world.drainer.drain_once()
    statuses = await world.statuses()
    assert set(statuses.values()) == {DeliveryStatus.PUBLISHED}
    max_url = "https://fake.invalid/max/administration/1"
    for platform in (Platform.VK, Platform.TELEGRAM):
        [call] = world.fakes[platform].calls
        assert call.content is not None
        assert call.content.text.text.endswith(f"Первоисточник в MAX: {max_url}")
        assert call.content.text.spans[-1].kind is SpanKind.LINK


async def test_first_failing_releases_the_others_without_a_link(
    sessionmaker: async_sessionmaker[AsyncSession], now: datetime
) -> None:
    world = World(make_settings(publish_first="max", link_to_first=True), sessionmaker, now)
    world.fakes[Platform.MAX].fail_next(
        AuthError("revoked", platform=Platform.MAX, account="administration")
    )
    await world.submit(Platform.VK, Platform.MAX)
    await world.drainer.drain_once()
    assert world.fakes[Platform.VK].calls == []  # MAX paused: not settled, VK still waits
    world.now += timedelta(minutes=31)  # the timeout passes
    await world.drainer.drain_once()
    [call] = world.fakes[Platform.VK].calls
    assert call.content is not None
    assert call.content.text.text == "Отключение воды"
    assert (await world.statuses())[Platform.VK] is DeliveryStatus.PUBLISHED


async def test_default_is_all_at_once(
    sessionmaker: async_sessionmaker[AsyncSession], now: datetime
) -> None:
    world = World(make_settings(), sessionmaker, now)
    await world.submit(Platform.VK, Platform.MAX)
    await world.drainer.drain_once()
    assert set((await world.statuses()).values()) == {DeliveryStatus.PUBLISHED}


async def test_first_not_among_targets_holds_nothing(
    sessionmaker: async_sessionmaker[AsyncSession], now: datetime
) -> None:
    world = World(make_settings(publish_first="max"), sessionmaker, now)
    await world.submit(Platform.VK, Platform.TELEGRAM)  # e.g. a post made in MAX itself
    await world.drainer.drain_once()
    assert set((await world.statuses()).values()) == {DeliveryStatus.PUBLISHED}


def test_link_is_added_once() -> None:
    content = Content(text=RichText.plain("Текст"))
    linked = with_link(content, Platform.OK, "https://ok.ru/group/1/topic/2")
    assert (
        linked.text.text
        == "Текст\n\nПервоисточник в Одноклассниках: https://ok.ru/group/1/topic/2"
    )
    assert with_link(linked, Platform.OK, "https://ok.ru/group/1/topic/2") == linked
