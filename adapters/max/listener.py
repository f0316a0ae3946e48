"""MAX as a source: staff posts in an account's MAX channel are mirrored like Telegram posts.

`MaxListener` long-polls `GET /updates` and hands each batch to `store` before the marker that
confirms it is saved: with the inbox, `store` writes the raw batch there and the inbox calls
`MaxChannelMirror.handle` later; without it, `store` handles the updates in place. Either way an
update is confirmed to MAX only after it is safe, and a replay does nothing (`max_seen`).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import mimetypes
import secrets
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

from aiohttp import web
from sqlalchemy import or_, select
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from adapters.max.client import JsonObject, MaxClient
from crosspost.config import MAX_WEBHOOK_SECRET, Settings
from crosspost.db import MaxSeenRow, MaxSourceRow, MaxStateRow, RemotePostRow, write_session
from crosspost.errors import AuthError, PermanentError, TransientError
from crosspost.inbox import LOW, URGENT, Inbox, InboxUnavailable, Incoming
from crosspost.media import safe_display_name
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

logger = logging.getLogger(__name__)

Clock = Callable[[], datetime]
Store = Callable[[Sequence[JsonObject]], Awaitable[None]]
PublicationHook = Callable[[int], Awaitable[None]]

SOURCE = "max"  # the inbox source name
MARKER_KEY = "updates_marker"
UPDATE_TYPES = "message_created,message_edited,message_removed,bot_added,bot_removed"
SECRET_HEADER = "X-Max-Bot-Api-Secret"
# After a failed poll: 2 s doubling to a minute; a rejected token is retried every 5 minutes.
POLL_BACKOFF_START = 2.0
POLL_BACKOFF_MAX = 60.0
AUTH_BACKOFF = 300.0
SEND_SETTLE_SECONDS = 60.0
# MAX markup -> Telegram entity types (from_telegram builds the neutral rich text from them).
MARKUP_TO_ENTITY = {
    "strong": "bold",
    "emphasized": "italic",
    "monospaced": "code",
    "link": "text_link",
    "strikethrough": "strikethrough",
    "underline": "underline",
    "user_mention": "mention",
    "heading": "bold",
    "quote": "blockquote",
}
ATTACHMENT_KIND = {
    "image": MediaKind.PHOTO,
    "video": MediaKind.VIDEO,
    "audio": MediaKind.AUDIO,
    "file": MediaKind.DOCUMENT,
}
DEFAULT_NAME = {"image": "photo.jpg", "video": "video.mp4", "audio": "audio.mp3", "file": "file"}


def _utcnow() -> datetime:
    return datetime.now(UTC)


def update_id(update: Mapping[str, Any]) -> str:
    """A stable id for an update (MAX gives none): its type, message and time."""
    kind = str(update.get("update_type", ""))
    message = update.get("message")
    body = message.get("body") if isinstance(message, dict) else None
    mid = body.get("mid") if isinstance(body, dict) else update.get("message_id")
    where = mid if mid else update.get("chat_id")
    return f"{kind}:{where}:{update.get('timestamp')}"


def rich_text(body: Mapping[str, Any]) -> RichText:
    """The neutral rich text of a MAX message body (`text` and its `markup`, UTF-16 offsets)."""
    text = body.get("text")
    if not isinstance(text, str):
        return RichText()
    entities: list[dict[str, Any]] = []
    markup = body.get("markup")
    for item in markup if isinstance(markup, list) else []:
        if not isinstance(item, dict):
            continue
        kind = MARKUP_TO_ENTITY.get(str(item.get("type")))
        start, length = item.get("from"), item.get("length")
        if kind is None or not isinstance(start, int) or not isinstance(length, int):
            continue
        entity: dict[str, Any] = {"type": kind, "offset": start, "length": length}
        if kind == "text_link":
            if not isinstance(item.get("url"), str):
                continue
            entity["url"] = item["url"]
        entities.append(entity)
    return from_telegram(text, entities)


async def load_marker(sessionmaker: async_sessionmaker[AsyncSession]) -> int | None:
    async with sessionmaker() as session:
        row = await session.get(MaxStateRow, MARKER_KEY)
    if row is None:
        return None
    with contextlib.suppress(ValueError):
        return int(row.value)
    return None


async def save_marker(
    sessionmaker: async_sessionmaker[AsyncSession], marker: int, now: datetime
) -> None:
    async with write_session(sessionmaker, what="max") as session:
        await session.execute(
            sqlite_insert(MaxStateRow)
            .values(key=MARKER_KEY, value=str(marker), updated_at=now)
            .on_conflict_do_update(
                index_elements=[MaxStateRow.key], set_={"value": str(marker), "updated_at": now}
            )
        )


class MaxChannelMirror:
    """Turns posts and edits in the accounts' MAX channels into publications."""

    def __init__(
        self,
        *,
        settings: Settings,
        service: PublicationService,
        sessionmaker: async_sessionmaker[AsyncSession],
        client: MaxClient,
        media_dir: Path,
        max_file_size: int,
        clock: Clock = _utcnow,
        on_queued: PublicationHook | None = None,
        on_edited: PublicationHook | None = None,
        on_deleted: PublicationHook | None = None,
    ) -> None:
        self.settings = settings
        self.service = service
        self.sessionmaker = sessionmaker
        self.client = client
        self.media_dir = media_dir
        self.max_file_size = max_file_size
        self.clock = clock
        self.on_queued = on_queued
        self.on_edited = on_edited
        self.on_deleted = on_deleted
        self._bot_id: int | None = None
        self._lock = asyncio.Lock()

    async def bot_id(self) -> int | None:
        if self._bot_id is None:
            me = await self.client.me()
            user_id = me.get("user_id")
            self._bot_id = user_id if isinstance(user_id, int) else None
        return self._bot_id

    async def handle(self, update: Mapping[str, Any]) -> None:
        """Handle one update; safe to call again with the same update. Raises TransientError
        when MAX or a file cannot be reached now (the update is to be retried)."""
        kind = update.get("update_type")
        # One at a time: an edit must not overtake the post it edits.
        async with self._lock:
            if kind == "message_created":
                await self._created(update)
            elif kind == "message_edited":
                await self._edited(update)
            elif kind == "bot_added":
                logger.info(
                    "MAX bot added to chat=%s (channel=%s)",
                    update.get("chat_id"),
                    update.get("is_channel"),
                )
            elif kind == "message_removed":
                await self._removed(update)

    # -- posts ----------------------------------------------------------------------------

    async def _message(self, update: Mapping[str, Any]) -> tuple[str, int, JsonObject] | None:
        """(account, chat_id, message) of a channel post by staff, or None to ignore it."""
        message = update.get("message")
        if not isinstance(message, dict):
            return None
        recipient = message.get("recipient")
        chat_id = recipient.get("chat_id") if isinstance(recipient, dict) else None
        if not isinstance(chat_id, int):
            return None
        account = self.settings.account_by_max_chat(chat_id)
        if account is None:
            return None
        sender = message.get("sender")
        sender_id = sender.get("user_id") if isinstance(sender, dict) else None
        if sender_id is not None and sender_id == await self.bot_id():
            return None  # our own copy: never mirrored back
        body = message.get("body")
        mid = body.get("mid") if isinstance(body, dict) else None
        if not isinstance(mid, str):
            return None
        # A channel may show our copy without a sender, and its update may come before the
        # send's answer: wait for sends in flight to this chat, then ask what we sent.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(SEND_SETTLE_SECONDS):
                await self.client.sent.settled(chat_id)
        if mid in self.client.sent or await self._is_our_post(mid):
            return None
        return account, chat_id, message

    async def _is_our_post(self, mid: str) -> bool:
        async with self.sessionmaker() as session:
            found = await session.scalar(
                select(RemotePostRow.id)
                .where(
                    RemotePostRow.platform == str(Platform.MAX),
                    or_(
                        RemotePostRow.remote_id == mid,
                        RemotePostRow.parts.contains(json.dumps(mid)),
                    ),
                )
                .limit(1)
            )
        return found is not None

    async def _created(self, update: Mapping[str, Any]) -> None:
        found = await self._message(update)
        if found is None:
            return
        account, chat_id, message = found
        body = message["body"]
        assert isinstance(body, dict)  # noqa: S101 - _message checked it
        mid = str(body["mid"])
        if await self._seen(f"post:{mid}") or await self._publication_of(mid) is not None:
            return
        if await self._seen(f"removed:{mid}"):
            return  # deleted in MAX before we got to it
        targets = mirror_targets(self.settings, account, source=Platform.MAX)
        if not targets:
            logger.info("account=%s mirrors nowhere; MAX post %s not queued", account, mid)
            await self._mark_seen(f"post:{mid}")
            return
        content = await self._content(message)
        if not content.text.text.strip() and not content.media:
            logger.info("MAX post %s has nothing to mirror", mid)
            await self._mark_seen(f"post:{mid}")
            return
        seq = body.get("seq")
        result = await self.service.submit(
            NewPublication(
                content=content,
                targets=targets,
                publish_at=self.clock(),
                source=PublicationSource.CHANNEL,
                author=f"max:{chat_id}",
                source_chat_id=chat_id,
                source_message_id=seq if isinstance(seq, int) else None,
            ),
            actor=f"max:{chat_id}",
        )
        async with write_session(self.sessionmaker, what="max") as session:
            await session.execute(
                sqlite_insert(MaxSourceRow)
                .values(
                    mid=mid,
                    chat_id=chat_id,
                    publication_id=result.publication_id,
                    created_at=self.clock(),
                )
                .on_conflict_do_nothing()
            )
            await session.execute(
                sqlite_insert(MaxSeenRow)
                .values(key=f"post:{mid}", at=self.clock())
                .on_conflict_do_nothing()
            )
        logger.info(
            "publication=%s account=%s from MAX chat=%s mid=%s queued to %s",
            result.publication_id,
            account,
            chat_id,
            mid,
            ",".join(str(t.platform) for t in targets),
        )
        if result.created and self.on_queued is not None:
            await self.on_queued(result.publication_id)

    async def _edited(self, update: Mapping[str, Any]) -> None:
        found = await self._message(update)
        if found is None:
            return
        _account, chat_id, message = found
        body = message["body"]
        assert isinstance(body, dict)  # noqa: S101 - _message checked it
        mid = str(body["mid"])
        fingerprint = hashlib.sha256(
            json.dumps(
                [body.get("text"), body.get("markup"), body.get("attachments")],
                sort_keys=True,
                ensure_ascii=False,
            ).encode()
        ).hexdigest()[:24]
        key = f"edit:{mid}:{fingerprint}"
        if await self._seen(key):
            return
        publication_id = await self._publication_of(mid)
        if publication_id is None:
            logger.info("MAX chat=%s mid=%s edited but never mirrored", chat_id, mid)
            await self._mark_seen(key)
            return
        view = await self.service.view(publication_id)
        if view is None or view.info.deleted_at is not None:
            await self._mark_seen(key)
            return
        content = await self._content(message)
        result = await self.service.edit(publication_id, content, actor=f"max:{chat_id}")
        await self._mark_seen(key)
        if result.changed and self.on_edited is not None:
            await self.on_edited(publication_id)

    async def _removed(self, update: Mapping[str, Any]) -> None:
        """Staff deleted a post in the MAX channel: every copy of it is deleted too (queued
        deletes, as when staff ask the bot), and what was not sent yet is cancelled."""
        mid, chat_id = update.get("message_id"), update.get("chat_id")
        if not isinstance(mid, str) or not isinstance(chat_id, int):
            return
        if self.settings.account_by_max_chat(chat_id) is None:
            return
        key = f"removed:{mid}"
        if await self._seen(key):
            return
        publication_id = await self._publication_of(mid)
        if publication_id is None:
            # Our own copies and posts never mirrored: nothing to follow.
            await self._mark_seen(key)
            return
        view = await self.service.view(publication_id)
        if view is None or view.info.deleted_at is not None:
            await self._mark_seen(key)
            return
        result = await self.service.delete(publication_id, actor=f"max:{chat_id}")
        await self._mark_seen(key)
        logger.info(
            "publication=%s deleted in MAX chat=%s mid=%s: copies queued for deletion, "
            "%d unsent cancelled",
            publication_id,
            chat_id,
            mid,
            len(result.cancelled),
        )
        if self.on_deleted is not None:
            await self.on_deleted(publication_id)

    async def _publication_of(self, mid: str) -> int | None:
        async with self.sessionmaker() as session:
            row = await session.get(MaxSourceRow, mid)
        return None if row is None else row.publication_id

    async def _seen(self, key: str) -> bool:
        async with self.sessionmaker() as session:
            return await session.get(MaxSeenRow, key) is not None

    async def _mark_seen(self, key: str) -> None:
        async with write_session(self.sessionmaker, what="max") as session:
            await session.execute(
                sqlite_insert(MaxSeenRow).values(key=key, at=self.clock()).on_conflict_do_nothing()
            )

    # -- content --------------------------------------------------------------------------

    async def _content(self, message: JsonObject) -> Content:
        body = message.get("body")
        body = body if isinstance(body, dict) else {}
        text = rich_text(body)
        url = message.get("url")
        original = url if isinstance(url, str) and url else None
        media: list[MediaItem] = []
        attachments = body.get("attachments")
        for attachment in attachments if isinstance(attachments, list) else []:
            if not isinstance(attachment, dict):
                continue
            item = await self._fetch(attachment)
            if item is not None:
                media.append(item)
        return Content(text=text, media=tuple(media), original_url=original)

    async def _fetch(self, attachment: JsonObject) -> MediaItem | None:
        kind = str(attachment.get("type"))
        payload = attachment.get("payload")
        url = payload.get("url") if isinstance(payload, dict) else None
        if kind not in ATTACHMENT_KIND or not isinstance(url, str) or not url:
            logger.info("MAX attachment of type %s cannot travel: left out", kind)
            return None
        filename = attachment.get("filename")
        name = safe_display_name(
            filename if isinstance(filename, str) else None, DEFAULT_NAME[kind]
        )
        try:
            path, sha, size, content_type = await self.client.download(
                url, self.media_dir, max_size=self.max_file_size
            )
        except PermanentError as exc:
            logger.warning("MAX attachment not fetched (%s): sent as a link", exc.reason)
            return MediaItem(
                kind=ATTACHMENT_KIND[kind],
                path=self.media_dir / ".missing",
                file_name=name,
                mime_type="application/octet-stream",
                size=0,
                sha256="",
                missing=True,
            )
        mime = (
            content_type
            if content_type and content_type != "application/octet-stream"
            else mimetypes.guess_type(name)[0] or "application/octet-stream"
        )
        return MediaItem(
            kind=ATTACHMENT_KIND[kind],
            path=path,
            file_name=name,
            mime_type=mime,
            size=size,
            sha256=sha,
        )


