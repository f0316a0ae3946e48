"""`/status` in the staff bot: each account's platforms in plain Russian — working, failing (why,
and what a press officer can do) or paused (shown once, with a button to resume)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from aiogram import Bot, F, Router
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
from crosspost.agenda import Agenda, TargetHealth
from crosspost.config import Settings
from crosspost.errors import Reason
from crosspost.models import Platform
from crosspost.service import PublicationService
from staffbot.ui import NO_PREVIEW, account_label


class StatusCb(CallbackData, prefix="st"):
    a: str  # resume
    acc: str
    pl: str


def reason_words(reason: Reason | None) -> str:
    """What happened and what a press officer can do; never an English error or a command."""
    key = str(reason) if reason is not None else "unknown"
    return texts.STATUS_REASONS.get(key, texts.STATUS_REASONS["unknown"])


class StatusScreen:
    def __init__(
        self,
        *,
        settings: Settings,
        service: PublicationService,
        sessionmaker: async_sessionmaker[AsyncSession],
        clock: Callable[[], datetime],
    ) -> None:
        self.settings = settings
        self.service = service
        self.clock = clock
        self.agenda = Agenda(sessionmaker)
        # Under the staff router: its middleware refuses strangers once.
        self.router = Router(name="staff-status")
        self.router.message.register(
            self.on_status, Command("status", ignore_case=True), F.chat.type == "private"
        )
        self.router.callback_query.register(self.on_resume, StatusCb.filter())

    def _target(self, account: str, platform: Platform | str) -> str:
        return texts.STATUS_TARGET.format(
            account=account_label(self.settings, account),
            platform=texts.PLATFORM_NAMES.get(str(platform), str(platform)),
        )

    def _at(self, at: datetime | None) -> str:
        if at is None:
            return ""
        local = at.astimezone(self.settings.tz)
        today = self.clock().astimezone(self.settings.tz).date()
        return local.strftime("%H:%M" if local.date() == today else "%d.%m %H:%M")

    def _line(self, account: str, platform: Platform, state: TargetHealth | None) -> str:
        target = self._target(account, platform)
        if state is not None and state.paused:
            return texts.STATUS_PAUSED.format(
                target=target,
                at=self._at(state.paused_at),
                reason=reason_words(state.pause_reason),
                waiting=state.waiting,
            )
        if state is not None and state.failing:
            return texts.STATUS_FAILING.format(
                target=target,
                at=self._at(state.last_error_at),
                reason=reason_words(state.last_error_reason),
            )
        if state is None or state.last_success_at is None:
            return texts.STATUS_NEVER.format(target=target)
        return texts.STATUS_OK.format(target=target, at=self._at(state.last_success_at))

    async def render(self) -> tuple[str, InlineKeyboardMarkup | None]:
        states = {(s.account, s.platform): s for s in await self.agenda.health()}
        lines = [texts.STATUS_TITLE, ""]
        paused: list[tuple[str, Platform]] = []
        for name, account in self.settings.accounts.items():
            for platform in account.platforms:
                state = states.get((name, platform))
                lines.append(self._line(name, platform, state))
                if state is not None and state.paused:
                    paused.append((name, platform))
        if not paused:
            return "\n".join(lines), None
        lines += ["", texts.STATUS_PAUSED_HINT]
        keyboard = InlineKeyboardMarkup(
            inline_keyboard=[
                [
                    InlineKeyboardButton(
                        text=texts.STATUS_BUTTON_RESUME.format(target=self._target(a, p)),
                        callback_data=StatusCb(a="resume", acc=a, pl=str(p)).pack(),
                    )
                ]
                for a, p in paused
            ]
        )
        return "\n".join(lines), keyboard

    async def on_status(self, message: Message) -> None:
        text, keyboard = await self.render()
        await message.answer(
            text, parse_mode=None, link_preview_options=NO_PREVIEW, reply_markup=keyboard
        )

    async def on_resume(self, query: CallbackQuery, callback_data: StatusCb, bot: Bot) -> None:
        account = callback_data.acc
        known = account in self.settings.accounts and callback_data.pl in {
            str(p) for p in self.settings.accounts[account].platforms
        }
        if callback_data.a != "resume" or not known:
            await query.answer(texts.STATUS_STALE, show_alert=True)
            return
        platform = Platform(callback_data.pl)
        resumed = await self.service.resume(account, platform, actor=f"tg:{query.from_user.id}")
        target = self._target(account, platform)
        await query.answer(
            (texts.STATUS_RESUMED if resumed else texts.STATUS_NOT_PAUSED).format(target=target),
            show_alert=not resumed,
        )
        message = query.message
        if isinstance(message, Message):
            text, keyboard = await self.render()
            await message.edit_text(
                text, parse_mode=None, link_preview_options=NO_PREVIEW, reply_markup=keyboard
            )
