"""Small pieces every staff-bot router shares: the reporter seam, message closing, labels."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Protocol

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError
from aiogram.types import CallbackQuery, LinkPreviewOptions, Message

from crosspost.config import Settings

logger = logging.getLogger(__name__)

NO_PREVIEW = LinkPreviewOptions(is_disabled=True)


class Reporter(Protocol):
    """The staff-chat report of a publication (staffbot.reports.TelegramReporter)."""

    async def refresh(self, publication_id: int) -> None: ...

    async def set_author(
        self, publication_id: int, first_name: str, last_name: str | None
    ) -> None: ...


# The bot builds its reporter when it first needs one: the Bot is known only per update.
ReporterFor = Callable[[Bot], Reporter]


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
    """The account's short label (Settings.account_label: short_title, else the first title
    word when that alone tells it apart, else the full title)."""
    return settings.account_label(name)
