"""Telegram: the aiogram Bot, the channel Publisher, error classification and file fetching."""

from __future__ import annotations

from aiogram import Bot

from adapters.telegram.errors import classify
from adapters.telegram.files import fetch_file
from adapters.telegram.publisher import TELEGRAM_CAPABILITIES, TelegramPublisher
from adapters.telegram.session import create_bot
from crosspost.config import Settings
from crosspost.errors import ConfigError
from crosspost.publishing import ThrottleFactory

__all__ = [
    "TELEGRAM_CAPABILITIES",
    "TelegramPublisher",
    "classify",
    "create_bot",
    "create_publisher",
    "fetch_file",
]


def create_publisher(
    *, settings: Settings, account: str, bot: Bot, throttle: ThrottleFactory
) -> TelegramPublisher:
    """The publisher of one account's channel. Raises ConfigError if it has no channel."""
    account_config = settings.accounts.get(account)
    chat_id = account_config.telegram_channel_id if account_config is not None else None
    if account_config is None or chat_id is None:
        raise ConfigError(f"account {account!r} has no telegram_channel_id")
    return TelegramPublisher(
        account=account,
        chat_id=chat_id,
        bot=bot,
        throttle=throttle,
        channel_username=account_config.telegram_channel_username,
    )