class MaxListener:
    """Long polling: fetch a batch, hand it to `store`, then save the marker that confirms it."""

    def __init__(
        self,
        *,
        client: MaxClient,
        sessionmaker: async_sessionmaker[AsyncSession],
        store: Store,
        hold_seconds: int = 30,
        clock: Clock = _utcnow,
    ) -> None:
        self.client = client
        self.sessionmaker = sessionmaker
        self.store = store
        self.hold_seconds = hold_seconds
        self.clock = clock
        self.marker: int | None = None
        self._loaded = False
        self._webhook_left = False
        # Set after each batch is stored: tests wait on it instead of sleeping.
        self.progressed = asyncio.Event()

    async def poll_once(self) -> int:
        """One GET /updates; returns how many updates were stored. Raises PublishError."""
        if not self._webhook_left:
            await leave_webhook(self.client)
            self._webhook_left = True
        if not self._loaded:
            self.marker = await load_marker(self.sessionmaker)
            self._loaded = True
        updates, marker = await self.client.updates(
            marker=self.marker, hold_seconds=self.hold_seconds, types=UPDATE_TYPES
        )
        if updates:
            await self.store(updates)
        if marker is not None and marker != self.marker:
            await save_marker(self.sessionmaker, marker, self.clock())
            self.marker = marker
        self.progressed.set()
        self.progressed = asyncio.Event()
        return len(updates)

    async def run(self, stop: asyncio.Event) -> None:
        """Poll until `stop` is set; a failure waits (doubling, capped) and polls again."""
        delay = POLL_BACKOFF_START
        while not stop.is_set():
            try:
                await self.poll_once()
                delay = POLL_BACKOFF_START
                continue
            except AuthError as exc:
                logger.error("MAX polling: the token was refused (%s); retrying later", exc.code)
                wait = AUTH_BACKOFF
            except Exception as exc:
                # PublishError from MAX, InboxUnavailable from the database: nothing was
                # confirmed, so the same updates come again.
                logger.warning("MAX polling failed: %s", exc)
                wait = delay
                delay = min(delay * 2, POLL_BACKOFF_MAX)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait):
                    await stop.wait()


