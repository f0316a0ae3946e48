"""A MAX Bot API emulator: the REST endpoints crosspost uses, the upload host, long polling.

Strict where the real API is (platforms.md §4, §6): the token goes raw in `Authorization` (no
`Bearer`, no query token), text is at most 4000 characters, uploads are two steps (`POST
/uploads?type=` gives a URL, the file goes there as multipart field `data`; the token comes in the
upload reply for image/file and in step 1 for video/audio), a fresh attachment answers 400
`attachment.not.ready` for a while, more than 2 messages a second to one chat (or 30 requests a
second per bot) answers 429, and `notify=false` to a channel is refused. Errors are an HTTP status
with `{"code", "message"}`. Tests and the sandbox seed channels, add the bot (a `bot_added`
update), post as staff (`message_created` / `message_edited`) and read `messages` and `calls`.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import itertools
import json
import re
import secrets
import time
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from html.parser import HTMLParser
from typing import Any

import aiohttp
from aiohttp import BodyPartReader, web

TEXT_LIMIT = 4000
WEBHOOK_SECRET_HEADER = "X-Max-Bot-Api-Secret"
WEBHOOK_SECRET = re.compile(r"[A-Za-z0-9_-]{5,256}")
UPDATE_TYPES = frozenset(
    {
        "message_created",
        "message_edited",
        "message_removed",
        "message_callback",
        "bot_added",
        "bot_removed",
        "bot_started",
        "bot_stopped",
        "user_added",
        "user_removed",
        "chat_title_changed",
        "message_chat_created",
        "dialog_muted",
        "dialog_unmuted",
        "dialog_cleared",
        "dialog_removed",
    }
)
# A webhook answering anything but 200 gets the update again after this (MAX retries for
# hours, then drops the subscription).
WEBHOOK_RETRY_SECONDS = 1.0
# MAX waits 30 s for the webhook's answer.
WEBHOOK_TIMEOUT_SECONDS = 30.0
CHAT_MESSAGES_PER_SECOND = 2
BOT_REQUESTS_PER_SECOND = 30
UPLOAD_TYPES = frozenset({"image", "video", "audio", "file"})
# audio, file (and sticker) must be the only attachment of a message (platforms.md §4).
ALONE_TYPES = frozenset({"audio", "file", "sticker"})
ADMIN_PERMISSIONS = (
    "read_all_messages",
    "add_remove_members",
    "add_admins",
    "change_chat_info",
    "pin_message",
    "write",
    "edit",
    "delete",
)
# Sends refused with attachment.not.ready per fresh upload of each type ("for a while").
DEFAULT_NOT_READY = {"image": 0, "video": 2, "audio": 1, "file": 1}
# Markup kinds of the read side for the html tags the write side takes.
_TAG_MARKUP = {
    "b": "strong",
    "strong": "strong",
    "i": "emphasized",
    "em": "emphasized",
    "s": "strikethrough",
    "del": "strikethrough",
    "u": "underline",
    "ins": "underline",
    "a": "link",
    "code": "monospaced",
    "pre": "monospaced",
    "mark": "highlighted",
    "blockquote": "quote",
    "h1": "heading",
}


class MaxApiError(Exception):
    def __init__(self, status: int, code: str, message: str = "") -> None:
        super().__init__(status, code, message)
        self.status = status
        self.code = code
        self.message = message or code

    def response(self) -> web.Response:
        return web.json_response({"code": self.code, "message": self.message}, status=self.status)


@dataclass
class MaxBot:
    token: str
    user_id: int
    name: str = "Crosspost bot"
    username: str = "crosspost_bot"


@dataclass
class MaxMember:
    user_id: int
    is_admin: bool
    permissions: list[str]


@dataclass
class MaxChat:
    chat_id: int
    title: str
    type: str = "channel"
    participants_count: int = 0
    link: str = ""
    members: dict[int, MaxMember] = field(default_factory=dict)


@dataclass
class MaxUpload:
    upload_id: str
    type: str
    token: str
    data: bytes = b""
    file_name: str = ""
    content_type: str = ""
    uploaded: bool = False
    not_ready_left: int = 0
    upload_headers: dict[str, str] = field(default_factory=dict)


@dataclass
class MaxMessage:
    mid: str
    seq: int
    chat_id: int
    sender_id: int
    text: str  # visible text (markup removed)
    raw_text: str  # as sent
    format: str | None
    markup: list[dict[str, Any]]
    attachments: list[dict[str, Any]]
    timestamp_ms: int
    url: str
    notify: bool = True
    deleted: bool = False
    edits: int = 0
    views: int = 0  # statistics (issue 10): "stat": {"views": N} in channels

    def to_json(
        self, bots: Mapping[int, MaxBot], chat: MaxChat | None, *, hide_sender: bool = False
    ) -> dict[str, Any]:
        bot = bots.get(self.sender_id)
        sender: dict[str, Any] = {
            "user_id": self.sender_id,
            "name": bot.name if bot else f"Staff {self.sender_id}",
            "is_bot": bot is not None,
        }
        if bot:
            sender["username"] = bot.username
        body: dict[str, Any] = {"mid": self.mid, "seq": self.seq, "text": self.text}
        if self.markup:
            body["markup"] = self.markup
        body["attachments"] = self.attachments or None
        out: dict[str, Any] = {} if hide_sender else {"sender": sender}
        return out | {
            "recipient": {
                "chat_id": self.chat_id,
                "chat_type": chat.type if chat else "channel",
            },
            "timestamp": self.timestamp_ms,
            "body": body,
            "stat": {"views": self.views},
            "url": self.url,
        }


@dataclass
class MaxSubscription:
    """A webhook (`POST /subscriptions`): updates go to `url` in order, each until it is
    answered with 200."""

    token: str
    url: str
    secret: str | None
    update_types: frozenset[str] | None
    time_ms: int
    next_index: int = 0


@dataclass(frozen=True)
class WebhookDelivery:
    url: str
    update_type: str
    status: int  # 0: no answer (connection refused, timeout)


@dataclass
class Fault:
    """What the next matching request gets. `after_effect` lets the call take effect first
    (a message is created, then the answer is lost or replaced)."""

    route: str | None = None  # e.g. "POST /messages", "POST /upload"
    status: int | None = None
    code: str = ""
    hang: bool = False
    after_effect: bool = False
    retry_after: int | None = None


@dataclass(frozen=True)
class RecordedCall:
    route: str
    query: Mapping[str, str]
    body: Any
    authorization: str | None


class _HtmlText(HTMLParser):
    """Visible text and read-side markup from the html write format (offsets in UTF-16)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.length = 0
        self.open: list[tuple[str, int, str | None]] = []
        self.markup: list[dict[str, Any]] = []
        self.unknown: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "br":
            self.handle_data("\n")
            return
        if tag not in _TAG_MARKUP:
            self.unknown.append(tag)
            return
        url = dict(attrs).get("href") if tag == "a" else None
        self.open.append((tag, self.length, url))

    def handle_endtag(self, tag: str) -> None:
        for index in range(len(self.open) - 1, -1, -1):
            name, start, url = self.open[index]
            if name == tag:
                del self.open[index]
                if self.length > start:
                    entry: dict[str, Any] = {
                        "type": _TAG_MARKUP[tag],
                        "from": start,
                        "length": self.length - start,
                    }
                    if url:
                        entry["url"] = url
                    self.markup.append(entry)
                return

    def handle_data(self, data: str) -> None:
        self.parts.append(data)
        self.length += len(data.encode("utf-16-le")) // 2


