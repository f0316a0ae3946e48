"""Telegram intake: long polling and the webhook, both storing into the inbox before confirming.

Polling asks getUpdates itself over plain HTTP (not aiogram's parser: one update it cannot parse
must not stop the batch), stores the whole batch in one short transaction, and only then asks
for `offset = last stored + 1`, which is what confirms the batch to Telegram. The webhook answers
200 only after storing. When the database cannot be written nothing is confirmed (Telegram keeps
updates for 24 hours), staff and the IT contacts are told once per outage by a direct send that
needs no database, and intake resumes by itself when writing works again.

`classify_update` looks at the raw dict only (cheap, before any parsing): channel posts of the
configured channels go first, staff next, strangers and unknown chats last.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import secrets
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

import aiohttp
from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crosspost.config import Settings
from crosspost.db import write_session
from crosspost.inbox import (
    LOW,
    NORMAL,
    URGENT,
    Inbox,
    InboxUnavailable,
    Incoming,
    describe_error,
)
from crosspost.queue import DeliveryRepository

logger = logging.getLogger(__name__)

SOURCE = "telegram"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
POLL_TIMEOUT_SECONDS = 30
POLL_LIMIT = 100
BACKOFF_START = timedelta(seconds=1)
BACKOFF_CAP = timedelta(seconds=30)
# A long poll unanswered this long means Telegram had nothing more for us (its answer would
# have arrived by now): intake is caught up to `now - CAUGHT_UP_GRACE`.
CAUGHT_UP_GRACE = timedelta(seconds=0.5)
# At most one outage alert in this period, however often writing flaps.
ALERT_EVERY = timedelta(minutes=15)
# A synthetic inbox item that flushes an album once all its items are handled.
ALBUM_KEY = "_crosspost_album"

JsonDict = dict[str, object]


class Kind(StrEnum):
    CHANNEL = "channel"  # a post or edit in a configured channel; an album flush
    STAFF = "staff"  # a message or button from staff (private chat or the staff chat)
    UNCLEAR = "unclear"  # a shape the raw look cannot judge: aiogram parses it (and may fail)
    STRANGER = "stranger"  # a private message or a button from someone not on staff
    IGNORED = "ignored"  # unconfigured chats, bots, update types nothing handles


PRIORITY = {
    Kind.CHANNEL: URGENT,
    Kind.STAFF: NORMAL,
    Kind.UNCLEAR: NORMAL,
    Kind.STRANGER: LOW,
    Kind.IGNORED: LOW,
}


@dataclass(frozen=True, kw_only=True)
class Verdict:
    kind: Kind
    update_type: str
    lane: str = ""
    # What must stay in order inside the lane (one channel message or album and its edits).
    key: str | None = None
    user_id: int | None = None
    chat_id: int | None = None
    group_key: str | None = None


@dataclass(frozen=True, kw_only=True)
class Rules:
    """Who is who, from the settings: configured channels, staff user ids, the staff chat."""

    channels: frozenset[int]
    staff: frozenset[int]
    staff_chat_id: int

    @classmethod
    def from_settings(cls, settings: Settings) -> Rules:
        return cls(
            channels=frozenset(
                a.telegram_channel_id
                for a in settings.accounts.values()
                if a.telegram_channel_id is not None
            ),
            staff=frozenset(settings.telegram.staff),
            staff_chat_id=settings.telegram.staff_chat_id,
        )


def _dict(value: object) -> Mapping[str, object] | None:
    return value if isinstance(value, dict) else None


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def album_group_key(chat_id: int, media_group_id: str) -> str:
    return f"{chat_id}:{media_group_id}"[:128]


def album_order_key(media_group_id: str) -> str:
    return f"a:{media_group_id}"


def album_flush_update(chat_id: int, media_group_id: str) -> Incoming:
    """The inbox item that publishes an album (retried and reported like any update)."""
    payload = {ALBUM_KEY: {"chat_id": chat_id, "media_group_id": media_group_id}}
    digest = hashlib.sha256(album_group_key(chat_id, media_group_id).encode()).hexdigest()
    return Incoming(
        external_id=f"album:{digest[:40]}",
        payload=json.dumps(payload),
        priority=URGENT,
        lane=f"chat:{chat_id}",
        key=album_order_key(media_group_id),
    )


def classify_update(update: Mapping[str, object], rules: Rules) -> Verdict:
    """Judge an update by its raw dict, never raising, whatever its shape."""
    kinds = [k for k in update if k != "update_id"]
    update_type = kinds[0] if kinds else ""
    body = _dict(update.get(update_type))
    if update_type == ALBUM_KEY and body is not None:
        chat_id = _int(body.get("chat_id"))
        group = body.get("media_group_id")
        return Verdict(
            kind=Kind.CHANNEL,
            update_type=update_type,
            lane=f"chat:{chat_id}",
            key=album_order_key(group) if isinstance(group, str) else None,
        )
    if body is None:
        return Verdict(kind=Kind.IGNORED, update_type=update_type)
    if update_type in ("channel_post", "edited_channel_post"):
        chat = _dict(body.get("chat"))
        chat_id = _int(chat.get("id")) if chat is not None else None
        if chat_id is None or chat_id not in rules.channels:
            return Verdict(kind=Kind.IGNORED, update_type=update_type, chat_id=chat_id)
        group = body.get("media_group_id")
        group_key = (
            album_group_key(chat_id, group)
            if isinstance(group, str) and update_type == "channel_post"
            else None
        )
        # A post and its edits stay in order; other posts of the channel may pass one that
        # waits for a retry. An album item's edit also waits for the album.
        message_id = _int(body.get("message_id"))
        if isinstance(group, str):
            key: str | None = album_order_key(group)
        else:
            key = f"m:{message_id}" if message_id is not None else None
        return Verdict(
            kind=Kind.CHANNEL,
            update_type=update_type,
            lane=f"chat:{chat_id}",
            key=key,
            chat_id=chat_id,
            group_key=group_key,
        )
    if update_type in ("message", "edited_message"):
        chat = _dict(body.get("chat"))
        sender = _dict(body.get("from"))
        chat_id = _int(chat.get("id")) if chat is not None else None
        user_id = _int(sender.get("id")) if sender is not None else None
        if chat is None or chat_id is None:
            return Verdict(kind=Kind.UNCLEAR, update_type=update_type)
        lane = f"chat:{chat_id}"
        private = chat.get("type") == "private"
        if not private and chat_id != rules.staff_chat_id:
            return Verdict(kind=Kind.IGNORED, update_type=update_type, chat_id=chat_id)
        if sender is not None and sender.get("is_bot") is True:
            return Verdict(kind=Kind.IGNORED, update_type=update_type, chat_id=chat_id)
        if user_id is None:
            return Verdict(kind=Kind.UNCLEAR, update_type=update_type, lane=lane, chat_id=chat_id)
        if user_id not in rules.staff:
            kind = Kind.STRANGER if private else Kind.IGNORED
            return Verdict(kind=kind, update_type=update_type, user_id=user_id, chat_id=chat_id)
        group = body.get("media_group_id")
        return Verdict(
            kind=Kind.STAFF,
            update_type=update_type,
            lane=lane,
            user_id=user_id,
            chat_id=chat_id,
            group_key=album_group_key(chat_id, group) if isinstance(group, str) else None,
        )
    if update_type == "callback_query":
        sender = _dict(body.get("from"))
        user_id = _int(sender.get("id")) if sender is not None else None
        if user_id is None:
            return Verdict(kind=Kind.UNCLEAR, update_type=update_type)
        if user_id not in rules.staff:
            return Verdict(kind=Kind.STRANGER, update_type=update_type, user_id=user_id)
        message = _dict(body.get("message"))
        chat = _dict(message.get("chat")) if message is not None else None
        chat_id = _int(chat.get("id")) if chat is not None else None
        lane = f"chat:{chat_id}" if chat_id is not None else f"user:{user_id}"
        return Verdict(
            kind=Kind.STAFF, update_type=update_type, lane=lane, user_id=user_id, chat_id=chat_id
        )
    return Verdict(kind=Kind.IGNORED, update_type=update_type)


# Given an update's verdict: True when nothing is to be done with it (an unconfigured chat, a
# stranger refused a moment ago), so it is stored as handled and never reaches the processor.
Triage = Callable[[Verdict], bool]


def to_incoming(raw: Mapping[str, object], rules: Rules, triage: Triage | None = None) -> Incoming:
    """The inbox item for one raw update: its id, its JSON, and where it goes in line."""
    verdict = classify_update(raw, rules)
    payload = json.dumps(raw, ensure_ascii=True, separators=(",", ":"))
    update_id = _int(raw.get("update_id"))
    external_id = (
        str(update_id)
        if update_id is not None
        else "noid:" + hashlib.sha256(payload.encode()).hexdigest()[:40]
    )
    return Incoming(
        external_id=external_id,
        payload=payload,
        priority=PRIORITY[verdict.kind],
        lane=verdict.lane,
        key=verdict.key,
        group_key=verdict.group_key,
        done=triage is not None and triage(verdict),
    )


class Refusals:
    """One polite refusal per non-staff user per period, not one per message."""

    def __init__(self, period: timedelta = timedelta(hours=1), max_users: int = 10_000) -> None:
        self.period = period.total_seconds()
        self.max_users = max_users
        self._last: dict[int, float] = {}

    def would_refuse(self, user_id: int, now: float | None = None) -> bool:
        """Whether `should_refuse` may say yes, without recording anything."""
        at = time.monotonic() if now is None else now
        last = self._last.get(user_id)
        return last is None or at - last >= self.period

    def should_refuse(self, user_id: int, now: float | None = None) -> bool:
        at = time.monotonic() if now is None else now
        last = self._last.get(user_id)
        if last is not None and at - last < self.period:
            return False
        if len(self._last) >= self.max_users:
            cutoff = at - self.period
            self._last = {u: t for u, t in self._last.items() if t >= cutoff}
            if len(self._last) >= self.max_users:
                return False  # a flood of fresh ids: stay quiet rather than grow
        self._last[user_id] = at
        return True


async def audit_refusal(
    sessionmaker: async_sessionmaker[AsyncSession], user_id: int, update_type: str, now: datetime
) -> None:
    """The audit line of a refusal (one short transaction, before the refusal is sent)."""
    async with write_session(sessionmaker, what="refusal audit") as session:
        await DeliveryRepository(session).audit(
            f"tg:{user_id}", "refused_not_staff", now, detail=update_type
        )


# -- direct sends that need no database ------------------------------------------------------

Send = Callable[[int, str], Awaitable[None]]


class BotApi:
    """The few raw Bot API calls intake makes. The URL holds the token: it is never logged."""

    def __init__(self, *, http: aiohttp.ClientSession, url: Callable[[str], str]) -> None:
        self.http = http
        self._url = url

    async def call(
        self, method: str, params: Mapping[str, object], *, seconds: float = 30.0
    ) -> tuple[int, JsonDict]:
        """POST a method; returns the HTTP status and the decoded body. Raises aiohttp
        ClientError, TimeoutError or ValueError (a body that is not JSON)."""
        async with self.http.post(
            self._url(method),
            json=dict(params),
            timeout=aiohttp.ClientTimeout(total=seconds),
        ) as response:
            body = await response.json(content_type=None, loads=json.loads)
            return response.status, body if isinstance(body, dict) else {}

    async def send_message(self, chat_id: int, text: str) -> None:
        """Plain text, no parse mode. Raises RuntimeError if Telegram refuses it."""
        try:
            status, body = await self.call("sendMessage", {"chat_id": chat_id, "text": text})
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise RuntimeError(f"sendMessage failed: {type(exc).__name__}") from None
        if status != 200 or body.get("ok") is not True:
            raise RuntimeError(f"sendMessage refused: {status} {body.get('description')}")


class OutageAlerter:
    """Tells staff and the IT contacts once per outage that the database cannot be written,
    and once more when it can again."""

    def __init__(
        self,
        *,
        send: Send,
        recipients: Sequence[int],
        down_text: Callable[[str], str],
        back_text: str,
        every: timedelta = ALERT_EVERY,
    ) -> None:
        self.send = send
        self.recipients = list(dict.fromkeys(recipients))
        self.down_text = down_text
        self.back_text = back_text
        self.every = every.total_seconds()
        self.down = False
        self._alerted = False
        self._last_alert: float | None = None
        self.alerts_sent = 0

    async def outage(self, reason: str) -> None:
        if self.down:
            return
        self.down = True
        logger.error("intake: the database cannot be written, updates not confirmed: %s", reason)
        now = time.monotonic()
        if self._last_alert is not None and now - self._last_alert < self.every:
            return
        self._last_alert = now
        self._alerted = await self._send_all(self.down_text(reason))

    async def recovered(self) -> None:
        if not self.down:
            return
        self.down = False
        logger.warning("intake: the database is writable again, intake resumed")
        if self._alerted:
            self._alerted = False
            await self._send_all(self.back_text)

    async def _send_all(self, text: str) -> bool:
        sent = False
        for chat_id in self.recipients:
            try:
                await self.send(chat_id, text)
            except Exception as exc:
                logger.error("intake alert to chat=%s not sent: %s", chat_id, describe_error(exc))
            else:
                sent = True
                self.alerts_sent += 1
        return sent


# -- long polling ----------------------------------------------------------------------------


class TelegramPoller:
    """getUpdates → store the batch → next offset. Runs until `stop()`."""

    def __init__(
        self,
        *,
        api: BotApi,
        inbox: Inbox,
        rules: Rules,
        alerter: OutageAlerter,
        allowed_updates: Iterable[str],
        timeout: int = POLL_TIMEOUT_SECONDS,
        triage: Triage | None = None,
    ) -> None:
        self.api = api
        self.inbox = inbox
        self.rules = rules
        self.triage = triage
        self.alerter = alerter
        self.allowed_updates = list(allowed_updates)
        self.timeout = timeout
        self.offset: int | None = None
        self._stop = asyncio.Event()
        self._backoff = BACKOFF_START
        # Loop times: when the getUpdates in flight was sent; when the last one that answered
        # with less than a full batch was sent (everything Telegram had then is stored).
        self._in_flight_since: float | None = None
        self._drained_at: float | None = None
        # Set after every stored batch: tests wait on it instead of sleeping.
        self.stored = asyncio.Event()

    def caught_up_at(self) -> float | None:
        """The loop time up to which every update Telegram had is stored (None: not known).
        An album is complete only once this passes its debounce."""
        best = self._drained_at
        since = self._in_flight_since
        if since is not None:
            now = asyncio.get_running_loop().time()
            grace = CAUGHT_UP_GRACE.total_seconds()
            if now - since >= grace:
                best = now - grace if best is None else max(best, now - grace)
        return best

    def stop(self) -> None:
        self._stop.set()

    async def _pause(self, delay: timedelta) -> None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(delay.total_seconds()):
                await self._stop.wait()

    async def _fail(self, what: str, retry_after: timedelta | None = None) -> None:
        delay = retry_after or self._backoff
        logger.warning("telegram getUpdates: %s; again in %.0f s", what, delay.total_seconds())
        self._backoff = min(self._backoff * 2, BACKOFF_CAP)
        await self._pause(delay)

    async def delete_webhook(self) -> None:
        """A webhook left from webhook mode would make getUpdates fail with 409; its pending
        updates are kept (no drop_pending_updates)."""
        try:
            await self.api.call("deleteWebhook", {"drop_pending_updates": False})
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            logger.warning("telegram deleteWebhook failed: %s", type(exc).__name__)

    async def run(self) -> None:
        await self.delete_webhook()
        while not self._stop.is_set():
            await self.poll_once()

    async def poll_once(self) -> int:
        """One getUpdates and its store; returns how many updates were stored (new or not)."""
        params: dict[str, object] = {
            "timeout": self.timeout,
            "limit": POLL_LIMIT,
            "allowed_updates": self.allowed_updates,
        }
        if self.offset is not None:
            params["offset"] = self.offset
        sent_at = asyncio.get_running_loop().time()
        request = asyncio.ensure_future(
            self.api.call("getUpdates", params, seconds=self.timeout + 15)
        )
        stopping = asyncio.ensure_future(self._stop.wait())
        self._in_flight_since = sent_at
        try:
            await asyncio.wait({request, stopping}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            self._in_flight_since = None
        stopping.cancel()
        if not request.done():
            # Nothing was received from this request, so nothing is lost by dropping it.
            request.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await request
            return 0
        try:
            status, body = request.result()
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            await self._fail(f"network error {type(exc).__name__}")
            return 0
        if status != 200 or body.get("ok") is not True:
            params_in = _dict(body.get("parameters"))
            retry = _int(params_in.get("retry_after")) if params_in is not None else None
            await self._fail(
                f"HTTP {status} {str(body.get('description'))[:200]}",
                timedelta(seconds=retry) if retry else None,
            )
            return 0
        result = body.get("result")
        updates = [u for u in result if isinstance(u, dict)] if isinstance(result, list) else []
        drained = not isinstance(result, list) or len(result) < POLL_LIMIT
        if not updates:
            self._backoff = BACKOFF_START
            if drained:
                self._drained_at = sent_at
            return 0
        items = [to_incoming(u, self.rules, self.triage) for u in updates]
        try:
            await self.inbox.store_many(SOURCE, items)
        except InboxUnavailable as exc:
            await self.alerter.outage(str(exc))
            await self._fail("inbox not writable, batch not confirmed")
            return 0
        ids = [i for u in updates if (i := _int(u.get("update_id"))) is not None]
        if ids:
            self.offset = max(ids) + 1
        if drained:
            self._drained_at = sent_at
        self._backoff = BACKOFF_START
        await self.alerter.recovered()
        self.stored.set()
        return len(items)


# -- webhook ---------------------------------------------------------------------------------


def build_webhook_app(
    *,
    path: str,
    secret: str,
    inbox: Inbox,
    rules: Rules,
    alerter: OutageAlerter,
    triage: Triage | None = None,
) -> web.Application:
    """An aiohttp app taking Telegram's POSTs on `path`: 401 without the right secret header,
    200 only once the update is stored, 503 when it cannot be (Telegram delivers it again)."""
    if not secret:
        raise ValueError("the webhook secret must not be empty")

    async def receive(request: web.Request) -> web.Response:
        given = request.headers.get(SECRET_HEADER, "")
        if not secrets.compare_digest(given.encode(), secret.encode()):
            return web.Response(status=401)
        try:
            raw = await request.json(loads=json.loads)
        except ValueError:
            logger.warning("telegram webhook: a body that is not JSON was refused")
            return web.Response(status=400)
        if not isinstance(raw, dict):
            return web.Response(status=400)
        try:
            await inbox.store_many(SOURCE, [to_incoming(raw, rules, triage)])
        except InboxUnavailable as exc:
            await alerter.outage(str(exc))
            return web.Response(status=503)
        await alerter.recovered()
        return web.json_response({})

    app = web.Application()
    app.router.add_post(path, receive)
    return app


def local_time(at: datetime | int | None, settings: Settings) -> str:
    """A time staff read: local, day and minute."""
    if isinstance(at, int):
        at = datetime.fromtimestamp(at, UTC)
    if at is None:
        return "?"
    return at.astimezone(settings.tz).strftime("%d.%m.%Y %H:%M")
