"""The staff bot's events: /event creates one step by step, /events lists them,
/event_move N and /event_cancel N change them and offer the «перенос»/«отменено» notice and an
in-place edit of the published announcement.

Staff only. The dialog state lives in the database (a restart mid-dialog loses nothing); every
button press re-reads it and re-checks who pressed. All changes go through the EventPlanner, so
every post is an ordinary publication in the queue.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from aiogram import Bot, F, Router
from aiogram.exceptions import TelegramAPIError
from aiogram.filters.callback_data import CallbackData
from aiogram.types import (
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
)
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crosspost import texts
from crosspost.config import Settings
from crosspost.dates import DateParseError, DateProblem, explain, parse_local_time
from crosspost.db import EventDraftRow
from crosspost.errors import PublishError, UsageError
from crosspost.models import MediaItem, MediaKind, Platform
from crosspost.planning import wording
from crosspost.planning.drafts import EventDraftStore
from crosspost.planning.events import (
    EventError,
    EventPlanner,
    NewEvent,
    Planned,
    default_reminders,
    media_from_json,
    media_to_json,
)
from crosspost.service import CopyOutcome, PublicationService

logger = logging.getLogger(__name__)

Clock = Callable[[], datetime]
PhotoFetcher = Callable[[Bot, Message], Awaitable[MediaItem]]

# Steps of the dialog that wait for typed input.
TITLE, WHEN, PLACE, TEXT, PHOTO, PANEL = "title", "when", "place", "text", "photo", "panel"
ANNOUNCE_AT, REMINDERS, MOVE = "announce_at", "reminders", "move"
_TYPED_STEPS = frozenset({TITLE, WHEN, PLACE, TEXT, PHOTO, ANNOUNCE_AT, REMINDERS, MOVE})
_COMMANDS = frozenset({"event", "events", "event_move", "event_cancel", "cancel"})
_BEFORE = re.compile(
    r"^за\s+(?P<n>\d+)\s*(?P<unit>мин\w*|час\w*|ч|дн\w*|день|сут\w*)$", re.IGNORECASE
)
_EVE = re.compile(r"^накануне(?:\s+в)?\s+(?P<H>\d{1,2})[:.](?P<M>\d{2})$", re.IGNORECASE)
_NONE_WORDS = frozenset({"нет", "без напоминаний", "не нужно", "-"})


class EventCb(CallbackData, prefix="ev"):
    a: str  # acc | plat | now | later | rem | remdef | create | discard | photo0 |
    #          cancel | keep | notice | edit | done
    d: int  # draft id (dialog buttons) or event id (after a move or cancel)
    v: str = ""


async def fetch_photo(bot: Bot, message: Message, *, store_dir: Path, is_local: bool) -> MediaItem:
    """The largest size of the message's photo, in the media store."""
    from adapters.telegram.files import fetch_file

    if not message.photo:
        raise ValueError("the message has no photo")
    largest = message.photo[-1]
    return await fetch_file(
        bot,
        file_id=largest.file_id,
        file_size=largest.file_size,
        file_name=None,
        mime_type="image/jpeg",
        kind=MediaKind.PHOTO,
        store_dir=store_dir,
        is_local=is_local,
    )


def _command(text: str) -> tuple[str, str] | None:
    if not text.startswith("/"):
        return None
    head, _, argument = text.partition(" ")
    return head[1:].split("@", 1)[0].lower(), argument.strip()


