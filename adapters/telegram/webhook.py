"""Getting updates: long polling (the default) or a webhook that checks Telegram's secret header.

Pending updates are never dropped: neither deleteWebhook nor setWebhook is called with
drop_pending_updates, so posts made while the service was down arrive when it starts.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiogram import Bot, Dispatcher
from aiogram.webhook.aiohttp_server import SimpleRequestHandler, setup_application
from aiohttp import web

from crosspost.config import TelegramConfig, WebhookConfig
from crosspost.errors import ConfigError

logger = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


def build_webhook_app(
    *, bot: Bot, dp: Dispatcher, cfg: WebhookConfig, **data: Any
) -> web.Application:
    """An aiohttp app serving `cfg.path`; a request without the right secret header gets 401.

    `data` is passed to handlers as workflow data. The app runs the dispatcher's startup and
    shutdown hooks and closes the bot session on shutdown.
    """
    secret = cfg.secret_token.get_secret_value()
    if not secret:
        raise ConfigError("telegram.webhook.secret_token must not be empty")
    app = web.Application()
    handler = SimpleRequestHandler(dispatcher=dp, bot=bot, secret_token=secret, **data)
    handler.register(app, path=cfg.path)
    setup_application(app, dp, bot=bot, **data)
    return app


async def setup_webhook(bot: Bot, dp: Dispatcher, cfg: TelegramConfig) -> None:
    """Tell Telegram where to send updates, with the secret and the update types in use."""
    if cfg.webhook is None:
        raise ConfigError("telegram.webhook is not configured")
    await _set_webhook(bot, dp, cfg.webhook)


async def _set_webhook(bot: Bot, dp: Dispatcher, cfg: WebhookConfig) -> None:
    await bot.set_webhook(
        url=cfg.url,
        secret_token=cfg.secret_token.get_secret_value(),
        allowed_updates=dp.resolve_used_update_types(),
        drop_pending_updates=False,
    )
    logger.info("telegram webhook set (path %s)", cfg.path)


async def serve_webhook(bot: Bot, dp: Dispatcher, cfg: WebhookConfig, **data: Any) -> None:
    """Serve the webhook on cfg.listen_host:listen_port and register it; runs until cancelled.

    The webhook stays registered on exit, so Telegram keeps the updates for the next start.
    """
    runner = web.AppRunner(build_webhook_app(bot=bot, dp=dp, cfg=cfg, **data))
    await runner.setup()
    try:
        site = web.TCPSite(runner, cfg.listen_host, cfg.listen_port)
        await site.start()
        await _set_webhook(bot, dp, cfg)
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()


async def start_polling(
    bot: Bot, dp: Dispatcher, *, polling_timeout: int = 30, **data: Any
) -> None:
    """Long-poll until the dispatcher is stopped (dp.stop_polling()).

    A webhook left over from webhook mode would make getUpdates fail with 409, so it is
    removed first, keeping its pending updates.
    """
    await bot.delete_webhook(drop_pending_updates=False)
    await dp.start_polling(
        bot,
        polling_timeout=polling_timeout,
        handle_signals=False,
        close_bot_session=False,
        allowed_updates=dp.resolve_used_update_types(),
        **data,
    )
