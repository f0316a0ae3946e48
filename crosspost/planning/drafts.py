"""Event drafts of the staff dialog: one per staff member, its fields kept as JSON until the
event is created. The bot reaches them only through this store."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crosspost.db import EventDraftRow, write_session


class EventDraftStore:
    def __init__(
        self, sessionmaker: async_sessionmaker[AsyncSession], clock: Callable[[], datetime]
    ) -> None:
        self.sessionmaker = sessionmaker
        self.clock = clock

    async def latest_of(self, user_id: int) -> EventDraftRow | None:
        async with self.sessionmaker() as session:
            return await session.scalar(
                select(EventDraftRow)
                .where(EventDraftRow.user_id == user_id)
                .order_by(EventDraftRow.id.desc())
                .limit(1)
            )

    async def get(self, draft_id: int) -> EventDraftRow | None:
        async with self.sessionmaker() as session:
            return await session.get(EventDraftRow, draft_id)

    async def save(self, draft_id: int, *, step: str | None = None, **fields: Any) -> None:
        async with write_session(self.sessionmaker, what="event draft") as session:
            row = await session.get(EventDraftRow, draft_id)
            if row is None:
                return
            data = json.loads(row.data)
            data.update(fields)
            row.data = json.dumps(data, ensure_ascii=False)
            if step is not None:
                row.step = step
            row.updated_at = self.clock()

    async def start(self, user_id: int, chat_id: int, step: str, **fields: Any) -> int:
        """A new draft for this staff member, replacing any earlier one."""
        now = self.clock()
        async with write_session(self.sessionmaker, what="event draft") as session:
            await session.execute(delete(EventDraftRow).where(EventDraftRow.user_id == user_id))
            row = EventDraftRow(
                user_id=user_id,
                chat_id=chat_id,
                step=step,
                data=json.dumps(fields, ensure_ascii=False),
                created_at=now,
                updated_at=now,
            )
            session.add(row)
            await session.flush()
            return row.id

    async def drop(self, draft_id: int) -> None:
        async with write_session(self.sessionmaker, what="event draft") as session:
            await session.execute(delete(EventDraftRow).where(EventDraftRow.id == draft_id))
