"""The aiogram Bot for a TelegramConfig, aimed at its api_base (cloud, local server, emulator)."""

from __future__ import annotations

from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer

from crosspost.config import TelegramConfig

# Seconds per request; uploads get more (see TelegramPublisher).
REQUEST_TIMEOUT = 60.0


def create_bot(cfg: TelegramConfig, *, timeout: float = REQUEST_TIMEOUT) -> Bot:
    """A Bot with no default parse_mode: every send states its own (platforms.md §1.8).

    With `telegram.proxy` (socks5://, socks4:// or http://) every request, file downloads
    included, goes through that proxy (aiohttp-socks)."""
    api = TelegramAPIServer.from_base(cfg.api_base, is_local=cfg.is_local)
    proxy = cfg.proxy.get_secret_value() if cfg.proxy is not None else None
    session = AiohttpSession(api=api, timeout=timeout, proxy=proxy)
    return Bot(cfg.token.get_secret_value(), session=session)
