"""`/stats` in the staff bot: subscribers today against a year ago, and the chart."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime

from aiogram import F, Router
from aiogram.filters import Command
from aiogram.types import BufferedInputFile, Message
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crosspost import texts
from crosspost.config import Settings

logger = logging.getLogger(__name__)


def build_stats_router(
    *,
    settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: Callable[[], datetime],
) -> Router:
    """/stats in a private chat or the staff chat (under the staff router: staff only)."""
    router = Router(name="stats")
    where = (F.chat.type == "private") | (F.chat.id == settings.telegram.staff_chat_id)

    @router.message(Command("stats"), where)
    async def on_stats(message: Message) -> None:
        from crosspost.stats.chart import render_png
        from crosspost.stats.render import long_date, render_bot
        from crosspost.stats.report import build_report

        today = clock().astimezone(settings.tz).date()
        report = await build_report(settings=settings, sessionmaker=sessionmaker, on=today)
        await message.answer(render_bot(report), parse_mode=None)
        try:
            # Drawing takes CPU for a second or so: keep the event loop free meanwhile.
            png = await asyncio.to_thread(render_png, report)
        except Exception:
            logger.exception("stats chart failed")
            await message.answer(texts.STATS_BOT_CHART_FAILED, parse_mode=None)
            return
        start = min(
            (day for points in report.series.values() for day, _ in points),
            default=report.compare,
        )
        await message.answer_photo(
            BufferedInputFile(png, filename=f"subscribers-{today.isoformat()}.png"),
            caption=texts.STATS_BOT_CHART_CAPTION.format(
                start=long_date(start), end=long_date(report.on)
            ),
            parse_mode=None,
        )

    return router