async def leave_webhook(client: MaxClient) -> int:
    """Remove the bot's webhook subscriptions: while one is active MAX answers no long poll
    (a service moved from webhook back to polling). Returns how many were removed."""
    urls = await client.subscriptions()
    for url in urls:
        await client.unsubscribe(url)
    if urls:
        logger.info("MAX: %d webhook subscription(s) removed, back to long polling", len(urls))
    return len(urls)


def webhook_app(*, path: str, secret: str, store: Store) -> web.Application:
    """An aiohttp app taking MAX's POSTs on `path`: 401 without the right
    `X-Max-Bot-Api-Secret`, 200 only once the update is stored, 503 when it cannot be (MAX
    delivers it again)."""
    if not MAX_WEBHOOK_SECRET.fullmatch(secret):
        raise ValueError("the MAX webhook secret must be 5-256 of A-Z, a-z, 0-9, _ and -")
    expected = secret.encode()

    async def receive(request: web.Request) -> web.Response:
        given = request.headers.get(SECRET_HEADER, "").encode()
        if not secrets.compare_digest(given, expected):
            logger.warning("MAX webhook: a request without the right secret was refused")
            return web.Response(status=401)
        try:
            raw = await request.json(loads=json.loads)
        except ValueError:
            logger.warning("MAX webhook: a body that is not JSON was refused")
            return web.Response(status=400)
        if not isinstance(raw, dict) or not isinstance(raw.get("update_type"), str):
            return web.Response(status=400)
        try:
            await store([raw])
        except InboxUnavailable as exc:
            logger.error("MAX webhook: update not stored (%s); MAX will deliver it again", exc)
            return web.Response(status=503)
        return web.json_response({})

    app = web.Application(client_max_size=4 * 1024 * 1024)
    app.router.add_post(path, receive)
    return app


