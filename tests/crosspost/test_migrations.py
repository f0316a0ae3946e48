from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import inspect
from sqlalchemy.ext.asyncio import AsyncEngine

from crosspost.db import Base, create_engine, downgrade, migrate
from tests.conftest import DATABASES, fresh_database_url


async def _tables(engine: AsyncEngine) -> set[str]:
    async with engine.connect() as conn:
        return set(await conn.run_sync(lambda c: inspect(c).get_table_names()))


@pytest.mark.parametrize("kind", DATABASES)
async def test_upgrade_downgrade_upgrade_is_clean(kind: str, tmp_path: Path) -> None:
    async with fresh_database_url(kind, tmp_path) as url:
        await _upgrade_downgrade_upgrade(create_engine(url))


async def _upgrade_downgrade_upgrade(engine: AsyncEngine) -> None:
    try:
        await migrate(engine)
        expected = set(Base.metadata.tables) | {"alembic_version"}
        assert await _tables(engine) == expected
        await migrate(engine)  # a second upgrade is a no-op
        await downgrade(engine, "base")
        assert await _tables(engine) == {"alembic_version"}
        await migrate(engine)
        assert await _tables(engine) == expected
    finally:
        await engine.dispose()


@pytest.mark.parametrize("kind", DATABASES)
async def test_models_match_migrations(kind: str, tmp_path: Path) -> None:
    """Autogenerate finds nothing to do: the ORM and the migrations agree, on both databases."""
    async with fresh_database_url(kind, tmp_path) as url:
        await _models_match_migrations(create_engine(url))


async def _models_match_migrations(engine: AsyncEngine) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    try:
        await migrate(engine)
        async with engine.connect() as conn:
            diff = await conn.run_sync(
                lambda c: compare_metadata(MigrationContext.configure(c), Base.metadata)
            )
        assert diff == []
    finally:
        await engine.dispose()
