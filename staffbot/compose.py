"""Compose: a post sent to the bot in private becomes a draft with a preview and a panel of
targets; «Опубликовать сейчас» submits it, «Запланировать» asks for a time (typed in Russian or
picked with a button) and confirms it in words before submitting.

Drafts live in the database (crosspost.drafts), so a restart mid-dialog loses nothing. Callback
data is only a pointer: every press re-reads the draft, and every change of state is a
compare-and-set, so a second press of the same button says what already happened instead of
acting twice.
"""

from __future__ import annotations

import asyncio
import html
import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, time, timedelta
from pathlib import Path

from aiogram import Bot, F, Router
from aiogram.exceptions import TelegramAPIError
from aiogram.filters.callback_data import CallbackData
from aiogram.types import (
    CallbackQuery,
    FSInputFile,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputMediaPhoto,
    InputMediaVideo,
    Message,
)

from crosspost import texts
from crosspost.config import Settings
from crosspost.dates import (
    DateParseError,
    NeedsTime,
    Resolved,
    describe_day,
    describe_local,
    explain,
    format_local,
    parse_time_on,
    parse_when,
    quick_picks,
)
from crosspost.drafts import Draft, DraftKind, DraftStatus, DraftStore, actor_of
from crosspost.errors import UsageError
from crosspost.intake.mirror_store import MirrorStore
from crosspost.models import (
    Content,
    DeliveryStatus,
    MediaItem,
    MediaKind,
    NewPublication,
    Platform,
    PublicationSource,
)
from crosspost.richtext import render_plain, render_telegram_html
from crosspost.routing import chosen_targets
from crosspost.service import PublicationService
from staffbot.mirror import (
    AlbumGatherer,
    PostPart,
    build_content,
    kinds_text,
    original_url,
    part_from_message,
)
from staffbot.reports import platform_name
from staffbot.ui import NO_PREVIEW, ReporterFor, account_label, close_message

logger = logging.getLogger(__name__)

Clock = Callable[[], datetime]

# While a draft waits for a time, text longer than this (or with several lines, or media) is
# a new post, not a time phrase.
_TIME_MAX_CHARS = 60
_PREVIEW_LIMIT = 3500
_CAPTION_LIMIT = 1024
_ALBUM_MAX = 10
# A delivery due later than this is "scheduled", not "being sent".
_SCHEDULED_AFTER = timedelta(minutes=1)


class DraftCb(CallbackData, prefix="d"):
    d: int  # draft id
    a: str  # acc | plat | now | sched | cancel | ok | retime | pick
    v: str = ""


def looks_like_post(message: Message) -> bool:
    """A message that cannot be a time phrase: media, a forward, several lines or long text."""
    if message.text is None or message.forward_origin is not None:
        return True
    text = message.text.strip()
    return "\n" in text or len(text) > _TIME_MAX_CHARS


