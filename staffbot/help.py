"""/start and /help, and the answer to a button no feature knows."""

from __future__ import annotations

import logging

from aiogram import F, Router
from aiogram.filters import Command
from aiogram.types import CallbackQuery, Message

from crosspost import texts
from crosspost.config import Settings

logger = logging.getLogger(__name__)


def build_help_router(settings: Settings) -> Router:
    router = Router(name="help")

    @router.message(F.chat.type == "private", Command("start", "help"))
    async def on_help(message: Message) -> None:
        await message.answer(
            texts.BOT_HELP.format(zone=settings.telegram.timezone), parse_mode=None
        )

    return router


def build_fallback_router() -> Router:
    """Included last: a button whose data no feature recognises (old layout or forged)."""
    router = Router(name="unknown-buttons")

    @router.callback_query()
    async def on_unknown_button(query: CallbackQuery) -> None:
        logger.info("user=%s pressed unknown button data=%r", query.from_user.id, query.data)
        await query.answer(texts.BOT_BUTTON_UNKNOWN, show_alert=True)

    return router