async def serve_webhook(
    *,
    client: MaxClient,
    store: Store,
    url: str,
    secret: str,
    path: str,
    host: str,
    port: int,
    stop: asyncio.Event,
) -> None:
    """Serve the webhook on host:port, then subscribe `url` (retried until MAX takes it) and
    drop subscriptions to other addresses; runs until `stop`. The subscription stays on exit:
    MAX keeps the updates for the next start (it retries for hours)."""
    runner = web.AppRunner(webhook_app(path=path, secret=secret, store=store))
    await runner.setup()
    try:
        try:
            await web.TCPSite(runner, host, port).start()
        except OSError as exc:
            logger.error(
                "MAX webhook cannot listen on %s:%s (%s): no MAX updates are received",
                host,
                port,
                exc.strerror,
            )
            raise
        delay = POLL_BACKOFF_START
        while not stop.is_set():
            try:
                await client.subscribe(url, update_types=UPDATE_TYPES.split(","), secret=secret)
                # An address used before would go on receiving the same updates: drop it,
                # but only once MAX lists ours as MAX spells it.
                subscribed = await client.subscriptions()
                if url in subscribed:
                    for other in subscribed:
                        if other != url:
                            await client.unsubscribe(other)
                logger.info("MAX webhook subscribed (listening on %s:%s%s)", host, port, path)
                break
            except AuthError as exc:
                logger.error("MAX webhook: the token was refused (%s); retrying later", exc.code)
                wait = AUTH_BACKOFF
            except PermanentError as exc:
                logger.error("MAX refused the webhook subscription: %s", exc)
                wait = AUTH_BACKOFF
            except TransientError as exc:
                logger.warning("MAX webhook subscription failed: %s", exc)
                wait = delay
                delay = min(delay * 2, POLL_BACKOFF_MAX)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait):
                    await stop.wait()
        await stop.wait()
    finally:
        await runner.cleanup()