class EventDialog:
    def __init__(
        self,
        *,
        settings: Settings,
        service: PublicationService,
        sessionmaker: async_sessionmaker[AsyncSession],
        media_dir: Path,
        clock: Clock,
        on_change: Callable[[], Awaitable[None]] | None = None,
        photo_fetcher: PhotoFetcher | None = None,
    ) -> None:
        self.settings = settings
        self.sessionmaker = sessionmaker
        self.clock = clock
        self.drafts = EventDraftStore(sessionmaker, clock)
        self.planner = EventPlanner(
            settings=settings,
            service=service,
            sessionmaker=sessionmaker,
            clock=clock,
            on_change=on_change,
        )

        async def default_fetch(bot: Bot, message: Message) -> MediaItem:
            return await fetch_photo(
                bot, message, store_dir=media_dir, is_local=settings.telegram.is_local
            )

        self.fetch_photo = photo_fetcher or default_fetch
        self.router = Router(name="staff-events")
        self.router.message.register(self.on_message, F.chat.type == "private", self._ours)
        self.router.callback_query.register(self.on_button, EventCb.filter())

    # -- which messages are ours --------------------------------------------------------------

    async def _ours(self, message: Message) -> bool:
        """Our commands and input for a step of ours; anything else falls through to the post
        dialog. (Strangers are refused by the staff router's middleware, after this filter.)"""
        user = message.from_user
        if user is None:
            return False
        command = _command((message.text or "").strip())
        if command is not None:
            if command[0] == "cancel":
                return await self._draft_of(user.id) is not None
            return command[0] in _COMMANDS
        draft = await self._draft_of(user.id)
        return draft is not None and draft.step in _TYPED_STEPS

    # -- drafts -------------------------------------------------------------------------------

    async def _draft_of(self, user_id: int) -> EventDraftRow | None:
        return await self.drafts.latest_of(user_id)

    async def _draft(self, draft_id: int) -> EventDraftRow | None:
        return await self.drafts.get(draft_id)

    async def _save(self, draft_id: int, *, step: str | None = None, **fields: Any) -> None:
        await self.drafts.save(draft_id, step=step, **fields)

    async def _start(self, user_id: int, chat_id: int, step: str, **fields: Any) -> int:
        return await self.drafts.start(user_id, chat_id, step, **fields)

    async def _drop(self, draft_id: int) -> None:
        await self.drafts.drop(draft_id)

    # -- messages -----------------------------------------------------------------------------

    async def on_message(self, message: Message, bot: Bot) -> None:
        user = message.from_user
        if user is None:
            return
        text = (message.text or "").strip()
        command = _command(text)
        draft = await self._draft_of(user.id)
        if command is not None:
            name, argument = command
            if name == "cancel":
                if draft is not None:
                    await self._drop(draft.id)
                    await self._answer(message, texts.BOT_EVENT_DISCARDED)
                return
            if name == "event":
                await self._start(user.id, message.chat.id, TITLE)
                await self._answer(message, texts.BOT_EVENT_ASK_TITLE)
                return
            if name == "events":
                await self._list(message)
                return
            if name in ("event_move", "event_cancel"):
                await self._change(message, name, argument)
                return
        if draft is None:
            return
        await self._typed(message, bot, draft, text)

    async def _answer(
        self, message: Message, text: str, markup: InlineKeyboardMarkup | None = None
    ) -> Message:
        return await message.answer(text, parse_mode=None, reply_markup=markup)

    def _when(self, iso: str) -> str:
        return wording.when(datetime.fromisoformat(iso), self.settings.tz, now=self.clock())

    async def _typed(self, message: Message, bot: Bot, draft: EventDraftRow, text: str) -> None:
        step = draft.step
        if step == PHOTO:
            if message.photo:
                try:
                    item = await self.fetch_photo(bot, message)
                except PublishError as exc:
                    logger.warning("event photo not fetched: %s", exc)
                    await self._answer(message, texts.BOT_EVENT_PHOTO_ONLY)
                    return
                await self._save(draft.id, step=PANEL, photo=media_to_json(item))
                await self._panel(message, draft.id)
                return
            await self._answer(message, texts.BOT_EVENT_PHOTO_ONLY, self._no_photo(draft.id))
            return
        if not text:
            await self._answer(message, texts.BOT_EVENT_TEXT_ONLY)
            return
        if step == TITLE:
            await self._save(draft.id, step=WHEN, title=text)
            await self._answer(message, texts.BOT_EVENT_ASK_WHEN)
        elif step == WHEN:
            at = await self._time(message, text)
            if at is not None:
                await self._save(draft.id, step=PLACE, starts_at=at.isoformat())
                await self._answer(message, texts.BOT_EVENT_ASK_PLACE)
        elif step == PLACE:
            await self._save(draft.id, step=TEXT, place=text)
            await self._answer(message, texts.BOT_EVENT_ASK_TEXT)
        elif step == TEXT:
            await self._save(draft.id, step=PHOTO, text=text)
            await self._answer(message, texts.BOT_EVENT_ASK_PHOTO, self._no_photo(draft.id))
        elif step == ANNOUNCE_AT:
            at = await self._time(message, text)
            if at is not None:
                await self._save(draft.id, step=PANEL, announce_at=at.isoformat())
                await self._panel(message, draft.id)
        elif step == REMINDERS:
            reminders = await self._reminders(message, draft, text)
            if reminders is not None:
                await self._save(
                    draft.id, step=PANEL, reminders=[r.isoformat() for r in reminders]
                )
                await self._panel(message, draft.id)
        elif step == MOVE:
            at = await self._time(message, text)
            if at is not None:
                event_id = int(json.loads(draft.data)["event_id"])
                await self._drop(draft.id)
                await self._moved(message, event_id, at, user_id=draft.user_id)

    async def _time(self, message: Message, typed: str) -> datetime | None:
        try:
            return parse_local_time(typed, now=self.clock(), tz=self.settings.tz)
        except DateParseError as exc:
            # The same refusals, with examples, as when a post is scheduled.
            await self._answer(message, explain(exc, self.settings.tz, now=self.clock()))
            return None

    async def _reminders(
        self, message: Message, draft: EventDraftRow, typed: str
    ) -> list[datetime] | None:
        """Reminder times typed one per line: a local time, «накануне в 10:00», «за 2 часа»;
        «нет» for none. Times already past are kept (the planner skips and names them)."""
        data = json.loads(draft.data)
        starts = datetime.fromisoformat(data["starts_at"])
        tz = self.settings.tz
        result: list[datetime] = []
        for line in (x.strip() for x in typed.splitlines()):
            if not line:
                continue
            if line.lower() in _NONE_WORDS:
                return []
            before = _BEFORE.match(line)
            eve = _EVE.match(line)
            if before is not None:
                n, unit = int(before["n"]), before["unit"].lower()
                if unit.startswith("мин"):
                    result.append(starts - timedelta(minutes=n))
                elif unit.startswith(("час", "ч")):
                    result.append(starts - timedelta(hours=n))
                else:
                    result.append(starts - timedelta(days=n))
            elif eve is not None:
                if int(eve["H"]) > 23 or int(eve["M"]) > 59:
                    await self._answer(message, texts.BOT_EVENT_BAD_TIME.format(typed=line))
                    return None
                result.extend(default_reminders([f"1d@{eve['H']}:{eve['M']}"], starts, tz))
            else:
                try:
                    result.append(parse_local_time(line, now=self.clock(), tz=tz))
                except DateParseError as exc:
                    if exc.problem is DateProblem.PAST and exc.parsed is not None:
                        result.append(exc.parsed)
                        continue
                    await self._answer(message, texts.BOT_EVENT_BAD_TIME.format(typed=line))
                    return None
        late = [r for r in result if r >= starts]
        if late:
            await self._answer(
                message, texts.BOT_EVENT_REMINDER_AFTER_START.format(typed=self._fmt(late[0]))
            )
            return None
        return sorted(set(result))

    def _fmt(self, at: datetime) -> str:
        return at.astimezone(self.settings.tz).strftime("%d.%m %H:%M")

    # -- the panel ----------------------------------------------------------------------------

    def _no_photo(self, draft_id: int) -> InlineKeyboardMarkup:
        return InlineKeyboardMarkup(
            inline_keyboard=[
                [
                    InlineKeyboardButton(
                        text=texts.BOT_EVENT_NO_PHOTO,
                        callback_data=EventCb(a="photo0", d=draft_id).pack(),
                    )
                ]
            ]
        )

    def _defaults(self, data: dict[str, Any]) -> dict[str, Any]:
        """Accounts and platforms start as every account and every platform it has."""
        if "accounts" not in data:
            data["accounts"] = list(self.settings.accounts)
        if "platforms" not in data:
            data["platforms"] = sorted(
                {str(p) for a in self.settings.accounts.values() for p in a.platforms}
            )
        return data

    def _reminder_times(self, data: dict[str, Any]) -> list[datetime]:
        starts = datetime.fromisoformat(data["starts_at"])
        if data.get("reminders") is None:
            return default_reminders(self.settings.events.reminders, starts, self.settings.tz)
        return [datetime.fromisoformat(r) for r in data["reminders"]]

    def _panel_text(self, data: dict[str, Any]) -> str:
        tz, now = self.settings.tz, self.clock()
        starts = datetime.fromisoformat(data["starts_at"])
        reminders = self._reminder_times(data)
        return texts.BOT_EVENT_PANEL.format(
            title=data["title"],
            When=wording.capitalized(wording.when(starts, tz, now=now)),
            place=data["place"],
            accounts=", ".join(
                self.settings.accounts[a].title
                for a in data["accounts"]
                if a in self.settings.accounts
            )
            or "—",
            platforms=", ".join(texts.PLATFORM_NAMES.get(p, p) for p in data["platforms"]) or "—",
            announce=(
                self._fmt(datetime.fromisoformat(data["announce_at"]))
                if data.get("announce_at")
                else texts.EVENT_ANNOUNCE_NOW
            ),
            reminders=", ".join(self._fmt(r) for r in reminders) or texts.EVENT_NO_REMINDERS,
        )

    def _panel_keyboard(self, draft_id: int, data: dict[str, Any]) -> InlineKeyboardMarkup:
        def button(text: str, action: str, value: str = "") -> InlineKeyboardButton:
            return InlineKeyboardButton(
                text=text, callback_data=EventCb(a=action, d=draft_id, v=value).pack()
            )

        def mark(label: str, on: bool) -> str:
            return (texts.BOT_BUTTON_CHECKED if on else texts.BOT_BUTTON_UNCHECKED).format(
                label=label
            )

        accounts = [
            button(mark(self.settings.account_label(name), name in data["accounts"]), "acc", name)
            for name in self.settings.accounts
        ]
        available = sorted({str(p) for a in self.settings.accounts.values() for p in a.platforms})
        platforms = [
            button(mark(texts.PLATFORM_BUTTONS.get(p, p), p in data["platforms"]), "plat", p)
            for p in available
        ]
        return InlineKeyboardMarkup(
            inline_keyboard=[
                accounts,
                platforms,
                [
                    button(
                        mark(texts.BOT_EVENT_BUTTON_ANNOUNCE_NOW, not data.get("announce_at")),
                        "now",
                    ),
                    button(texts.BOT_EVENT_BUTTON_ANNOUNCE_LATER, "later"),
                ],
                [
                    button(texts.BOT_EVENT_BUTTON_REMINDERS, "rem"),
                    button(texts.BOT_EVENT_BUTTON_DEFAULT_REMINDERS, "remdef"),
                ],
                [
                    button(texts.BOT_EVENT_BUTTON_CREATE, "create"),
                    button(texts.BOT_EVENT_BUTTON_DISCARD, "discard"),
                ],
            ]
        )

    async def _panel(self, message: Message, draft_id: int) -> None:
        draft = await self._draft(draft_id)
        if draft is None:
            return
        data = self._defaults(json.loads(draft.data))
        await self._save(draft_id, accounts=data["accounts"], platforms=data["platforms"])
        await self._answer(message, self._panel_text(data), self._panel_keyboard(draft_id, data))

    async def _refresh(self, query: CallbackQuery, draft_id: int) -> None:
        draft = await self._draft(draft_id)
        if draft is None or not isinstance(query.message, Message):
            return
        data = self._defaults(json.loads(draft.data))
        try:
            await query.message.edit_text(
                self._panel_text(data),
                parse_mode=None,
                reply_markup=self._panel_keyboard(draft_id, data),
            )
        except TelegramAPIError as exc:  # "message is not modified" and the like
            logger.debug("event panel not edited: %s", exc.message)

    # -- buttons ------------------------------------------------------------------------------

    async def on_button(self, query: CallbackQuery, callback_data: EventCb, bot: Bot) -> None:
        user_id = query.from_user.id
        action = callback_data.a
        if action in ("cancel", "keep", "notice", "edit", "done"):
            await self._after_change(query, action, callback_data.d)
            return
        draft = await self._draft(callback_data.d)
        if draft is None or draft.user_id != user_id:
            await query.answer(texts.BOT_EVENT_STALE, show_alert=True)
            return
        data = self._defaults(json.loads(draft.data))
        await query.answer()
        message = query.message if isinstance(query.message, Message) else None
        if action == "photo0" and draft.step == PHOTO:
            await self._save(draft.id, step=PANEL)
            if message is not None:
                await self._panel(message, draft.id)
            return
        if draft.step not in (PANEL, ANNOUNCE_AT, REMINDERS):
            return
        if action in ("acc", "plat"):
            key = "accounts" if action == "acc" else "platforms"
            chosen = list(data[key])
            value = callback_data.v
            if value in chosen:
                chosen.remove(value)
            else:
                chosen.append(value)
            await self._save(draft.id, step=PANEL, **{key: chosen})
            await self._refresh(query, draft.id)
        elif action == "now":
            await self._save(draft.id, step=PANEL, announce_at=None)
            await self._refresh(query, draft.id)
        elif action == "later":
            await self._save(draft.id, step=ANNOUNCE_AT)
            if message is not None:
                await self._answer(message, texts.BOT_EVENT_ASK_ANNOUNCE_AT)
        elif action == "rem":
            await self._save(draft.id, step=REMINDERS)
            if message is not None:
                await self._answer(message, texts.BOT_EVENT_ASK_REMINDERS)
        elif action == "remdef":
            await self._save(draft.id, step=PANEL, reminders=None)
            await self._refresh(query, draft.id)
        elif action == "discard":
            await self._drop(draft.id)
            if message is not None:
                await message.edit_text(texts.BOT_EVENT_DISCARDED, parse_mode=None)
        elif action == "create" and message is not None:
            await self._create(message, draft.id, data, user_id)

    async def _create(
        self, message: Message, draft_id: int, data: dict[str, Any], user_id: int
    ) -> None:
        if not data["accounts"] or not data["platforms"]:
            await self._answer(message, texts.BOT_EVENT_CHOOSE_TARGETS)
            return
        accounts = tuple(data["accounts"])
        platforms = tuple(
            Platform(p)
            for p in data["platforms"]
            if any(Platform(p) in self.settings.accounts[a].platforms for a in accounts)
        )
        try:
            planned = await self.planner.create(
                NewEvent(
                    title=data["title"],
                    place=data["place"],
                    text=data.get("text", ""),
                    starts_at=datetime.fromisoformat(data["starts_at"]),
                    accounts=accounts,
                    platforms=platforms,
                    photo=media_from_json(data.get("photo")),
                    announce_at=(
                        datetime.fromisoformat(data["announce_at"])
                        if data.get("announce_at")
                        else None
                    ),
                    reminders=(
                        tuple(datetime.fromisoformat(r) for r in data["reminders"])
                        if data.get("reminders") is not None
                        else None
                    ),
                ),
                actor=f"tg:{user_id}",
            )
        except EventError as exc:
            await self._answer(message, exc.text)
            return
        except UsageError as exc:
            logger.info("event not created: %s", exc)
            await self._answer(message, texts.BOT_EVENT_CHOOSE_TARGETS)
            return
        await self._drop(draft_id)
        event = planned.event
        announcement = event.announcement
        now = self.clock()
        lines = [
            texts.EVENT_CREATED.format(
                id=event.event_id,
                title=event.title,
                when=wording.when(event.starts_at, self.settings.tz, now=now),
                place=event.place,
                announce=(
                    self._fmt(announcement.due_at)
                    if announcement is not None and announcement.due_at > now
                    else texts.EVENT_ANNOUNCE_NOW
                ),
                reminders=", ".join(self._fmt(r.due_at) for r in event.reminders if r.due_at > now)
                or texts.EVENT_NO_REMINDERS,
            )
        ]
        lines.extend(self._skipped(planned))
        try:
            await message.edit_reply_markup(reply_markup=None)
        except TelegramAPIError as exc:
            logger.debug("event panel buttons not removed: %s", exc.message)
        await self._answer(message, "\n".join(lines))

    def _skipped(self, planned: Planned) -> list[str]:
        if not planned.skipped:
            return []
        items = ", ".join(self._fmt(at) for at in planned.skipped)
        return [texts.EVENT_SKIPPED_REMINDERS.format(items=items)]

    # -- list, move, cancel -------------------------------------------------------------------

    async def _list(self, message: Message) -> None:
        events = await self.planner.upcoming()
        if not events:
            await self._answer(message, texts.EVENT_LIST_EMPTY)
            return
        now = self.clock()
        lines = [texts.EVENT_LIST_TITLE]
        for e in events[:30]:
            lines.append(
                texts.EVENT_LIST_LINE.format(
                    id=e.event_id,
                    when=wording.when(e.starts_at, self.settings.tz, now=now),
                    title=e.title,
                    place=e.place,
                    cancelled=texts.EVENT_LIST_CANCELLED if e.status == "cancelled" else "",
                )
            )
        lines.append("")
        lines.append(texts.BOT_EVENT_LIST_HINT)
        await self._answer(message, "\n".join(lines))

    async def _change(self, message: Message, command: str, argument: str) -> None:
        user = message.from_user
        if user is None:
            return
        usage = (
            texts.BOT_EVENT_USAGE_MOVE
            if command == "event_move"
            else (texts.BOT_EVENT_USAGE_CANCEL)
        )
        if not argument.lstrip("№").isdigit():
            await self._answer(message, usage)
            return
        event_id = int(argument.lstrip("№"))
        event = await self.planner.get(event_id)
        if event is None:
            await self._answer(message, texts.EVENT_NOT_FOUND.format(id=event_id))
            return
        if event.status == "cancelled":
            await self._answer(message, texts.EVENT_ALREADY_CANCELLED.format(id=event_id))
            return
        when = wording.when(event.starts_at, self.settings.tz, now=self.clock())
        if command == "event_move":
            await self._start(user.id, message.chat.id, MOVE, event_id=event_id)
            await self._answer(
                message,
                texts.BOT_EVENT_ASK_NEW_TIME.format(id=event_id, title=event.title, when=when),
            )
            return

        def button(text: str, action: str) -> InlineKeyboardButton:
            return InlineKeyboardButton(
                text=text, callback_data=EventCb(a=action, d=event_id).pack()
            )

        await self._answer(
            message,
            texts.BOT_EVENT_ASK_CANCEL.format(id=event_id, title=event.title, when=when),
            InlineKeyboardMarkup(
                inline_keyboard=[
                    [
                        button(texts.BOT_EVENT_BUTTON_CONFIRM_CANCEL, "cancel"),
                        button(texts.BOT_EVENT_BUTTON_KEEP, "keep"),
                    ]
                ]
            ),
        )

    def _offer(self, event_id: int, *, published: bool, cancelled: bool) -> InlineKeyboardMarkup:
        def button(text: str, action: str) -> InlineKeyboardButton:
            return InlineKeyboardButton(
                text=text, callback_data=EventCb(a=action, d=event_id).pack()
            )

        row = [button(texts.BOT_EVENT_BUTTON_POST_NOTICE, "notice")]
        if published:
            row.append(button(texts.BOT_EVENT_BUTTON_EDIT_ANNOUNCEMENT, "edit"))
        return InlineKeyboardMarkup(
            inline_keyboard=[row, [button(texts.BOT_EVENT_BUTTON_NO_NOTICE, "done")]]
        )

    async def _moved(self, message: Message, event_id: int, at: datetime, *, user_id: int) -> None:
        try:
            planned = await self.planner.move(event_id, at, actor=f"tg:{user_id}")
        except EventError as exc:
            await self._answer(message, exc.text)
            return
        lines = [
            texts.EVENT_MOVED_DONE.format(
                id=event_id,
                when=wording.when(at, self.settings.tz, now=self.clock()),
                shifted=planned.shifted,
            )
        ]
        lines.extend(self._skipped(planned))
        lines.append(texts.BOT_EVENT_OFFER_NOTICE_MOVED)
        await self._answer(
            message,
            "\n".join(lines),
            self._offer(event_id, published=planned.announcement_published, cancelled=False),
        )

    async def _after_change(self, query: CallbackQuery, action: str, event_id: int) -> None:
        """Buttons under a cancel question or a move/cancel result."""
        actor = f"tg:{query.from_user.id}"
        message = query.message if isinstance(query.message, Message) else None
        await query.answer()
        if message is None:
            return
        if action == "keep":
            await message.edit_text(texts.BOT_EVENT_KEPT, parse_mode=None)
            return
        if action == "done":
            await message.edit_reply_markup(reply_markup=None)
            return
        if action == "cancel":
            try:
                planned = await self.planner.cancel(event_id, actor=actor)
            except EventError as exc:
                await message.edit_text(exc.text, parse_mode=None)
                return
            await message.edit_text(
                texts.EVENT_CANCELLED_DONE.format(id=event_id, cancelled=planned.cancelled)
                + "\n"
                + texts.BOT_EVENT_OFFER_NOTICE_CANCELLED,
                parse_mode=None,
                reply_markup=self._offer(
                    event_id, published=planned.announcement_published, cancelled=True
                ),
            )
            return
        if action == "notice":
            try:
                publication_id = await self.planner.post_notice(event_id, actor=actor)
            except EventError as exc:
                await self._answer(message, exc.text)
                return
            await self._drop_button(message, "notice")
            await self._answer(
                message, texts.BOT_EVENT_NOTICE_QUEUED.format(publication_id=publication_id)
            )
            return
        if action == "edit":
            result = await self.planner.edit_announcement(event_id, actor=actor)
            await self._drop_button(message, "edit")
            if result is None or not result.changed:
                await self._answer(message, texts.BOT_EVENT_ANNOUNCEMENT_UNCHANGED)
                return
            await self._answer(message, texts.BOT_EVENT_ANNOUNCEMENT_EDIT_QUEUED)
            unable = [c for c in result.copies if c.outcome is not CopyOutcome.DONE]
            if unable:
                names = texts.PLATFORM_NAMES
                await self._answer(
                    message,
                    texts.BOT_EVENT_ANNOUNCEMENT_NOT_EDITED.format(
                        copies=", ".join(
                            f"{names.get(str(c.remote.platform), '')} {c.remote.url or ''}".strip()
                            for c in unable
                        )
                    ),
                )

    async def _drop_button(self, message: Message, action: str) -> None:
        """Take a pressed one-time button off the message, so a second press cannot repeat it."""
        markup = message.reply_markup
        if markup is None:
            return
        rows = [
            [
                b
                for b in row
                if not (b.callback_data and EventCb.unpack(b.callback_data).a == action)
            ]
            for row in markup.inline_keyboard
        ]
        rows = [r for r in rows if r]
        try:
            await message.edit_reply_markup(
                reply_markup=InlineKeyboardMarkup(inline_keyboard=rows) if rows else None
            )
        except TelegramAPIError as exc:
            logger.debug("buttons not updated: %s", exc.message)
