"""Events: an announcement and reminders that move or disappear with the event.

Each announcement, reminder and notice is an ordinary publication submitted through
PublicationService (author `event:<id>`, source `schedule`), so reports, retries, edits and
deletion work as for any post.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crosspost import texts
from crosspost.config import Settings
from crosspost.db import EventPostRow, EventRow, PublicationRow, write_session
from crosspost.errors import UsageError
from crosspost.models import (
    Content,
    DeliveryStatus,
    MediaItem,
    MediaKind,
    NewPublication,
    Platform,
    PublicationSource,
)
from crosspost.planning import wording
from crosspost.richtext import RichText
from crosspost.routing import chosen_targets
from crosspost.service import EditResult, PublicationService

logger = logging.getLogger(__name__)

Clock = Callable[[], datetime]
# Planned posts found still unlinked this long after they were written were cut off by a crash.
_UNLINKED_AFTER = timedelta(minutes=1)
_OFFSET = re.compile(
    r"^(?:(?P<d>\d+)d@(?P<H>\d{1,2}):(?P<M>\d{2})|(?:(?P<h>\d+)h)?(?:(?P<m>\d+)m)?)$"
)


class EventStatus(StrEnum):
    SCHEDULED = "scheduled"
    CANCELLED = "cancelled"


class PostKind(StrEnum):
    ANNOUNCEMENT = "announcement"
    REMINDER = "reminder"
    MOVED = "moved"
    CANCELLED = "cancelled"


class PostStatus(StrEnum):
    PLANNED = "planned"  # written, its publication not yet submitted
    QUEUED = "queued"  # a publication in the queue (sent or not: its deliveries say)
    SKIPPED = "skipped"  # its time had passed when the event was created or moved
    CANCELLED = "cancelled"


class EventError(UsageError):
    """Staff asked for something the event cannot do; the message is for the CLI, `text` for
    people (Russian, from texts.py)."""

    def __init__(self, message: str, text: str) -> None:
        super().__init__(message)
        self.text = text


@dataclass(frozen=True, kw_only=True)
class EventPost:
    post_id: int
    kind: PostKind
    due_at: datetime
    status: PostStatus
    publication_id: int | None


@dataclass(frozen=True, kw_only=True)
class Event:
    event_id: int
    title: str
    place: str
    text: str
    starts_at: datetime
    previous_starts_at: datetime | None
    accounts: tuple[str, ...]
    platforms: tuple[Platform, ...]
    photo: MediaItem | None
    status: EventStatus
    sequence: int
    created_by: str
    created_at: datetime
    updated_at: datetime
    posts: tuple[EventPost, ...] = ()

    @property
    def announcement(self) -> EventPost | None:
        return next((p for p in self.posts if p.kind is PostKind.ANNOUNCEMENT), None)

    @property
    def reminders(self) -> tuple[EventPost, ...]:
        return tuple(p for p in self.posts if p.kind is PostKind.REMINDER)


@dataclass(frozen=True, kw_only=True)
class NewEvent:
    title: str
    place: str
    text: str
    starts_at: datetime
    accounts: tuple[str, ...]
    platforms: tuple[Platform, ...]
    photo: MediaItem | None = None
    announce_at: datetime | None = None  # None: now
    reminders: tuple[datetime, ...] | None = None  # None: the [events] defaults

    def __post_init__(self) -> None:
        if self.starts_at.tzinfo is None:
            raise ValueError("starts_at must be aware")
        if not self.title.strip() or not self.place.strip():
            raise ValueError("an event needs a title and a place")


@dataclass(frozen=True, kw_only=True)
class Planned:
    """What a create or a move did."""

    event: Event
    skipped: tuple[datetime, ...] = ()  # reminders not sent: their time had passed
    shifted: int = 0  # reminders moved with the event
    cancelled: int = 0  # publications taken off the queue
    announcement_published: bool = False  # staff may want it edited in place


def default_reminders(specs: Sequence[str], starts_at: datetime, tz: ZoneInfo) -> list[datetime]:
    """Reminder instants from `[events] reminders` ("1d@10:00", "2h", "30m"), in aware UTC."""
    result = []
    for spec in specs:
        match = _OFFSET.match(spec.strip())
        if match is None:
            raise ValueError(f"reminder {spec!r} is not like '1d@10:00' or '2h'")
        if match["d"] is not None:
            day = starts_at.astimezone(tz).date() - timedelta(days=int(match["d"]))
            local = datetime(
                day.year, day.month, day.day, int(match["H"]), int(match["M"]), tzinfo=tz
            )
            result.append(local.astimezone(UTC))
        else:
            offset = timedelta(hours=int(match["h"] or 0), minutes=int(match["m"] or 0))
            result.append(starts_at - offset)
    return result


def media_to_json(item: MediaItem | None) -> str | None:
    if item is None:
        return None
    return json.dumps({**asdict(item), "path": str(item.path), "kind": str(item.kind)})


def media_from_json(raw: str | None) -> MediaItem | None:
    if raw is None:
        return None
    data = json.loads(raw)
    data["path"] = Path(data["path"])
    data["kind"] = MediaKind(data["kind"])
    return MediaItem(**data)


def _event(row: EventRow, posts: Sequence[EventPostRow]) -> Event:
    return Event(
        event_id=row.id,
        title=row.title,
        place=row.place,
        text=row.text,
        starts_at=row.starts_at,
        previous_starts_at=row.previous_starts_at,
        accounts=tuple(json.loads(row.accounts)),
        platforms=tuple(Platform(p) for p in json.loads(row.platforms)),
        photo=media_from_json(row.photo),
        status=EventStatus(row.status),
        sequence=row.sequence,
        created_by=row.created_by,
        created_at=row.created_at,
        updated_at=row.updated_at,
        posts=tuple(
            EventPost(
                post_id=p.id,
                kind=PostKind(p.kind),
                due_at=p.due_at,
                status=PostStatus(p.status),
                publication_id=p.publication_id,
            )
            for p in sorted(posts, key=lambda p: (p.due_at, p.id))
        ),
    )


class EventPlanner:
    """Create, move and cancel events; every post goes through the publication service."""

    def __init__(
        self,
        *,
        settings: Settings,
        service: PublicationService,
        sessionmaker: async_sessionmaker[AsyncSession] | None = None,
        clock: Clock | None = None,
        on_change: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.settings = settings
        self.service = service
        self.sessionmaker = sessionmaker or service.sessionmaker
        self.clock = clock or service.clock
        # Called after an event changes (the calendar file for the website is rewritten).
        self.on_change = on_change

    @property
    def tz(self) -> ZoneInfo:
        return self.settings.tz

    # -- reading --------------------------------------------------------------------------------

    async def get(self, event_id: int) -> Event | None:
        async with self.sessionmaker() as session:
            row = await session.get(EventRow, event_id)
            if row is None:
                return None
            posts = (
                await session.scalars(select(EventPostRow).where(EventPostRow.event_id == row.id))
            ).all()
            return _event(row, posts)

    async def require(self, event_id: int) -> Event:
        event = await self.get(event_id)
        if event is None:
            raise EventError(f"no event {event_id}", texts.EVENT_NOT_FOUND.format(id=event_id))
        return event

    async def upcoming(self, *, since: datetime | None = None, limit: int = 200) -> list[Event]:
        """Events that start at or after `since` (default: now), cancelled ones included."""
        since = since or self.clock()
        async with self.sessionmaker() as session:
            rows = (
                await session.scalars(
                    select(EventRow)
                    .where(EventRow.starts_at >= since)
                    .order_by(EventRow.starts_at, EventRow.id)
                    .limit(limit)
                )
            ).all()
            ids = [r.id for r in rows]
            posts = (
                await session.scalars(select(EventPostRow).where(EventPostRow.event_id.in_(ids)))
            ).all()
        return [_event(r, [p for p in posts if p.event_id == r.id]) for r in rows]

    # -- texts ----------------------------------------------------------------------------------

    def content(self, event: Event, kind: PostKind, due_at: datetime) -> tuple[Content, str]:
        """The content and feed title of one of the event's posts, from its current fields."""
        tz, now = self.tz, self.clock()
        if kind is PostKind.ANNOUNCEMENT:
            body = wording.announcement(
                title=event.title,
                place=event.place,
                text=event.text,
                starts_at=event.starts_at,
                tz=tz,
                now=now,
            )
            if event.status is EventStatus.CANCELLED:
                body = texts.EVENT_CANCELLED_MARK + body
            title = event.title
        elif kind is PostKind.REMINDER:
            body = wording.reminder(
                title=event.title,
                place=event.place,
                text=event.text,
                starts_at=event.starts_at,
                tz=tz,
                sent_at=due_at,
            )
            title = texts.EVENT_TITLE_REMINDER.format(title=event.title)
        elif kind is PostKind.MOVED:
            body = wording.moved(
                title=event.title,
                place=event.place,
                starts_at=event.starts_at,
                previous=event.previous_starts_at or event.starts_at,
                tz=tz,
                now=now,
            )
            title = texts.EVENT_TITLE_MOVED.format(title=event.title)
        else:
            body = wording.cancelled(title=event.title, starts_at=event.starts_at, tz=tz, now=now)
            title = texts.EVENT_TITLE_CANCELLED.format(title=event.title)
        media = (event.photo,) if event.photo is not None else ()
        return Content(text=RichText.plain(body), media=media), title

    # -- creating -------------------------------------------------------------------------------

    async def create(self, new: NewEvent, *, actor: str) -> Planned:
        """Write the event, queue its announcement and its reminders. Reminders whose time has
        passed are skipped and returned. Raises EventError (UsageError) for bad input."""
        now = self.clock()
        if new.starts_at <= now:
            raise EventError("the event time is in the past", texts.EVENT_IN_PAST)
        targets = chosen_targets(self.settings, new.accounts, new.platforms)
        announce_at = new.announce_at or now
        if announce_at >= new.starts_at:
            raise EventError(
                "the announcement must go before the event starts",
                texts.BOT_EVENT_PAST_TIME.format(
                    typed=wording.when(announce_at, self.tz, now=now)
                ),
            )
        reminders = (
            list(new.reminders)
            if new.reminders is not None
            else default_reminders(self.settings.events.reminders, new.starts_at, self.tz)
        )
        for at in reminders:
            if at.tzinfo is None:
                raise ValueError("reminder times must be aware")
            if at >= new.starts_at:
                raise EventError(
                    f"reminder {at.isoformat()} is not before the event",
                    texts.BOT_EVENT_PAST_TIME.format(typed=wording.when(at, self.tz, now=now)),
                )
        reminders = sorted(set(reminders))
        skipped = tuple(at for at in reminders if at <= now)
        async with write_session(self.sessionmaker, what="events") as session:
            row = EventRow(
                title=new.title.strip(),
                place=new.place.strip(),
                text=new.text.strip(),
                starts_at=new.starts_at,
                accounts=json.dumps(sorted({t.account for t in targets})),
                platforms=json.dumps(sorted({str(t.platform) for t in targets})),
                photo=media_to_json(new.photo),
                status=str(EventStatus.SCHEDULED),
                sequence=0,
                created_by=actor,
                created_at=now,
                updated_at=now,
            )
            session.add(row)
            await session.flush()
            session.add(
                EventPostRow(
                    event_id=row.id,
                    kind=str(PostKind.ANNOUNCEMENT),
                    due_at=announce_at,
                    status=str(PostStatus.PLANNED),
                    created_at=now,
                )
            )
            for at in reminders:
                session.add(
                    EventPostRow(
                        event_id=row.id,
                        kind=str(PostKind.REMINDER),
                        due_at=at,
                        status=str(PostStatus.SKIPPED if at <= now else PostStatus.PLANNED),
                        created_at=now,
                    )
                )
            event_id = row.id
        await self._submit_planned(event_id, actor=actor)
        await self._changed()
        return Planned(event=await self.require(event_id), skipped=skipped)

    async def _submit_planned(
        self, event_id: int, *, actor: str, recovering: bool = False
    ) -> None:
        event = await self.require(event_id)
        for post in event.posts:
            if post.status is not PostStatus.PLANNED:
                continue
            await self._submit_post(event, post, actor=actor, recovering=recovering)

    async def _submit_post(
        self, event: Event, post: EventPost, *, actor: str, recovering: bool = False
    ) -> int:
        content, title = self.content(event, post.kind, post.due_at)
        author = f"event:{event.event_id}"
        publication_id = None
        if recovering:
            # The process may have died between the submit and the link below.
            async with self.sessionmaker() as session:
                publication_id = await session.scalar(
                    select(PublicationRow.id).where(
                        PublicationRow.author == author,
                        PublicationRow.publish_at == post.due_at,
                        PublicationRow.title == title,
                    )
                )
        if publication_id is None:
            new = NewPublication(
                content=content,
                targets=chosen_targets(self.settings, event.accounts, event.platforms),
                publish_at=post.due_at,
                source=PublicationSource.SCHEDULE,
                author=author,
                title=title,
            )
            publication_id = (await self.service.submit(new, actor=actor)).publication_id
        async with write_session(self.sessionmaker, what="events") as session:
            await session.execute(
                update(EventPostRow)
                .where(EventPostRow.id == post.post_id)
                .values(publication_id=publication_id, status=str(PostStatus.QUEUED))
            )
        logger.info(
            "event=%s post=%s kind=%s publication=%s due_at=%s",
            event.event_id,
            post.post_id,
            post.kind,
            publication_id,
            post.due_at.isoformat(),
        )
        return publication_id

    async def recover(self) -> int:
        """Submit planned posts a crash left unsubmitted (without submitting one twice)."""
        cutoff = self.clock() - _UNLINKED_AFTER
        async with self.sessionmaker() as session:
            ids = (
                await session.scalars(
                    select(EventPostRow.event_id)
                    .where(
                        EventPostRow.status == str(PostStatus.PLANNED),
                        EventPostRow.created_at <= cutoff,
                    )
                    .distinct()
                )
            ).all()
        for event_id in ids:
            await self._submit_planned(event_id, actor="recover", recovering=True)
        return len(ids)

    # -- moving and cancelling ------------------------------------------------------------------

    async def _waiting(self, publication_id: int | None) -> bool:
        """True when nothing of the publication has left yet (every delivery still pending)."""
        if publication_id is None:
            return False
        view = await self.service.view(publication_id)
        return view is not None and all(
            d.status is DeliveryStatus.PENDING for d in view.deliveries
        )

    async def _published(self, publication_id: int | None) -> bool:
        if publication_id is None:
            return False
        view = await self.service.view(publication_id)
        return view is not None and any(
            d.status is DeliveryStatus.PUBLISHED for d in view.deliveries
        )

    async def _row(self, session: AsyncSession, event_id: int) -> EventRow:
        row = await session.get(EventRow, event_id)
        if row is None:
            raise EventError(f"no event {event_id}", texts.EVENT_NOT_FOUND.format(id=event_id))
        return row

    async def _set_post(self, post_id: int, **values: object) -> None:
        async with write_session(self.sessionmaker, what="events") as session:
            await session.execute(
                update(EventPostRow).where(EventPostRow.id == post_id).values(**values)
            )

    async def move(self, event_id: int, starts_at: datetime, *, actor: str) -> Planned:
        """Move the event: pending reminders shift by the same amount (those whose new time has
        passed are skipped), a pending announcement gets the new time. Raises EventError."""
        now = self.clock()
        event = await self.require(event_id)
        if event.status is EventStatus.CANCELLED:
            raise EventError(
                f"event {event_id} is cancelled", texts.EVENT_ALREADY_CANCELLED.format(id=event_id)
            )
        if starts_at <= now:
            raise EventError("the new time is in the past", texts.EVENT_IN_PAST)
        delta = starts_at - event.starts_at
        async with write_session(self.sessionmaker, what="events") as session:
            row = await self._row(session, event_id)
            row.previous_starts_at = row.starts_at
            row.starts_at = starts_at
            row.sequence += 1
            row.updated_at = now
        event = await self.require(event_id)
        skipped: list[datetime] = []
        shifted = 0
        for post in event.posts:
            if post.status is not PostStatus.QUEUED or not await self._waiting(
                post.publication_id
            ):
                continue
            if post.publication_id is None:
                continue
            if post.kind is PostKind.ANNOUNCEMENT:
                content, _ = self.content(event, post.kind, post.due_at)
                if post.due_at >= starts_at:  # moved earlier than its own announcement
                    await self.service.reschedule(post.publication_id, now, actor=actor)
                    await self._set_post(post.post_id, due_at=now)
                await self.service.edit(post.publication_id, content, actor=actor)
                continue
            if post.kind is not PostKind.REMINDER:
                continue
            due = post.due_at + delta
            if due <= now:
                await self.service.cancel_publication(post.publication_id, actor=actor)
                await self._set_post(post.post_id, status=str(PostStatus.SKIPPED), due_at=due)
                skipped.append(due)
                continue
            await self.service.reschedule(post.publication_id, due, actor=actor)
            content, _ = self.content(event, post.kind, due)
            await self.service.edit(post.publication_id, content, actor=actor)
            await self._set_post(post.post_id, due_at=due)
            shifted += 1
        announcement = event.announcement
        published = announcement is not None and await self._published(announcement.publication_id)
        logger.info(
            "event=%s moved to %s by %s: %s reminders shifted, %s skipped",
            event_id,
            starts_at.isoformat(),
            actor,
            shifted,
            len(skipped),
        )
        await self._changed()
        return Planned(
            event=await self.require(event_id),
            skipped=tuple(skipped),
            shifted=shifted,
            announcement_published=published,
        )

    async def cancel(self, event_id: int, *, actor: str) -> Planned:
        """Cancel the event and every post of it not yet sent. Raises EventError."""
        now = self.clock()
        event = await self.require(event_id)
        if event.status is EventStatus.CANCELLED:
            raise EventError(
                f"event {event_id} is already cancelled",
                texts.EVENT_ALREADY_CANCELLED.format(id=event_id),
            )
        async with write_session(self.sessionmaker, what="events") as session:
            row = await self._row(session, event_id)
            row.status = str(EventStatus.CANCELLED)
            row.sequence += 1
            row.updated_at = now
            await session.execute(
                update(EventPostRow)
                .where(
                    EventPostRow.event_id == event_id,
                    EventPostRow.status == str(PostStatus.PLANNED),
                )
                .values(status=str(PostStatus.CANCELLED))
            )
        cancelled = 0
        for post in event.posts:
            if (
                post.status is PostStatus.QUEUED
                and post.publication_id is not None
                and await self._waiting(post.publication_id)
            ):
                await self.service.cancel_publication(post.publication_id, actor=actor)
                await self._set_post(post.post_id, status=str(PostStatus.CANCELLED))
                cancelled += 1
        announcement = event.announcement
        published = announcement is not None and await self._published(announcement.publication_id)
        logger.info("event=%s cancelled by %s: %s posts unqueued", event_id, actor, cancelled)
        await self._changed()
        return Planned(
            event=await self.require(event_id),
            cancelled=cancelled,
            announcement_published=published,
        )

    async def post_notice(self, event_id: int, *, actor: str) -> int:
        """Queue the «перенос» (after a move) or «отменено» (after a cancel) notice now;
        returns its publication id. Raises EventError when there is nothing to tell."""
        event = await self.require(event_id)
        if event.status is EventStatus.CANCELLED:
            kind = PostKind.CANCELLED
        elif event.previous_starts_at is not None:
            kind = PostKind.MOVED
        else:
            raise EventError(
                f"event {event_id} was neither moved nor cancelled",
                texts.EVENT_NOT_FOUND.format(id=event_id),
            )
        now = self.clock()
        async with self.sessionmaker() as session:
            # A second press of the same button after the same change posts nothing new.
            already = await session.scalar(
                select(EventPostRow.publication_id).where(
                    EventPostRow.event_id == event_id,
                    EventPostRow.kind == str(kind),
                    EventPostRow.created_at >= event.updated_at,
                    EventPostRow.publication_id.is_not(None),
                )
            )
        if already is not None:
            return already
        async with write_session(self.sessionmaker, what="events") as session:
            post = EventPostRow(
                event_id=event_id,
                kind=str(kind),
                due_at=now,
                status=str(PostStatus.PLANNED),
                created_at=now,
            )
            session.add(post)
            await session.flush()
            post_id = post.id
        planned = EventPost(
            post_id=post_id, kind=kind, due_at=now, status=PostStatus.PLANNED, publication_id=None
        )
        return await self._submit_post(event, planned, actor=actor)

    async def edit_announcement(self, event_id: int, *, actor: str) -> EditResult | None:
        """Edit the published announcement in place with the event's current fields (new time,
        or the «ОТМЕНЕНО» mark). None when there is no announcement in the queue."""
        event = await self.require(event_id)
        announcement = event.announcement
        if announcement is None or announcement.publication_id is None:
            return None
        content, _ = self.content(event, PostKind.ANNOUNCEMENT, announcement.due_at)
        return await self.service.edit(announcement.publication_id, content, actor=actor)

    async def _changed(self) -> None:
        if self.on_change is not None:
            try:
                await self.on_change()
            except Exception:
                logger.exception("event change hook failed")
