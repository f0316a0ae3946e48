"""What the staff screens read and the queue actions staff are in the middle of.

`Agenda` lists the scheduled publications (/queue) and each target's health (/status).
`QueueActions` keeps a new time or a new text being typed for a scheduled publication in
`telegram_drafts` (kinds `reschedule` and `edit_text`), so a restart mid-dialog loses nothing.
Changes to publications themselves go through `PublicationService`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crosspost.db import (
    DeliveryOperationRow,
    DeliveryRow,
    MediaRow,
    PublicationRow,
    TargetStateRow,
    TelegramDraftRow,
    write_session,
)
from crosspost.errors import Reason
from crosspost.models import DeliveryStatus, Platform, Target
from crosspost.queue import spans_from_json, spans_to_json
from crosspost.richtext import RichText

Clock = Callable[[], datetime]

# Compose drafts (staffbot/compose.py) still being worked on: a newer one wins over an action.
_COMPOSE_OPEN = ("open", "time", "confirm")


@dataclass(frozen=True, kw_only=True)
class ScheduledPost:
    publication_id: int
    at: datetime  # the earliest copy still waiting
    targets: tuple[Target, ...]  # the copies still waiting
    text: str
    media: int


@dataclass(frozen=True, kw_only=True)
class TargetHealth:
    account: str
    platform: Platform
    paused: bool
    pause_reason: Reason | None
    paused_at: datetime | None
    last_success_at: datetime | None
    last_error_at: datetime | None
    # Why the latest failure happened, as far as a delivery or an edit still tells.
    last_error_reason: Reason | None
    waiting: int  # copies in the queue for this target

    @property
    def failing(self) -> bool:
        if self.last_error_at is None:
            return False
        return self.last_success_at is None or self.last_error_at > self.last_success_at


def _reason(value: str | None) -> Reason | None:
    if value is None:
        return None
    try:
        return Reason(value)
    except ValueError:
        return Reason.UNKNOWN


class Agenda:
    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self.sessionmaker = sessionmaker

    async def scheduled(self, publication_id: int | None = None) -> list[ScheduledPost]:
        """Every publication with copies still waiting (or just this one), earliest first."""
        only = () if publication_id is None else (DeliveryRow.publication_id == publication_id,)
        async with self.sessionmaker() as session:
            rows = (
                await session.execute(
                    select(
                        DeliveryRow.publication_id,
                        DeliveryRow.account,
                        DeliveryRow.platform,
                        DeliveryRow.due_at,
                        PublicationRow.text,
                    )
                    .join(PublicationRow, PublicationRow.id == DeliveryRow.publication_id)
                    .where(
                        DeliveryRow.status == DeliveryStatus.PENDING.value,
                        PublicationRow.deleted_at.is_(None),
                        *only,
                    )
                    .order_by(DeliveryRow.due_at, DeliveryRow.publication_id, DeliveryRow.id)
                )
            ).all()
            ids = list(dict.fromkeys(r.publication_id for r in rows))
            media: dict[int, int] = {}
            if ids:
                counted = await session.execute(
                    select(MediaRow.publication_id, func.count(MediaRow.id))
                    .where(MediaRow.publication_id.in_(ids))
                    .group_by(MediaRow.publication_id)
                )
                media = {pid: int(n) for pid, n in counted.all()}
        first: dict[int, datetime] = {}
        targets: dict[int, list[Target]] = {}
        texts: dict[int, str] = {}
        for r in rows:
            first.setdefault(r.publication_id, r.due_at)
            targets.setdefault(r.publication_id, []).append(
                Target(account=r.account, platform=Platform(r.platform))
            )
            texts[r.publication_id] = r.text
        return [
            ScheduledPost(
                publication_id=pid,
                at=first[pid],
                targets=tuple(targets[pid]),
                text=texts[pid],
                media=media.get(pid, 0),
            )
            for pid in ids
        ]

    async def health(self) -> list[TargetHealth]:
        """Each target with a recorded state: paused or not, last success, last failure."""
        async with self.sessionmaker() as session:
            states = (await session.scalars(select(TargetStateRow))).all()
            waiting = {
                (a, p): int(n)
                for a, p, n in (
                    await session.execute(
                        select(
                            DeliveryRow.account, DeliveryRow.platform, func.count(DeliveryRow.id)
                        )
                        .where(DeliveryRow.status == DeliveryStatus.PENDING.value)
                        .group_by(DeliveryRow.account, DeliveryRow.platform)
                    )
                ).all()
            }
            result = []
            for s in states:
                reason = None
                if s.last_error_at is not None:
                    reason = await self._last_reason(session, s.account, s.platform)
                result.append(
                    TargetHealth(
                        account=s.account,
                        platform=Platform(s.platform),
                        paused=s.paused,
                        pause_reason=_reason(s.pause_reason) if s.paused else None,
                        paused_at=s.paused_at if s.paused else None,
                        last_success_at=s.last_success_at,
                        last_error_at=s.last_error_at,
                        last_error_reason=reason,
                        waiting=waiting.get((s.account, s.platform), 0),
                    )
                )
        return result

    async def _last_reason(self, session: AsyncSession, account: str, platform: str) -> Reason:
        latest: tuple[datetime, str] | None = None
        for table in (DeliveryRow, DeliveryOperationRow):
            row = (
                await session.execute(
                    select(table.updated_at, table.error_reason)
                    .where(
                        table.account == account,
                        table.platform == platform,
                        table.error_reason.is_not(None),
                    )
                    .order_by(table.updated_at.desc())
                    .limit(1)
                )
            ).first()
            if row is not None and (latest is None or row[0] > latest[0]):
                latest = (row[0], str(row[1]))
        return (_reason(latest[1]) if latest is not None else None) or Reason.UNKNOWN


class ActionKind(StrEnum):
    RESCHEDULE = "reschedule"
    EDIT_TEXT = "edit_text"


class ActionStatus(StrEnum):
    # Not the compose dialog's statuses, so the dialog never takes these rows for its own.
    WAITING = "q_wait"  # for the person's message (a time or a text)
    CONFIRM = "q_confirm"  # for their press of «Подтвердить»
    DONE = "q_done"
    CANCELLED = "q_cancelled"


_OPEN_ACTION = (ActionStatus.WAITING.value, ActionStatus.CONFIRM.value)


@dataclass(frozen=True, kw_only=True)
class QueueAction:
    action_id: int
    kind: ActionKind
    status: ActionStatus
    user_id: int
    chat_id: int
    publication_id: int
    publish_at: datetime | None
    text: RichText | None


def _action(row: TelegramDraftRow) -> QueueAction:
    return QueueAction(
        action_id=row.id,
        kind=ActionKind(row.kind),
        status=ActionStatus(row.status),
        user_id=row.user_id,
        chat_id=row.chat_id,
        publication_id=row.publication_id or 0,
        publish_at=row.publish_at,
        text=(
            RichText(text=row.text, spans=spans_from_json(row.spans))
            if row.kind == ActionKind.EDIT_TEXT and row.status == ActionStatus.CONFIRM
            else None
        ),
    )


class QueueActions:
    """A person's unfinished change of a scheduled publication: one open action per person."""

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], clock: Clock) -> None:
        self.sessionmaker = sessionmaker
        self.clock = clock

    async def start(
        self, *, user_id: int, chat_id: int, kind: ActionKind, publication_id: int
    ) -> QueueAction:
        """Open a new action; the person's other open actions and drafts waiting for a time
        are dropped (their buttons go stale)."""
        now = self.clock()
        async with write_session(self.sessionmaker, what="queue action") as session:
            await session.execute(
                update(TelegramDraftRow)
                .where(
                    TelegramDraftRow.user_id == user_id,
                    TelegramDraftRow.status.in_(_OPEN_ACTION),
                )
                .values(status=ActionStatus.CANCELLED.value, updated_at=now)
            )
            await session.execute(
                update(TelegramDraftRow)
                .where(
                    TelegramDraftRow.user_id == user_id,
                    TelegramDraftRow.status.in_(("time", "confirm")),
                )
                .values(status="cancelled", updated_at=now)
            )
            row = TelegramDraftRow(
                kind=kind.value,
                user_id=user_id,
                chat_id=chat_id,
                status=ActionStatus.WAITING.value,
                publication_id=publication_id,
                created_at=now,
                updated_at=now,
            )
            session.add(row)
            await session.flush()
            return _action(row)

    async def get(self, action_id: int) -> QueueAction | None:
        async with self.sessionmaker() as session:
            row = await session.get(TelegramDraftRow, action_id)
        if row is None or row.kind not in tuple(ActionKind):
            return None
        return _action(row)

    async def waiting(self, user_id: int) -> QueueAction | None:
        """The person's action waiting for their message, unless a compose draft is newer."""
        async with self.sessionmaker() as session:
            row = await session.scalar(
                select(TelegramDraftRow)
                .where(
                    TelegramDraftRow.user_id == user_id,
                    TelegramDraftRow.status.in_((*_OPEN_ACTION, *_COMPOSE_OPEN)),
                )
                .order_by(TelegramDraftRow.updated_at.desc(), TelegramDraftRow.id.desc())
                .limit(1)
            )
        if row is None or row.status != ActionStatus.WAITING:
            return None
        return _action(row)

    async def propose_time(self, action_id: int, at: datetime) -> bool:
        return await self._move(action_id, ActionStatus.CONFIRM, publish_at=at)

    async def propose_text(self, action_id: int, text: RichText) -> bool:
        return await self._move(
            action_id, ActionStatus.CONFIRM, text=text.text, spans=spans_to_json(text.spans)
        )

    async def remember_day(self, action_id: int, day_start: datetime) -> bool:
        """A date came without a time: keep the day (its local midnight) while the time is
        asked for."""
        return await self._move(
            action_id, ActionStatus.WAITING, only=(ActionStatus.WAITING,), publish_at=day_start
        )

    async def ask_again(self, action_id: int) -> bool:
        return await self._move(action_id, ActionStatus.WAITING, publish_at=None)

    async def finish(self, action_id: int) -> bool:
        """Claim a confirmed action (False if it was already finished or dropped)."""
        return await self._move(action_id, ActionStatus.DONE, only=(ActionStatus.CONFIRM,))

    async def cancel(self, action_id: int) -> bool:
        return await self._move(action_id, ActionStatus.CANCELLED)

    async def cancel_open(self, user_id: int) -> None:
        async with write_session(self.sessionmaker, what="queue action") as session:
            await session.execute(
                update(TelegramDraftRow)
                .where(
                    TelegramDraftRow.user_id == user_id,
                    TelegramDraftRow.status.in_(_OPEN_ACTION),
                )
                .values(status=ActionStatus.CANCELLED.value, updated_at=self.clock())
            )

    async def _move(
        self,
        action_id: int,
        status: ActionStatus,
        *,
        only: tuple[ActionStatus, ...] = (ActionStatus.WAITING, ActionStatus.CONFIRM),
        **values: object,
    ) -> bool:
        async with write_session(self.sessionmaker, what="queue action") as session:
            result = await session.execute(
                update(TelegramDraftRow)
                .where(
                    TelegramDraftRow.id == action_id,
                    TelegramDraftRow.kind.in_(tuple(ActionKind)),
                    TelegramDraftRow.status.in_([s.value for s in only]),
                )
                .values(status=status.value, updated_at=self.clock(), **values)
            )
        return bool(result.rowcount)  # type: ignore[attr-defined]
