"""What the Telegram channel mirror and the compose dialog keep in the database: handled updates
(so a replay is not published twice), album items buffered until their album is complete, and
which album item became which position of which publication.

Each method is one short transaction of its own: callers fetch files and talk to Telegram
between them, never inside. Inserts that may meet a row already there use the dialect's
ON CONFLICT DO NOTHING (PostgreSQL and SQLite alike).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crosspost.db import RemotePostRow, TelegramAlbumItemRow, TelegramSeenRow, write_session
from crosspost.models import Platform


@dataclass(frozen=True, kw_only=True)
class BufferedItem:
    """An album item waiting for the rest of its album; `payload` is the caller's own JSON."""

    id: int
    message_id: int
    payload: str


class MirrorStore:
    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self.sessionmaker = sessionmaker

    # -- handled updates --------------------------------------------------------------------

    async def was_seen(self, key: str) -> bool:
        async with self.sessionmaker() as session:
            return await session.get(TelegramSeenRow, key) is not None

    async def remember_seen(self, key: str, now: datetime) -> bool:
        """Record a handled update; False if it was recorded before."""
        async with write_session(self.sessionmaker, what="telegram seen") as session:
            result = await session.execute(
                _insert(session, TelegramSeenRow).values(key=key, at=now).on_conflict_do_nothing()
            )
            return bool(result.rowcount)  # type: ignore[attr-defined]

    async def is_own_post(self, account: str, message_id: int) -> bool:
        """Whether a channel message is a copy we published there ourselves."""
        async with self.sessionmaker() as session:
            found = await session.scalar(
                select(RemotePostRow.id)
                .where(
                    RemotePostRow.platform == str(Platform.TELEGRAM),
                    RemotePostRow.account == account,
                    or_(
                        RemotePostRow.remote_id == str(message_id),
                        RemotePostRow.parts.contains(f'"{message_id}"'),
                    ),
                )
                .limit(1)
            )
        return found is not None

    # -- album members of a publication -----------------------------------------------------

    async def remember_album_members(
        self, chat_id: int, message_ids: Sequence[int], publication_id: int, now: datetime
    ) -> None:
        """The album's items, in order, became the media positions of the publication."""
        async with write_session(self.sessionmaker, what="telegram mirror") as session:
            for position, message_id in enumerate(message_ids):
                key = _album_member_key(chat_id, message_id, publication_id, position)
                await session.execute(
                    _insert(session, TelegramSeenRow)
                    .values(key=key, at=now)
                    .on_conflict_do_nothing()
                )

    async def album_member(self, chat_id: int, message_id: int) -> tuple[int, int] | None:
        """(publication id, position) of an album item that went out, if it did."""
        prefix = f"album:{chat_id}:{message_id}:"
        async with self.sessionmaker() as session:
            key = await session.scalar(
                select(TelegramSeenRow.key).where(TelegramSeenRow.key.startswith(prefix)).limit(1)
            )
        if key is None:
            return None
        publication_id, position = key.removeprefix(prefix).split(":")
        return int(publication_id), int(position)

    # -- album buffer -----------------------------------------------------------------------

    async def buffer_album_item(
        self, chat_id: int, group_id: str, message_id: int, payload: str, received_at: datetime
    ) -> None:
        """Keep an album item until its album is complete (a replayed item is kept once)."""
        async with write_session(self.sessionmaker, what="telegram mirror") as session:
            await session.execute(
                _insert(session, TelegramAlbumItemRow)
                .values(
                    chat_id=chat_id,
                    media_group_id=group_id,
                    message_id=message_id,
                    payload=payload,
                    received_at=received_at,
                )
                .on_conflict_do_nothing()
            )

    async def replace_album_item(
        self, chat_id: int, group_id: str, message_id: int, payload: str
    ) -> bool:
        """An item edited while still buffered; False if it is not buffered."""
        async with write_session(self.sessionmaker, what="telegram mirror") as session:
            result = await session.execute(
                update(TelegramAlbumItemRow)
                .where(
                    TelegramAlbumItemRow.chat_id == chat_id,
                    TelegramAlbumItemRow.media_group_id == group_id,
                    TelegramAlbumItemRow.message_id == message_id,
                )
                .values(payload=payload)
            )
            return bool(result.rowcount)  # type: ignore[attr-defined]

    async def last_album_message(self, chat_id: int, group_id: str) -> int | None:
        """The highest message id buffered for an album; None if nothing is buffered."""
        async with self.sessionmaker() as session:
            return await session.scalar(
                select(func.max(TelegramAlbumItemRow.message_id)).where(
                    TelegramAlbumItemRow.chat_id == chat_id,
                    TelegramAlbumItemRow.media_group_id == group_id,
                )
            )

    async def album_items(self, chat_id: int, group_id: str) -> list[BufferedItem]:
        """The buffered items of an album in message order."""
        async with self.sessionmaker() as session:
            rows = (
                await session.scalars(
                    select(TelegramAlbumItemRow)
                    .where(
                        TelegramAlbumItemRow.chat_id == chat_id,
                        TelegramAlbumItemRow.media_group_id == group_id,
                    )
                    .order_by(TelegramAlbumItemRow.message_id)
                )
            ).all()
            return [
                BufferedItem(id=r.id, message_id=r.message_id, payload=r.payload) for r in rows
            ]

    async def drop_album_items(self, ids: Sequence[int]) -> None:
        """Forget buffered items once their album went out (items buffered since stay)."""
        async with write_session(self.sessionmaker, what="telegram mirror") as session:
            await session.execute(
                delete(TelegramAlbumItemRow).where(TelegramAlbumItemRow.id.in_(ids))
            )

    async def buffered_albums(self) -> list[tuple[int, str]]:
        """(chat id, media group id) of every album with items buffered."""
        async with self.sessionmaker() as session:
            keys = (
                await session.execute(
                    select(TelegramAlbumItemRow.chat_id, TelegramAlbumItemRow.media_group_id)
                    .distinct()
                    .order_by(TelegramAlbumItemRow.chat_id)
                )
            ).all()
        return [(chat_id, group_id) for chat_id, group_id in keys]


def _insert(session: AsyncSession, table: Any) -> Any:
    """INSERT with ON CONFLICT on SQLite and PostgreSQL alike."""
    dialect = session.get_bind().dialect.name
    return (postgresql if dialect == "postgresql" else sqlite).insert(table)


def _album_member_key(chat_id: int, message_id: int, publication_id: int, position: int) -> str:
    return f"album:{chat_id}:{message_id}:{publication_id}:{position}"
