"""`/status` in the staff bot: each account's platforms, their last success and last failure."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.filters import Command
from aiogram.types import LinkPreviewOptions, Message

from crosspost import texts
from crosspost.config import Settings
from crosspost.dates import format_local
from crosspost.service import PublicationService
from staffbot.reports import platform_name

_NO_PREVIEW = LinkPreviewOptions(is_disabled=True)


class StatusScreen:
    def __init__(self, *, settings: Settings, service: PublicationService) -> None:
        self.settings = settings
        self.service = service
        self.router = Router(name="staff-status")
        self.router.message.register(
            self.on_status,
            Command("status", ignore_case=True),
            F.chat.type == "private",
            F.from_user.id.in_(frozenset(settings.telegram.staff)),
        )

    async def on_status(self, message: Message) -> None:
        states = {(s.account, s.platform): s for s in await self.service.target_states()}
        tz = self.settings.tz
        lines = [texts.BOT_STATUS_TITLE]
        for name, account in self.settings.accounts.items():
            for platform in account.platforms:
                state = states.get((name, platform))
                success = texts.BOT_STATUS_NEVER
                error = texts.BOT_STATUS_NONE
                mark = texts.BOT_STATUS_OK
                if state is not None:
                    if state.last_success_at:
                        success = format_local(state.last_success_at, tz)
                    if state.last_error_at:
                        error = f"{format_local(state.last_error_at, tz)} — {state.last_error}"
                        if (
                            not state.last_success_at
                            or state.last_error_at > state.last_success_at
                        ):
                            mark = texts.BOT_STATUS_ERROR
                    if state.paused:
                        mark = texts.BOT_STATUS_PAUSED
                lines.append(
                    texts.BOT_STATUS_LINE.format(
                        state=mark,
                        account=account.title,
                        platform=platform_name(platform),
                        success=success,
                        error=error,
                    )
                )
        await message.answer("\n".join(lines), parse_mode=None, link_preview_options=_NO_PREVIEW)
