"""Publishing to one account's MAX channel: text as MAX html, photos/albums, video and files."""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from typing import ClassVar

from adapters.max.client import Json, JsonObject, MaxClient, Sleep
from adapters.max.errors import NOT_READY
from crosspost.errors import (
    AuthError,
    NeedsAttentionError,
    OutcomeUnknownError,
    PermanentError,
    PublishError,
    Reason,
    TransientError,
)
from crosspost.models import (
    Content,
    DeliveryRef,
    MediaItem,
    MediaKind,
    Notice,
    Platform,
    PublishResult,
    ReconcileOutcome,
    ReconcileResult,
    RemotePost,
)
from crosspost.publishing import Capabilities, CheckLine, MemoryUploadMemo, UploadMemo
from crosspost.richtext import RichText, SpanKind, render_telegram_html

logger = logging.getLogger(__name__)

MAX_TEXT_LENGTH = 4000
# Images per message are not documented (platforms.md §4); Telegram's album size is safe.
MAX_VISUAL_PER_MESSAGE = 10
MAX_IMAGE_SIZE = 50 * 1024 * 1024
MAX_VIDEO_SIZE = 250 * 1024 * 1024
MAX_AUDIO_SIZE = 256 * 1024 * 1024
MAX_FILE_SIZE = 4 * 1024 * 1024 * 1024
UPLOAD_TYPE: dict[MediaKind, str] = {
    MediaKind.PHOTO: "image",
    MediaKind.VIDEO: "video",
    MediaKind.ANIMATION: "video",
    MediaKind.DOCUMENT: "file",
    MediaKind.AUDIO: "audio",
}
SIZE_LIMIT = {
    "image": MAX_IMAGE_SIZE,
    "video": MAX_VIDEO_SIZE,
    "audio": MAX_AUDIO_SIZE,
    "file": MAX_FILE_SIZE,
}
# A fresh upload answers attachment.not.ready for a while: wait 1+2+4+8+16 s at most inside the
# call, then let the scheduler retry later (the upload is redone: nothing was posted yet).
NOT_READY_DELAYS = (1.0, 2.0, 4.0, 8.0, 16.0)
NOT_READY_RETRY_AFTER = timedelta(minutes=1)
RECONCILE_SLACK = timedelta(minutes=2)
# How long an upload token is reused by later attempts of the same delivery. MAX documents no
# lifetime; a token it no longer takes (attachment.invalid) is uploaded again anyway.
TOKEN_TTL = timedelta(hours=6)
INVALID_TOKEN = "attachment.invalid"
RECONCILE_MATCH_CHARS = 200
RECONCILE_COUNT = 100
# Rights the bot needs in the channel; MAX's schema names them write / edit / delete (older
# schema versions: edit_message / delete_message / post_edit_delete_message).
NEEDED_RIGHTS: dict[str, tuple[str, ...]] = {
    "write": ("write",),
    "edit": ("edit", "edit_message", "post_edit_delete_message"),
    "delete": ("delete", "delete_message", "post_edit_delete_message"),
}

MAX_CAPABILITIES = Capabilities(
    max_text_length=MAX_TEXT_LENGTH,
    max_caption_length=MAX_TEXT_LENGTH,
    max_media_per_post=MAX_VISUAL_PER_MESSAGE,
    max_file_size=MAX_FILE_SIZE,
    media_kinds=frozenset(UPLOAD_TYPE),
    can_edit=True,
    can_delete=True,
)

IsTaken = Callable[[str], Awaitable[bool]]


async def _nothing_taken(remote_id: str) -> bool:
    return False


@dataclass(frozen=True, kw_only=True)
class _Message:
    text: str
    attachments: tuple[MediaItem, ...]


@dataclass(frozen=True, kw_only=True)
class _Plan:
    messages: tuple[_Message, ...]
    notices: tuple[Notice, ...]


