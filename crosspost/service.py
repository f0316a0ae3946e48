"""What staff (bot, CLI) can do with publications: submit, edit, delete, cancel, retry, list.

Every action is committed together with its audit entry, then the drainer is woken.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Literal

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crosspost.db import write_session
from crosspost.errors import PublishError
from crosspost.models import (
    OPEN,
    Content,
    Delivery,
    DeliveryOperation,
    DeliveryStatus,
    NewPublication,
    Platform,
    RemotePost,
)
from crosspost.publishing import Publisher
from crosspost.queue import DeliveryRepository, EnqueueResult, PublicationInfo, TargetState
from crosspost.routing import post_link

logger = logging.getLogger(__name__)


def _utcnow() -> datetime:
    return datetime.now(UTC)


class CopyOutcome(StrEnum):
    DONE = "done"
    UNSUPPORTED = "unsupported"  # the platform cannot do it: staff get the link to do it by hand
    FAILED = "failed"


@dataclass(frozen=True, kw_only=True)
class CopyResult:
    """What happened to one published copy on an edit or delete."""

    remote: RemotePost
    outcome: CopyOutcome
    error: PublishError | None = None


@dataclass(frozen=True, kw_only=True)
class EditResult:
    changed: bool  # False: nothing a reader sees changed, so nothing was sent
    version: int | None
    copies: tuple[CopyResult, ...] = ()


@dataclass(frozen=True, kw_only=True)
class DeleteResult:
    cancelled: tuple[Delivery, ...]
    copies: tuple[CopyResult, ...]


@dataclass(frozen=True, kw_only=True)
class PublicationView:
    info: PublicationInfo
    deliveries: tuple[Delivery, ...]


AfterEnqueue = Callable[
    [DeliveryRepository, NewPublication, EnqueueResult, datetime], Awaitable[None]
]


class PublicationService:
    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        *,
        publishers: Mapping[tuple[str, Platform], Publisher],
        wake: Callable[[], None] = lambda: None,
        clock: Callable[[], datetime] = _utcnow,
        after_enqueue: AfterEnqueue | None = None,
    ) -> None:
        self.sessionmaker = sessionmaker
        self.publishers = publishers
        self.wake = wake
        self.clock = clock
        # Runs inside the enqueue transaction (crosspost.ordering holds back non-first copies).
        self.after_enqueue = after_enqueue

    async def submit(self, new: NewPublication, *, actor: str) -> EnqueueResult:
        """Put the publication and its deliveries in the queue (committed when this returns)."""
        now = self.clock()
        async with write_session(self.sessionmaker, what="service") as session:
            repo = DeliveryRepository(session)
            result = await repo.enqueue(new, now)
            if self.after_enqueue is not None:
                await self.after_enqueue(repo, new, result, now)
            if result.delivery_ids:
                targets = ", ".join(f"{t.account}/{t.platform}" for t in new.targets)
                await repo.audit(
                    actor,
                    "submit",
                    now,
                    publication_id=result.publication_id,
                    detail=f"source={new.source} at={new.publish_at.isoformat()} to={targets}",
                )
        if result.delivery_ids:
            self.wake()
        return result

    async def view(self, publication_id: int) -> PublicationView | None:
        async with self.sessionmaker() as session:
            repo = DeliveryRepository(session)
            info = await repo.publication(publication_id)
            if info is None:
                return None
            deliveries = await repo.for_publication(publication_id)
        return PublicationView(info=info, deliveries=tuple(deliveries))

    async def by_source(self, chat_id: int, message_id: int) -> PublicationInfo | None:
        async with self.sessionmaker() as session:
            return await DeliveryRepository(session).publication_by_source(chat_id, message_id)

    async def by_link(self, link: str) -> PublicationInfo | None:
        """The publication a pasted post link points at: the MAX (or Telegram) post it
        mirrors, or any of its published copies (VK, OK, MAX, Telegram). None if unknown."""
        found = post_link(link)
        if found is None:
            return None
        async with self.sessionmaker() as session:
            return await DeliveryRepository(session).publication_by_url(
                found.urls, max_mid=found.last_part
            )

    async def by_report(self, chat_id: int, message_id: int) -> PublicationInfo | None:
        async with self.sessionmaker() as session:
            return await DeliveryRepository(session).publication_by_report(chat_id, message_id)

    async def set_report_message(self, publication_id: int, chat_id: int, message_id: int) -> None:
        async with write_session(self.sessionmaker, what="service") as session:
            await DeliveryRepository(session).set_report_message(
                publication_id, chat_id, message_id
            )

    async def content(self, publication_id: int) -> Content:
        async with self.sessionmaker() as session:
            return await DeliveryRepository(session).content(publication_id)

    async def edit(self, publication_id: int, content: Content, *, actor: str) -> EditResult:
        """Store the new content; if a reader would see a change, queue an edit of every
        published copy (the drainer runs them; results reach staff as events). Deliveries not
        yet sent simply send the new content. `copies` lists only the copies whose platform
        cannot edit at all: staff get their links at once."""
        now = self.clock()
        async with write_session(self.sessionmaker, what="edit") as session:
            repo = DeliveryRepository(session)
            version = await repo.update_content(publication_id, content)
            if version is None:
                return EditResult(changed=False, version=None)
            await repo.audit(
                actor, "edit", now, publication_id=publication_id, detail=f"version={version}"
            )
            remotes = await repo.remote_posts(publication_id)
            unable = [r for r in remotes if not self._able(r, "edit")]
            queued = await repo.enqueue_edits(
                publication_id,
                now,
                actor=actor,
                only={(r.account, r.platform) for r in remotes if self._able(r, "edit")},
            )
        if queued:
            self.wake()
        copies = tuple(CopyResult(remote=r, outcome=CopyOutcome.UNSUPPORTED) for r in unable)
        return EditResult(changed=True, version=version, copies=copies)

    async def delete(self, publication_id: int, *, actor: str) -> DeleteResult:
        """Cancel what is not sent yet and queue a delete of every published copy (a copy
        still being sent is deleted once it is published)."""
        now = self.clock()
        cancelled: list[Delivery] = []
        async with write_session(self.sessionmaker, what="delete") as session:
            repo = DeliveryRepository(session)
            for delivery in await repo.for_publication(publication_id):
                if delivery.status in OPEN:
                    cancelled.append(await repo.cancel(delivery.delivery_id, now))
            await repo.mark_publication_deleted(publication_id, now)
            await repo.audit(actor, "delete", now, publication_id=publication_id)
            queued = await repo.enqueue_deletes(publication_id, now, actor=actor)
        if queued:
            self.wake()
        return DeleteResult(cancelled=tuple(cancelled), copies=())

    def _able(self, remote: RemotePost, action: Literal["edit", "delete"]) -> bool:
        publisher = self.publishers.get((remote.account, remote.platform))
        if publisher is None:
            return False
        caps = publisher.capabilities
        return caps.can_edit if action == "edit" else caps.can_delete

    async def operations(self, publication_id: int) -> list[DeliveryOperation]:
        """The queued edits and deletes of a publication, oldest first."""
        async with self.sessionmaker() as session:
            return await DeliveryRepository(session).operations(publication_id=publication_id)

    async def cancel_publication(self, publication_id: int, *, actor: str) -> list[Delivery]:
        now = self.clock()
        async with write_session(self.sessionmaker, what="service") as session:
            repo = DeliveryRepository(session)
            result = [
                await repo.cancel(d.delivery_id, now)
                for d in await repo.for_publication(publication_id)
                if d.status in OPEN
            ]
            await repo.audit(actor, "cancel", now, publication_id=publication_id)
        return result

    async def cancel_delivery(self, delivery_id: int, *, actor: str) -> Delivery:
        now = self.clock()
        async with write_session(self.sessionmaker, what="service") as session:
            repo = DeliveryRepository(session)
            delivery = await repo.cancel(delivery_id, now)
            await repo.audit(
                actor,
                "cancel",
                now,
                delivery_id=delivery_id,
                publication_id=delivery.publication_id,
            )
        return delivery

    async def retry_delivery(self, delivery_id: int, *, actor: str) -> Delivery:
        now = self.clock()
        async with write_session(self.sessionmaker, what="service") as session:
            repo = DeliveryRepository(session)
            delivery = await repo.retry(delivery_id, now)
            await repo.audit(
                actor,
                "retry",
                now,
                delivery_id=delivery_id,
                publication_id=delivery.publication_id,
            )
        self.wake()
        return delivery

    async def reschedule(self, publication_id: int, at: datetime, *, actor: str) -> int:
        now = self.clock()
        async with write_session(self.sessionmaker, what="service") as session:
            repo = DeliveryRepository(session)
            moved = await repo.reschedule_publication(publication_id, at, now)
            await repo.audit(
                actor,
                "reschedule",
                now,
                publication_id=publication_id,
                detail=f"at={at.isoformat()}",
            )
        self.wake()
        return moved

    async def scheduled(self, limit: int = 50) -> list[PublicationView]:
        """Publications with deliveries still waiting, earliest first."""
        async with self.sessionmaker() as session:
            repo = DeliveryRepository(session)
            waiting = await repo.list_deliveries(statuses=[DeliveryStatus.PENDING], limit=1000)
            seen: list[int] = list(dict.fromkeys(d.publication_id for d in waiting))[:limit]
            views = []
            for publication_id in seen:
                info = await repo.publication(publication_id)
                if info is not None:
                    deliveries = await repo.for_publication(publication_id)
                    views.append(PublicationView(info=info, deliveries=tuple(deliveries)))
        return views

    async def target_states(self) -> list[TargetState]:
        async with self.sessionmaker() as session:
            return await DeliveryRepository(session).target_states()

    async def delivery(self, delivery_id: int) -> Delivery | None:
        async with self.sessionmaker() as session:
            return await DeliveryRepository(session).get(delivery_id)

    async def resume(self, account: str, platform: Platform, *, actor: str) -> bool:
        now = self.clock()
        async with write_session(self.sessionmaker, what="service") as session:
            repo = DeliveryRepository(session)
            resumed = await repo.resume(account, platform)
            if resumed:
                await repo.audit(actor, "resume", now, detail=f"{account}/{platform}")
        if resumed:
            self.wake()
        return resumed
