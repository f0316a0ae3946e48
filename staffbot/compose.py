"""The staff bot: compose a post with a per-platform preview, choose targets, publish now or
at a typed local time (also the new time of a post moved from /queue); /delete and «удалить»
replies to reports.

Staff only. Drafts live in the database, so a restart mid-dialog loses nothing. Callback data is
only a pointer: every press re-reads the draft and re-checks who pressed and what state it is in.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import Any

from aiogram import Bot, F, Router
from aiogram.exceptions import TelegramAPIError
from aiogram.filters.callback_data import CallbackData
from aiogram.types import (
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    LinkPreviewOptions,
    Message,
)
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crosspost import texts
from crosspost.config import Settings
from crosspost.dates import DateParseError, DateProblem, format_local, parse_local_time
from crosspost.db import TelegramDraftRow
from crosspost.errors import UsageError
from crosspost.models import (
    Content,
    MediaItem,
    MediaKind,
    NewPublication,
    Platform,
    PublicationSource,
)
from crosspost.queue import DeliveryRepository, spans_from_json, spans_to_json
from crosspost.richtext import RichText, render_plain, render_telegram_html
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
from staffbot.reports import (
    TelegramReporter,
    add_notes,
    copy_notes,
    platform_name,
)

logger = logging.getLogger(__name__)

Clock = Callable[[], datetime]

_NO_PREVIEW = LinkPreviewOptions(is_disabled=True)
# A short text sent while a draft waits for a time is the time; anything longer is a new post.
_TIME_MAX_CHARS = 60
_PREVIEW_LIMIT = 3500
_POST_LINK = re.compile(
    r"https?://t\.me/(?:c/(?P<internal>\d+)|(?P<username>[A-Za-z0-9_]{4,}))/(?P<msg>\d+)"
)

# Draft statuses
OPEN, TIME, CONFIRM, DONE, CANCELLED = "open", "time", "confirm", "done", "cancelled"
COMPOSE, RESCHEDULE = "compose", "reschedule"


class DraftCb(CallbackData, prefix="d"):
    d: int  # draft id
    a: str  # acc | plat | now | sched | cancel | ok | retime
    v: str = ""


class DeleteCb(CallbackData, prefix="x"):
    a: str  # yes | no
    p: int


def _media_to_json(media: Sequence[MediaItem]) -> str:
    return json.dumps(
        [{**asdict(m), "path": str(m.path), "kind": str(m.kind)} for m in media],
        ensure_ascii=False,
    )


def _media_from_json(raw: str) -> tuple[MediaItem, ...]:
    items = []
    for data in json.loads(raw):
        data["path"] = Path(data["path"])
        data["kind"] = MediaKind(data["kind"])
        items.append(MediaItem(**data))
    return tuple(items)


def _content(row: TelegramDraftRow, url: str | None = None) -> Content:
    return Content(
        text=RichText(text=row.text, spans=spans_from_json(row.spans)),
        media=_media_from_json(row.media),
        original_url=url,
    )


def _json_list(raw: str) -> list[str]:
    return [str(v) for v in json.loads(raw)]


class StaffDialog:
    def __init__(
        self,
        *,
        settings: Settings,
        service: PublicationService,
        sessionmaker: async_sessionmaker[AsyncSession],
        media_dir: Path,
        clock: Clock,
        albums: AlbumGatherer | None = None,
    ) -> None:
        self.settings = settings
        self.service = service
        self.sessionmaker = sessionmaker
        self.media_dir = media_dir
        self.clock = clock
        self.staff = frozenset(settings.telegram.staff)
        self._refused: set[int] = set()
        self._locks: dict[int, asyncio.Lock] = {}
        self.albums = albums or AlbumGatherer(
            sessionmaker=sessionmaker,
            clock=clock,
            on_album=self._album,
            owns=lambda chat_id: chat_id > 0,
        )
        self.router = Router(name="staff-dialog")
        staff_chat = settings.telegram.staff_chat_id
        self.router.message.register(self.on_private, F.chat.type == "private")
        self.router.message.register(
            self.on_staff_chat, F.chat.id == staff_chat, F.reply_to_message
        )
        self.router.callback_query.register(self.on_draft_button, DraftCb.filter())
        self.router.callback_query.register(self.on_delete_button, DeleteCb.filter())
        self.router.callback_query.register(self.on_unknown_button)

    # -- who may talk to the bot -------------------------------------------------------------

    def _actor(self, user_id: int) -> str:
        return f"tg:{user_id}"

    async def _refuse(self, message: Message) -> None:
        user_id = message.from_user.id if message.from_user else 0
        if user_id in self._refused:
            return
        self._refused.add(user_id)
        logger.info("user=%s is not staff: refused", user_id)
        await message.answer(texts.BOT_NOT_STAFF.format(user_id=user_id), parse_mode=None)

    async def _refuse_button(self, query: CallbackQuery) -> None:
        user_id = query.from_user.id
        if user_id in self._refused:
            await query.answer()
            return
        self._refused.add(user_id)
        logger.info("user=%s is not staff: button refused", user_id)
        await query.answer(texts.BOT_NOT_STAFF.format(user_id=user_id), show_alert=True)

    # -- messages ------------------------------------------------------------------------------

    async def on_private(self, message: Message, bot: Bot) -> None:
        user = message.from_user
        if user is None or user.is_bot:
            return
        if user.id not in self.staff:
            await self._refuse(message)
            return
        text = (message.text or "").strip()
        if text.startswith("/"):
            command, _, argument = text.partition(" ")
            command = command[1:].split("@", 1)[0].lower()
            if command in ("start", "help"):
                await self._help(message)
                return
            if command == "delete":
                await self._delete_by_link(message, argument.strip())
                return
        waiting = await self._waiting_for_time(user.id)
        if (
            waiting is not None
            and message.text is not None
            and len(text) <= _TIME_MAX_CHARS
            and message.media_group_id is None
        ):
            await self._typed_time(message, waiting, text)
            return
        part = part_from_message(message)
        if part.media_group_id is not None:
            await self.albums.add(bot, part)
            return
        await self._new_draft(bot, message.chat.id, user.id, [part], message)

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
        now = self.clock()
        accounts = list(self.settings.accounts)
        platforms = [str(p) for p in self._platforms()]
        async with self.sessionmaker() as session, session.begin():
            # A new post supersedes the person's unfinished drafts: their buttons go stale.
            await session.execute(
                update(TelegramDraftRow)
                .where(
                    TelegramDraftRow.user_id == user_id,
                    TelegramDraftRow.status.in_([OPEN, TIME, CONFIRM]),
                )
                .values(status=CANCELLED, updated_at=now)
            )
            row = TelegramDraftRow(
                kind=COMPOSE,
                user_id=user_id,
                chat_id=chat_id,
                status=OPEN,
                text=content.text.text,
                spans=spans_to_json(content.text.spans),
                media=_media_to_json(content.media),
                dropped=json.dumps(dropped),
                accounts=json.dumps(accounts),
                platforms=json.dumps(platforms),
                created_at=now,
                updated_at=now,
            )
            session.add(row)
            await session.flush()
            draft_id = row.id
            await DeliveryRepository(session).audit(
                self._actor(user_id), "draft", now, detail=f"draft={draft_id}"
            )
        await self._send_previews(bot, chat_id, content)
        panel = await bot.send_message(
            chat_id,
            self._panel_text(accounts, platforms),
            parse_mode=None,
            reply_markup=self._panel_keyboard(draft_id, accounts, platforms),
        )
        await self._save(draft_id, panel_message_id=panel.message_id)

    def _platforms(self) -> list[Platform]:
        have = {p for a in self.settings.accounts.values() for p in a.platforms}
        return [p for p in Platform if p in have]

    async def _send_previews(self, bot: Bot, chat_id: int, content: Content) -> None:
        for platform in self._platforms():
            title = texts.BOT_PREVIEW_TITLE.format(platform=platform_name(platform))
            media_line = (
                "\n" + texts.BOT_PREVIEW_MEDIA.format(count=len(content.media))
                if content.media
                else ""
            )
            limit = self._limit(platform, bool(content.media))
            if platform is Platform.TELEGRAM:
                body = render_telegram_html(
                    content.text, limit=min(limit, _PREVIEW_LIMIT), more_url=content.original_url
                ).text
                text = f"{title}{media_line}\n\n{body or texts.BOT_PREVIEW_EMPTY_TEXT}"
                parse_mode: str | None = "HTML"
            else:
                body = render_plain(
                    content.text, limit=min(limit, _PREVIEW_LIMIT), more_url=content.original_url
                ).text
                text = f"{title}{media_line}\n\n{body or texts.BOT_PREVIEW_EMPTY_TEXT}"
                parse_mode = None
            await bot.send_message(
                chat_id, text, parse_mode=parse_mode, link_preview_options=_NO_PREVIEW
            )

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

    def _account_label(self, name: str) -> str:
        title = self.settings.accounts[name].title
        first = title.split()[0]
        firsts = [a.title.split()[0] for a in self.settings.accounts.values()]
        return first if firsts.count(first) == 1 else title

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

    # -- drafts in the database ----------------------------------------------------------------

    async def _draft(self, draft_id: int) -> TelegramDraftRow | None:
        async with self.sessionmaker() as session:
            return await session.get(TelegramDraftRow, draft_id)

    async def _save(self, draft_id: int, **values: Any) -> None:
        async with self.sessionmaker() as session, session.begin():
            await session.execute(
                update(TelegramDraftRow)
                .where(TelegramDraftRow.id == draft_id)
                .values(updated_at=self.clock(), **values)
            )

    async def _waiting_for_time(self, user_id: int) -> TelegramDraftRow | None:
        async with self.sessionmaker() as session:
            return await session.scalar(
                select(TelegramDraftRow)
                .where(TelegramDraftRow.user_id == user_id, TelegramDraftRow.status == TIME)
                .order_by(TelegramDraftRow.id.desc())
                .limit(1)
            )

    async def _audit(self, user_id: int, action: str, detail: str = "", **ids: int) -> None:
        async with self.sessionmaker() as session, session.begin():
            await DeliveryRepository(session).audit(
                self._actor(user_id), action, self.clock(), detail=detail, **ids
            )

    # -- typed times ---------------------------------------------------------------------------

    async def _typed_time(self, message: Message, draft: TelegramDraftRow, typed: str) -> None:
        tz = self.settings.tz
        try:
            at = parse_local_time(typed, now=self.clock(), tz=tz)
        except DateParseError as exc:
            if exc.problem is DateProblem.PAST and exc.parsed is not None:
                reply = texts.BOT_TIME_PAST.format(at=format_local(exc.parsed, tz))
            else:
                reply = texts.BOT_TIME_UNPARSEABLE.format(typed=typed)
            await message.answer(reply, parse_mode=None)
            return
        await self._save(draft.id, status=CONFIRM, publish_at=at)
        await message.answer(
            texts.BOT_CONFIRM_TIME.format(at=format_local(at, tz)),
            parse_mode=None,
            reply_markup=self._confirm_keyboard(draft.id),
        )

    # -- buttons -------------------------------------------------------------------------------

    async def on_unknown_button(self, query: CallbackQuery) -> None:
        if query.from_user.id not in self.staff:
            await self._refuse_button(query)
            return
        logger.info("user=%s pressed unknown button data=%r", query.from_user.id, query.data)
        await query.answer(texts.BOT_STALE_BUTTON, show_alert=True)

    async def on_draft_button(
        self, query: CallbackQuery, callback_data: DraftCb, bot: Bot
    ) -> None:
        user_id = query.from_user.id
        if user_id not in self.staff:
            await self._refuse_button(query)
            return
        # Presses run as concurrent tasks: two quick toggles must not overwrite each other.
        async with self._locks.setdefault(callback_data.d, asyncio.Lock()):
            await self._draft_button(query, callback_data, bot)

    async def _draft_button(self, query: CallbackQuery, callback_data: DraftCb, bot: Bot) -> None:
        user_id = query.from_user.id
        draft = await self._draft(callback_data.d)
        if draft is None:
            await query.answer(texts.BOT_STALE_BUTTON, show_alert=True)
            return
        if draft.user_id != user_id:
            await query.answer(texts.BOT_NOT_YOURS, show_alert=True)
            return
        action = callback_data.a
        allowed = {
            OPEN: {"acc", "plat", "now", "sched", "cancel"},
            TIME: {"cancel"},
            CONFIRM: {"ok", "retime", "cancel"},
        }.get(draft.status, set())
        if action not in allowed:
            await query.answer(texts.BOT_STALE_BUTTON, show_alert=True)
            return
        if action in ("acc", "plat"):
            await self._toggle(query, draft, action, callback_data.v)
        elif action == "cancel":
            await self._save(draft.id, status=CANCELLED)
            await self._audit(user_id, "draft_cancel", f"draft={draft.id} kind={draft.kind}")
            await query.answer()
            await self._close_message(query, texts.BOT_CANCELLED)
        elif action == "now":
            await self._submit(query, bot, draft, None)
        elif action == "sched" or action == "retime":
            await self._save(draft.id, status=TIME, publish_at=None)
            await query.answer()
            if action == "retime":
                await self._close_message(query, None)
            await bot.send_message(
                draft.chat_id,
                texts.BOT_ASK_TIME.format(zone=self.settings.telegram.timezone),
                parse_mode=None,
            )
        elif action == "ok":
            await self._confirm_time(query, bot, draft)

    async def _close_message(self, query: CallbackQuery, text: str | None) -> None:
        """Take the buttons off the pressed message (and replace its text, if given)."""
        message = query.message
        if not isinstance(message, Message):
            return
        try:
            if text is None:
                await message.edit_reply_markup(reply_markup=None)
            else:
                await message.edit_text(text, parse_mode=None, reply_markup=None)
        except TelegramAPIError as exc:
            logger.info("could not update a bot message: %s", exc.message)

    async def _toggle(
        self, query: CallbackQuery, draft: TelegramDraftRow, what: str, value: str
    ) -> None:
        accounts = _json_list(draft.accounts)
        platforms = _json_list(draft.platforms)
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
                    else [
                        *accounts,
                        value,
                    ]
                )
            else:
                await query.answer(texts.BOT_STALE_BUTTON, show_alert=True)
                return
            accounts = [a for a in self.settings.accounts if a in accounts]
        else:
            known = [str(p) for p in self._platforms()]
            if value not in known:
                await query.answer(texts.BOT_STALE_BUTTON, show_alert=True)
                return
            platforms = (
                [p for p in platforms if p != value]
                if value in platforms
                else [
                    *platforms,
                    value,
                ]
            )
            platforms = [p for p in known if p in platforms]
        await self._save(draft.id, accounts=json.dumps(accounts), platforms=json.dumps(platforms))
        await query.answer()
        message = query.message
        if isinstance(message, Message):
            try:
                await message.edit_text(
                    self._panel_text(accounts, platforms),
                    parse_mode=None,
                    reply_markup=self._panel_keyboard(draft.id, accounts, platforms),
                )
            except TelegramAPIError as exc:
                logger.info("panel not updated: %s", exc.message)

    async def _submit(
        self, query: CallbackQuery, bot: Bot, draft: TelegramDraftRow, at: datetime | None
    ) -> None:
        accounts = _json_list(draft.accounts)
        platforms = [Platform(p) for p in _json_list(draft.platforms)]
        if not accounts or not platforms:
            await query.answer(texts.BOT_NEED_TARGETS, show_alert=True)
            return
        try:
            targets = chosen_targets(self.settings, accounts, platforms)
        except UsageError as exc:
            await query.answer(texts.BOT_TARGETS_INVALID.format(detail=exc), show_alert=True)
            return
        now = self.clock()
        # Claim the draft first, so a double press cannot submit twice.
        async with self.sessionmaker() as session, session.begin():
            claimed = await session.execute(
                update(TelegramDraftRow)
                .where(TelegramDraftRow.id == draft.id, TelegramDraftRow.status == draft.status)
                .values(status=DONE, updated_at=now)
            )
        if not claimed.rowcount:  # type: ignore[attr-defined]
            await query.answer(texts.BOT_STALE_BUTTON, show_alert=True)
            return
        result = await self.service.submit(
            NewPublication(
                content=_content(draft),
                targets=targets,
                publish_at=at or now,
                source=PublicationSource.BOT,
                author=self._actor(draft.user_id),
            ),
            actor=self._actor(draft.user_id),
        )
        await self._save(draft.id, publication_id=result.publication_id)
        await query.answer()
        reply = (
            texts.BOT_SUBMITTED_NOW.format(id=result.publication_id)
            if at is None
            else texts.BOT_SUBMITTED_AT.format(
                id=result.publication_id, at=format_local(at, self.settings.tz)
            )
        )
        await self._close_message(query, reply)
        await TelegramReporter(bot=bot, settings=self.settings, service=self.service).refresh(
            result.publication_id
        )

    async def _confirm_time(self, query: CallbackQuery, bot: Bot, draft: TelegramDraftRow) -> None:
        tz = self.settings.tz
        at = draft.publish_at
        if at is None or at < self.clock():
            await self._save(draft.id, status=TIME, publish_at=None)
            await query.answer()
            await self._close_message(
                query,
                texts.BOT_TIME_PAST.format(at=format_local(at, tz)) if at else texts.BOT_ASK_TIME,
            )
            return
        if draft.kind == COMPOSE:
            await self._submit(query, bot, draft, at)
            return
        if draft.publication_id is None:
            await query.answer(texts.BOT_STALE_BUTTON, show_alert=True)
            return
        await self._save(draft.id, status=DONE)
        moved = await self.service.reschedule(
            draft.publication_id, at, actor=self._actor(draft.user_id)
        )
        await query.answer()
        if moved:
            reply = texts.BOT_QUEUE_RESCHEDULED.format(
                id=draft.publication_id, at=format_local(at, tz)
            )
        else:
            reply = texts.BOT_QUEUE_NOTHING_TO_MOVE.format(id=draft.publication_id)
        await self._close_message(query, reply)
        if moved:
            await TelegramReporter(bot=bot, settings=self.settings, service=self.service).refresh(
                draft.publication_id
            )

    # -- /help ----------------------------------------------------------------

    async def _help(self, message: Message) -> None:
        await message.answer(
            texts.BOT_HELP.format(zone=self.settings.telegram.timezone), parse_mode=None
        )

    # -- deleting ------------------------------------------------------------------------------

    def _source_of_link(self, link: str) -> tuple[int, int] | None:
        match = _POST_LINK.search(link)
        if match is None:
            return None
        message_id = int(match["msg"])
        if match["internal"]:
            return int(f"-100{match['internal']}"), message_id
        for account in self.settings.accounts.values():
            username = account.telegram_channel_username
            if username and username.lower() == match["username"].lower():
                if account.telegram_channel_id is None:
                    return None
                return account.telegram_channel_id, message_id
        return None

    async def _delete_by_link(self, message: Message, link: str) -> None:
        if not link:
            await message.answer(texts.BOT_DELETE_USAGE, parse_mode=None)
            return
        source = self._source_of_link(link)
        info = await self.service.by_source(*source) if source else None
        info = info or await self.service.by_link(link)  # MAX posts, links to copies
        if info is None:
            await message.answer(texts.BOT_DELETE_NOT_FOUND, parse_mode=None)
            return
        await self._ask_delete(message, info.publication_id)

    async def on_staff_chat(self, message: Message, bot: Bot) -> None:
        reply = message.reply_to_message
        user = message.from_user
        text = (message.text or "").strip().lower().strip("!.")
        if reply is None or user is None or text not in texts.DELETE_WORDS:
            return
        if reply.from_user is None or reply.from_user.id != bot.id:
            return
        if user.id not in self.staff:
            await self._refuse(message)
            return
        info = await self.service.by_report(message.chat.id, reply.message_id)
        if info is None:
            await message.reply(texts.BOT_DELETE_NOT_FOUND, parse_mode=None)
            return
        await self._ask_delete(message, info.publication_id)

    async def _ask_delete(self, message: Message, publication_id: int) -> None:
        view = await self.service.view(publication_id)
        if view is None:
            await message.answer(texts.BOT_DELETE_NOT_FOUND, parse_mode=None)
            return
        if view.info.deleted_at is not None:
            await message.answer(
                texts.BOT_DELETE_ALREADY.format(id=publication_id), parse_mode=None
            )
            return
        targets = ", ".join(
            f"{self._account_label(d.account)} · {platform_name(d.platform)}"
            for d in view.deliveries
            if d.account in self.settings.accounts
        )
        await message.reply(
            texts.BOT_DELETE_CONFIRM.format(id=publication_id, targets=targets),
            parse_mode=None,
            reply_markup=InlineKeyboardMarkup(
                inline_keyboard=[
                    [
                        InlineKeyboardButton(
                            text=texts.BOT_BUTTON_DELETE_CONFIRM,
                            callback_data=DeleteCb(a="yes", p=publication_id).pack(),
                        ),
                        InlineKeyboardButton(
                            text=texts.BOT_BUTTON_DELETE_KEEP,
                            callback_data=DeleteCb(a="no", p=publication_id).pack(),
                        ),
                    ]
                ]
            ),
        )

    async def on_delete_button(
        self, query: CallbackQuery, callback_data: DeleteCb, bot: Bot
    ) -> None:
        user_id = query.from_user.id
        if user_id not in self.staff:
            await self._refuse_button(query)
            return
        pid = callback_data.p
        view = await self.service.view(pid)
        if view is None or callback_data.a not in ("yes", "no"):
            await query.answer(texts.BOT_STALE_BUTTON, show_alert=True)
            return
        if callback_data.a == "no":
            await query.answer()
            await self._close_message(query, texts.BOT_DELETE_KEPT)
            return
        if view.info.deleted_at is not None:
            await query.answer(texts.BOT_DELETE_ALREADY.format(id=pid), show_alert=True)
            return
        await query.answer()
        await self._close_message(query, None)
        result = await self.service.delete(pid, actor=self._actor(user_id))
        await add_notes(self.sessionmaker, pid, copy_notes("delete", result.copies), self.clock())
        await self._close_message(query, texts.BOT_DELETE_DONE.format(id=pid))
        await TelegramReporter(bot=bot, settings=self.settings, service=self.service).refresh(pid)
