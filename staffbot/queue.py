"""`/queue` in the staff bot: scheduled publications with cancel and reschedule, and the
retry/cancel buttons on staff-chat reports.

Staff only: strangers' commands and presses fall through to the dialog, which refuses them once.
Every press re-reads the publication or delivery and re-checks its state.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from aiogram import Bot, F, Router
from aiogram.exceptions import TelegramAPIError
from aiogram.filters import Command
from aiogram.filters.callback_data import CallbackData
from aiogram.types import (
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    LinkPreviewOptions,
    Message,
)
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crosspost import texts
from crosspost.config import Settings
from crosspost.dates import format_local
from crosspost.db import TelegramDraftRow
from crosspost.models import DeliveryStatus
from crosspost.queue import DeliveryRepository
from crosspost.service import PublicationService
from staffbot.compose import CANCELLED, CONFIRM, RESCHEDULE, TIME
from staffbot.reports import DeliveryCb, TelegramReporter, platform_name

logger = logging.getLogger(__name__)

Clock = Callable[[], datetime]

_NO_PREVIEW = LinkPreviewOptions(is_disabled=True)
_QUEUE_LIMIT = 20


class QueueCb(CallbackData, prefix="q"):
    a: str  # cancel | move
    p: int


async def close_message(query: CallbackQuery, text: str | None) -> None:
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


def account_label(settings: Settings, name: str) -> str:
    """The first word of the account's title when no other account shares it."""
    title = settings.accounts[name].title
    first = title.split()[0]
    firsts = [a.title.split()[0] for a in settings.accounts.values()]
    return first if firsts.count(first) == 1 else title


class QueueScreen:
    def __init__(
        self,
        *,
        settings: Settings,
        service: PublicationService,
        sessionmaker: async_sessionmaker[AsyncSession],
        clock: Clock,
    ) -> None:
        self.settings = settings
        self.service = service
        self.sessionmaker = sessionmaker
        self.clock = clock
        staff = frozenset(settings.telegram.staff)
        self.router = Router(name="staff-queue")
        self.router.message.register(
            self.on_queue,
            Command("queue", ignore_case=True),
            F.chat.type == "private",
            F.from_user.id.in_(staff),
        )
        self.router.callback_query.register(
            self.on_queue_button, QueueCb.filter(), F.from_user.id.in_(staff)
        )
        self.router.callback_query.register(
            self.on_delivery_button, DeliveryCb.filter(), F.from_user.id.in_(staff)
        )

    def _actor(self, user_id: int) -> str:
        return f"tg:{user_id}"

    def _reporter(self, bot: Bot) -> TelegramReporter:
        return TelegramReporter(bot=bot, settings=self.settings, service=self.service)

    async def on_queue(self, message: Message) -> None:
        views = await self.service.scheduled(limit=_QUEUE_LIMIT)
        if not views:
            await message.answer(texts.BOT_QUEUE_EMPTY, parse_mode=None)
            return
        tz = self.settings.tz
        for view in views:
            pending = [d for d in view.deliveries if d.status is DeliveryStatus.PENDING]
            at = min((d.due_at for d in pending), default=view.info.publish_at)
            targets = ", ".join(
                f"{account_label(self.settings, d.account)} · {platform_name(d.platform)}"
                for d in pending
                if d.account in self.settings.accounts
            )
            excerpt = " ".join(view.info.text.split())[:200]
            pid = view.info.publication_id
            await message.answer(
                texts.BOT_QUEUE_ITEM.format(
                    id=pid, at=format_local(at, tz), targets=targets, text=excerpt
                ),
                parse_mode=None,
                link_preview_options=_NO_PREVIEW,
                reply_markup=InlineKeyboardMarkup(
                    inline_keyboard=[
                        [
                            InlineKeyboardButton(
                                text=texts.BOT_BUTTON_QUEUE_CANCEL.format(id=pid),
                                callback_data=QueueCb(a="cancel", p=pid).pack(),
                            ),
                            InlineKeyboardButton(
                                text=texts.BOT_BUTTON_QUEUE_RESCHEDULE.format(id=pid),
                                callback_data=QueueCb(a="move", p=pid).pack(),
                            ),
                        ]
                    ]
                ),
            )

    async def on_delivery_button(
        self, query: CallbackQuery, callback_data: DeliveryCb, bot: Bot
    ) -> None:
        """«Повторить» / «Отменить» on a report: re-checked against the delivery's state now."""
        async with self.sessionmaker() as session:
            delivery = await DeliveryRepository(session).get(callback_data.d)
        allowed = {
            "retry": (DeliveryStatus.FAILED, DeliveryStatus.HELD),
            "cancel": (DeliveryStatus.HELD,),
        }.get(callback_data.a, ())
        if delivery is None or delivery.status not in allowed:
            await query.answer(texts.BOT_STALE_BUTTON, show_alert=True)
            return
        actor = self._actor(query.from_user.id)
        if callback_data.a == "retry":
            await self.service.retry_delivery(delivery.delivery_id, actor=actor)
            await query.answer(texts.REPORT_RETRY_ACCEPTED)
        else:
            await self.service.cancel_delivery(delivery.delivery_id, actor=actor)
            await query.answer(texts.REPORT_CANCEL_ACCEPTED)
        await self._reporter(bot).refresh(delivery.publication_id)

    async def on_queue_button(
        self, query: CallbackQuery, callback_data: QueueCb, bot: Bot
    ) -> None:
        user_id = query.from_user.id
        view = await self.service.view(callback_data.p)
        waiting = view is not None and any(
            d.status is DeliveryStatus.PENDING for d in view.deliveries
        )
        if view is None or not waiting or callback_data.a not in ("cancel", "move"):
            await query.answer(texts.BOT_STALE_BUTTON, show_alert=True)
            return
        pid = callback_data.p
        if callback_data.a == "cancel":
            await self.service.cancel_publication(pid, actor=self._actor(user_id))
            await query.answer()
            await close_message(query, texts.BOT_QUEUE_CANCELLED.format(id=pid))
            await self._reporter(bot).refresh(pid)
            return
        # The typed time is read by the compose dialog, which owns drafts waiting for a time.
        now = self.clock()
        chat_id = query.message.chat.id if query.message else user_id
        async with self.sessionmaker() as session, session.begin():
            await session.execute(
                update(TelegramDraftRow)
                .where(
                    TelegramDraftRow.user_id == user_id,
                    TelegramDraftRow.status.in_([TIME, CONFIRM]),
                )
                .values(status=CANCELLED, updated_at=now)
            )
            session.add(
                TelegramDraftRow(
                    kind=RESCHEDULE,
                    user_id=user_id,
                    chat_id=chat_id,
                    status=TIME,
                    publication_id=pid,
                    created_at=now,
                    updated_at=now,
                )
            )
        await query.answer()
        await bot.send_message(chat_id, texts.BOT_QUEUE_ASK_TIME.format(id=pid), parse_mode=None)
