"""Feeds for the website: per account an Atom feed of its published posts (`<account>.atom`)
and an iCalendar file of its upcoming events (`<account>.ics`), in `[feeds] dir`.

Written after publications settle (an EventSink on PUBLISHED, debounced) and after events
change; each file is written to a temporary file and renamed, so the web server never serves
half a file.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import mimetypes
import os
import shutil
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from feedgen.ext.base import BaseEntryExtension, BaseExtension
from feedgen.feed import FeedGenerator
from feedgen.util import xml_elem
from icalendar import Calendar
from icalendar import Event as CalendarEvent
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crosspost import texts
from crosspost.config import Settings
from crosspost.db import MediaRow, PublicationRow, RemotePostRow
from crosspost.events import DeliveryEvent, EventKind
from crosspost.planning.events import Event, EventPlanner, EventStatus

logger = logging.getLogger(__name__)

Clock = Callable[[], datetime]
DEBOUNCE = timedelta(seconds=5)
# Events that started this long ago still appear in the calendar (the day's programme).
CALENDAR_KEEPS_PAST = timedelta(days=1)
_TITLE_CHARS = 120


@dataclass(frozen=True, kw_only=True)
class FeedCopy:
    platform: str
    url: str | None


@dataclass(frozen=True, kw_only=True)
class FeedPhoto:
    sha256: str
    path: Path
    mime_type: str
    size: int
    file_name: str


@dataclass(frozen=True, kw_only=True)
class FeedEntry:
    publication_id: int
    title: str
    text: str
    published_at: datetime
    updated_at: datetime
    copies: tuple[FeedCopy, ...]
    photos: tuple[FeedPhoto, ...]


def _title(title: str, text: str) -> str:
    if title.strip():
        return title.strip()
    first = next((line.strip() for line in text.splitlines() if line.strip()), "")
    if len(first) > _TITLE_CHARS:
        first = first[:_TITLE_CHARS].rstrip() + texts.ELLIPSIS
    return first or texts.FEED_UNTITLED


def write_atomic(path: Path, data: bytes) -> None:
    """Write `data` to a temporary file beside `path`, flush it to disk, rename it over."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; the web server must read it
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


class _LinksFeed(BaseExtension):  # type: ignore[misc]
    pass


class _Links(BaseEntryExtension):  # type: ignore[misc]
    """Writes an entry's links itself: feedgen 1.0 drops rel, type, title and length of entry
    links (its atom writer rebinds the loop variable)."""

    def __init__(self) -> None:
        self.links: list[dict[str, str]] = []

    def extend_atom(self, entry: Any) -> Any:
        for attributes in self.links:
            xml_elem("link", entry, **attributes)
        return entry