def inbox_store(inbox: Inbox, settings: Settings) -> Store:
    """The `store` with the inbox: the raw batch is written there (one transaction) before the
    marker that confirms it moves; the inbox processor hands each update to
    `MaxChannelMirror.handle`, one chat's updates in order. Raises InboxUnavailable."""

    async def store(updates: Sequence[JsonObject]) -> None:
        items: list[Incoming] = []
        for update in updates:
            chat_id = _chat_of(update)
            ours = chat_id is not None and settings.account_by_max_chat(chat_id) is not None
            items.append(
                Incoming(
                    external_id=update_id(update),
                    payload=json.dumps(update, ensure_ascii=False),
                    priority=URGENT if ours else LOW,
                    lane=f"max:{chat_id}",
                )
            )
        await inbox.store_many(SOURCE, items)

    return store


def _chat_of(update: Mapping[str, Any]) -> int | None:
    message = update.get("message")
    recipient = message.get("recipient") if isinstance(message, dict) else None
    chat_id = recipient.get("chat_id") if isinstance(recipient, dict) else update.get("chat_id")
    return chat_id if isinstance(chat_id, int) else None


def handle_in_place(mirror: MaxChannelMirror) -> Store:
    """The `store` for running without the inbox: each update is handled before the marker
    moves; one that fails for a passing reason stops the batch (it comes again next poll)."""

    async def store(updates: Sequence[JsonObject]) -> None:
        for update in updates:
            try:
                await mirror.handle(update)
            except TransientError:
                raise
            except Exception:
                # A broken update must not block the channel forever.
                logger.exception("MAX update %s could not be handled: skipped", update_id(update))

    return store


