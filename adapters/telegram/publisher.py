"""Publishing to one account's Telegram channel through the Bot API (aiogram)."""

from __future__ import annotations

import contextlib
import logging
import math
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError
from aiogram.methods import (
    SendAnimation,
    SendAudio,
    SendDocument,
    SendPhoto,
    SendVideo,
    TelegramMethod,
)
from aiogram.types import (
    ChatMemberAdministrator,
    ChatMemberOwner,
    FSInputFile,
    InputMediaAudio,
    InputMediaDocument,
    InputMediaLivePhoto,
    InputMediaPhoto,
    InputMediaVideo,
    Message,
)

from adapters.telegram.errors import DELETE_NOT_FOUND, classify, describes
from crosspost.errors import (
    AuthError,
    OutcomeUnknownError,
    PermanentError,
    PublishError,
    Reason,
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
from crosspost.publishing import Capabilities, CheckLine, ThrottleFactory
from crosspost.richtext import RichText, render_telegram_html, utf16_len

logger = logging.getLogger(__name__)

T = TypeVar("T")

MAX_TEXT_LENGTH = 4096
MAX_CAPTION_LENGTH = 1024
MAX_ALBUM_SIZE = 10
# Uploads get the session timeout plus this much time per byte, so a 50 MB video on a slow
# line is not cut off by the 60 s meant for plain calls.
UPLOAD_BYTES_PER_SECOND = 128 * 1024

TELEGRAM_CAPABILITIES = Capabilities(
    max_text_length=MAX_TEXT_LENGTH,
    max_caption_length=MAX_CAPTION_LENGTH,
    max_media_per_post=MAX_ALBUM_SIZE,
    max_file_size=50 * 1024 * 1024,
    media_kinds=frozenset(MediaKind),
    can_edit=True,
    can_delete=True,
)

_InputMedia = (
    InputMediaAudio | InputMediaDocument | InputMediaLivePhoto | InputMediaPhoto | InputMediaVideo
)


class _NotModified(Exception):
    """Telegram's "message is not modified": the edit is already in place."""


@dataclass
class _Step:
    """One API call of a publication: a text message, one media message or an album."""

    media: list[MediaItem] = field(default_factory=list)
    html: str | None = None  # message text, or the caption of the first media item


@dataclass
class _Plan:
    steps: list[_Step]
    notices: list[Notice]


def _family(kind: MediaKind) -> str:
    # sendMediaGroup mixes photos and videos; documents and audio only group with their own
    # kind; animations cannot be in an album at all.
    if kind in {MediaKind.PHOTO, MediaKind.VIDEO}:
        return "visual"
    return str(kind)


def album_groups(media: Sequence[MediaItem]) -> list[list[MediaItem]]:
    """Split media, in order, into sendable groups of 1-10 items of compatible kinds."""
    groups: list[list[MediaItem]] = []
    for item in media:
        last = groups[-1] if groups else None
        if (
            last is not None
            and item.kind is not MediaKind.ANIMATION
            and _family(last[0].kind) == _family(item.kind)
            and len(last) < MAX_ALBUM_SIZE
        ):
            last.append(item)
        else:
            groups.append([item])
    return groups


def _with_link(text: RichText, url: str | None) -> RichText:
    if not url or url in text.text:
        return text
    separator = "\n\n" if text.text.strip() else ""
    return RichText(text=text.text + separator + url, spans=text.spans)


def channel_post_url(chat_id: int, message_id: int, username: str | None) -> str:
    if username:
        return f"https://t.me/{username.lstrip('@')}/{message_id}"
    internal = str(chat_id).removeprefix("-100") if str(chat_id).startswith("-100") else None
    return f"https://t.me/c/{internal or abs(chat_id)}/{message_id}"


class TelegramPublisher:
    """One account's channel. Text goes as HTML with parse_mode="HTML" stated on every call."""

    platform = Platform.TELEGRAM
    capabilities = TELEGRAM_CAPABILITIES

    def __init__(
        self,
        *,
        account: str,
        chat_id: int,
        bot: Bot,
        throttle: ThrottleFactory,
        channel_username: str | None = None,
    ) -> None:
        self.account = account
        self.chat_id = chat_id
        self.channel_username = channel_username
        self._bot = bot
        self._throttle = throttle

    # ------------------------------------------------------------------ Publisher

    async def publish(self, delivery: DeliveryRef, content: Content) -> PublishResult:
        """Send the post: media (albums of up to 10), caption or a follow-up text message.

        Raises TransientError, OutcomeUnknownError, PermanentError (see errors.classify). If a
        later part fails after earlier ones went out, the earlier ones are deleted first so a
        retry cannot duplicate them; if that is impossible the outcome is reported unknown.
        """
        plan = self._plan(content)
        if not plan.steps:
            raise PermanentError(
                "nothing to publish: no text and no media that could be fetched",
                platform=Platform.TELEGRAM,
                account=self.account,
                reason=Reason.BAD_REQUEST,
            )
        sent: list[int] = []
        try:
            for step in plan.steps:
                sent.extend(await self._send_step(step))
        except PublishError as error:
            if sent:
                await self._undo_partial(sent, error)
            raise
        logger.info(
            "delivery=%s account=%s platform=telegram published message_ids=%s",
            delivery.delivery_id,
            self.account,
            sent,
        )
        return PublishResult(remote=self._remote(sent), notices=tuple(plan.notices))

    async def edit(self, remote: RemotePost, content: Content) -> PublishResult:
        """Replace the text (message text or caption); media stay as they are.

        The layout is the one publish chose for the same media: with N media messages, N+1
        ids mean the text went as its own last message. "Not modified" counts as success.
        """
        ids = self._ids(remote)
        media_count = sum(1 for m in content.media if not m.missing)
        link = content.original_url if media_count < len(content.media) else None
        text = _with_link(content.text, link)
        notices: list[Notice] = []
        if media_count and len(ids) == media_count:
            rendered = render_telegram_html(
                text, limit=MAX_CAPTION_LENGTH, more_url=content.original_url
            )
            await self._edit(
                lambda: self._bot.edit_message_caption(
                    chat_id=self.chat_id,
                    message_id=ids[0],
                    caption=rendered.text,
                    parse_mode="HTML",
                )
            )
        else:
            target = ids[-1] if media_count else ids[0]
            if media_count and not text.text.strip():
                await self._delete_ids([target])
                return PublishResult(remote=self._remote(ids[:-1]))
            rendered = render_telegram_html(
                text, limit=MAX_TEXT_LENGTH, more_url=content.original_url
            )
            await self._edit(
                lambda: self._bot.edit_message_text(
                    chat_id=self.chat_id,
                    message_id=target,
                    text=rendered.text,
                    parse_mode="HTML",
                )
            )
        if rendered.truncated:
            notices.append(Notice.TEXT_TRUNCATED)
        return PublishResult(remote=remote, notices=tuple(notices))

    async def delete(self, remote: RemotePost) -> None:
        """Delete every message of the post. Already gone counts as deleted.

        Raises UnsupportedError when Telegram refuses (posts older than 48 hours).
        """
        await self._delete_ids(self._ids(remote))

    async def reconcile(self, delivery: DeliveryRef, content: Content) -> ReconcileResult:
        """Always CANNOT_TELL: the Bot API has no idempotency key, bots cannot read a
        channel's history, and the bot's own posts never come back as updates."""
        return ReconcileResult(
            outcome=ReconcileOutcome.CANNOT_TELL,
            detail=(
                "Telegram has no idempotency key and bots cannot read channel history; "
                "look at the channel"
            ),
        )

    async def subscriber_count(self) -> int:
        return await self._call(
            lambda: self._bot.get_chat_member_count(chat_id=self.chat_id),
            sending=False,
            read=True,
        )

    async def check(self) -> list[CheckLine]:
        """Token, channel and the bot's admin rights in it."""
        lines: list[CheckLine] = []
        try:
            me = await self._call(self._bot.get_me, sending=False, read=True)
        except AuthError as exc:
            return [CheckLine(ok=False, code="telegram_token_invalid", detail=str(exc))]
        except PublishError as exc:
            return [CheckLine(ok=False, code="telegram_unreachable", detail=str(exc))]
        lines.append(CheckLine(ok=True, code="telegram_token_ok", detail=f"bot @{me.username}"))
        try:
            chat = await self._call(
                lambda: self._bot.get_chat(self.chat_id), sending=False, read=True
            )
            member = await self._call(
                lambda: self._bot.get_chat_member(self.chat_id, me.id), sending=False, read=True
            )
        except PublishError as exc:
            lines.append(CheckLine(ok=False, code="telegram_channel_not_found", detail=str(exc)))
            return lines
        lines.append(CheckLine(ok=True, code="telegram_channel_ok", detail=chat.title or ""))
        if chat.type != "channel":
            lines.append(
                CheckLine(ok=False, code="telegram_not_a_channel", detail=f"type {chat.type}")
            )
        if isinstance(member, ChatMemberOwner):
            lines.append(CheckLine(ok=True, code="telegram_bot_admin", detail="owner"))
            return lines
        if not isinstance(member, ChatMemberAdministrator):
            lines.append(
                CheckLine(
                    ok=False, code="telegram_bot_not_admin", detail=f"status {member.status}"
                )
            )
            return lines
        lines.append(CheckLine(ok=True, code="telegram_bot_admin"))
        for right, value in (
            ("post", member.can_post_messages),
            ("edit", member.can_edit_messages),
            ("delete", member.can_delete_messages),
        ):
            ok = bool(value)
            code = f"telegram_can_{right}" if ok else f"telegram_cannot_{right}"
            lines.append(CheckLine(ok=ok, code=code, detail=f"can_{right}_messages={ok}"))
        return lines

    # ------------------------------------------------------------------ planning

    def _plan(self, content: Content) -> _Plan:
        notices: list[Notice] = []
        available = [m for m in content.media if not m.missing]
        text = content.text
        if len(available) < len(content.media):
            notices.append(Notice.MEDIA_AS_LINK)
            text = _with_link(text, content.original_url)
        groups = album_groups(available)
        if len(groups) > 1 and len(available) > MAX_ALBUM_SIZE:
            notices.append(Notice.MEDIA_SPLIT)
        steps = [_Step(media=group) for group in groups]
        has_text = bool(text.text.strip())
        if has_text and steps and utf16_len(text.text) <= MAX_CAPTION_LENGTH:
            steps[0].html = render_telegram_html(text).text
        elif has_text:
            rendered = render_telegram_html(
                text, limit=MAX_TEXT_LENGTH, more_url=content.original_url
            )
            if rendered.truncated:
                notices.append(Notice.TEXT_TRUNCATED)
            if steps:
                notices.append(Notice.CAPTION_SPLIT)
            steps.append(_Step(html=rendered.text))
        return _Plan(steps=steps, notices=notices)

    # ------------------------------------------------------------------ calls

    async def _send_step(self, step: _Step) -> list[int]:
        for item in step.media:
            if item.telegram_file_id is None and not item.path.is_file():
                raise PermanentError(
                    f"media file {item.file_name!r} is not in the media store",
                    platform=Platform.TELEGRAM,
                    account=self.account,
                    reason=Reason.MEDIA_REJECTED,
                )
        try:
            return await self._send_once(step, reuse_ids=True)
        except PermanentError as error:
            # A file_id from another bot or an expired one: upload the stored copy instead.
            reused = [m for m in step.media if m.telegram_file_id is not None]
            if error.reason is not Reason.MEDIA_REJECTED or not reused:
                raise
            if not all(m.path.is_file() for m in step.media):
                raise
            logger.warning(
                "account=%s platform=telegram file_id rejected, uploading instead", self.account
            )
            return await self._send_once(step, reuse_ids=False)

    async def _send_once(self, step: _Step, *, reuse_ids: bool) -> list[int]:
        bot = self._bot
        chat_id = self.chat_id
        caption = step.html
        parse_mode = "HTML" if caption else None
        timeout = self._upload_timeout(step.media, reuse_ids)
        if not step.media:
            html = caption or ""
            message = await self._call(
                lambda: bot.send_message(chat_id=chat_id, text=html, parse_mode="HTML"),
                sending=True,
            )
            return [message.message_id]
        if len(step.media) == 1:
            item = step.media[0]
            file = self._input(item, reuse_ids)
            method: TelegramMethod[Message]
            if item.kind is MediaKind.PHOTO:
                method = SendPhoto(
                    chat_id=chat_id, photo=file, caption=caption, parse_mode=parse_mode
                )
            elif item.kind is MediaKind.VIDEO:
                method = SendVideo(
                    chat_id=chat_id, video=file, caption=caption, parse_mode=parse_mode
                )
            elif item.kind is MediaKind.ANIMATION:
                method = SendAnimation(
                    chat_id=chat_id, animation=file, caption=caption, parse_mode=parse_mode
                )
            elif item.kind is MediaKind.AUDIO:
                method = SendAudio(
                    chat_id=chat_id, audio=file, caption=caption, parse_mode=parse_mode
                )
            else:
                method = SendDocument(
                    chat_id=chat_id, document=file, caption=caption, parse_mode=parse_mode
                )
            message = await self._call(lambda: bot(method, request_timeout=timeout), sending=True)
            return [message.message_id]
        media: list[_InputMedia] = [
            self._input_media(item, reuse_ids, caption if index == 0 else None)
            for index, item in enumerate(step.media)
        ]
        messages = await self._call(
            lambda: bot.send_media_group(chat_id=chat_id, media=media, request_timeout=timeout),
            sending=True,
        )
        return [m.message_id for m in messages]

    def _input(self, item: MediaItem, reuse_ids: bool) -> str | FSInputFile:
        if reuse_ids and item.telegram_file_id:
            return item.telegram_file_id
        return FSInputFile(item.path, filename=item.file_name)

    def _input_media(self, item: MediaItem, reuse_ids: bool, caption: str | None) -> _InputMedia:
        file = self._input(item, reuse_ids)
        parse_mode = "HTML" if caption else None
        if item.kind is MediaKind.PHOTO:
            return InputMediaPhoto(media=file, caption=caption, parse_mode=parse_mode)
        if item.kind is MediaKind.VIDEO:
            return InputMediaVideo(media=file, caption=caption, parse_mode=parse_mode)
        if item.kind is MediaKind.AUDIO:
            return InputMediaAudio(media=file, caption=caption, parse_mode=parse_mode)
        return InputMediaDocument(media=file, caption=caption, parse_mode=parse_mode)

    def _upload_timeout(self, media: Sequence[MediaItem], reuse_ids: bool) -> int | None:
        upload = sum(m.size for m in media if not (reuse_ids and m.telegram_file_id))
        if not upload:
            return None
        return math.ceil(self._bot.session.timeout + upload / UPLOAD_BYTES_PER_SECOND)

    async def _call(
        self, call: Callable[[], Awaitable[T]], *, sending: bool, read: bool = False
    ) -> T:
        """One API call, its errors classified; whatever changes the channel goes under the
        channel's throttle. Reads (getMe, getChat, getChatMember…) do not: Telegram's
        per-chat limit counts messages, and a read queued behind it made `check` of 1,000
        channels take hours.

        Raises _NotModified where Telegram reports an edit that changes nothing.
        """
        if read:
            return await self._classified(call, sending=sending)
        async with self._throttle("telegram", str(self.chat_id)):
            return await self._classified(call, sending=sending)

    async def _classified(self, call: Callable[[], Awaitable[T]], *, sending: bool) -> T:
        try:
            return await call()
        except TelegramAPIError as exc:
            error = classify(exc, account=self.account, sending=sending)
            if error is None:
                raise _NotModified from exc
            raise error from exc

    async def _edit(self, call: Callable[[], Awaitable[object]]) -> None:
        with contextlib.suppress(_NotModified):
            await self._call(call, sending=False)

    async def _delete_ids(self, ids: Sequence[int]) -> None:
        bot = self._bot
        for message_id in ids:
            async with self._throttle("telegram", str(self.chat_id)):
                try:
                    await bot.delete_message(chat_id=self.chat_id, message_id=message_id)
                except TelegramAPIError as exc:
                    if describes(exc, DELETE_NOT_FOUND):
                        continue
                    error = classify(exc, account=self.account, sending=False)
                    if error is not None:
                        raise error from exc

    async def _undo_partial(self, sent: list[int], error: PublishError) -> None:
        if isinstance(error, OutcomeUnknownError):
            raise OutcomeUnknownError(
                f"{error.message}; messages {sent} were already sent",
                platform=Platform.TELEGRAM,
                account=self.account,
            ) from error
        try:
            await self._delete_ids(sent)
        except PublishError as cleanup:
            raise OutcomeUnknownError(
                f"{error.message}; messages {sent} were sent and could not be deleted "
                f"({cleanup.message})",
                platform=Platform.TELEGRAM,
                account=self.account,
            ) from error

    # ------------------------------------------------------------------ helpers

    def _remote(self, ids: Sequence[int]) -> RemotePost:
        return RemotePost(
            platform=Platform.TELEGRAM,
            account=self.account,
            remote_id=str(ids[0]),
            url=channel_post_url(self.chat_id, ids[0], self.channel_username),
            parts=tuple(str(i) for i in ids[1:]),
        )

    def _ids(self, remote: RemotePost) -> list[int]:
        try:
            return [int(remote.remote_id), *(int(p) for p in remote.parts)]
        except ValueError:
            raise PermanentError(
                f"remote id {remote.remote_id!r} is not a Telegram message id",
                platform=Platform.TELEGRAM,
                account=self.account,
                reason=Reason.BAD_REQUEST,
            ) from None