class FeedWriter:
    """Builds and writes the files; also an EventSink that rewrites them after publications."""

    def __init__(
        self,
        *,
        settings: Settings,
        sessionmaker: async_sessionmaker[AsyncSession],
        events: EventPlanner,
        clock: Clock,
        debounce: timedelta = DEBOUNCE,
    ) -> None:
        if settings.feeds.dir is None:
            raise ValueError("[feeds] dir is not set")
        self.settings = settings
        self.dir: Path = settings.feeds.dir
        self.sessionmaker = sessionmaker
        self.events = events
        self.clock = clock
        self.debounce = debounce
        self._pending: asyncio.Task[None] | None = None
        self._dirty = False
        self._lock = asyncio.Lock()
        # Set after every write; tests wait on it.
        self.written = asyncio.Event()

    # -- the sink -------------------------------------------------------------------------------

    async def delivery_event(self, event: DeliveryEvent) -> None:
        if event.kind in (EventKind.PUBLISHED, EventKind.CANCELLED):
            self.request_write()

    def request_write(self) -> None:
        """Write soon; requests within the debounce share one write, and a request that comes
        while a write runs gets another write after it."""
        self._dirty = True
        if self._pending is None or self._pending.done():
            self._pending = asyncio.create_task(self._debounced(), name="feeds")

    async def _debounced(self) -> None:
        while self._dirty:
            await asyncio.sleep(self.debounce.total_seconds())
            self._dirty = False
            try:
                await self.write_all()
            except Exception:
                logger.exception("feeds not written")

    async def settled(self) -> None:
        """Wait until every requested write is done."""
        while self._pending is not None and not self._pending.done():
            await asyncio.shield(self._pending)

    async def close(self) -> None:
        if self._pending is not None and not self._pending.done():
            self._pending.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._pending

    # -- reading --------------------------------------------------------------------------------

    async def entries(self, account: str) -> list[FeedEntry]:
        """The account's published posts, newest first (deleted ones left out)."""
        async with self.sessionmaker() as session:
            rows = (
                await session.execute(
                    select(RemotePostRow, PublicationRow)
                    .join(PublicationRow, PublicationRow.id == RemotePostRow.publication_id)
                    .where(
                        RemotePostRow.account == account,
                        RemotePostRow.deleted_at.is_(None),
                        PublicationRow.deleted_at.is_(None),
                    )
                    .order_by(RemotePostRow.created_at.desc(), RemotePostRow.id)
                    .limit(self.settings.feeds.max_entries * 8)
                )
            ).all()
            by_pub: dict[int, tuple[PublicationRow, list[RemotePostRow]]] = {}
            for remote, pub in rows:
                if pub.id not in by_pub and len(by_pub) >= self.settings.feeds.max_entries:
                    continue
                by_pub.setdefault(pub.id, (pub, []))[1].append(remote)
            media = (
                await session.scalars(
                    select(MediaRow)
                    .where(MediaRow.publication_id.in_(list(by_pub)), MediaRow.kind == "photo")
                    .order_by(MediaRow.publication_id, MediaRow.position)
                )
            ).all()
        entries = []
        for pub_id, (pub, remotes) in by_pub.items():
            remotes.sort(key=lambda r: (r.created_at, r.id))
            edited = [r.edited_at for r in remotes if r.edited_at is not None]
            entries.append(
                FeedEntry(
                    publication_id=pub_id,
                    title=_title(pub.title, pub.text),
                    text=pub.text,
                    published_at=remotes[0].created_at,
                    updated_at=max([remotes[-1].created_at, *edited]),
                    copies=tuple(FeedCopy(platform=r.platform, url=r.url) for r in remotes),
                    photos=tuple(
                        FeedPhoto(
                            sha256=m.sha256,
                            path=Path(m.path),
                            mime_type=m.mime_type,
                            size=m.size,
                            file_name=m.file_name,
                        )
                        for m in media
                        if m.publication_id == pub_id and m.sha256
                    ),
                )
            )
        entries.sort(key=lambda e: (e.published_at, e.publication_id), reverse=True)
        return entries

    # -- building -------------------------------------------------------------------------------

    def _url(self, name: str) -> str:
        base = self.settings.feeds.base_url
        return f"{base.rstrip('/')}/{name}" if base else name

    def _photo_name(self, photo: FeedPhoto) -> str:
        ext = Path(photo.file_name).suffix.lower() or (
            mimetypes.guess_extension(photo.mime_type) or ".bin"
        )
        return f"media/{photo.sha256}{ext}"

    def _copy_photo(self, photo: FeedPhoto) -> bool:
        """Photos are copied beside the feed: the media store removes its files once the
        deliveries settle. False when the photo is gone and was never copied."""
        target = self.dir / self._photo_name(photo)
        if target.exists():
            return True
        if not photo.path.is_file():
            return False
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, suffix=".tmp")
        os.close(fd)
        try:
            shutil.copyfile(photo.path, tmp)
            os.chmod(tmp, 0o644)
            os.replace(tmp, target)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        return True

    def atom(self, account: str, entries: Sequence[FeedEntry]) -> bytes:
        config = self.settings.accounts[account]
        fg = FeedGenerator()
        fg.register_extension("crosspost", _LinksFeed, _Links, atom=True, rss=False)
        fg.id(f"urn:crosspost:feed:{account}")
        fg.title(config.title)
        fg.author({"name": config.title})
        fg.language("ru")
        fg.link(href=self._url(f"{account}.atom"), rel="self", type="application/atom+xml")
        fg.updated(max((e.updated_at for e in entries), default=self.clock()))
        for entry in reversed(entries):  # feedgen puts the last added first
            fe = fg.add_entry()
            fe.id(f"urn:crosspost:publication:{entry.publication_id}")
            fe.title(entry.title)
            fe.content(entry.text, type="text")
            fe.published(entry.published_at)
            fe.updated(entry.updated_at)
            links: list[dict[str, str]] = []
            for copy in entry.copies:
                if not copy.url:
                    continue
                name = texts.PLATFORM_NAMES.get(copy.platform, copy.platform)
                # Atom allows one alternate link per type: the others are "related".
                rel = "related" if links else "alternate"
                links.append({"href": copy.url, "rel": rel, "title": name})
            for photo in entry.photos:
                if self._copy_photo(photo):
                    links.append(
                        {
                            "href": self._url(self._photo_name(photo)),
                            "rel": "enclosure",
                            "type": photo.mime_type,
                            "length": str(photo.size),
                        }
                    )
            fe.crosspost.links = links
        data: bytes = fg.atom_str(pretty=True)
        return data

    def calendar(self, account: str, events: Sequence[Event]) -> bytes:
        config = self.settings.accounts[account]
        cal = Calendar()
        cal.add("prodid", "-//crosspost//events//RU")
        cal.add("version", "2.0")
        cal.add("calscale", "GREGORIAN")
        cal.add("x-wr-calname", config.title)
        cal.add("x-wr-timezone", self.settings.telegram.timezone)
        stamp = self.clock()
        for event in events:
            item = CalendarEvent()
            item.add("uid", f"event-{event.event_id}@crosspost")
            item.add("dtstamp", stamp)
            item.add("dtstart", event.starts_at.astimezone(UTC))
            item.add("summary", event.title)
            item.add("location", event.place)
            if event.text:
                item.add("description", event.text)
            item.add("sequence", event.sequence)
            item.add("last-modified", event.updated_at.astimezone(UTC))
            item.add(
                "status", "CANCELLED" if event.status is EventStatus.CANCELLED else "CONFIRMED"
            )
            cal.add_component(item)
        data: bytes = cal.to_ical()
        return data

    # -- writing --------------------------------------------------------------------------------

    async def write_all_quietly(self) -> None:
        """write_all for hooks: a failure is logged, never raised to the caller."""
        try:
            await self.write_all()
        except Exception:
            logger.exception("feeds not written")

    async def write_all(self) -> list[Path]:
        """Rewrite every account's feed and calendar; returns the files written."""
        async with self._lock:
            now = self.clock()
            upcoming = await self.events.upcoming(since=now - CALENDAR_KEEPS_PAST, limit=1000)
            written = []
            for account in self.settings.accounts:
                entries = await self.entries(account)
                mine = [e for e in upcoming if account in e.accounts]
                atom = await asyncio.to_thread(self.atom, account, entries)
                ics = self.calendar(account, mine)
                for name, data in ((f"{account}.atom", atom), (f"{account}.ics", ics)):
                    path = self.dir / name
                    await asyncio.to_thread(write_atomic, path, data)
                    written.append(path)
            logger.info("feeds written to %s (%s files)", self.dir, len(written))
        self.written.set()
        return written
