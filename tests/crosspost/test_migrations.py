from __future__ import annotations

from pathlib import Path

from sqlalchemy import inspect
from sqlalchemy.ext.asyncio import AsyncEngine

from crosspost.db import Base, create_engine, downgrade, migrate


async def _tables(engine: AsyncEngine) -> set[str]:
    async with engine.connect() as conn:
        return set(await conn.run_sync(lambda c: inspect(c).get_table_names()))


async def test_upgrade_downgrade_upgrade_is_clean(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'm.db'}")
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


async def test_models_match_migrations(tmp_path: Path) -> None:
    """Autogenerate finds nothing to do: the ORM and the migrations agree."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'm.db'}")
    try:
        await migrate(engine)
        async with engine.connect() as conn:
            diff = await conn.run_sync(
                lambda c: compare_metadata(MigrationContext.configure(c), Base.metadata)
            )
        assert diff == []
    finally:
        await engine.dispose()
