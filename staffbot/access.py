"""Staff only: one middleware on the parent router of every staff feature.

Filters pick the handler; this middleware then decides whether the person may use it, so a
stranger is refused once (politely, logged) whatever they sent, and never reaches a handler.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware, Router
from aiogram.types import CallbackQuery, Message, TelegramObject

from crosspost import texts

logger = logging.getLogger(__name__)

Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]


class StaffOnly(BaseMiddleware):
    def __init__(self, staff: frozenset[int]) -> None:
        self.staff = staff
        self.refused: set[int] = set()

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        user = getattr(event, "from_user", None)
        if user is not None and user.id in self.staff:
            return await handler(event, data)
        if user is None or user.is_bot:
            return None
        first = user.id not in self.refused
        self.refused.add(user.id)
        if isinstance(event, CallbackQuery):
            if first:
                logger.info("user=%s is not staff: button refused", user.id)
                await event.answer(texts.BOT_NOT_STAFF.format(user_id=user.id), show_alert=True)
            else:
                await event.answer()
        elif isinstance(event, Message) and first:
            logger.info("user=%s is not staff: refused", user.id)
            await event.answer(texts.BOT_NOT_STAFF.format(user_id=user.id), parse_mode=None)
        return None


def staff_router(staff: frozenset[int]) -> Router:
    """The parent of every staff feature router: messages and buttons pass StaffOnly."""
    router = Router(name="staff")
    gate = StaffOnly(staff)
    router.message.middleware(gate)
    router.callback_query.middleware(gate)
    return router
