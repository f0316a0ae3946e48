"""Channel mirror: posts and edits in the accounts' Telegram channels become publications.

Album items arrive as separate updates sharing media_group_id; they are buffered in the database
(so a restart mid-album loses nothing) and flushed by a per-album timer task a short while after
the last item. aiogram runs each update as its own task and has no album handler, so the handler
only stores the item and (re)arms the timer; it never sleeps. Telegram never says how many items
an album has, so the flush also waits until intake has caught up past the debounce (a getUpdates
that failed or is slow may still hold an item) and every stored item has been handled.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from aiogram import Bot, F, Router
from aiogram.types import Message
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from adapters.telegram.files import fetch_file
from crosspost import texts
from crosspost.config import Settings
from crosspost.inbox import Inbox
from crosspost.intake.mirror_store import MirrorStore
from crosspost.intake.telegram import SOURCE as INBOX_SOURCE
from crosspost.intake.telegram import album_flush_update, album_group_key
from crosspost.models import (
    Content,
    MediaItem,
    MediaKind,
    NewPublication,
    Platform,
    PublicationSource,
)
from crosspost.richtext import RichText, from_telegram
from crosspost.routing import mirror_targets
from crosspost.service import PublicationService
from staffbot.reports import Note, TelegramReporter, add_notes, copy_notes

logger = logging.getLogger(__name__)

# Album items seen in the wild arrive within 0.55-1.4 s (platforms.md §1.2).
ALBUM_DEBOUNCE = timedelta(seconds=1.5)
# Album files fetched at once from Telegram (each getFile is its own round trip).
FETCH_CONCURRENCY = 4
ALBUM_HARD_CAP = timedelta(seconds=10)
# How often a due album looks again whether intake caught up and its items were all handled.
PENDING_RECHECK = timedelta(seconds=0.05)
# After a failed flush enqueue (the database cannot be written), the timer tries again this late.
FLUSH_RETRY = timedelta(seconds=2)

# Message fields holding content no other platform takes (texts.CONTENT_KINDS words them).
DROPPED_KINDS: tuple[str, ...] = tuple(texts.CONTENT_KINDS)

Clock = Callable[[], datetime]


@dataclass(frozen=True, kw_only=True)
class MediaRef:
    kind: str
    file_id: str
    file_unique_id: str
    file_size: int | None = None
    file_name: str | None = None
    mime_type: str | None = None


@dataclass(frozen=True, kw_only=True)
class PostPart:
    """What a Telegram message carries that we can publish (or must tell staff we cannot)."""

    chat_id: int
    message_id: int
    media_group_id: str | None = None
    text: str = ""
    entities: list[dict[str, Any]] = field(default_factory=list)
    media: MediaRef | None = None
    dropped: tuple[str, ...] = ()

    def to_json(self) -> str:
        # ASCII escapes keep lone UTF-16 surrogates (which UTF-8 cannot encode) storable.
        return json.dumps(asdict(self), ensure_ascii=True)

    @classmethod
    def from_json(cls, raw: str) -> PostPart:
        data = json.loads(raw)
        media = data.pop("media")
        data["dropped"] = tuple(data["dropped"])
        return cls(**data, media=None if media is None else MediaRef(**media))

    @property
    def fingerprint(self) -> str:
        media = self.media.file_unique_id if self.media else ""
        raw = json.dumps([self.text, self.entities, media], ensure_ascii=False, sort_keys=True)
        return hashlib.sha256(raw.encode("utf-8", "surrogatepass")).hexdigest()[:16]

    @property
    def empty(self) -> bool:
        return not self.text.strip() and self.media is None


def part_from_message(message: Message) -> PostPart:
    text = message.text or message.caption or ""
    raw_entities = message.entities if message.text is not None else message.caption_entities
    entities = [e.model_dump(mode="json", exclude_none=True) for e in raw_entities or []]
    media: MediaRef | None = None
    if message.photo:
        best = max(message.photo, key=lambda p: p.width * p.height)
        media = MediaRef(
            kind=MediaKind.PHOTO,
            file_id=best.file_id,
            file_unique_id=best.file_unique_id,
            file_size=best.file_size,
        )
    else:
        for kind, obj in (
            (MediaKind.VIDEO, message.video),
            (MediaKind.ANIMATION, message.animation),
            (MediaKind.DOCUMENT, message.document),
        ):
            if obj is not None:
                media = MediaRef(
                    kind=kind,
                    file_id=obj.file_id,
                    file_unique_id=obj.file_unique_id,
                    file_size=obj.file_size,
                    file_name=obj.file_name,
                    mime_type=obj.mime_type,
                )
                break
    dropped = [k for k in DROPPED_KINDS if getattr(message, k, None) is not None]
    if "venue" in dropped and "location" in dropped:
        dropped.remove("location")  # a venue carries its location
    return PostPart(
        chat_id=message.chat.id,
        message_id=message.message_id,
        media_group_id=message.media_group_id,
        text=text,
        entities=entities,
        media=media,
        dropped=tuple(dropped),
    )


def kinds_text(kinds: Sequence[str]) -> str:
    words = [texts.CONTENT_KINDS.get(k, k) for k in dict.fromkeys(kinds)]
    joined = ", ".join(words)
    return joined[:1].upper() + joined[1:]


def platforms_text(platforms: Sequence[Platform]) -> str:
    """«во ВКонтакте и в Одноклассниках» (for texts with {in_platforms})."""
    return texts.in_platforms(str(p) for p in platforms)


def original_url(settings: Settings, chat_id: int, message_id: int) -> str:
    account = settings.account_by_channel(chat_id)
    username = settings.accounts[account].telegram_channel_username if account else None
    if username:
        return f"https://t.me/{username}/{message_id}"
    internal = str(chat_id).removeprefix("-100")
    return f"https://t.me/c/{internal}/{message_id}"


async def build_content(
    bot: Bot,
    parts: Sequence[PostPart],
    *,
    settings: Settings,
    media_dir: Path,
    url: str | None,
) -> tuple[Content, list[Note], list[str]]:
    """Text from the part that has it, media fetched once each. Returns the content, notes for
    staff (files too big to fetch) and the kinds of content that could not travel."""
    captioned = next((p for p in parts if p.text.strip()), None)
    text = (
        from_telegram(captioned.text, captioned.entities)
        if captioned is not None
        else RichText.plain("")
    )
    limit = asyncio.Semaphore(FETCH_CONCURRENCY)

    async def fetch(media: MediaRef) -> MediaItem:
        async with limit:
            return await fetch_file(
                bot,
                file_id=media.file_id,
                file_size=media.file_size,
                file_name=media.file_name,
                mime_type=media.mime_type,
                kind=MediaKind(media.kind),
                store_dir=media_dir,
                is_local=settings.telegram.is_local,
            )

    # An album's files download side by side (each getFile is a round trip to Telegram);
    # gather keeps their order.
    with_media = [p.media for p in parts if p.media is not None]
    media = list(await asyncio.gather(*(fetch(m) for m in with_media)))
    notes = [
        Note(code="file_too_big", detail=m.file_name or item.file_name)
        for m, item in zip(with_media, media, strict=True)
        if item.missing
    ]
    dropped = [k for p in parts for k in p.dropped]
    return Content(text=text, media=tuple(media), original_url=url), notes, dropped


FlushHandler = Callable[[Bot, int, str, list[PostPart]], Awaitable[None]]


class AlbumGatherer:
    """Buffers album items in the database and calls `on_album` once per album, after the
    debounce (or the hard cap) has passed. Survives restarts through `restore`."""

    def __init__(
        self,
        *,
        store: MirrorStore,
        clock: Clock,
        on_album: FlushHandler,
        debounce: timedelta = ALBUM_DEBOUNCE,
        hard_cap: timedelta = ALBUM_HARD_CAP,
        owns: Callable[[int], bool] = lambda chat_id: True,
    ) -> None:
        self.store = store
        self.owns = owns
        self.clock = clock
        self.on_album = on_album
        self.debounce = debounce.total_seconds()
        self.hard_cap = hard_cap.total_seconds()
        self._first: dict[tuple[int, str], float] = {}
        self._last: dict[tuple[int, str], float] = {}
        self._timers: dict[tuple[int, str], asyncio.Task[None]] = {}
        # Set by the intake: album items still pending there hold the album back.
        self.inbox: Inbox | None = None
        # Set by polling intake: the loop time up to which every update Telegram had is stored.
        self.caught_up: Callable[[], float | None] | None = None
        # Set whenever an item is stored: tests wait on it instead of sleeping.
        self.stored = asyncio.Event()

    async def add(self, bot: Bot, part: PostPart) -> None:
        if part.media_group_id is None:
            raise ValueError("not an album item")
        await self.store.buffer_album_item(
            part.chat_id, part.media_group_id, part.message_id, part.to_json(), self.clock()
        )
        self._arm(bot, (part.chat_id, part.media_group_id))
        self.stored.set()

    async def replace(self, part: PostPart) -> bool:
        """An item edited while its album is still buffered: keep the edited version. False if
        the item is not buffered (the album went out, or never came)."""
        if part.media_group_id is None:
            return False
        return await self.store.replace_album_item(
            part.chat_id, part.media_group_id, part.message_id, part.to_json()
        )

    def _arm(self, bot: Bot, key: tuple[int, str]) -> None:
        now = asyncio.get_running_loop().time()
        self._first.setdefault(key, now)
        self._last[key] = now
        timer = self._timers.get(key)
        if timer is None or timer.done():
            self._timers[key] = asyncio.create_task(self._run(bot, key))

    async def _run(self, bot: Bot, key: tuple[int, str]) -> None:
        loop = asyncio.get_running_loop()
        while True:
            deadline = min(self._last[key] + self.debounce, self._first[key] + self.hard_cap)
            delay = deadline - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
                continue
            try:
                ready = await self._complete(key, deadline)
            except Exception as exc:
                logger.warning("album chat=%s group=%s not checked: %s", *key, exc)
                await asyncio.sleep(FLUSH_RETRY.total_seconds())
                continue
            if not ready:
                await asyncio.sleep(PENDING_RECHECK.total_seconds())
                continue
            # Forget the album's times before the await: an item handled meanwhile sets them
            # again, and this timer then carries on for it.
            self._first.pop(key, None)
            self._last.pop(key, None)
            try:
                if self.inbox is not None:
                    await self._enqueue_flush(key)
                else:
                    await self.flush(bot, key)
            except Exception:
                logger.exception("album chat=%s group=%s could not be flushed; again later", *key)
                await asyncio.sleep(FLUSH_RETRY.total_seconds())
                self._first.setdefault(key, loop.time())
                self._last.setdefault(key, loop.time())
                continue
            if key not in self._last:
                self._timers.pop(key, None)
                return

    async def _complete(self, key: tuple[int, str], deadline: float) -> bool:
        """Whether every item of the album is in: intake caught up past the debounce (no item
        can still sit in Telegram or in a batch being stored) and all stored items handled."""
        if self.caught_up is not None:
            at = self.caught_up()
            if at is None or at < deadline:
                return False
        return not await self._items_still_pending(key)

    async def _items_still_pending(self, key: tuple[int, str]) -> bool:
        if self.inbox is None:
            return False
        pending = await self.inbox.pending_in_group(INBOX_SOURCE, album_group_key(*key))
        return pending > 0

    async def _enqueue_flush(self, key: tuple[int, str]) -> None:
        """Publishing goes through the inbox, so a transient failure is retried and a lasting
        one reported, like any update."""
        assert self.inbox is not None  # noqa: S101 - only called when set
        last = await self.store.last_album_message(*key)
        if last is None:
            return
        item = album_flush_update(*key)
        await self.inbox.store_many(
            INBOX_SOURCE,
            [replace(item, external_id=f"{item.external_id}:{last}")],
        )

    async def flush(self, bot: Bot, key: tuple[int, str]) -> None:
        """Publish the buffered items of an album and forget them. Raises what publishing
        raises (the items then stay buffered for the retry)."""
        await self._flush(bot, key)

    async def _flush(self, bot: Bot, key: tuple[int, str]) -> None:
        chat_id, group_id = key
        items = await self.store.album_items(chat_id, group_id)
        parts = [PostPart.from_json(item.payload) for item in items]
        if not parts:
            return
        await self.on_album(bot, chat_id, group_id, parts)
        await self.store.drop_album_items([item.id for item in items])

    async def restore(self, bot: Bot) -> int:
        """Re-arm the timers of albums buffered before a restart; returns how many."""
        keys = await self.store.buffered_albums()
        mine = [(chat_id, group_id) for chat_id, group_id in keys if self.owns(chat_id)]
        for key in mine:
            self._arm(bot, key)
        return len(mine)

    async def close(self) -> None:
        """Stop the timers; buffered items stay in the database for `restore`."""
        timers = list(self._timers.values())
        for timer in timers:
            timer.cancel()
        if timers:
            await asyncio.gather(*timers, return_exceptions=True)
        self._timers.clear()
        self._first.clear()
        self._last.clear()

    @property
    def pending(self) -> int:
        return len(self._timers)


class ChannelMirror:
    """Turns channel posts and edits into publications for the channel's account."""

    def __init__(
        self,
        *,
        settings: Settings,
        service: PublicationService,
        sessionmaker: async_sessionmaker[AsyncSession],
        media_dir: Path,
        clock: Clock,
        reporter_for: Callable[[Bot], TelegramReporter],
        album_debounce: timedelta = ALBUM_DEBOUNCE,
        store: MirrorStore | None = None,
    ) -> None:
        self.settings = settings
        self.service = service
        self.reporter_for = reporter_for
        self.sessionmaker = sessionmaker
        self.media_dir = media_dir
        self.clock = clock
        self.store = store or MirrorStore(sessionmaker)
        self.albums = AlbumGatherer(
            store=self.store,
            clock=clock,
            on_album=self._album,
            debounce=album_debounce,
            owns=lambda chat_id: chat_id < 0,
        )
        self._busy: set[tuple[int, int]] = set()
        self.router = Router(name="channel-mirror")
        self.router.channel_post.register(self.on_post, F.chat.type == "channel")
        self.router.edited_channel_post.register(self.on_edit, F.chat.type == "channel")

    def _reporter(self, bot: Bot) -> TelegramReporter:
        return self.reporter_for(bot)

    def _account(self, message: Message) -> str | None:
        if message.message_id == 0 or message.is_automatic_forward:
            return None  # scheduled placeholders and discussion-group copies
        return self.settings.account_by_channel(message.chat.id)

    async def on_post(self, message: Message, bot: Bot) -> None:
        account = self._account(message)
        if account is None:
            return
        if await self.store.is_own_post(account, message.message_id):
            logger.info("chat=%s message=%s is our own post: not mirrored", *_ids(message))
            return
        part = part_from_message(message)
        if part.media_group_id is not None:
            await self.albums.add(bot, part)
            return
        key = (part.chat_id, part.message_id)
        if key in self._busy:
            return
        self._busy.add(key)
        try:
            await self._publish(bot, account, [part])
        finally:
            self._busy.discard(key)

    async def _album(self, bot: Bot, chat_id: int, group_id: str, parts: list[PostPart]) -> None:
        account = self.settings.account_by_channel(chat_id)
        if account is None:
            return
        await self._publish(bot, account, parts)
        publication = await self.service.by_source(chat_id, parts[0].message_id)
        if publication is None:
            return
        await self.store.remember_album_members(
            chat_id, [p.message_id for p in parts], publication.publication_id, self.clock()
        )

    async def _publish(self, bot: Bot, account: str, parts: list[PostPart]) -> None:
        first = parts[0]
        if await self.service.by_source(first.chat_id, first.message_id) is not None:
            return  # a replayed update: already queued
        post_key = f"post:{first.chat_id}:{first.message_id}"
        if await self.store.was_seen(post_key):
            return
        targets = mirror_targets(self.settings, account)
        if not targets:
            logger.info("account=%s mirrors nowhere; channel post not queued", account)
            return
        url = original_url(self.settings, first.chat_id, first.message_id)
        platforms = [t.platform for t in targets]
        if all(p.empty for p in parts):
            dropped = [k for p in parts for k in p.dropped]
            if dropped:
                await self._reporter(bot).send_note(
                    texts.CHANNEL_NOTHING_TO_MIRROR.format(
                        channel=self.settings.accounts[account].title,
                        url=url,
                        kinds=kinds_text(dropped),
                        in_platforms=platforms_text(platforms),
                    )
                )
            else:
                logger.info("chat=%s message=%s has nothing to mirror", *_ids_part(first))
            await self.store.remember_seen(post_key, self.clock())
            return
        content, notes, dropped = await build_content(
            bot, parts, settings=self.settings, media_dir=self.media_dir, url=url
        )
        if dropped:
            notes.append(
                Note(
                    code="dropped_text_only",
                    detail=f"{kinds_text(dropped)}|{platforms_text(platforms)}",
                )
            )
        now = self.clock()
        result = await self.service.submit(
            NewPublication(
                content=content,
                targets=targets,
                publish_at=now,
                source=PublicationSource.CHANNEL,
                author=f"channel:{first.chat_id}",
                source_chat_id=first.chat_id,
                source_message_id=first.message_id,
            ),
            actor=f"channel:{first.chat_id}",
        )
        if not result.created:
            return
        logger.info(
            "publication=%s account=%s from chat=%s message=%s items=%s queued",
            result.publication_id,
            account,
            first.chat_id,
            first.message_id,
            len(parts),
        )
        if notes:
            await add_notes(self.sessionmaker, result.publication_id, notes, now)
        await self._reporter(bot).refresh(result.publication_id)

    async def on_edit(self, message: Message, bot: Bot) -> None:
        account = self._account(message)
        if account is None:
            return
        chat_id, message_id = _ids(message)
        part = part_from_message(message)
        # edit_date has one-second resolution: two edits in the same second differ by content.
        edit_key = f"edit:{chat_id}:{message_id}:{message.edit_date or 0}:{part.fingerprint}"
        if await self.store.was_seen(edit_key):
            return
        publication = await self.service.by_source(chat_id, message_id)
        position: int | None = None
        if publication is None:
            member = await self.store.album_member(chat_id, message_id)
            if member is None and await self.albums.replace(part):
                logger.info("chat=%s message=%s edited before its album went out", *_ids(message))
                await self.store.remember_seen(edit_key, self.clock())
                return
            if member is None:
                logger.info("chat=%s message=%s edited but never mirrored", chat_id, message_id)
                await self.store.remember_seen(edit_key, self.clock())
                return
            publication_id, position = member
        else:
            publication_id = publication.publication_id
            if part.media_group_id is not None:
                member = await self.store.album_member(chat_id, message_id)
                position = member[1] if member is not None else 0
        view = await self.service.view(publication_id)
        if view is None or view.info.deleted_at is not None:
            return
        if position is None:
            content, notes, _dropped = await build_content(
                bot,
                [part],
                settings=self.settings,
                media_dir=self.media_dir,
                url=view.info.original_url,
            )
        else:
            content, notes = await self._album_edit(bot, publication_id, part, position)
        result = await self.service.edit(publication_id, content, actor=f"channel:{chat_id}")
        await self.store.remember_seen(edit_key, self.clock())
        if not result.changed:
            logger.info("publication=%s edit changed nothing visible", publication_id)
            return
        notes.extend(copy_notes("edit", result.copies, result.version))
        if notes:
            await add_notes(self.sessionmaker, publication_id, notes, self.clock())
        await self._reporter(bot).refresh(publication_id)

    async def _album_edit(
        self, bot: Bot, publication_id: int, part: PostPart, position: int
    ) -> tuple[Content, list[Note]]:
        """One album item was edited: its caption replaces the text if it carries one, its
        media replaces the item at its position."""
        current = await self.service.content(publication_id)
        text = current.text
        if part.text.strip() or position == 0:
            text = from_telegram(part.text, part.entities)
        media = list(current.media)
        notes: list[Note] = []
        if part.media is not None and position < len(media):
            fresh, notes, _dropped = await build_content(
                bot, [part], settings=self.settings, media_dir=self.media_dir, url=None
            )
            media[position] = fresh.media[0]
        content = Content(text=text, media=tuple(media), original_url=current.original_url)
        return content, notes


def _ids(message: Message) -> tuple[int, int]:
    return message.chat.id, message.message_id


def _ids_part(part: PostPart) -> tuple[int, int]:
    return part.chat_id, part.message_id
