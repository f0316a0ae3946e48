"""Lines of a publication's staff report besides the delivery statuses (a file too big, an edit
or deletion of each copy, the author…), kept so that every refresh of the report shows them."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crosspost.db import TelegramReportNoteRow, write_session


@dataclass(frozen=True, kw_only=True)
class Note:
    """A line for the report besides delivery statuses (codes: see the reporter's `_note_line`)."""

    code: str
    account: str = ""
    platform: str = ""
    url: str | None = None
    detail: str = ""


async def add_notes(
    sessionmaker: async_sessionmaker[AsyncSession],
    publication_id: int,
    notes: Iterable[Note],
    now: datetime,
) -> None:
    async with write_session(sessionmaker, what="report notes") as session:
        for note in notes:
            session.add(
                TelegramReportNoteRow(
                    publication_id=publication_id,
                    code=note.code,
                    account=note.account,
                    platform=note.platform,
                    url=note.url,
                    detail=note.detail,
                    at=now,
                )
            )


async def notes_of(
    sessionmaker: async_sessionmaker[AsyncSession], publication_id: int
) -> list[Note]:
    async with sessionmaker() as session:
        rows = (
            await session.scalars(
                select(TelegramReportNoteRow)
                .where(TelegramReportNoteRow.publication_id == publication_id)
                .order_by(TelegramReportNoteRow.id)
            )
        ).all()
    return [
        Note(code=r.code, account=r.account, platform=r.platform, url=r.url, detail=r.detail)
        for r in rows
    ]
