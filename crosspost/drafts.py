"""Drafts staff compose in the bot (and times they type for a scheduled publication).

The staff bot reaches `telegram_drafts` only through `DraftStore`: a draft is a small state
machine (open → time → confirm → done, or cancelled/superseded at any point), and every change
of state is a compare-and-set on the status, so a double press or a stale button never acts twice.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crosspost.db import TelegramDraftRow, write_session
from crosspost.models import Content, MediaItem, MediaKind
from crosspost.queue import DeliveryRepository, spans_from_json, spans_to_json
from crosspost.richtext import RichText


class DraftStatus(StrEnum):
    OPEN = "open"  # targets being chosen
    TIME = "time"  # waiting for a typed time
    CONFIRM = "confirm"  # a time was understood, waiting for «Подтвердить»
    DONE = "done"  # submitted (or rescheduled)
    CANCELLED = "cancelled"  # staff pressed «Отмена»
    SUPERSEDED = "superseded"  # a newer post from the same person replaced it


class DraftKind(StrEnum):
    COMPOSE = "compose"
    RESCHEDULE = "reschedule"


UNFINISHED = (DraftStatus.OPEN, DraftStatus.TIME, DraftStatus.CONFIRM)


@dataclass(frozen=True, kw_only=True)
class Draft:
    draft_id: int
    kind: DraftKind
    user_id: int
    chat_id: int
    status: DraftStatus
    content: Content
    dropped: tuple[str, ...]
    accounts: tuple[str, ...]
    platforms: tuple[str, ...]
    publish_at: datetime | None
    publication_id: int | None
    panel_message_id: int | None


def actor_of(user_id: int) -> str:
    """The audit actor for a Telegram user."""
    return f"tg:{user_id}"


def media_to_json(media: Sequence[MediaItem]) -> str:
    return json.dumps(
        [{**asdict(m), "path": str(m.path), "kind": str(m.kind)} for m in media],
        ensure_ascii=False,
    )


def media_from_json(raw: str) -> tuple[MediaItem, ...]:
    items = []
    for data in json.loads(raw):
        data["path"] = Path(data["path"])
        data["kind"] = MediaKind(data["kind"])
        items.append(MediaItem(**data))
    return tuple(items)


def _strings(raw: str) -> tuple[str, ...]:
    return tuple(str(v) for v in json.loads(raw))


def _draft(row: TelegramDraftRow) -> Draft:
    return Draft(
        draft_id=row.id,
        kind=DraftKind(row.kind),
        user_id=row.user_id,
        chat_id=row.chat_id,
        status=DraftStatus(row.status),
        content=Content(
            text=RichText(text=row.text, spans=spans_from_json(row.spans)),
            media=media_from_json(row.media),
        ),
        dropped=_strings(row.dropped),
        accounts=_strings(row.accounts),
        platforms=_strings(row.platforms),
        publish_at=row.publish_at,
        publication_id=row.publication_id,
        panel_message_id=row.panel_message_id,
    )


def _utcnow() -> datetime:
    return datetime.now(UTC)


class DraftStore:
    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        *,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        self.sessionmaker = sessionmaker
        self.clock = clock

    async def get(self, draft_id: int) -> Draft | None:
        async with self.sessionmaker() as session:
            row = await session.get(TelegramDraftRow, draft_id)
        # The table also holds /queue's actions (crosspost.agenda), with statuses of their own.
        if row is None or row.status not in tuple(DraftStatus):
            return None
        return _draft(row)

    async def waiting_for_time(self, user_id: int) -> Draft | None:
        """The person's newest draft that waits for a typed time, if any."""
        async with self.sessionmaker() as session:
            row = await session.scalar(
                select(TelegramDraftRow)
                .where(
                    TelegramDraftRow.user_id == user_id,
                    TelegramDraftRow.status == DraftStatus.TIME,
                )
                .order_by(TelegramDraftRow.id.desc())
                .limit(1)
            )
            return _draft(row) if row is not None else None

    async def start_compose(
        self,
        *,
        user_id: int,
        chat_id: int,
        content: Content,
        dropped: Sequence[str],
        accounts: Sequence[str],
        platforms: Sequence[str],
    ) -> Draft:
        """A new draft; the person's unfinished drafts are superseded (their buttons go stale)."""
        now = self.clock()
        async with write_session(self.sessionmaker, what="draft") as session:
            await self._supersede(session, user_id, UNFINISHED, now)
            row = TelegramDraftRow(
                kind=DraftKind.COMPOSE,
                user_id=user_id,
                chat_id=chat_id,
                status=DraftStatus.OPEN,
                text=content.text.text,
                spans=spans_to_json(content.text.spans),
                media=media_to_json(content.media),
                dropped=json.dumps(list(dropped)),
                accounts=json.dumps(list(accounts)),
                platforms=json.dumps(list(platforms)),
                created_at=now,
                updated_at=now,
            )
            session.add(row)
            await session.flush()
            await DeliveryRepository(session).audit(
                actor_of(user_id), "draft", now, detail=f"draft={row.id}"
            )
            return _draft(row)

    async def _supersede(
        self,
        session: AsyncSession,
        user_id: int,
        statuses: Sequence[DraftStatus],
        now: datetime,
    ) -> None:
        await session.execute(
            update(TelegramDraftRow)
            .where(TelegramDraftRow.user_id == user_id, TelegramDraftRow.status.in_(statuses))
            .values(status=DraftStatus.SUPERSEDED, updated_at=now)
        )

    async def move(
        self,
        draft_id: int,
        *,
        expect: DraftStatus | Sequence[DraftStatus],
        to: DraftStatus,
        publish_at: datetime | None = None,
    ) -> bool:
        """Compare-and-set the status (and the proposed time). False: someone got there first."""
        expected = [expect] if isinstance(expect, DraftStatus) else list(expect)
        async with write_session(self.sessionmaker, what="draft") as session:
            result = await session.execute(
                update(TelegramDraftRow)
                .where(TelegramDraftRow.id == draft_id, TelegramDraftRow.status.in_(expected))
                .values(status=to, publish_at=publish_at, updated_at=self.clock())
            )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def cancel(self, draft: Draft) -> bool:
        """«Отмена»: audited; False when the draft had already moved on."""
        now = self.clock()
        async with write_session(self.sessionmaker, what="draft") as session:
            result = await session.execute(
                update(TelegramDraftRow)
                .where(
                    TelegramDraftRow.id == draft.draft_id,
                    TelegramDraftRow.status.in_(UNFINISHED),
                )
                .values(status=DraftStatus.CANCELLED, updated_at=now)
            )
            if not result.rowcount:  # type: ignore[attr-defined]
                return False
            await DeliveryRepository(session).audit(
                actor_of(draft.user_id),
                "draft_cancel",
                now,
                detail=f"draft={draft.draft_id} kind={draft.kind}",
            )
        return True

    async def set_targets(
        self, draft_id: int, accounts: Sequence[str], platforms: Sequence[str]
    ) -> bool:
        """New targets for an open draft; False when it is no longer open."""
        async with write_session(self.sessionmaker, what="draft") as session:
            result = await session.execute(
                update(TelegramDraftRow)
                .where(
                    TelegramDraftRow.id == draft_id,
                    TelegramDraftRow.status == DraftStatus.OPEN,
                )
                .values(
                    accounts=json.dumps(list(accounts)),
                    platforms=json.dumps(list(platforms)),
                    updated_at=self.clock(),
                )
            )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def set_panel(self, draft_id: int, message_id: int) -> None:
        await self._set(draft_id, panel_message_id=message_id)

    async def set_publication(self, draft_id: int, publication_id: int) -> None:
        await self._set(draft_id, publication_id=publication_id)

    async def _set(self, draft_id: int, **values: int) -> None:
        async with write_session(self.sessionmaker, what="draft") as session:
            await session.execute(
                update(TelegramDraftRow)
                .where(TelegramDraftRow.id == draft_id)
                .values(updated_at=self.clock(), **values)
            )
