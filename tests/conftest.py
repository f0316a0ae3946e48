from __future__ import annotations

import contextlib
import logging
import os
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import settings as hypothesis_settings
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from crosspost.db import create_engine, create_sessionmaker, migrate
from crosspost.models import Content, NewPublication, Platform, PublicationSource, Target
from crosspost.richtext import RichText

# CI runs the same examples every time (a failure there is reproducible); locally each run
# explores new ones.
hypothesis_settings.register_profile("ci", derandomize=True, deadline=None)
hypothesis_settings.register_profile("dev", deadline=None)
hypothesis_settings.load_profile("ci" if os.environ.get("CI") else "dev")


@pytest.fixture(autouse=True)
def _root_logging_restored() -> Iterator[None]:
    # A command run by CliRunner configures the root logger onto its own captured stream,
    # which is closed when the command ends; aiosqlite's worker threads logging later then
    # printed "Logging error … I/O operation on closed file" into whatever test ran next.
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        if handler not in handlers:
            root.removeHandler(handler)
            handler.close()
    for handler in handlers:
        if handler not in root.handlers:
            root.addHandler(handler)
    root.setLevel(level)


@pytest.fixture
def now() -> datetime:
    return datetime(2026, 12, 1, 0, 0, tzinfo=UTC)


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'crosspost.db'}")
    await migrate(engine)
    yield engine
    await engine.dispose()


# The throwaway cluster that scripts/with-postgres (run by `make test`) starts. In CI it must be
# there; on a machine without PostgreSQL's server the PostgreSQL cases are skipped.
POSTGRES_URL = os.environ.get("CROSSPOST_TEST_POSTGRES_URL")
DATABASES = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param(
        "postgresql",
        id="postgresql",
        marks=pytest.mark.skipif(
            POSTGRES_URL is None and not os.environ.get("CI"),
            reason="no PostgreSQL here (make test starts one when the server is installed)",
        ),
    ),
]


@contextlib.asynccontextmanager
async def fresh_database_url(kind: str, tmp_path: Path) -> AsyncIterator[str]:
    """An empty database of the kind: a SQLite file, or a new PostgreSQL database dropped after."""
    if kind == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'crosspost.db'}"
        return
    if POSTGRES_URL is None:
        raise RuntimeError("CROSSPOST_TEST_POSTGRES_URL is not set: run the tests with make test")
    name = f"t_{uuid.uuid4().hex[:16]}"
    admin = create_async_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as conn:
            await conn.execute(text(f'CREATE DATABASE "{name}"'))
        yield make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
        async with admin.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        await admin.dispose()


@pytest.fixture(params=DATABASES)
async def engine_on_each_database(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[AsyncEngine]:
    """A migrated engine on SQLite and on PostgreSQL: the queue's contract holds on both."""
    async with fresh_database_url(request.param, tmp_path) as url:
        engine = create_engine(url)
        try:
            await migrate(engine)
            yield engine
        finally:
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