def parse_html(raw: str) -> tuple[str, list[dict[str, Any]], list[str]]:
    parser = _HtmlText()
    parser.feed(raw)
    parser.close()
    markup = sorted(parser.markup, key=lambda m: (m["from"], -m["length"]))
    return "".join(parser.parts), markup, parser.unknown


class MaxEmulator:
    """MAX's Bot API and its upload host on 127.0.0.1. State is plain dicts tests may read."""

    def __init__(
        self,
        *,
        text_limit: int = TEXT_LIMIT,
        chat_rate: int = CHAT_MESSAGES_PER_SECOND,
        bot_rate: int = BOT_REQUESTS_PER_SECOND,
        not_ready: Mapping[str, int] | None = None,
        hide_channel_sender: bool = False,
        monotonic: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        webhook_retry_seconds: float = WEBHOOK_RETRY_SECONDS,
    ) -> None:
        self.webhook_retry_seconds = webhook_retry_seconds
        self._deliverer: asyncio.Task[None] | None = None
        self.text_limit = text_limit
        self.chat_rate = chat_rate
        self.bot_rate = bot_rate
        self.not_ready = dict(DEFAULT_NOT_READY if not_ready is None else not_ready)
        # Channels may show posts as the channel itself, with no sender.
        self.hide_channel_sender = hide_channel_sender
        self._monotonic = monotonic
        self._now = now
        self.app = web.Application(client_max_size=1024 * 1024 * 1024)
        self.app.router.add_route("*", "/upload/{upload_id}", self._handle_upload)
        self.app.router.add_get("/files/{upload_id}", self._handle_file)
        self.app.router.add_route("*", "/{tail:.*}", self._handle_api)
        self._runner: web.AppRunner | None = None
        self.base_url = ""
        self._release = asyncio.Event()
        self._changed = asyncio.Event()
        self.reset()

    # -- lifecycle ------------------------------------------------------------------------

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Serve on host:port (0 = any free port); returns the value for `max.api_base`."""
        self._release = asyncio.Event()
        self._changed = asyncio.Event()
        self._runner = web.AppRunner(self.app, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        bound_port = self._runner.addresses[0][1]
        self.base_url = f"http://{host}:{bound_port}"
        self._deliverer = asyncio.create_task(self._deliver_webhooks(), name="max-webhooks")
        return self.base_url

    async def stop(self) -> None:
        self._release.set()
        self._changed.set()
        if self._deliverer is not None:
            self._deliverer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._deliverer
            self._deliverer = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def reset(self) -> None:
        """Forget everything: bots, chats, messages, uploads, updates, faults and calls."""
        self._release.set()
        self._release = asyncio.Event()
        self.bots: dict[str, MaxBot] = {}
        self.chats: dict[int, MaxChat] = {}
        self.messages: dict[str, MaxMessage] = {}
        self.uploads: dict[str, MaxUpload] = {}
        self.updates: list[dict[str, Any]] = []
        self.acknowledged = 0  # updates before this index were confirmed by a later marker
        self.subscriptions: dict[str, MaxSubscription] = {}  # by url
        self.webhook_deliveries: list[WebhookDelivery] = []
        self.calls: list[RecordedCall] = []
        self.rate_limited = 0
        self._faults: list[Fault] = []
        self._chat_sends: dict[int, list[float]] = {}
        self._bot_requests: dict[str, list[float]] = {}
        self._seq = itertools.count(1)
        self._user_ids = itertools.count(900_001)
        self.hanging = 0
        self._changed.set()
        self._changed = asyncio.Event()

    def release_hangs(self) -> None:
        self._release.set()
        self._release = asyncio.Event()

    # -- seeding and staff actions ----------------------------------------------------------

    def add_bot(self, token: str, *, name: str = "Crosspost bot") -> MaxBot:
        bot = MaxBot(token=token, user_id=next(self._user_ids), name=name)
        self.bots[token] = bot
        return bot

    def add_channel(
        self, chat_id: int, title: str, *, participants_count: int = 0, type: str = "channel"
    ) -> MaxChat:
        chat = MaxChat(
            chat_id=chat_id,
            title=title,
            type=type,
            participants_count=participants_count,
            link=f"https://max.ru/c{abs(chat_id)}",
        )
        self.chats[chat_id] = chat
        return chat

    def add_bot_to(
        self,
        chat_id: int,
        token: str,
        *,
        admin: bool = True,
        permissions: tuple[str, ...] = ADMIN_PERMISSIONS,
        by_user: int = 100_500,
    ) -> None:
        """A staff member adds the bot to the channel: a `bot_added` update follows."""
        chat = self.chats[chat_id]
        bot = self.bots[token]
        chat.members[bot.user_id] = MaxMember(bot.user_id, admin, list(permissions))
        self._push(
            {
                "update_type": "bot_added",
                "timestamp": self._ms(),
                "chat_id": chat_id,
                "user": {"user_id": by_user, "name": "Staff", "is_bot": False},
                "is_channel": chat.type == "channel",
            }
        )

    def staff_post(
        self,
        chat_id: int,
        text: str = "",
        *,
        markup: list[dict[str, Any]] | None = None,
        images: list[bytes] | None = None,
        files: list[tuple[str, bytes]] | None = None,
        user_id: int = 100_500,
    ) -> MaxMessage:
        """A post staff make in the channel by hand: `message_created` follows."""
        attachments: list[dict[str, Any]] = []
        for data in images or []:
            upload = self._stored_upload("image", data, "photo.jpg", "image/jpeg")
            attachments.append(
                {
                    "type": "image",
                    "payload": {
                        "photo_id": int(upload.upload_id, 16) % 10**9,
                        "token": upload.token,
                        "url": f"{self.base_url}/files/{upload.upload_id}",
                    },
                }
            )
        for name, data in files or []:
            upload = self._stored_upload("file", data, name, "application/octet-stream")
            attachments.append(
                {
                    "type": "file",
                    "payload": {
                        "token": upload.token,
                        "url": f"{self.base_url}/files/{upload.upload_id}",
                    },
                    "filename": name,
                    "size": len(data),
                }
            )
        message = self._create(chat_id, user_id, text, None, markup or [], attachments, True)
        self._push(self._message_update("message_created", message))
        return message

    def staff_edit(
        self, mid: str, text: str, *, markup: list[dict[str, Any]] | None = None
    ) -> MaxMessage:
        message = self.messages[mid]
        message.text = message.raw_text = text
        message.markup = markup or []
        message.edits += 1
        self._push(self._message_update("message_edited", message))
        return message

    def staff_delete(self, mid: str) -> None:
        message = self.messages[mid]
        message.deleted = True
        self._push(
            {
                "update_type": "message_removed",
                "timestamp": self._ms(),
                "message_id": mid,
                "chat_id": message.chat_id,
                "user_id": message.sender_id,
            }
        )

    def fail_next(
        self,
        route: str | None = None,
        *,
        status: int | None = None,
        code: str = "",
        hang: bool = False,
        after_effect: bool = False,
        retry_after: int | None = None,
        times: int = 1,
    ) -> None:
        """Queue a fault for the next request to `route` ("POST /messages", "POST /upload",
        "GET /updates"...; None: any request)."""
        if status is None and not hang:
            raise ValueError("fail_next needs status or hang")
        fault = Fault(route, status, code, hang, after_effect, retry_after)
        self._faults.extend([fault] * times)

    # -- reading --------------------------------------------------------------------------

    def chat_messages(self, chat_id: int, *, include_deleted: bool = False) -> list[MaxMessage]:
        return [
            m
            for m in self.messages.values()
            if m.chat_id == chat_id and (include_deleted or not m.deleted)
        ]

    def bot_messages(self, chat_id: int) -> list[MaxMessage]:
        bot_ids = {b.user_id for b in self.bots.values()}
        return [m for m in self.chat_messages(chat_id) if m.sender_id in bot_ids]

    def attachment_bytes(self, attachment: Mapping[str, Any]) -> bytes:
        token = attachment.get("payload", {}).get("token")
        for upload in self.uploads.values():
            if upload.token == token:
                return upload.data
        raise KeyError(token)

    async def wait_until(
        self,
        predicate: Callable[[], bool],
        *,
        timeout: float = 5.0,  # noqa: ASYNC109 - part of the test-facing contract
    ) -> None:
        """Wait until `predicate()` holds, checked after every change; raises TimeoutError."""
        async with asyncio.timeout(timeout):
            while True:
                changed = self._changed
                if predicate():
                    return
                await changed.wait()

    def calls_to(self, route: str) -> list[RecordedCall]:
        return [c for c in self.calls if c.route == route]

    # -- helpers --------------------------------------------------------------------------

    def _ms(self) -> int:
        return int(self._now().timestamp() * 1000)

    def _push(self, update: dict[str, Any]) -> None:
        self.updates.append(update)
        self._changed.set()
        self._changed = asyncio.Event()

    def _touch(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    def _message_update(self, kind: str, message: MaxMessage) -> dict[str, Any]:
        return {
            "update_type": kind,
            "timestamp": self._ms(),
            "message": self._json(message),
        }

    def _stored_upload(self, kind: str, data: bytes, name: str, content_type: str) -> MaxUpload:
        upload_id = secrets.token_hex(8)
        upload = MaxUpload(
            upload_id=upload_id,
            type=kind,
            token=secrets.token_urlsafe(24),
            data=data,
            file_name=name,
            content_type=content_type,
            uploaded=True,
        )
        self.uploads[upload_id] = upload
        return upload

    def _create(
        self,
        chat_id: int,
        sender_id: int,
        raw_text: str,
        fmt: str | None,
        markup: list[dict[str, Any]],
        attachments: list[dict[str, Any]],
        notify: bool,
    ) -> MaxMessage:
        seq = next(self._seq)
        mid = f"mid.{abs(chat_id):016x}{seq:08x}{secrets.token_hex(4)}"
        text = raw_text
        if fmt == "html":
            text, markup, _unknown = parse_html(raw_text)
        elif fmt == "markdown":
            text = _strip_markdown(raw_text)
        chat = self.chats.get(chat_id)
        message = MaxMessage(
            mid=mid,
            seq=seq,
            chat_id=chat_id,
            sender_id=sender_id,
            text=text,
            raw_text=raw_text,
            format=fmt,
            markup=markup,
            attachments=attachments,
            timestamp_ms=self._ms(),
            url=f"{chat.link if chat else 'https://max.ru/c'}/{mid}",
            notify=notify,
        )
        self.messages[mid] = message
        return message

    # -- the API --------------------------------------------------------------------------

    async def _handle_api(self, request: web.Request) -> web.StreamResponse:
        path = "/" + request.match_info["tail"].strip("/")
        route_path = "/chats/{id}" if path.startswith("/chats/") else path
        if path.startswith("/chats/") and path.endswith("/members/me"):
            route_path = "/chats/{id}/members/me"
        if path.startswith("/messages/"):
            route_path = "/messages/{mid}"
        route = f"{request.method} {route_path}"
        body: Any = None
        if request.method in ("POST", "PUT", "PATCH") and request.can_read_body:
            raw = await request.read()
            try:
                body = json.loads(raw) if raw else None
            except ValueError:
                return MaxApiError(400, "proto.payload", "Body is not JSON").response()
        self.calls.append(
            RecordedCall(route, dict(request.query), body, request.headers.get("Authorization"))
        )
        self._touch()
        fault = self._take_fault(route)
        try:
            if fault is not None and not fault.after_effect:
                return await self._apply_fault(fault)
            bot = self._authenticate(request)
            self._bot_rate(bot)
            result = await self._dispatch(request, route, path, body, bot)
        except MaxApiError as exc:
            return exc.response()
        if fault is not None:
            return await self._apply_fault(fault)
        return web.json_response(result, dumps=lambda v: json.dumps(v, ensure_ascii=False))

    def _take_fault(self, route: str) -> Fault | None:
        for index, fault in enumerate(self._faults):
            if fault.route is None or fault.route == route:
                return self._faults.pop(index)
        return None

    async def _apply_fault(self, fault: Fault) -> web.StreamResponse:
        if fault.hang:
            self.hanging += 1
            try:
                await self._release.wait()
            finally:
                self.hanging -= 1
            return web.Response(status=503)
        assert fault.status is not None  # noqa: S101 - fail_next guarantees it
        headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after else None
        code = fault.code or {
            401: "verify.token",
            403: "access.denied",
            404: "not.found",
            429: "too.many.requests",
            503: "service.unavailable",
        }.get(fault.status, "internal.error")
        return web.json_response(
            {"code": code, "message": "Injected fault"}, status=fault.status, headers=headers
        )

    def _authenticate(self, request: web.Request) -> MaxBot:
        header = request.headers.get("Authorization")
        if "access_token" in request.query:
            # The query token was removed; MAX answers as if no token came at all.
            raise MaxApiError(401, "verify.token", "Invalid access_token: query token removed")
        if not header:
            raise MaxApiError(401, "verify.token", "Invalid access_token")
        if header.lower().startswith("bearer "):
            raise MaxApiError(401, "verify.token", "Invalid access_token: no Bearer prefix")
        bot = self.bots.get(header)
        if bot is None:
            raise MaxApiError(401, "verify.token", "Invalid access_token")
        return bot

    def _window(self, stamps: list[float], limit: int) -> bool:
        now = self._monotonic()
        while stamps and now - stamps[0] >= 1.0:
            stamps.pop(0)
        if len(stamps) >= limit:
            return False
        stamps.append(now)
        return True

    def _bot_rate(self, bot: MaxBot) -> None:
        if not self._window(self._bot_requests.setdefault(bot.token, []), self.bot_rate):
            self.rate_limited += 1
            raise MaxApiError(429, "too.many.requests", "Too many requests")

    async def _dispatch(
        self, request: web.Request, route: str, path: str, body: Any, bot: MaxBot
    ) -> Any:
        query = request.query
        if route == "GET /me":
            return {
                "user_id": bot.user_id,
                "name": bot.name,
                "username": bot.username,
                "is_bot": True,
                "last_activity_time": self._ms(),
            }
        if route == "GET /chats/{id}":
            chat = self._chat(path.split("/")[2], bot)
            return {
                "chat_id": chat.chat_id,
                "type": chat.type,
                "status": "active",
                "title": chat.title,
                "last_event_time": self._ms(),
                "participants_count": chat.participants_count,
                "is_public": True,
                "link": chat.link,
            }
        if route == "GET /chats/{id}/members/me":
            chat = self._chat(path.split("/")[2], bot)
            member = chat.members[bot.user_id]
            return {
                "user_id": bot.user_id,
                "name": bot.name,
                "username": bot.username,
                "is_bot": True,
                "is_owner": False,
                "is_admin": member.is_admin,
                "permissions": member.permissions if member.is_admin else None,
            }
        if route == "GET /chats":
            raise MaxApiError(404, "not.found", "Method GET /chats was removed")
        if route == "POST /messages":
            return self._send(query, body, bot)
        if route == "PUT /messages":
            return self._edit(query, body, bot)
        if route == "DELETE /messages":
            return self._delete(query, bot)
        if route == "GET /messages":
            return self._list(query, bot)
        if route == "GET /messages/{mid}":
            message = self.messages.get(path.split("/", 2)[2])
            if message is None or message.deleted:
                raise MaxApiError(404, "not.found", "Message not found")
            self._chat(str(message.chat_id), bot)
            return self._json(message)
        if route == "POST /uploads":
            return self._new_upload(query)
        if route == "GET /updates":
            if any(sub.token == bot.token for sub in self.subscriptions.values()):
                # MAX: "При активной подписке Long Polling не работает" (the answer's exact
                # form is unconfirmed).
                raise MaxApiError(
                    400, "proto.state", "Long polling is unavailable while a webhook is set"
                )
            return await self._updates(query, bot)
        if route == "GET /subscriptions":
            return {
                "subscriptions": [
                    {
                        "url": sub.url,
                        "time": sub.time_ms,
                        "update_types": sorted(sub.update_types) if sub.update_types else None,
                    }
                    for sub in self.subscriptions.values()
                    if sub.token == bot.token
                ]
            }
        if route == "POST /subscriptions":
            return self._subscribe(body, bot)
        if route == "DELETE /subscriptions":
            url = query.get("url")
            if not url:
                raise MaxApiError(400, "proto.payload", "url is required")
            sub = self.subscriptions.get(url)
            if sub is None or sub.token != bot.token:
                return {"success": False, "message": "Subscription not found"}
            del self.subscriptions[url]
            self._touch()
            return {"success": True}
        raise MaxApiError(404, "not.found", f"Unknown method {route}")

    def _subscribe(self, body: Any, bot: MaxBot) -> Any:
        if not isinstance(body, dict):
            raise MaxApiError(400, "proto.payload", "Body must be a JSON object")
        unknown = set(body) - {"url", "update_types", "secret", "version"}
        if unknown:
            raise MaxApiError(400, "proto.payload", f"Unknown field {sorted(unknown)[0]}")
        url = body.get("url")
        parts = urllib.parse.urlsplit(url) if isinstance(url, str) else None
        if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
            raise MaxApiError(400, "proto.payload", "url must be an https:// address")
        # HTTP webhooks are refused since 25 May 2026; a loopback address stands for the
        # HTTPS front of a test service here.
        if parts.scheme != "https" and parts.hostname not in ("127.0.0.1", "localhost", "::1"):
            raise MaxApiError(400, "proto.payload", "Webhook url must use HTTPS")
        secret = body.get("secret")
        if secret is not None and (
            not isinstance(secret, str) or not WEBHOOK_SECRET.fullmatch(secret)
        ):
            raise MaxApiError(400, "proto.payload", "secret: 5-256 of [A-Za-z0-9_-]")
        types = body.get("update_types")
        if types is not None and (
            not isinstance(types, list) or any(t not in UPDATE_TYPES for t in types)
        ):
            raise MaxApiError(400, "proto.payload", "Unknown update type")
        assert isinstance(url, str)  # noqa: S101 - checked above
        existing = self.subscriptions.get(url)
        self.subscriptions[url] = MaxSubscription(
            token=bot.token,
            url=url,
            secret=secret,
            update_types=frozenset(types) if types else None,
            time_ms=self._ms(),
            # Updates not confirmed by a long poll yet are delivered too.
            next_index=existing.next_index if existing else self.acknowledged,
        )
        self._touch()
        return {"success": True}

    async def _deliver_webhooks(self) -> None:
        """POST every update to each subscription in order, with the secret header; one not
        answered with 200 is sent again after `webhook_retry_seconds`."""
        async with aiohttp.ClientSession() as http:
            while True:
                if await self._delivery_pass(http):
                    # MAX's retry delay, not a test's wait.
                    await asyncio.sleep(self.webhook_retry_seconds)
                    continue
                changed = self._changed
                if not self._webhooks_pending():
                    await changed.wait()

    def _webhooks_pending(self) -> bool:
        return any(sub.next_index < len(self.updates) for sub in self.subscriptions.values())

    async def _delivery_pass(self, http: aiohttp.ClientSession) -> bool:
        """Deliver what each subscription has not had yet; True when one was refused."""
        refused = False
        for sub in list(self.subscriptions.values()):
            while sub.next_index < len(self.updates) and self.subscriptions.get(sub.url) is sub:
                update = self.updates[sub.next_index]
                kind = str(update.get("update_type"))
                if sub.update_types is not None and kind not in sub.update_types:
                    sub.next_index += 1
                    continue
                status = await self._post_update(http, sub, update)
                self.webhook_deliveries.append(WebhookDelivery(sub.url, kind, status))
                if status == 200:
                    sub.next_index += 1
                self._touch()
                if status != 200:
                    refused = True
                    break
        return refused

    async def _post_update(
        self, http: aiohttp.ClientSession, sub: MaxSubscription, update: Mapping[str, Any]
    ) -> int:
        headers = {WEBHOOK_SECRET_HEADER: sub.secret} if sub.secret else {}
        try:
            async with http.post(
                sub.url,
                data=json.dumps(update, ensure_ascii=False).encode(),
                headers={"Content-Type": "application/json", **headers},
                timeout=aiohttp.ClientTimeout(total=WEBHOOK_TIMEOUT_SECONDS),
            ) as response:
                await response.read()
                return response.status
        except (TimeoutError, aiohttp.ClientError):
            return 0

    def _json(self, message: MaxMessage) -> dict[str, Any]:
        bots = {b.user_id: b for b in self.bots.values()}
        chat = self.chats.get(message.chat_id)
        hide = self.hide_channel_sender and chat is not None and chat.type == "channel"
        return message.to_json(bots, chat, hide_sender=hide)

    def _chat(self, raw_id: str, bot: MaxBot) -> MaxChat:
        try:
            chat_id = int(raw_id)
        except ValueError:
            raise MaxApiError(400, "proto.payload", "chat_id must be an integer") from None
        chat = self.chats.get(chat_id)
        if chat is None:
            raise MaxApiError(404, "chat.not.found", f"Chat {chat_id} not found")
        if bot.user_id not in chat.members:
            raise MaxApiError(403, "chat.denied", "Bot is not a member of the chat")
        return chat

    def _can(self, chat: MaxChat, bot: MaxBot, permission: str) -> None:
        member = chat.members.get(bot.user_id)
        if chat.type != "channel":
            return
        if member is None or not member.is_admin or permission not in member.permissions:
            raise MaxApiError(403, "chat.denied", f"No {permission} permission in the channel")

    def _content(self, body: Any, *, editing: bool) -> tuple[str | None, str | None, Any]:
        if not isinstance(body, dict):
            raise MaxApiError(400, "proto.payload", "Body must be a JSON object")
        known = {"text", "attachments", "link", "notify", "format"}
        unknown = set(body) - known
        if unknown:
            raise MaxApiError(400, "proto.payload", f"Unknown field {sorted(unknown)[0]}")
        text = body.get("text")
        if text is not None and not isinstance(text, str):
            raise MaxApiError(400, "proto.payload", "text must be a string")
        if text is not None and len(text) > self.text_limit:
            raise MaxApiError(
                400, "proto.payload", f"text: size must be between 0 and {self.text_limit}"
            )
        fmt = body.get("format")
        if fmt not in (None, "markdown", "html"):
            raise MaxApiError(400, "proto.payload", "format must be markdown or html")
        if fmt == "html" and text:
            _visible, _markup, unknown_tags = parse_html(text)
            if unknown_tags:
                raise MaxApiError(400, "proto.payload", f"Unsupported tag <{unknown_tags[0]}>")
        attachments = body.get("attachments", None if editing else [])
        if attachments is not None and not isinstance(attachments, list):
            raise MaxApiError(400, "proto.payload", "attachments must be a list")
        return text, fmt, attachments

    def _attachments(self, raw: list[Any]) -> list[dict[str, Any]]:
        resolved: list[tuple[dict[str, Any], MaxUpload]] = []
        types: list[str] = []
        by_token = {u.token: u for u in self.uploads.values()}
        for item in raw:
            if not isinstance(item, dict) or not isinstance(item.get("payload"), dict):
                raise MaxApiError(400, "proto.payload", "attachment needs type and payload")
            kind = item.get("type")
            token = item["payload"].get("token")
            if kind not in UPLOAD_TYPES:
                raise MaxApiError(400, "proto.payload", f"Unknown attachment type {kind}")
            upload = by_token.get(token) if isinstance(token, str) else None
            if upload is None or upload.type != kind:
                raise MaxApiError(400, "attachment.invalid", "Unknown attachment token")
            if not upload.uploaded:
                raise MaxApiError(400, "attachment.not.ready", "Attachment is not processed yet")
            types.append(kind)
            resolved.append((item, upload))
        if len(types) > 1 and any(t in ALONE_TYPES for t in types):
            raise MaxApiError(400, "proto.payload", "audio and file must be the only attachment")
        # Processing: a fresh upload is refused a few times before it can be sent.
        for _item, upload in resolved:
            if upload.not_ready_left > 0:
                upload.not_ready_left -= 1
                raise MaxApiError(400, "attachment.not.ready", "Key: errors.process.attachment")
        out: list[dict[str, Any]] = []
        for item, upload in resolved:
            payload: dict[str, Any] = {
                "token": upload.token,
                "url": f"{self.base_url}/files/{upload.upload_id}",
            }
            entry: dict[str, Any] = {"type": item["type"], "payload": payload}
            if item["type"] == "file":
                entry["filename"] = upload.file_name
                entry["size"] = len(upload.data)
            out.append(entry)
        return out

    def _send(self, query: Mapping[str, str], body: Any, bot: MaxBot) -> Any:
        raw_chat = query.get("chat_id")
        if raw_chat is None and "user_id" not in query:
            raise MaxApiError(400, "proto.payload", "chat_id or user_id is required")
        chat = self._chat(raw_chat or "", bot)
        self._can(chat, bot, "write")
        text, fmt, raw_attachments = self._content(body, editing=False)
        notify = body.get("notify", True)
        if notify is False and chat.type == "channel":
            raise MaxApiError(400, "proto.payload", "notify=false is not allowed in channels")
        attachments = self._attachments(raw_attachments or [])
        if not text and not attachments:
            raise MaxApiError(400, "proto.payload", "Message must have text or attachments")
        if not self._window(self._chat_sends.setdefault(chat.chat_id, []), self.chat_rate):
            self.rate_limited += 1
            raise MaxApiError(429, "too.many.requests", "Too many messages to the chat")
        message = self._create(
            chat.chat_id, bot.user_id, text or "", fmt, [], attachments, bool(notify)
        )
        self._push(self._message_update("message_created", message))
        return {"message": self._json(message)}

    def _own_message(self, query: Mapping[str, str], bot: MaxBot) -> MaxMessage:
        mid = query.get("message_id")
        if not mid:
            raise MaxApiError(400, "proto.payload", "message_id is required")
        message = self.messages.get(mid)
        if message is None or message.deleted:
            raise MaxApiError(404, "not.found", "Message not found")
        chat = self._chat(str(message.chat_id), bot)
        if message.sender_id != bot.user_id:
            raise MaxApiError(403, "access.denied", "Not the bot's message")
        self._can(chat, bot, "write")
        return message

    def _edit(self, query: Mapping[str, str], body: Any, bot: MaxBot) -> Any:
        message = self._own_message(query, bot)
        text, fmt, raw_attachments = self._content(body, editing=True)
        # "attachments": null (or absent) keeps the media; [] removes it (platforms.md §4).
        attachments = (
            message.attachments if raw_attachments is None else self._attachments(raw_attachments)
        )
        if text is not None:
            message.raw_text, message.format = text, fmt
            message.text, message.markup = text, []
            if fmt == "html":
                message.text, message.markup, _ = parse_html(text)
            elif fmt == "markdown":
                message.text = _strip_markdown(text)
        if not message.text and not attachments:
            raise MaxApiError(400, "proto.payload", "Message must have text or attachments")
        message.attachments = attachments
        message.edits += 1
        self._push(self._message_update("message_edited", message))
        return {"success": True}

    def _delete(self, query: Mapping[str, str], bot: MaxBot) -> Any:
        message = self._own_message(query, bot)
        message.deleted = True
        self._touch()
        return {"success": True}

    def _list(self, query: Mapping[str, str], bot: MaxBot) -> Any:
        if "message_ids" in query:
            ids = query["message_ids"].split(",")
            found = [self.messages[m] for m in ids if m in self.messages]
            for message in found:
                self._chat(str(message.chat_id), bot)
            return {"messages": [self._json(m) for m in found if not m.deleted]}
        chat = self._chat(query.get("chat_id", ""), bot)
        count = _int(query, "count", 50)
        if not 1 <= count <= 100:
            raise MaxApiError(400, "proto.payload", "count must be between 1 and 100")
        since = _int(query, "from", None)
        until = _int(query, "to", None)
        found = [
            m
            for m in self.chat_messages(chat.chat_id)
            if (since is None or m.timestamp_ms >= since)
            and (until is None or m.timestamp_ms <= until)
        ]
        found.sort(key=lambda m: (m.timestamp_ms, m.seq), reverse=True)
        return {"messages": [self._json(m) for m in found[:count]]}

    def _new_upload(self, query: Mapping[str, str]) -> Any:
        kind = query.get("type")
        if kind not in UPLOAD_TYPES:
            raise MaxApiError(400, "proto.payload", "type must be image, video, audio or file")
        upload_id = secrets.token_hex(8)
        upload = MaxUpload(
            upload_id=upload_id,
            type=kind,
            token=secrets.token_urlsafe(24),
            not_ready_left=self.not_ready.get(kind, 0),
        )
        self.uploads[upload_id] = upload
        answer: dict[str, Any] = {"url": f"{self.base_url}/upload/{upload_id}"}
        if kind in ("video", "audio"):
            answer["token"] = upload.token
        return answer

    async def _updates(self, query: Mapping[str, str], bot: MaxBot) -> Any:
        limit = _int(query, "limit", 100)
        timeout = _int(query, "timeout", 30)
        if not 1 <= limit <= 1000 or not 0 <= timeout <= 90:
            raise MaxApiError(400, "proto.payload", "limit 1..1000, timeout 0..90")
        marker = _int(query, "marker", None)
        start = self.acknowledged if marker is None else marker
        if not 0 <= start <= len(self.updates):
            raise MaxApiError(400, "proto.payload", "Unknown marker")
        # A marker confirms everything before it (MAX forgets confirmed updates).
        self.acknowledged = max(self.acknowledged, start)
        types = set(query["types"].split(",")) if query.get("types") else None
        if start >= len(self.updates) and timeout > 0:
            changed = self._changed
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    await changed.wait()
        batch = self.updates[start : start + limit]
        chosen = [u for u in batch if types is None or u["update_type"] in types]
        return {"updates": chosen, "marker": start + len(batch)}

    # -- the upload host --------------------------------------------------------------------

    async def _handle_upload(self, request: web.Request) -> web.StreamResponse:
        route = f"{request.method} /upload"
        self.calls.append(
            RecordedCall(route, dict(request.query), None, request.headers.get("Authorization"))
        )
        fault = self._take_fault(route)
        if fault is not None:
            return await self._apply_fault(fault)
        upload = self.uploads.get(request.match_info["upload_id"])
        if request.method != "POST" or upload is None:
            return MaxApiError(404, "not.found", "Unknown upload").response()
        if "Authorization" in request.headers:
            # The bot token has no business at the upload host; a client that sends it there
            # leaks it to a third host.
            return MaxApiError(400, "proto.payload", "Unexpected Authorization").response()
        if not request.content_type.startswith("multipart/"):
            return MaxApiError(400, "proto.payload", "multipart/form-data expected").response()
        reader = await request.multipart()
        found = False
        while True:
            part = await reader.next()
            if part is None:
                break
            if not isinstance(part, BodyPartReader):
                continue
            if part.name != "data":
                return MaxApiError(400, "proto.payload", "the file field is `data`").response()
            upload.data = bytes(await part.read())
            upload.file_name = urllib.parse.unquote(part.filename or "")
            upload.content_type = part.headers.get("Content-Type", "")
            found = True
        if not found or not upload.data:
            return MaxApiError(400, "proto.payload", "No file in field `data`").response()
        upload.uploaded = True
        if upload.type == "image":
            photo_id = str(int(upload.upload_id, 16) % 10**9)
            return web.json_response({"photos": {photo_id: {"token": upload.token}}})
        if upload.type == "file":
            file_id = int(upload.upload_id, 16) % 10**9
            return web.json_response({"fileId": file_id, "token": upload.token})
        # Video and audio answer in XML; their token came with the upload URL.
        return web.Response(text="<retval>1</retval>", content_type="text/xml")

    async def _handle_file(self, request: web.Request) -> web.StreamResponse:
        upload = self.uploads.get(request.match_info["upload_id"])
        if upload is None or not upload.uploaded:
            return web.Response(status=404)
        return web.Response(
            body=upload.data, content_type=upload.content_type or "application/octet-stream"
        )


def _int(query: Mapping[str, str], name: str, default: int | None) -> Any:
    value = query.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise MaxApiError(400, "proto.payload", f"{name} must be an integer") from None


def _strip_markdown(text: str) -> str:
    for mark in ("**", "~~", "++", "^^", "`"):
        text = text.replace(mark, "")
    return html.unescape(text)
