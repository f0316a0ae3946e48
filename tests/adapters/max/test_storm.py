"""A 429 storm through the real drain loop: every post lands on MAX exactly once."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crosspost.emulators.max import MaxEmulator
from crosspost.models import DeliveryStatus, Platform
from crosspost.queue import DeliveryRepository
from crosspost.service import PublicationService
from scheduler.drain import Drainer
from tests.adapters.max.conftest import CHAT_ID, FakeClock, PublisherFactory
from tests.conftest import PublicationFactory


async def test_429_storm_loses_and_doubles_nothing(
    max_emulator: MaxEmulator,
    max_clock: FakeClock,
    make_publisher: PublisherFactory,
    sessionmaker: async_sessionmaker[AsyncSession],
    publication_factory: PublicationFactory,
    now: datetime,
) -> None:
    clock = [now]
    publisher = make_publisher()
    drainer = Drainer(
        sessionmaker=sessionmaker,
        publishers={("administration", Platform.MAX): publisher},
        clock=lambda: clock[0],
        concurrency=8,
    )
    service = PublicationService(sessionmaker, publishers={}, clock=lambda: clock[0])
    texts = [f"Сообщение номер {n}" for n in range(10)]
    for text in texts:
        await service.submit(
            publication_factory(text=text, targets=(("administration", Platform.MAX),)),
            actor="test",
        )
    # The emulator's clock stands still: only 2 messages per "second" pass, the rest get 429;
    # an injected burst of 429s from MAX's front end comes on top.
    max_emulator.fail_next("POST /messages", status=429, times=3)
    for _ in range(30):
        await drainer.drain_once()
        async with sessionmaker() as session:
            deliveries = await DeliveryRepository(session).list_deliveries(limit=100)
        if all(d.status is DeliveryStatus.PUBLISHED for d in deliveries):
            break
        clock[0] += timedelta(hours=2)
        max_clock.advance(1.0)
    assert all(d.status is DeliveryStatus.PUBLISHED for d in deliveries)
    sent = sorted(m.text for m in max_emulator.bot_messages(CHAT_ID))
    assert sent == sorted(texts)
    assert max_emulator.rate_limited > 0
    assert {d.remote_id for d in deliveries} == {m.mid for m in max_emulator.bot_messages(CHAT_ID)}
