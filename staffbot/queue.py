"""`/queue` in the staff bot: the scheduled publications as a small calendar, one message per
day, with a card per post to cancel it, move it or change its text; and the retry/cancel buttons
on staff-chat reports.

Staff only: the router sits under staffbot.access.staff_router, which refuses strangers once.
Callback data is only a pointer: every press re-reads the publication, delivery or action.
A new time or text being typed is kept in the database (crosspost.agenda.QueueActions).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time
from typing import Any

from aiogram import Bot, F, Router
from aiogram.dispatcher.event.bases import SkipHandler
from aiogram.exceptions import TelegramAPIError
from aiogram.filters import Command
from aiogram.filters.callback_data import CallbackData
from aiogram.types import (
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
)
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crosspost import texts
from crosspost.agenda import ActionKind, ActionStatus, Agenda, QueueAction, QueueActions
from crosspost.agenda import ScheduledPost as Post
from crosspost.config import Settings
from crosspost.dates import (
    DateParseError,
    NeedsTime,
    Resolved,
    describe_day,
    describe_local,
    explain,
    parse_time_on,
    parse_when,
    quick_picks,
)
from crosspost.models import Content, DeliveryStatus, Platform, Target
from crosspost.richtext import from_telegram
from crosspost.service import PublicationService
from staffbot.mirror import part_from_message
from staffbot.reports import DeliveryCb
from staffbot.ui import NO_PREVIEW, Reporter, ReporterFor, account_label, close_message

logger = logging.getLogger(__name__)

Clock = Callable[[], datetime]

# Posts per page of /queue, in time order: a day cut by a page boundary goes on on the next page.
PAGE_POSTS = 10
_LINE_EXCERPT = 48
_BUTTON_EXCERPT = 28
_CARD_TEXT = 1500
# Telegram takes 4096 characters a message: the new text is shown up to this, with the preamble.
_CONFIRM_TEXT = 3500
# A short text sent while a new time is awaited is the time; anything longer is a new post.
_TIME_MAX_CHARS = 60


class QueueCb(CallbackData, prefix="q"):
    a: str  # open | cancel | cancel_yes | cancel_no | move | text
    p: int  # publication id


class QueuePageCb(CallbackData, prefix="qp"):
    n: int  # page number, from 0


class QueueActionCb(CallbackData, prefix="qa"):
    a: str  # ok | again | drop | pick
    i: int  # action id
    t: int = 0  # pick: the time offered, Unix seconds


@dataclass(frozen=True, kw_only=True)
class DayBlock:
    day: date
    continued: bool
    posts: tuple[Post, ...]


def paginate(posts: Sequence[Post], settings: Settings) -> list[list[DayBlock]]:
    """Posts (earliest first) → pages of PAGE_POSTS posts, each page cut into local days."""
    pages: list[list[DayBlock]] = []
    for start in range(0, len(posts), PAGE_POSTS):
        page: list[DayBlock] = []
        for post in posts[start : start + PAGE_POSTS]:
            day = post.at.astimezone(settings.tz).date()
            if page and page[-1].day == day:
                page[-1] = replace(page[-1], posts=(*page[-1].posts, post))
                continue
            previous = posts[start - 1] if start and not page else None
            continued = previous is not None and previous.at.astimezone(settings.tz).date() == day
            page.append(DayBlock(day=day, continued=continued, posts=(post,)))
        pages.append(page)
    return pages


def excerpt(text: str, limit: int) -> str:
    flat = " ".join(text.split())
    if len(flat) <= limit:
        return flat
    cut = flat[:limit].rsplit(" ", 1)[0] or flat[:limit]
    return cut.rstrip(",.;:—- ") + texts.ELLIPSIS


def excerpt_lines(text: str, limit: int) -> str:
    """The text as typed (line breaks kept), cut to `limit` characters."""
    return text if len(text) <= limit else text[:limit].rstrip() + texts.ELLIPSIS


class QueueScreen:
    def __init__(
        self,
        *,
        settings: Settings,
        service: PublicationService,
        sessionmaker: async_sessionmaker[AsyncSession],
        clock: Clock,
        reporter_for: ReporterFor,
    ) -> None:
        self.settings = settings
        self.service = service
        self.sessionmaker = sessionmaker
        self.clock = clock
        self.reporter_for = reporter_for
        self.agenda = Agenda(sessionmaker)
        self.actions = QueueActions(sessionmaker, clock)
        # Under the staff router: its middleware refuses strangers once.
        private = F.chat.type == "private"
        self.router = Router(name="staff-queue")
        self.router.message.register(self.on_queue, Command("queue", ignore_case=True), private)
        self.router.message.register(self.on_typed, private, self._waiting)
        self.router.callback_query.register(self.on_page, QueuePageCb.filter())
        self.router.callback_query.register(self.on_post_button, QueueCb.filter())
        self.router.callback_query.register(self.on_action_button, QueueActionCb.filter())
        self.router.callback_query.register(self.on_delivery_button, DeliveryCb.filter())

    def _actor(self, user_id: int) -> str:
        return f"tg:{user_id}"

    def _reporter(self, bot: Bot) -> Reporter:
        return self.reporter_for(bot)

    # -- words -------------------------------------------------------------------------------

    def _day(self, day: date) -> str:
        values = {
            "weekday": texts.QUEUE_WEEKDAYS[day.weekday()],
            "day": day.day,
            "month": texts.MONTHS_GENITIVE[day.month - 1],
            "year": day.year,
        }
        this_year = self.clock().astimezone(self.settings.tz).year
        return (texts.QUEUE_DAY if day.year == this_year else texts.QUEUE_DAY_YEAR).format(
            **values
        )

    def _when(self, at: datetime) -> str:
        """«в среду, 2 декабря, в 15:12 (по владивостокскому времени)»."""
        return describe_local(at, self.settings.tz, now=self.clock())

    def _at(self, at: datetime) -> str:
        local = at.astimezone(self.settings.tz)
        return texts.QUEUE_AT.format(day=self._day(local.date()), time=local.strftime("%H:%M"))

    def _time(self, at: datetime) -> str:
        return at.astimezone(self.settings.tz).strftime("%H:%M")

    def _targets(self, targets: Sequence[Target]) -> str:
        """«Администрация, Глава · VK, OK»; accounts with other platforms form another group."""
        platforms: dict[str, set[Platform]] = {}
        for t in targets:
            platforms.setdefault(t.account, set()).add(t.platform)
        order = [
            *self.settings.accounts,
            *(a for a in platforms if a not in self.settings.accounts),
        ]
        groups: dict[tuple[Platform, ...], list[str]] = {}
        for account in order:
            if account in platforms:
                key = tuple(p for p in Platform if p in platforms[account])
                label = (
                    account_label(self.settings, account)
                    if account in self.settings.accounts
                    else account
                )
                groups.setdefault(key, []).append(label)
        return texts.QUEUE_TARGET_GROUPS.join(
            texts.QUEUE_TARGETS.format(
                accounts=", ".join(accounts),
                platforms=", ".join(texts.PLATFORM_BUTTONS.get(str(p), str(p)) for p in key),
            )
            for key, accounts in groups.items()
        )

    def _excerpt(self, post: Post, limit: int) -> str:
        if not post.text.strip():
            return texts.QUEUE_NO_TEXT.format(count=post.media)
        return excerpt(post.text, limit)

    # -- the calendar ----------------------------------------------------------------------------

    async def on_queue(self, message: Message) -> None:
        await self._send_page(message.chat.id, message.bot, 0)

    async def on_page(self, query: CallbackQuery, callback_data: QueuePageCb, bot: Bot) -> None:
        await query.answer()
        chat_id = query.message.chat.id if query.message else query.from_user.id
        await self._send_page(chat_id, bot, callback_data.n)

    async def _send_page(self, chat_id: int, bot: Bot | None, number: int) -> None:
        if bot is None:
            return
        posts = await self.agenda.scheduled()
        if not posts:
            await bot.send_message(chat_id, texts.QUEUE_EMPTY, parse_mode=None)
            return
        pages = paginate(posts, self.settings)
        number = max(0, min(number, len(pages) - 1))
        page = pages[number]
        before = sum(len(b.posts) for p in pages[:number] for b in p)
        shown = sum(len(b.posts) for b in page)
        for index, block in enumerate(page):
            header = self._day(block.day)
            if block.continued:
                header = texts.QUEUE_DAY_CONTINUED.format(day=header)
            lines = [header, ""]
            rows: list[list[InlineKeyboardButton]] = []
            for post in block.posts:
                lines.append(
                    texts.QUEUE_LINE.format(
                        time=self._time(post.at),
                        targets=self._targets(post.targets),
                        text=self._excerpt(post, _LINE_EXCERPT),
                    )
                )
                rows.append(
                    [
                        InlineKeyboardButton(
                            text=texts.QUEUE_BUTTON_POST.format(
                                time=self._time(post.at),
                                text=self._excerpt(post, _BUTTON_EXCERPT),
                            ),
                            callback_data=QueueCb(a="open", p=post.publication_id).pack(),
                        )
                    ]
                )
            if index == len(page) - 1 and len(pages) > 1:
                span = f"{before + 1}–{before + shown}" if before else str(shown)
                lines += ["", texts.QUEUE_SHOWN.format(shown=span, total=len(posts))]
                nav = []
                if number > 0:
                    nav.append(
                        InlineKeyboardButton(
                            text=texts.QUEUE_BUTTON_PREV,
                            callback_data=QueuePageCb(n=number - 1).pack(),
                        )
                    )
                if number < len(pages) - 1:
                    nav.append(
                        InlineKeyboardButton(
                            text=texts.QUEUE_BUTTON_NEXT,
                            callback_data=QueuePageCb(n=number + 1).pack(),
                        )
                    )
                rows.append(nav)
            await bot.send_message(
                chat_id,
                "\n".join(lines),
                parse_mode=None,
                link_preview_options=NO_PREVIEW,
                reply_markup=InlineKeyboardMarkup(inline_keyboard=rows),
            )

    # -- one post ------------------------------------------------------------------------------

    async def _post(self, publication_id: int) -> Post | None:
        found = await self.agenda.scheduled(publication_id)
        return found[0] if found else None

    def _card(self, post: Post) -> tuple[str, InlineKeyboardMarkup]:
        pid = post.publication_id
        text = texts.QUEUE_CARD.format(
            id=pid,
            at=self._at(post.at),
            targets=self._targets(post.targets),
            text=self._excerpt(post, _CARD_TEXT),
        )

        def button(label: str, action: str) -> InlineKeyboardButton:
            return InlineKeyboardButton(text=label, callback_data=QueueCb(a=action, p=pid).pack())

        keyboard = InlineKeyboardMarkup(
            inline_keyboard=[
                [
                    button(texts.QUEUE_BUTTON_RESCHEDULE, "move"),
                    button(texts.QUEUE_BUTTON_EDIT_TEXT, "text"),
                ],
                [button(texts.QUEUE_BUTTON_CANCEL, "cancel")],
            ]
        )
        return text, keyboard

    async def on_post_button(self, query: CallbackQuery, callback_data: QueueCb, bot: Bot) -> None:
        pid = callback_data.p
        post = await self._post(pid)
        if post is None:
            await query.answer(texts.QUEUE_GONE.format(id=pid), show_alert=True)
            return
        user_id = query.from_user.id
        chat_id = query.message.chat.id if query.message else user_id
        action = callback_data.a
        message = query.message if isinstance(query.message, Message) else None
        if action == "open":
            await query.answer()
            text, keyboard = self._card(post)
            await bot.send_message(
                chat_id,
                text,
                parse_mode=None,
                link_preview_options=NO_PREVIEW,
                reply_markup=keyboard,
            )
        elif action in ("cancel", "cancel_no") and message is not None:
            await query.answer()
            if action == "cancel":
                text = texts.QUEUE_CANCEL_ASK.format(id=pid, at=self._at(post.at))
                keyboard = InlineKeyboardMarkup(
                    inline_keyboard=[
                        [
                            InlineKeyboardButton(
                                text=texts.QUEUE_BUTTON_CANCEL_YES,
                                callback_data=QueueCb(a="cancel_yes", p=pid).pack(),
                            ),
                            InlineKeyboardButton(
                                text=texts.QUEUE_BUTTON_CANCEL_NO,
                                callback_data=QueueCb(a="cancel_no", p=pid).pack(),
                            ),
                        ]
                    ]
                )
            else:
                text, keyboard = self._card(post)
            try:
                await message.edit_text(
                    text,
                    parse_mode=None,
                    reply_markup=keyboard,
                    link_preview_options=NO_PREVIEW,
                )
            except TelegramAPIError as exc:
                logger.info("queue card not updated: %s", exc.message)
        elif action == "cancel_yes":
            await self.service.cancel_publication(pid, actor=self._actor(user_id))
            await query.answer()
            await close_message(query, texts.QUEUE_CANCELLED.format(id=pid))
            await self._reporter(bot).refresh(pid)
        elif action in ("move", "text"):
            kind = ActionKind.RESCHEDULE if action == "move" else ActionKind.EDIT_TEXT
            started = await self.actions.start(
                user_id=user_id, chat_id=chat_id, kind=kind, publication_id=pid
            )
            await query.answer()
            await self._ask(bot, started, post)
        else:
            await query.answer(texts.QUEUE_STALE, show_alert=True)

    def _drop_keyboard(self, action_id: int) -> InlineKeyboardMarkup:
        return InlineKeyboardMarkup(
            inline_keyboard=[
                [
                    InlineKeyboardButton(
                        text=texts.QUEUE_BUTTON_DROP,
                        callback_data=QueueActionCb(a="drop", i=action_id).pack(),
                    )
                ]
            ]
        )

    async def _ask(self, bot: Bot, action: QueueAction, post: Post) -> None:
        keyboard = self._drop_keyboard(action.action_id)
        if action.kind is ActionKind.RESCHEDULE:
            text = texts.QUEUE_ASK_TIME.format(id=post.publication_id, at=self._at(post.at))
            picks = [
                InlineKeyboardButton(
                    text=label,
                    callback_data=QueueActionCb(
                        a="pick", i=action.action_id, t=int(at.timestamp())
                    ).pack(),
                )
                for label, at in quick_picks(self.clock(), self.settings.tz)
            ]
            rows = [picks[k : k + 3] for k in range(0, len(picks), 3)]
            keyboard = InlineKeyboardMarkup(inline_keyboard=[*rows, *keyboard.inline_keyboard])
        else:
            text = texts.QUEUE_ASK_TEXT.format(
                id=post.publication_id, text=self._excerpt(post, _CARD_TEXT)
            )
        await bot.send_message(
            action.chat_id,
            text,
            parse_mode=None,
            link_preview_options=NO_PREVIEW,
            reply_markup=keyboard,
        )

    # -- what staff type for an action ---------------------------------------------------------

    async def _waiting(self, message: Message) -> bool | dict[str, Any]:
        user = message.from_user
        if user is None or (message.text or "").startswith("/"):
            return False
        action = await self.actions.waiting(user.id)
        return {"action": action} if action is not None else False

    async def on_typed(self, message: Message, action: QueueAction) -> None:
        typed = (message.text or "").strip()
        clearly_a_post = (
            message.text is None
            or message.media_group_id is not None
            or message.forward_origin is not None
            or (action.kind is ActionKind.RESCHEDULE and len(typed) > _TIME_MAX_CHARS)
        )
        if clearly_a_post:
            # A new post supersedes the unfinished change; the compose dialog takes it.
            await self.actions.cancel_open(action.user_id)
            raise SkipHandler
        if action.kind is ActionKind.RESCHEDULE:
            await self._typed_time(message, action, typed)
        else:
            await self._typed_text(message, action)

    def _confirm_keyboard(self, action: QueueAction) -> InlineKeyboardMarkup:
        again = (
            texts.QUEUE_BUTTON_OTHER_TIME
            if action.kind is ActionKind.RESCHEDULE
            else texts.QUEUE_BUTTON_OTHER_TEXT
        )

        def button(label: str, what: str) -> InlineKeyboardButton:
            return InlineKeyboardButton(
                text=label, callback_data=QueueActionCb(a=what, i=action.action_id).pack()
            )

        return InlineKeyboardMarkup(
            inline_keyboard=[
                [button(texts.QUEUE_BUTTON_CONFIRM, "ok"), button(again, "again")],
                [button(texts.QUEUE_BUTTON_DROP, "drop")],
            ]
        )

    async def _typed_time(self, message: Message, action: QueueAction, typed: str) -> None:
        tz = self.settings.tz
        now = self.clock()
        try:
            if action.publish_at is not None:
                # The day came before (NeedsTime): this is its time, or a whole new phrase.
                day = action.publish_at.astimezone(tz).date()
                parsed: Resolved | NeedsTime = parse_time_on(day, typed, now=now, tz=tz)
            else:
                parsed = parse_when(typed, now=now, tz=tz)
        except DateParseError as exc:
            await message.answer(explain(exc, tz, now=now), parse_mode=None)
            return
        if isinstance(parsed, NeedsTime):
            midnight = datetime.combine(parsed.day, time(0), tzinfo=tz)
            await self.actions.remember_day(action.action_id, midnight)
            await message.answer(
                texts.DATES_ASK_TIME_FOR.format(day=describe_day(parsed.day)), parse_mode=None
            )
            return
        await self._propose_time(message.answer, action, parsed.at)

    async def _propose_time(
        self, answer: Callable[..., Awaitable[Any]], action: QueueAction, at: datetime
    ) -> None:
        if not await self.actions.propose_time(action.action_id, at):
            await answer(texts.QUEUE_STALE, parse_mode=None)
            return
        await answer(
            texts.QUEUE_CONFIRM_TIME.format(id=action.publication_id, when=self._when(at)),
            parse_mode=None,
            reply_markup=self._confirm_keyboard(action),
        )

    async def _typed_text(self, message: Message, action: QueueAction) -> None:
        part = part_from_message(message)
        text = from_telegram(part.text, part.entities)
        post = await self._post(action.publication_id)
        if post is None:
            await self.actions.cancel(action.action_id)
            await message.answer(
                texts.QUEUE_GONE.format(id=action.publication_id), parse_mode=None
            )
            return
        if not await self.actions.propose_text(action.action_id, text):
            await message.answer(texts.QUEUE_STALE, parse_mode=None)
            return
        await message.answer(
            texts.QUEUE_CONFIRM_TEXT.format(
                id=action.publication_id,
                targets=self._targets(post.targets),
                text=excerpt_lines(text.text, _CONFIRM_TEXT),
            ),
            parse_mode=None,
            link_preview_options=NO_PREVIEW,
            reply_markup=self._confirm_keyboard(action),
        )

    async def on_action_button(
        self, query: CallbackQuery, callback_data: QueueActionCb, bot: Bot
    ) -> None:
        action = await self.actions.get(callback_data.i)
        if action is None:
            await query.answer(texts.QUEUE_STALE, show_alert=True)
            return
        if action.user_id != query.from_user.id:
            await query.answer(texts.QUEUE_NOT_YOURS, show_alert=True)
            return
        pid = action.publication_id
        post = await self._post(pid)
        what = callback_data.a
        if what == "drop":
            await self.actions.cancel(action.action_id)
            await query.answer()
            await close_message(query, texts.QUEUE_ACTION_DROPPED.format(id=pid))
            return
        open_now = action.status in (ActionStatus.WAITING, ActionStatus.CONFIRM)
        if post is None or not open_now:
            if post is None:
                await self.actions.cancel(action.action_id)
            await query.answer(
                texts.QUEUE_GONE.format(id=pid) if post is None else texts.QUEUE_STALE,
                show_alert=True,
            )
            await close_message(query, None)
            return
        if what == "again":
            await self.actions.ask_again(action.action_id)
            await query.answer()
            await close_message(query, None)
            await self._ask(bot, action, post)
            return
        if what == "pick" and action.kind is ActionKind.RESCHEDULE:
            at = datetime.fromtimestamp(callback_data.t, tz=UTC)
            await query.answer()
            await close_message(query, None)
            if at < self.clock():
                await bot.send_message(
                    action.chat_id,
                    texts.QUEUE_TIME_PAST.format(at=self._at(at)),
                    parse_mode=None,
                )
                await self._ask(bot, action, post)
                return

            async def answer(text: str, **kwargs: Any) -> Any:
                return await bot.send_message(action.chat_id, text, **kwargs)

            await self._propose_time(answer, action, at)
            return
        if what != "ok" or action.status is not ActionStatus.CONFIRM:
            await query.answer(texts.QUEUE_STALE, show_alert=True)
            return
        if action.kind is ActionKind.RESCHEDULE:
            await self._reschedule(query, bot, action, post)
        else:
            await self._edit_text(query, bot, action, post)

    async def _reschedule(
        self, query: CallbackQuery, bot: Bot, action: QueueAction, post: Post
    ) -> None:
        at = action.publish_at
        if at is None or at < self.clock():
            await self.actions.ask_again(action.action_id)
            await query.answer()
            await close_message(query, None)
            if at is not None:
                await bot.send_message(
                    action.chat_id,
                    texts.QUEUE_TIME_PAST.format(at=self._at(at)),
                    parse_mode=None,
                )
            await self._ask(bot, action, post)
            return
        if not await self.actions.finish(action.action_id):
            await query.answer(texts.QUEUE_STALE, show_alert=True)
            return
        await self.service.reschedule(post.publication_id, at, actor=self._actor(action.user_id))
        await query.answer()
        await close_message(
            query, texts.QUEUE_RESCHEDULED.format(id=post.publication_id, when=self._when(at))
        )
        await self._reporter(bot).refresh(post.publication_id)

    async def _edit_text(
        self, query: CallbackQuery, bot: Bot, action: QueueAction, post: Post
    ) -> None:
        if action.text is None or not await self.actions.finish(action.action_id):
            await query.answer(texts.QUEUE_STALE, show_alert=True)
            return
        pid = post.publication_id
        old = await self.service.content(pid)
        result = await self.service.edit(
            pid,
            Content(text=action.text, media=old.media, original_url=old.original_url),
            actor=self._actor(action.user_id),
        )
        await query.answer()
        if not result.changed:
            reply = texts.QUEUE_TEXT_SAME.format(id=pid)
        else:
            view = await self.service.view(pid)
            sent = view is not None and any(
                d.status is not DeliveryStatus.PENDING and d.status is not DeliveryStatus.CANCELLED
                for d in view.deliveries
            )
            reply = (
                texts.QUEUE_TEXT_SAVED_PUBLISHED.format(id=pid)
                if sent
                else texts.QUEUE_TEXT_SAVED.format(id=pid, when=self._when(post.at))
            )
        await close_message(query, reply)
        if result.changed:
            await self._reporter(bot).refresh(pid)

    # -- buttons on staff-chat reports ---------------------------------------------------------

    async def on_delivery_button(
        self, query: CallbackQuery, callback_data: DeliveryCb, bot: Bot
    ) -> None:
        """«Повторить» / «Отменить» on a report: re-checked against the delivery's state now."""
        delivery = await self.service.delivery(callback_data.d)
        allowed = {
            "retry": (DeliveryStatus.FAILED, DeliveryStatus.HELD),
            "cancel": (DeliveryStatus.HELD,),
        }.get(callback_data.a, ())
        if delivery is None or delivery.status not in allowed:
            await query.answer(texts.QUEUE_REPORT_STALE, show_alert=True)
            return
        actor = self._actor(query.from_user.id)
        if callback_data.a == "retry":
            await self.service.retry_delivery(delivery.delivery_id, actor=actor)
            await query.answer(texts.REPORT_RETRY_ACCEPTED)
        else:
            await self.service.cancel_delivery(delivery.delivery_id, actor=actor)
            await query.answer(texts.REPORT_CANCEL_ACCEPTED)
        await self._reporter(bot).refresh(delivery.publication_id)
