from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import settings as hypothesis_settings
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from crosspost.db import create_engine, create_sessionmaker, migrate
from crosspost.models import Content, NewPublication, Platform, PublicationSource, Target
from crosspost.richtext import RichText

# CI runs the same examples every time (a failure there is reproducible); locally each run
# explores new ones.
hypothesis_settings.register_profile("ci", derandomize=True, deadline=None)
hypothesis_settings.register_profile("dev", deadline=None)
hypothesis_settings.load_profile("ci" if os.environ.get("CI") else "dev")


@pytest.fixture
def now() -> datetime:
    return datetime(2026, 12, 1, 0, 0, tzinfo=UTC)


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'crosspost.db'}")
    await migrate(engine)
    yield engine
    await engine.dispose()


@pytest.fixture
def sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return create_sessionmaker(engine)


PublicationFactory = Callable[..., NewPublication]


@pytest.fixture
def publication_factory(now: datetime) -> PublicationFactory:
    def make(
        *,
        text: str = "Приём граждан в пятницу",
        targets: tuple[tuple[str, Platform], ...] = (("administration", Platform.VK),),
        publish_at: datetime | None = None,
        source_message_id: int | None = None,
    ) -> NewPublication:
        return NewPublication(
            content=Content(text=RichText.plain(text)),
            targets=tuple(Target(account=a, platform=p) for a, p in targets),
            publish_at=publish_at or now,
            source=PublicationSource.CLI,
            author="test",
            source_chat_id=None if source_message_id is None else -1001,
            source_message_id=source_message_id,
        )

    return make