class ComposeDialog:
    def __init__(
        self,
        *,
        settings: Settings,
        service: PublicationService,
        drafts: DraftStore,
        media_dir: Path,
        clock: Clock,
        reporter_for: ReporterFor,
        albums: AlbumGatherer | None = None,
        store: MirrorStore | None = None,
    ) -> None:
        self.settings = settings
        self.service = service
        self.drafts = drafts
        self.media_dir = media_dir
        self.clock = clock
        self.reporter_for = reporter_for
        self._locks: dict[int, asyncio.Lock] = {}
        self.albums = albums or AlbumGatherer(
            store=store or MirrorStore(service.sessionmaker),
            clock=clock,
            on_album=self._album,
            owns=lambda chat_id: chat_id > 0,
        )
        self.router = Router(name="compose")
        private = F.chat.type == "private"
        self.router.message.register(self.on_private, private, F.from_user)
        self.router.callback_query.register(self.on_draft_button, DraftCb.filter())

    # -- messages ------------------------------------------------------------------------------

    async def on_private(self, message: Message, bot: Bot) -> None:
        if message.from_user is None:
            return
        user_id = message.from_user.id
        waiting = await self.drafts.waiting_for_time(user_id)
        if waiting is not None and not looks_like_post(message):
            await self._typed_time(message, waiting, (message.text or "").strip())
            return
        part = part_from_message(message)
        if part.media_group_id is not None:
            await self.albums.add(bot, part)
            return
        await self._new_draft(bot, message.chat.id, user_id, [part], message)

    async def _album(self, bot: Bot, chat_id: int, group_id: str, parts: list[PostPart]) -> None:
        await self._new_draft(bot, chat_id, chat_id, parts, None)

    async def _new_draft(
        self,
        bot: Bot,
        chat_id: int,
        user_id: int,
        parts: list[PostPart],
        message: Message | None,
    ) -> None:
        dropped = [k for p in parts for k in p.dropped]
        if all(p.empty for p in parts):
            kinds = kinds_text(dropped) if dropped else texts.BOT_PREVIEW_EMPTY_TEXT
            await bot.send_message(
                chat_id, texts.BOT_UNSUPPORTED_CONTENT.format(kinds=kinds), parse_mode=None
            )
            return
        url = None
        origin = message.forward_origin if message is not None else None
        origin_chat = getattr(origin, "chat", None)
        origin_id = getattr(origin, "message_id", None)
        if origin_chat is not None and origin_id is not None and origin_chat.type == "channel":
            if origin_chat.username:
                url = f"https://t.me/{origin_chat.username}/{origin_id}"
            elif self.settings.account_by_channel(origin_chat.id):
                url = original_url(self.settings, origin_chat.id, origin_id)
        content, notes, dropped = await build_content(
            bot, parts, settings=self.settings, media_dir=self.media_dir, url=url
        )
        for note in notes:
            await bot.send_message(
                chat_id, texts.BOT_FILE_TOO_BIG.format(name=note.detail), parse_mode=None
            )
        if dropped:
            await bot.send_message(
                chat_id,
                texts.BOT_UNSUPPORTED_WITH_TEXT.format(kinds=kinds_text(dropped)),
                parse_mode=None,
            )
        accounts = list(self.settings.accounts)
        platforms = [str(p) for p in self._platforms()]
        draft = await self.drafts.start_compose(
            user_id=user_id,
            chat_id=chat_id,
            content=content,
            dropped=dropped,
            accounts=accounts,
            platforms=platforms,
        )
        await self._send_previews(bot, chat_id, content)
        panel = await bot.send_message(
            chat_id,
            self._panel_text(accounts, platforms),
            parse_mode=None,
            reply_markup=self._panel_keyboard(draft.draft_id, accounts, platforms),
        )
        await self.drafts.set_panel(draft.draft_id, panel.message_id)

    def _platforms(self) -> list[Platform]:
        have = {p for a in self.settings.accounts.values() for p in a.platforms}
        return [p for p in Platform if p in have]

    # -- preview -------------------------------------------------------------------------------

    def _rendering(self, platform: Platform, content: Content) -> tuple[str, str | None]:
        """The post's text as `platform` will show it, and the parse mode to show it with."""
        limit = min(self._limit(platform, bool(content.media)), _PREVIEW_LIMIT)
        plain = render_plain(content.text, limit=limit, more_url=content.original_url).text
        if platform is Platform.TELEGRAM:
            rich = render_telegram_html(
                content.text, limit=limit, more_url=content.original_url
            ).text
            # Without formatting Telegram shows what the others show: one preview for all.
            if rich != html.escape(plain, quote=False):
                return rich, "HTML"
        return plain, None

    async def _send_previews(self, bot: Bot, chat_id: int, content: Content) -> None:
        """One message for each distinct rendering, titled with every platform that shows the
        post that way; the photos and videos themselves above it (or under the text as its
        caption, when there is a single rendering short enough)."""
        groups: dict[tuple[str, str | None], list[Platform]] = {}
        for platform in self._platforms():
            groups.setdefault(self._rendering(platform, content), []).append(platform)
        previews = []
        for (body, parse_mode), platforms in groups.items():
            names = texts.BOT_PREVIEW_PLATFORMS_JOIN.join(platform_name(p) for p in platforms)
            title = texts.BOT_PREVIEW_GROUP_TITLE.format(platforms=names)
            if parse_mode == "HTML":
                title = title.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            previews.append((f"{title}\n\n{body or texts.BOT_PREVIEW_EMPTY_TEXT}", parse_mode))
        visual = [m for m in content.media if not m.missing]
        others = [m for m in visual if m.kind not in (MediaKind.PHOTO, MediaKind.VIDEO)]
        visual = [m for m in visual if m.kind in (MediaKind.PHOTO, MediaKind.VIDEO)]
        if len(previews) == 1 and visual and len(previews[0][0]) <= _CAPTION_LIMIT:
            text, parse_mode = previews[0]
            if await self._send_visual(bot, chat_id, visual, (text, parse_mode)):
                previews = []
        elif visual:
            await self._send_visual(bot, chat_id, visual, None)
        for item in others:
            await self._send_file(bot, chat_id, item)
        for text, parse_mode in previews:
            await bot.send_message(
                chat_id, text, parse_mode=parse_mode, link_preview_options=NO_PREVIEW
            )

    async def _send_visual(
        self,
        bot: Bot,
        chat_id: int,
        media: Sequence[MediaItem],
        caption: tuple[str, str | None] | None,
    ) -> bool:
        """Photos and videos as albums of up to ten; the caption on the last album's first
        item. False when Telegram refused them (the preview then goes as text)."""
        text, parse_mode = caption if caption is not None else (None, None)
        chunks = [media[i : i + _ALBUM_MAX] for i in range(0, len(media), _ALBUM_MAX)]
        try:
            for n, chunk in enumerate(chunks):
                last = n == len(chunks) - 1
                chunk_caption = text if last else None
                if len(chunk) == 1:
                    item = chunk[0]
                    if item.kind is MediaKind.PHOTO:
                        await bot.send_photo(
                            chat_id, _file(item), caption=chunk_caption, parse_mode=parse_mode
                        )
                    else:
                        await bot.send_video(
                            chat_id, _file(item), caption=chunk_caption, parse_mode=parse_mode
                        )
                    continue
                group: list[InputMediaPhoto | InputMediaVideo] = []
                for i, item in enumerate(chunk):
                    item_caption = chunk_caption if i == 0 else None
                    if item.kind is MediaKind.PHOTO:
                        group.append(
                            InputMediaPhoto(
                                media=_file(item), caption=item_caption, parse_mode=parse_mode
                            )
                        )
                    else:
                        group.append(
                            InputMediaVideo(
                                media=_file(item), caption=item_caption, parse_mode=parse_mode
                            )
                        )
                await bot.send_media_group(chat_id, group)  # type: ignore[arg-type]
        except TelegramAPIError as exc:
            logger.info("preview media not shown: %s", exc.message)
            return False
        return True

    async def _send_file(self, bot: Bot, chat_id: int, item: MediaItem) -> None:
        try:
            if item.kind is MediaKind.ANIMATION:
                await bot.send_animation(chat_id, _file(item))
            elif item.kind is MediaKind.AUDIO:
                await bot.send_audio(chat_id, _file(item))
            else:
                await bot.send_document(chat_id, _file(item))
        except TelegramAPIError as exc:
            logger.info("preview file not shown: %s", exc.message)

    def _limit(self, platform: Platform, has_media: bool) -> int:
        limits = [
            (p.capabilities.max_caption_length if has_media else p.capabilities.max_text_length)
            for (_account, pl), p in self.service.publishers.items()
            if pl is platform
        ]
        if limits:
            return min(limits)
        if platform is Platform.TELEGRAM:
            return 1024 if has_media else 4096
        return _PREVIEW_LIMIT

    # -- the panel -----------------------------------------------------------------------------

    def _account_label(self, name: str) -> str:
        return account_label(self.settings, name)

    def _panel_text(self, accounts: Sequence[str], platforms: Sequence[str]) -> str:
        return texts.BOT_PANEL.format(
            accounts=", ".join(self._account_label(a) for a in accounts)
            or texts.BOT_PANEL_NOTHING_CHOSEN,
            platforms=", ".join(platform_name(p) for p in platforms)
            or texts.BOT_PANEL_NOTHING_CHOSEN,
        )

    def _panel_keyboard(
        self, draft_id: int, accounts: Sequence[str], platforms: Sequence[str]
    ) -> InlineKeyboardMarkup:
        def mark(label: str, on: bool) -> str:
            return (texts.BOT_BUTTON_CHECKED if on else texts.BOT_BUTTON_UNCHECKED).format(
                label=label
            )

        def button(label: str, action: str, value: str = "") -> InlineKeyboardButton:
            return InlineKeyboardButton(
                text=label, callback_data=DraftCb(d=draft_id, a=action, v=value).pack()
            )

        account_row = [
            button(mark(self._account_label(name), name in accounts), "acc", name)
            for name in self.settings.accounts
        ]
        if len(self.settings.accounts) > 1:
            every = set(accounts) == set(self.settings.accounts)
            account_row.append(button(mark(texts.BOT_BUTTON_ALL_ACCOUNTS, every), "acc", "*"))
        platform_row = [
            button(mark(texts.PLATFORM_BUTTONS[str(p)], str(p) in platforms), "plat", str(p))
            for p in self._platforms()
        ]
        return InlineKeyboardMarkup(
            inline_keyboard=[
                account_row,
                platform_row,
                [
                    button(texts.BOT_BUTTON_PUBLISH_NOW, "now"),
                    button(texts.BOT_BUTTON_SCHEDULE, "sched"),
                ],
                [button(texts.BOT_BUTTON_CANCEL, "cancel")],
            ]
        )

    def _confirm_keyboard(self, draft_id: int) -> InlineKeyboardMarkup:
        return InlineKeyboardMarkup(
            inline_keyboard=[
                [
                    InlineKeyboardButton(
                        text=texts.BOT_BUTTON_CONFIRM_TIME,
                        callback_data=DraftCb(d=draft_id, a="ok").pack(),
                    ),
                    InlineKeyboardButton(
                        text=texts.BOT_BUTTON_OTHER_TIME,
                        callback_data=DraftCb(d=draft_id, a="retime").pack(),
                    ),
                ],
                [
                    InlineKeyboardButton(
                        text=texts.BOT_BUTTON_CANCEL,
                        callback_data=DraftCb(d=draft_id, a="cancel").pack(),
                    )
                ],
            ]
        )

    # -- typed times ---------------------------------------------------------------------------

    async def _typed_time(self, message: Message, draft: Draft, typed: str) -> None:
        tz = self.settings.tz
        now = self.clock()
        try:
            if draft.publish_at is not None:
                # The day came before (NeedsTime): this is its time, or a whole new phrase.
                day = draft.publish_at.astimezone(tz).date()
                parsed: Resolved | NeedsTime = parse_time_on(day, typed, now=now, tz=tz)
            else:
                parsed = parse_when(typed, now=now, tz=tz)
        except DateParseError as exc:
            await message.answer(explain(exc, tz, now=now), parse_mode=None)
            return
        if isinstance(parsed, NeedsTime):
            midnight = datetime.combine(parsed.day, time(0), tzinfo=tz)
            if await self.drafts.move(
                draft.draft_id, expect=DraftStatus.TIME, to=DraftStatus.TIME, publish_at=midnight
            ):
                await message.answer(
                    texts.DATES_ASK_TIME_FOR.format(
                        day=describe_day(parsed.day, today=now.astimezone(tz).date())
                    ),
                    parse_mode=None,
                )
            return
        await self._propose(message.bot, draft, parsed.at)

    async def _propose(self, bot: Bot | None, draft: Draft, at: datetime) -> None:
        """Remember the understood time and ask to confirm it, in words and in digits."""
        if bot is None or not await self.drafts.move(
            draft.draft_id, expect=DraftStatus.TIME, to=DraftStatus.CONFIRM, publish_at=at
        ):
            return
        await bot.send_message(
            draft.chat_id,
            texts.BOT_CONFIRM_WHEN.format(when=self._when(at), digits=self._digits(at)),
            parse_mode=None,
            reply_markup=self._confirm_keyboard(draft.draft_id),
        )

    def _when(self, at: datetime) -> str:
        return describe_local(at, self.settings.tz, now=self.clock())

    def _digits(self, at: datetime) -> str:
        return format_local(at, self.settings.tz)

    async def _ask_time(self, bot: Bot, draft: Draft, prefix: str = "") -> None:
        """The question, with quick-pick buttons next to free typing."""
        picks = [
            InlineKeyboardButton(
                text=label,
                callback_data=DraftCb(
                    d=draft.draft_id, a="pick", v=str(int(at.timestamp()))
                ).pack(),
            )
            for label, at in quick_picks(self.clock(), self.settings.tz)
        ]
        rows = [picks[k : k + 3] for k in range(0, len(picks), 3)]
        cancel = InlineKeyboardButton(
            text=texts.BOT_BUTTON_CANCEL,
            callback_data=DraftCb(d=draft.draft_id, a="cancel").pack(),
        )
        await bot.send_message(
            draft.chat_id,
            prefix + texts.BOT_ASK_WHEN.format(examples=texts.DATES_EXAMPLES),
            parse_mode=None,
            reply_markup=InlineKeyboardMarkup(inline_keyboard=[*rows, [cancel]]),
        )

    async def _picked(self, query: CallbackQuery, bot: Bot, draft: Draft, value: str) -> None:
        try:
            at = datetime.fromtimestamp(int(value), tz=UTC)
        except (ValueError, OverflowError):
            await query.answer(texts.BOT_BUTTON_UNKNOWN, show_alert=True)
            return
        await query.answer()
        await close_message(query, None)
        if at < self.clock():
            passed = texts.BOT_TIME_PASSED.format(when=self._when(at)) + "\n\n"
            await self._ask_time(bot, draft, passed)
            return
        await self._propose(bot, draft, at)

    # -- buttons -------------------------------------------------------------------------------

    async def on_draft_button(
        self, query: CallbackQuery, callback_data: DraftCb, bot: Bot
    ) -> None:
        # Presses run as concurrent tasks: two quick toggles must not overwrite each other.
        async with self._locks.setdefault(callback_data.d, asyncio.Lock()):
            await self._draft_button(query, callback_data, bot)

    async def _draft_button(self, query: CallbackQuery, callback_data: DraftCb, bot: Bot) -> None:
        draft = await self.drafts.get(callback_data.d)
        if draft is None:
            await query.answer(texts.BOT_BUTTON_UNKNOWN, show_alert=True)
            return
        if draft.user_id != query.from_user.id:
            await query.answer(texts.BOT_NOT_YOURS, show_alert=True)
            return
        action = callback_data.a
        allowed = {
            DraftStatus.OPEN: {"acc", "plat", "now", "sched", "cancel"},
            DraftStatus.TIME: {"cancel", "pick"},
            DraftStatus.CONFIRM: {"ok", "retime", "cancel"},
        }.get(draft.status, set())
        if action not in allowed:
            await self._stale(query, draft)
            return
        if action in ("acc", "plat"):
            await self._toggle(query, draft, action, callback_data.v)
        elif action == "cancel":
            if not await self.drafts.cancel(draft):
                await self._stale(query, draft)
                return
            await query.answer()
            await close_message(query, texts.BOT_CANCELLED)
        elif action == "now":
            await self._submit(query, bot, draft, None)
        elif action == "sched":
            if not draft.accounts or not draft.platforms:
                await query.answer(texts.BOT_NEED_TARGETS, show_alert=True)
                return
            if not await self.drafts.move(
                draft.draft_id, expect=DraftStatus.OPEN, to=DraftStatus.TIME
            ):
                await self._stale(query, draft)
                return
            await query.answer()
            await self._ask_time(bot, draft)
        elif action == "retime":
            if not await self.drafts.move(
                draft.draft_id, expect=DraftStatus.CONFIRM, to=DraftStatus.TIME
            ):
                await self._stale(query, draft)
                return
            await query.answer()
            await close_message(query, None)
            await self._ask_time(bot, draft)
        elif action == "pick":
            await self._picked(query, bot, draft, callback_data.v)
        elif action == "ok":
            await self._confirm_time(query, bot, draft)

    async def _stale(self, query: CallbackQuery, draft: Draft) -> None:
        """Say what already happened to the draft; a finished draft's buttons come off."""
        fresh = await self.drafts.get(draft.draft_id) or draft
        await query.answer(await self._what_happened(fresh), show_alert=True)
        if fresh.status in (DraftStatus.DONE, DraftStatus.CANCELLED, DraftStatus.SUPERSEDED):
            await close_message(query, None)

    async def _what_happened(self, draft: Draft) -> str:
        if draft.status is DraftStatus.CANCELLED:
            return texts.BOT_STALE_CANCELLED
        if draft.status is DraftStatus.SUPERSEDED:
            return texts.BOT_STALE_SUPERSEDED
        if draft.status in (DraftStatus.TIME, DraftStatus.CONFIRM):
            return texts.BOT_STALE_WAITING_TIME
        if draft.status is not DraftStatus.DONE:
            return texts.BOT_BUTTON_UNKNOWN
        if draft.kind is DraftKind.RESCHEDULE:
            return texts.BOT_STALE_RESCHEDULED
        view = (
            await self.service.view(draft.publication_id)
            if draft.publication_id is not None
            else None
        )
        if view is None:
            return texts.BOT_STALE_SENDING
        statuses = {d.status for d in view.deliveries}
        if DeliveryStatus.PUBLISHED in statuses:
            return texts.BOT_STALE_PUBLISHED
        soon = self.clock() + _SCHEDULED_AFTER
        if any(d.status is DeliveryStatus.PENDING and d.due_at > soon for d in view.deliveries):
            return texts.BOT_STALE_SCHEDULED
        return texts.BOT_STALE_SENDING

    async def _toggle(self, query: CallbackQuery, draft: Draft, what: str, value: str) -> None:
        accounts = list(draft.accounts)
        platforms = list(draft.platforms)
        if what == "acc":
            if value == "*":
                accounts = (
                    []
                    if set(accounts) == set(self.settings.accounts)
                    else list(self.settings.accounts)
                )
            elif value in self.settings.accounts:
                accounts = (
                    [a for a in accounts if a != value]
                    if value in accounts
                    else [*accounts, value]
                )
            else:
                await query.answer(texts.BOT_BUTTON_UNKNOWN, show_alert=True)
                return
            accounts = [a for a in self.settings.accounts if a in accounts]
        else:
            known = [str(p) for p in self._platforms()]
            if value not in known:
                await query.answer(texts.BOT_BUTTON_UNKNOWN, show_alert=True)
                return
            platforms = (
                [p for p in platforms if p != value] if value in platforms else [*platforms, value]
            )
            platforms = [p for p in known if p in platforms]
        if not await self.drafts.set_targets(draft.draft_id, accounts, platforms):
            await self._stale(query, draft)
            return
        await query.answer()
        message = query.message
        if isinstance(message, Message):
            try:
                await message.edit_text(
                    self._panel_text(accounts, platforms),
                    parse_mode=None,
                    reply_markup=self._panel_keyboard(draft.draft_id, accounts, platforms),
                )
            except TelegramAPIError as exc:
                logger.info("panel not updated: %s", exc.message)

    async def _submit(
        self, query: CallbackQuery, bot: Bot, draft: Draft, at: datetime | None
    ) -> None:
        platforms = [Platform(p) for p in draft.platforms]
        if not draft.accounts or not platforms:
            await query.answer(texts.BOT_NEED_TARGETS, show_alert=True)
            return
        try:
            targets = chosen_targets(self.settings, list(draft.accounts), platforms)
        except UsageError as exc:
            await query.answer(texts.BOT_TARGETS_INVALID.format(detail=exc), show_alert=True)
            return
        # Claim the draft first, so a double press cannot submit twice.
        if not await self.drafts.move(
            draft.draft_id, expect=draft.status, to=DraftStatus.DONE, publish_at=at
        ):
            await self._stale(query, draft)
            return
        actor = actor_of(draft.user_id)
        result = await self.service.submit(
            NewPublication(
                content=draft.content,
                targets=targets,
                publish_at=at or self.clock(),
                source=PublicationSource.BOT,
                author=actor,
            ),
            actor=actor,
        )
        await self.drafts.set_publication(draft.draft_id, result.publication_id)
        await query.answer()
        await self.reporter_for(bot).set_author(
            result.publication_id, query.from_user.first_name, query.from_user.last_name
        )
        reply = (
            texts.BOT_SUBMITTED_NOW.format(id=result.publication_id)
            if at is None
            else texts.BOT_SUBMITTED_WHEN.format(
                id=result.publication_id, when=self._when(at), digits=self._digits(at)
            )
        )
        await close_message(query, reply)
        await self.reporter_for(bot).refresh(result.publication_id)

    async def _confirm_time(self, query: CallbackQuery, bot: Bot, draft: Draft) -> None:
        tz = self.settings.tz
        at = draft.publish_at
        if at is None or at < self.clock():
            if not await self.drafts.move(
                draft.draft_id, expect=DraftStatus.CONFIRM, to=DraftStatus.TIME
            ):
                await self._stale(query, draft)
                return
            await query.answer()
            await close_message(query, None)
            passed = texts.BOT_TIME_PASSED.format(when=self._when(at)) + "\n\n" if at else ""
            await self._ask_time(bot, draft, passed)
            return
        if draft.kind is DraftKind.COMPOSE:
            await self._submit(query, bot, draft, at)
            return
        if draft.publication_id is None or not await self.drafts.move(
            draft.draft_id, expect=DraftStatus.CONFIRM, to=DraftStatus.DONE, publish_at=at
        ):
            await self._stale(query, draft)
            return
        moved = await self.service.reschedule(
            draft.publication_id, at, actor=actor_of(draft.user_id)
        )
        await query.answer()
        if moved:
            reply = texts.BOT_QUEUE_RESCHEDULED.format(
                id=draft.publication_id, at=format_local(at, tz)
            )
        else:
            reply = texts.BOT_QUEUE_NOTHING_TO_MOVE.format(id=draft.publication_id)
        await close_message(query, reply)
        if moved:
            await self.reporter_for(bot).refresh(draft.publication_id)


def _file(item: MediaItem) -> str | FSInputFile:
    """The Telegram file id when we have one (no upload), else the stored file."""
    if item.telegram_file_id:
        return item.telegram_file_id
    return FSInputFile(item.path, filename=item.file_name)