def render_max_html(
    rt: RichText, *, limit: int = MAX_TEXT_LENGTH, more_url: str | None = None
) -> tuple[str, bool]:
    """MAX html (`b i s u a pre code blockquote`): Telegram's rendering without what MAX lacks
    (spoilers, tg:// links). `limit` holds for the html string itself, markup included, since
    MAX checks the raw text. Returns (html, truncated)."""
    spans = tuple(
        s
        for s in rt.spans
        if s.kind is not SpanKind.SPOILER
        and not (s.kind in (SpanKind.LINK, SpanKind.MENTION) and (s.url or "").startswith("tg:"))
    )
    clean = replace(rt, spans=spans)
    budget = limit
    while True:
        rendered = render_telegram_html(clean, limit=budget, more_url=more_url)
        if len(rendered.text) <= limit or budget <= 1:
            return rendered.text[:limit], rendered.truncated
        budget -= max(len(rendered.text) - limit, 1)


class _Visible(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def visible_text(markup: str) -> str:
    parser = _Visible()
    parser.feed(markup)
    parser.close()
    return "".join(parser.parts)


class MaxPublisher:
    """One account's MAX channel. Implements crosspost.publishing.Publisher."""

    platform: ClassVar[Platform] = Platform.MAX

    def __init__(
        self,
        *,
        account: str,
        chat_id: int,
        client: MaxClient,
        capabilities: Capabilities = MAX_CAPABILITIES,
        sleep: Sleep = asyncio.sleep,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        is_taken: IsTaken = _nothing_taken,
        memo: UploadMemo | None = None,
    ) -> None:
        self.account = account
        self.chat_id = chat_id
        self.client = client
        self.capabilities = capabilities
        self._sleep = sleep
        self._now = now
        # Whether a message id is already recorded for some delivery (wired to the ledger):
        # reconcile never adopts such a message for another delivery.
        self.is_taken = is_taken
        # Upload tokens and the messages of a split post already out, between attempts.
        self.memo: UploadMemo = memo or MemoryUploadMemo()
        self._bot_id: int | None = None
        # The media each message was sent with (this process only), so an edit knows whether
        # the media changed; unknown after a restart, when the count decides.
        self._sent_media: dict[str, tuple[str, ...]] = {}

    # -- publishing ---------------------------------------------------------------------------

    async def publish(self, delivery: DeliveryRef, content: Content) -> PublishResult:
        """Upload the media, then send the message(s). Upload tokens and the messages of a
        split post already sent are remembered between attempts: a retry uploads only what is
        missing and sends only the messages not out yet; until all are out the delivery is not
        published (the error is raised). Raises TransientError (nothing more posted),
        OutcomeUnknownError (a send left without an answer), PermanentError, AuthError."""
        plan = self._plan(content)
        memo = await self.memo.recall(delivery.delivery_id, self._now())
        notices = list(plan.notices)
        sent: list[str] = []
        url: str | None = None
        for index, message in enumerate(plan.messages):
            done = _parse_sent(memo.get(_message_key(index)))
            if done is not None:
                sent.append(done[0])
                url = done[1] if index == 0 else url
                continue
            try:
                answer = await self._send(delivery, index, message, memo)
            except PublishError as exc:
                if not sent or _resumable(exc):
                    if sent:
                        logger.warning(
                            "delivery=%s account=%s platform=max part %d of %d not out yet: %s",
                            delivery.delivery_id,
                            self.account,
                            index + 1,
                            len(plan.messages),
                            exc,
                        )
                    raise
                # Retrying cannot help (MAX refused this part): the post stays as it is.
                notices.append(Notice.MEDIA_DROPPED)
                break
            mid, message_url = _message_ids(answer)
            if mid is None:
                raise OutcomeUnknownError(
                    "MAX POST /messages answered without a message id",
                    platform=Platform.MAX,
                    account=self.account,
                )
            sent.append(mid)
            self._sent_media[mid] = tuple(m.sha256 for m in message.attachments)
            if index == 0:
                url = message_url
            if len(plan.messages) > 1:
                await self.memo.remember(
                    delivery.delivery_id, {_message_key(index): json.dumps([mid, message_url])}
                )
        logger.info(
            "MAX message sent delivery=%s account=%s platform=max mid=%s parts=%d",
            delivery.delivery_id,
            self.account,
            sent[0],
            len(sent) - 1,
        )
        await self.memo.forget(delivery.delivery_id)
        remote = self._remote(sent[0], url, tuple(sent[1:]))
        return PublishResult(remote=remote, notices=tuple(dict.fromkeys(notices)))

    async def _tokens(
        self,
        delivery: DeliveryRef,
        index: int,
        message: _Message,
        memo: Mapping[str, str],
    ) -> tuple[list[str], bool]:
        """Upload tokens of the message's media, in order, and whether any was remembered."""
        tokens: list[str] = []
        reused = False
        for position, item in enumerate(message.attachments):
            key = _upload_key(index, position, item)
            token = memo.get(key)
            if token is None:
                token = await self.client.upload(UPLOAD_TYPE[item.kind], item)
                await self.memo.remember(
                    delivery.delivery_id, {key: token}, expires_at=self._now() + TOKEN_TTL
                )
            else:
                reused = True
            tokens.append(token)
        return tokens, reused

    async def _send(
        self,
        delivery: DeliveryRef,
        index: int,
        message: _Message,
        memo: Mapping[str, str],
    ) -> JsonObject:
        tokens, reused = await self._tokens(delivery, index, message, memo)
        try:
            return await self._post(message, tokens)
        except PermanentError as exc:
            if not (reused and exc.code == INVALID_TOKEN):
                raise
        # A remembered token MAX no longer takes: nothing was sent, so upload again.
        logger.info(
            "delivery=%s account=%s platform=max upload tokens refused: uploading again",
            delivery.delivery_id,
            self.account,
        )
        keys = [_upload_key(index, n, item) for n, item in enumerate(message.attachments)]
        await self.memo.forget(delivery.delivery_id, keys)
        tokens, _ = await self._tokens(delivery, index, message, {})
        return await self._post(message, tokens)

    async def _post(self, message: _Message, tokens: Sequence[str]) -> JsonObject:
        attachments: list[Json] = [
            {"type": UPLOAD_TYPE[item.kind], "payload": {"token": token}}
            for item, token in zip(message.attachments, tokens, strict=True)
        ]
        body: JsonObject = {"notify": True, "format": "html"}
        if message.text:
            body["text"] = message.text
        if attachments:
            body["attachments"] = attachments
        for delay in (*NOT_READY_DELAYS, None):
            try:
                return await self.client.send(self.chat_id, body)
            except TransientError as exc:
                if exc.code != NOT_READY:
                    raise
                if delay is None:
                    raise TransientError(
                        "MAX is still processing the uploaded media",
                        retry_after=NOT_READY_RETRY_AFTER,
                        platform=Platform.MAX,
                        account=self.account,
                        code=NOT_READY,
                        reason=Reason.PLATFORM_DOWN,
                    ) from exc
                await self._sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover

    def _plan(self, content: Content) -> _Plan:
        notices: list[Notice] = []
        usable: list[MediaItem] = []
        for item in content.media:
            if item.missing:
                continue
            if item.size > SIZE_LIMIT[UPLOAD_TYPE[item.kind]]:
                notices.append(Notice.MEDIA_DROPPED)
                continue
            usable.append(item)
        visual = [m for m in usable if UPLOAD_TYPE[m.kind] in ("image", "video")]
        alone = [m for m in usable if UPLOAD_TYPE[m.kind] in ("audio", "file")]
        text_rt = content.text
        if any(m.missing for m in content.media):
            notices.append(Notice.MEDIA_AS_LINK)
            if content.original_url and content.original_url not in text_rt.text:
                separator = "\n\n" if text_rt.text.strip() else ""
                text_rt = RichText(
                    text=text_rt.text + separator + content.original_url, spans=text_rt.spans
                )
        text, truncated = render_max_html(text_rt, more_url=content.original_url)
        if truncated:
            notices.append(Notice.TEXT_TRUNCATED)
        groups: list[tuple[MediaItem, ...]] = [
            tuple(visual[i : i + MAX_VISUAL_PER_MESSAGE])
            for i in range(0, len(visual), MAX_VISUAL_PER_MESSAGE)
        ]
        groups.extend((item,) for item in alone)
        if len(visual) > MAX_VISUAL_PER_MESSAGE:
            notices.append(Notice.MEDIA_SPLIT)
        if not groups:
            if not text.strip():
                raise PermanentError(
                    "nothing to post: no text and no media MAX can take",
                    platform=Platform.MAX,
                    account=self.account,
                    reason=Reason.MEDIA_REJECTED,
                )
            return _Plan(messages=(_Message(text=text, attachments=()),), notices=tuple(notices))
        messages = [
            _Message(text=text if index == 0 else "", attachments=group)
            for index, group in enumerate(groups)
        ]
        return _Plan(messages=tuple(messages), notices=tuple(dict.fromkeys(notices)))

    # -- edit, delete -------------------------------------------------------------------------

    async def edit(self, remote: RemotePost, content: Content) -> PublishResult:
        """PUT /messages on the first message: new text; media replaced only when it changed
        (`"attachments": null` keeps what the message shows, `[]` would wipe it)."""
        plan = self._plan(content)
        first = plan.messages[0]
        body: JsonObject = {"text": first.text, "format": "html", "notify": True}
        wanted = tuple(m.sha256 for m in first.attachments)
        known = self._sent_media.get(remote.remote_id)
        if known is not None:
            changed = known != wanted
        else:
            changed = await self._current_attachment_count(remote.remote_id) != len(wanted)
        if changed and not wanted and not any(m.missing for m in content.media):
            body["attachments"] = []  # the media was taken out of the post
        elif changed and wanted:
            attachments: list[Json] = []
            for item in first.attachments:
                kind = UPLOAD_TYPE[item.kind]
                token = await self.client.upload(kind, item)
                attachments.append({"type": kind, "payload": {"token": token}})
            body["attachments"] = attachments
        else:
            body["attachments"] = None
        try:
            await self.client.edit(remote.remote_id, body, chat_id=self.chat_id)
        except PermanentError as exc:
            if exc.reason is Reason.NOT_FOUND:
                raise PermanentError(
                    "the MAX message is gone",
                    platform=Platform.MAX,
                    account=self.account,
                    code=exc.code,
                    reason=Reason.NOT_FOUND,
                ) from exc
            raise
        self._sent_media[remote.remote_id] = wanted if changed else known or wanted
        return PublishResult(remote=remote, notices=plan.notices)

    async def _current_attachment_count(self, mid: str) -> int | None:
        try:
            answer = await self.client.call("GET", f"/messages/{mid}")
        except PermanentError:
            return None
        body = answer.get("body")
        attachments = body.get("attachments") if isinstance(body, dict) else None
        return len(attachments) if isinstance(attachments, list) else 0

    async def delete(self, remote: RemotePost) -> None:
        """DELETE /messages for the message and its parts; one already gone counts as deleted."""
        for mid in (remote.remote_id, *remote.parts):
            try:
                await self.client.delete(mid)
            except PermanentError as exc:
                if exc.reason is not Reason.NOT_FOUND:
                    raise

    # -- reconcile ----------------------------------------------------------------------------

    async def reconcile(self, delivery: DeliveryRef, content: Content) -> ReconcileResult:
        """Read the channel's recent messages (GET /messages) and look for the bot's message
        with this text sent since the attempt started; a message already recorded for another
        delivery is never adopted."""
        started = delivery.last_attempt_at
        if started is None:
            return _cannot_tell("the attempt time is unknown")
        plan = self._plan(content)
        memo = await self.memo.recall(delivery.delivery_id, self._now())
        if _parse_sent(memo.get(_message_key(0))) is not None:
            return await self._reconcile_rest(delivery, plan, memo, started)
        first = plan.messages[0]
        expected = _normalise(visible_text(first.text))
        expected_media = len(first.attachments)
        if not expected and not expected_media:
            return _cannot_tell("nothing to match")
        # Without text only the attempt's own upload tokens identify the message, never the
        # count of its attachments.
        want_tokens = [
            memo.get(_upload_key(0, n, item)) for n, item in enumerate(first.attachments)
        ]
        if not expected and any(token is None for token in want_tokens):
            return _cannot_tell("a message without text, and its upload tokens are not known")
        try:
            bot_id = await self._bot_user_id()
            listed = await self.client.messages(self.chat_id, count=RECONCILE_COUNT)
        except (TransientError, AuthError):
            raise
        except PublishError as exc:
            return _cannot_tell(f"cannot read the channel: {exc.message} [{exc.code}]")
        since_ms = int((started - RECONCILE_SLACK).timestamp() * 1000)
        matches: list[tuple[str, str | None]] = []
        oldest_ms: int | None = None
        for message in listed:
            stamp = message.get("timestamp")
            if isinstance(stamp, int):
                oldest_ms = stamp if oldest_ms is None else min(oldest_ms, stamp)
            if not isinstance(stamp, int) or stamp < since_ms:
                continue
            sender = message.get("sender")
            if not isinstance(sender, dict) or sender.get("user_id") != bot_id:
                continue
            mid, url = _message_ids({"message": message})
            body = message.get("body")
            if mid is None or not isinstance(body, dict):
                continue
            text = body.get("text")
            attachments = body.get("attachments")
            count = len(attachments) if isinstance(attachments, list) else 0
            same_text = (
                _normalise(text if isinstance(text, str) else "")[:RECONCILE_MATCH_CHARS]
                == expected[:RECONCILE_MATCH_CHARS]
            )
            if not expected and _attachment_tokens(attachments) != want_tokens:
                continue
            if same_text and count == expected_media and not await self.is_taken(mid):
                matches.append((mid, url))
        if len(matches) == 1:
            mid, url = matches[0]
            if len(plan.messages) > 1:
                # The first message of a split post is there: its answer was lost, so no later
                # part was ever sent. Remembered, the next attempt sends only the rest.
                await self.memo.remember(
                    delivery.delivery_id, {_message_key(0): json.dumps([mid, url])}
                )
                return ReconcileResult(
                    outcome=ReconcileOutcome.NOT_FOUND,
                    detail="the first message is there; the later parts are not",
                )
            await self.memo.forget(delivery.delivery_id)
            return ReconcileResult(outcome=ReconcileOutcome.FOUND, remote=self._remote(mid, url))
        if len(matches) > 1:
            return _cannot_tell(f"{len(matches)} messages match: a person must choose")
        covered = len(listed) < RECONCILE_COUNT or (oldest_ms is not None and oldest_ms < since_ms)
        if covered:
            return ReconcileResult(
                outcome=ReconcileOutcome.NOT_FOUND,
                detail=f"{len(listed)} message(s) read, none matches",
            )
        return _cannot_tell("the channel has more messages since the attempt than one read shows")

    async def _reconcile_rest(
        self,
        delivery: DeliveryRef,
        plan: _Plan,
        memo: Mapping[str, str],
        started: datetime,
    ) -> ReconcileResult:
        """The first message of a split post is out (remembered): look for the later ones not
        remembered yet by their very upload tokens, never by the count alone. All there:
        FOUND; one not there in a read that covers the time: NOT_FOUND (the next attempt sends
        only the rest); anything else CANNOT_TELL."""
        try:
            bot_id = await self._bot_user_id()
            listed = await self.client.messages(self.chat_id, count=RECONCILE_COUNT)
        except (TransientError, AuthError):
            raise
        except PublishError as exc:
            return _cannot_tell(f"cannot read the channel: {exc.message} [{exc.code}]")
        since_ms = int((started - RECONCILE_SLACK).timestamp() * 1000)
        stamps = [m.get("timestamp") for m in listed]
        ints = [t for t in stamps if isinstance(t, int)]
        covered = len(listed) < RECONCILE_COUNT or (bool(ints) and min(ints) < since_ms)
        first = _parse_sent(memo.get(_message_key(0)))
        if first is None:
            return _cannot_tell("the first message is not known")
        sent = [first[0]]
        for index, message in enumerate(plan.messages[1:], start=1):
            done = _parse_sent(memo.get(_message_key(index)))
            if done is not None:
                sent.append(done[0])
                continue
            keys = [_upload_key(index, n, item) for n, item in enumerate(message.attachments)]
            want = [memo.get(key) for key in keys]
            if not want or any(token is None for token in want):
                return _cannot_tell(f"part {index + 1}: its upload tokens are not known")
            matches: list[str] = []
            unreadable = 0
            for listed_message in listed:
                stamp = listed_message.get("timestamp")
                sender = listed_message.get("sender")
                body = listed_message.get("body")
                if not isinstance(stamp, int) or stamp < since_ms or not isinstance(body, dict):
                    continue
                if not isinstance(sender, dict) or sender.get("user_id") != bot_id:
                    continue
                mid = body.get("mid")
                if not isinstance(mid, str) or _normalise(str(body.get("text") or "")):
                    continue
                tokens = _attachment_tokens(body.get("attachments"))
                if tokens is None:
                    unreadable += 1
                elif tokens == want and not await self.is_taken(mid):
                    matches.append(mid)
            if len(matches) == 1:
                sent.append(matches[0])
                await self.memo.remember(
                    delivery.delivery_id, {_message_key(index): json.dumps([matches[0], None])}
                )
                continue
            if matches:
                return _cannot_tell(f"{len(matches)} messages carry part {index + 1}'s media")
            if unreadable or not covered:
                return _cannot_tell(f"part {index + 1}: the channel read cannot tell")
            return ReconcileResult(
                outcome=ReconcileOutcome.NOT_FOUND,
                detail=f"the first message is out; part {index + 1} is not",
            )
        await self.memo.forget(delivery.delivery_id)
        return ReconcileResult(
            outcome=ReconcileOutcome.FOUND,
            remote=self._remote(sent[0], first[1], tuple(sent[1:])),
        )

    async def _bot_user_id(self) -> int | None:
        if self._bot_id is None:
            me = await self.client.me()
            user_id = me.get("user_id")
            self._bot_id = user_id if isinstance(user_id, int) else None
        return self._bot_id

    # -- account ------------------------------------------------------------------------------

    async def post_views(self, remote_ids: Sequence[str]) -> dict[str, int]:
        """Views of the channel's posts (GET /messages?message_ids=…, `stat.views`), for the
        statistics' reach (issue 10)."""
        if not remote_ids:
            return {}
        answer = await self.client.call(
            "GET", "/messages", query={"message_ids": ",".join(remote_ids)}
        )
        listed = answer.get("messages")
        views: dict[str, int] = {}
        for message in listed if isinstance(listed, list) else []:
            body = message.get("body") if isinstance(message, dict) else None
            stat = message.get("stat") if isinstance(message, dict) else None
            mid = body.get("mid") if isinstance(body, dict) else None
            count = stat.get("views") if isinstance(stat, dict) else None
            if isinstance(mid, str) and isinstance(count, int) and not isinstance(count, bool):
                views[mid] = count
        return views

    async def subscriber_count(self) -> int:
        """The channel's participants_count (GET /chats/{id})."""
        answer = await self.client.chat(self.chat_id)
        count = answer.get("participants_count")
        if isinstance(count, int) and not isinstance(count, bool):
            return count
        raise TransientError(
            "MAX GET /chats: no participants_count",
            platform=Platform.MAX,
            account=self.account,
            reason=Reason.PLATFORM_DOWN,
        )

    async def check(self) -> list[CheckLine]:
        """The token (GET /me), the channel (GET /chats/{id}) and the bot's rights in it
        (GET /chats/{id}/members/me), as CheckLines with codes max.*."""
        try:
            me = await self.client.me()
        except PublishError as exc:
            code = "max.token.invalid" if isinstance(exc, AuthError) else "max.api.unreachable"
            return [_check_failed(code, "GET /me", exc)]
        lines = [
            CheckLine(
                ok=True,
                code="max.token.ok",
                detail=f"bot {me.get('username') or me.get('name')} ({me.get('user_id')})",
            )
        ]
        try:
            chat = await self.client.chat(self.chat_id)
        except PublishError as exc:
            code = {
                Reason.NO_RIGHTS: "max.chat.not_member",
                Reason.CONFIG: "max.chat.not_found",
                Reason.NOT_FOUND: "max.chat.not_found",
            }.get(exc.reason, "max.chat.error")
            lines.append(_check_failed(code, f"chat {self.chat_id}", exc))
            return lines
        lines.append(
            CheckLine(
                ok=True,
                code="max.chat.ok",
                detail=(
                    f"{chat.get('type')} {chat.get('title')!r}: "
                    f"{chat.get('participants_count')} participants"
                ),
            )
        )
        try:
            member = await self.client.membership(self.chat_id)
        except PublishError as exc:
            lines.append(_check_failed("max.rights.unknown", "members/me", exc))
            return lines
        granted = member.get("permissions")
        rights = {p for p in granted if isinstance(p, str)} if isinstance(granted, list) else set()
        missing = [
            name for name, aliases in NEEDED_RIGHTS.items() if not rights.intersection(aliases)
        ]
        if member.get("is_admin") is not True:
            lines.append(
                CheckLine(ok=False, code="max.rights.not_admin", detail="the bot is no admin")
            )
        elif missing:
            lines.append(
                CheckLine(
                    ok=False, code="max.rights.missing", detail=f"missing: {', '.join(missing)}"
                )
            )
        else:
            lines.append(CheckLine(ok=True, code="max.rights.ok", detail="write, edit, delete"))
        return lines

    # -- helpers ------------------------------------------------------------------------------

    def _remote(self, mid: str, url: str | None, parts: tuple[str, ...] = ()) -> RemotePost:
        return RemotePost(
            platform=Platform.MAX, account=self.account, remote_id=mid, url=url, parts=parts
        )


def _message_ids(answer: JsonObject) -> tuple[str | None, str | None]:
    message = answer.get("message")
    if not isinstance(message, dict):
        return None, None
    body = message.get("body")
    mid = body.get("mid") if isinstance(body, dict) else None
    url = message.get("url")
    return (
        mid if isinstance(mid, str) and mid else None,
        url if isinstance(url, str) and url else None,
    )


def _message_key(index: int) -> str:
    return f"message:{index}"


def _upload_key(index: int, position: int, item: MediaItem) -> str:
    return f"upload:{index}:{position}:{UPLOAD_TYPE[item.kind]}:{item.sha256}"


def _parse_sent(value: str | None) -> tuple[str, str | None] | None:
    """A remembered message: (mid, url)."""
    if value is None:
        return None
    try:
        mid, url = json.loads(value)
    except (ValueError, TypeError):
        return None
    if not isinstance(mid, str) or not mid:
        return None
    return mid, url if isinstance(url, str) else None


def _attachment_tokens(raw: Json) -> list[str | None] | None:
    """The upload tokens a read-back message shows, in order; None when some attachment
    shows none (then it cannot be identified)."""
    if not isinstance(raw, list):
        return []
    tokens: list[str | None] = []
    for item in raw:
        payload = item.get("payload") if isinstance(item, dict) else None
        token = payload.get("token") if isinstance(payload, dict) else None
        if not isinstance(token, str) or not token:
            return None
        tokens.append(token)
    return tokens


def _resumable(exc: PublishError) -> bool:
    """A later part's error after which the rest is sent later (not given up on)."""
    if isinstance(exc, TransientError | OutcomeUnknownError):
        return True
    return isinstance(exc, NeedsAttentionError) and exc.pause_account


def _check_failed(code: str, what: str, exc: PublishError) -> CheckLine:
    return CheckLine(ok=False, code=code, detail=f"{what}: {exc.message} [{exc.code or '-'}]")


def _cannot_tell(detail: str) -> ReconcileResult:
    return ReconcileResult(outcome=ReconcileOutcome.CANNOT_TELL, detail=detail)


_SPACES = re.compile(r"\s+")


def _normalise(text: str) -> str:
    return _SPACES.sub(" ", text).strip()


__all__ = ["MAX_CAPABILITIES", "MaxPublisher", "render_max_html", "visible_text"]