async def wait_for_bot_added(
    client: MaxClient, *, hold_seconds: int = 30, deadline: timedelta = timedelta(minutes=10)
) -> JsonObject | None:
    """`crosspost max link`: long-poll until a `bot_added` update comes; None at the deadline."""
    marker: int | None = None
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(deadline.total_seconds()):
            while True:
                updates, marker = await client.updates(
                    marker=marker, hold_seconds=hold_seconds, types="bot_added"
                )
                for update in updates:
                    if update.get("update_type") == "bot_added":
                        return update
    return None


async def bot_added_from_inbox(
    inbox: Inbox,
    *,
    since: datetime,
    deadline: timedelta = timedelta(minutes=10),
    every: timedelta = timedelta(seconds=2),
) -> JsonObject | None:
    """`crosspost max link` with the webhook on: MAX posts `bot_added` to the running service,
    which stores it in the inbox; wait for the newest one stored since `since`."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(deadline.total_seconds()):
            while True:
                items = await inbox.received_since(SOURCE, since, external_prefix="bot_added:")
                for item in reversed(items):
                    data = item.data()
                    if data.get("update_type") == "bot_added":
                        return cast(JsonObject, data)
                await asyncio.sleep(every.total_seconds())
    return None


__all__ = [
    "MaxChannelMirror",
    "MaxListener",
    "bot_added_from_inbox",
    "handle_in_place",
    "inbox_store",
    "leave_webhook",
    "rich_text",
    "serve_webhook",
    "update_id",
    "wait_for_bot_added",
    "webhook_app",
]
