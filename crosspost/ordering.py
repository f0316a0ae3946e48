"""`publish_first` and `link_to_first`: one platform's copy goes out before the others.

An account may name the platform whose copy comes first (a press service that must publish in
MAX first). At enqueue the account's other deliveries are held back to the publish time plus
the timeout; when the first copy is published (or fails, or is cancelled) an event sink pulls
them forward to now. With `link_to_first` each other copy ends with a link to the first one.
Nothing in the queue changes: the hold is a due time, the release a reschedule and a wake-up.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crosspost import texts
from crosspost.config import Settings
from crosspost.db import DeliveryRow, write_session
from crosspost.events import DeliveryEvent, EventKind
from crosspost.models import (
    Content,
    DeliveryRef,
    DeliveryStatus,
    NewPublication,
    Platform,
    PublishResult,
    ReconcileResult,
    RemotePost,
)
from crosspost.publishing import Capabilities, CheckLine, Publisher
from crosspost.queue import DeliveryRepository, EnqueueResult
from crosspost.richtext import RichText, Span, SpanKind

logger = logging.getLogger(__name__)

# The first copy settled one way or another: the others need not wait any longer.
RELEASING = frozenset({EventKind.PUBLISHED, EventKind.FAILED, EventKind.CANCELLED})


def _first_in(settings: Settings, account: str, platforms: set[Platform]) -> Platform | None:
    config = settings.accounts.get(account)
    first = config.publish_first if config is not None else None
    if first is None or first not in platforms or len(platforms) < 2:
        return None
    return first


class FirstOrder:
    """The enqueue hook (hold the others back) and the event sink (release them)."""

    def __init__(
        self,
        settings: Settings,
        sessionmaker: async_sessionmaker[AsyncSession],
        *,
        wake: Callable[[], None],
        clock: Callable[[], datetime],
    ) -> None:
        self.settings = settings
        self.sessionmaker = sessionmaker
        self.wake = wake
        self.clock = clock

    async def after_enqueue(
        self, repo: DeliveryRepository, new: NewPublication, result: EnqueueResult, now: datetime
    ) -> None:
        """Inside the enqueue transaction: push the new non-first deliveries of each account
        with `publish_first` to publish time + timeout (the first one's event pulls them in)."""
        if not result.delivery_ids:
            return
        fresh = set(result.delivery_ids)
        by_account: dict[str, set[Platform]] = {}
        for target in new.targets:
            by_account.setdefault(target.account, set()).add(target.platform)
        for account, platforms in by_account.items():
            first = _first_in(self.settings, account, platforms)
            if first is None:
                continue
            timeout = timedelta(
                minutes=self.settings.accounts[account].publish_first_timeout_minutes
            )
            for delivery in await repo.for_publication(result.publication_id):
                if (
                    delivery.delivery_id in fresh
                    and delivery.account == account
                    and delivery.platform is not first
                ):
                    await repo.reschedule(delivery.delivery_id, new.publish_at + timeout, now)
                    logger.info(
                        "delivery=%s account=%s platform=%s waits for %s first",
                        delivery.delivery_id,
                        account,
                        delivery.platform,
                        first,
                    )

    async def delivery_event(self, event: DeliveryEvent) -> None:
        """The first copy settled: the account's held copies of that publication go now."""
        d = event.delivery
        if event.kind not in RELEASING:
            return
        config = self.settings.accounts.get(d.account)
        if config is None or config.publish_first is not d.platform:
            return
        now = self.clock()
        released = 0
        async with write_session(self.sessionmaker, what="ordering") as session:
            repo = DeliveryRepository(session)
            info = await repo.publication(d.publication_id)
            at = max(now, info.publish_at) if info is not None else now
            for sibling in await repo.for_publication(d.publication_id):
                if (
                    sibling.account == d.account
                    and sibling.platform is not d.platform
                    and sibling.status is DeliveryStatus.PENDING
                    and sibling.due_at > at
                ):
                    await repo.reschedule(sibling.delivery_id, at, now)
                    released += 1
        if released:
            logger.info(
                "delivery=%s account=%s platform=%s %s: %d held copies go now",
                d.delivery_id,
                d.account,
                d.platform,
                event.kind,
                released,
            )
            self.wake()


def with_link(content: Content, platform: Platform, url: str) -> Content:
    """The content with a last paragraph linking to the first copy."""
    label = texts.LINK_TO_FIRST.format(**texts.platform_fields(str(platform)))
    body = content.text.text.rstrip()
    if url in body:
        return content
    prefix = f"{body}\n\n{label} " if body else f"{label} "
    span = Span(kind=SpanKind.LINK, start=len(prefix), end=len(prefix) + len(url), url=url)
    spans = tuple(s for s in content.text.spans if s.end <= len(body))
    return replace(content, text=RichText(text=prefix + url, spans=(*spans, span)))


class FirstLinkPublisher:
    """Wraps a non-first platform's publisher of an account with `link_to_first`: every copy
    (publish, edit, and the text reconcile matches) ends with a link to the first copy."""

    def __init__(
        self,
        inner: Publisher,
        *,
        first: Platform,
        sessionmaker: async_sessionmaker[AsyncSession],
    ) -> None:
        self.inner = inner
        self.first = first
        self.sessionmaker = sessionmaker

    @property
    def platform(self) -> Platform:
        return self.inner.platform

    @property
    def account(self) -> str:
        return self.inner.account

    @property
    def capabilities(self) -> Capabilities:
        return self.inner.capabilities

    def __getattr__(self, name: str) -> Any:
        # Extras some publishers offer (touch_session, last_success_at) pass through.
        return getattr(self.inner, name)

    async def _first_url(self, publication_id: int) -> str | None:
        async with self.sessionmaker() as session:
            url: str | None = await session.scalar(
                select(DeliveryRow.remote_url).where(
                    DeliveryRow.publication_id == publication_id,
                    DeliveryRow.account == self.inner.account,
                    DeliveryRow.platform == str(self.first),
                    DeliveryRow.status == str(DeliveryStatus.PUBLISHED),
                )
            )
        return url

    async def _linked(self, publication_id: int, content: Content) -> Content:
        url = await self._first_url(publication_id)
        return content if url is None else with_link(content, self.first, url)

    async def publish(self, delivery: DeliveryRef, content: Content) -> PublishResult:
        return await self.inner.publish(
            delivery, await self._linked(delivery.publication_id, content)
        )

    async def edit(self, remote: RemotePost, content: Content) -> PublishResult:
        publication_id = await self._publication_of(remote)
        if publication_id is not None:
            content = await self._linked(publication_id, content)
        return await self.inner.edit(remote, content)

    async def _publication_of(self, remote: RemotePost) -> int | None:
        async with self.sessionmaker() as session:
            found: int | None = await session.scalar(
                select(DeliveryRow.publication_id).where(
                    DeliveryRow.account == remote.account,
                    DeliveryRow.platform == str(remote.platform),
                    DeliveryRow.remote_id == remote.remote_id,
                )
            )
        return found

    async def delete(self, remote: RemotePost) -> None:
        await self.inner.delete(remote)

    async def reconcile(self, delivery: DeliveryRef, content: Content) -> ReconcileResult:
        return await self.inner.reconcile(
            delivery, await self._linked(delivery.publication_id, content)
        )

    async def subscriber_count(self) -> int:
        return await self.inner.subscriber_count()

    async def check(self) -> list[CheckLine]:
        return await self.inner.check()


def wrap_for_links(
    settings: Settings,
    publishers: dict[tuple[str, Platform], Publisher],
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    """Wrap, in place, the publishers that must end their copies with a link to the first."""
    for (account, platform), publisher in list(publishers.items()):
        config = settings.accounts.get(account)
        if config is None or not config.link_to_first or config.publish_first is None:
            continue
        if platform is config.publish_first:
            continue
        publishers[(account, platform)] = FirstLinkPublisher(
            publisher, first=config.publish_first, sessionmaker=sessionmaker
        )
