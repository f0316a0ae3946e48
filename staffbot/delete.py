"""Deleting a publication everywhere: /delete LINK in private, or «удалить» in reply to a report.

Which publication a link means is the core's business (crosspost.links), so links to other
platforms' copies are added there, not here.
"""

from __future__ import annotations

from aiogram import Bot, F, Router
from aiogram.filters import Command, CommandObject
from aiogram.filters.callback_data import CallbackData
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message

from crosspost import texts
from crosspost.config import Settings
from crosspost.drafts import actor_of
from crosspost.links import publication_by_link
from crosspost.service import PublicationService
from staffbot.reports import add_notes, copy_notes, platform_name
from staffbot.ui import ReporterFor, account_label, close_message


class DeleteCb(CallbackData, prefix="x"):
    a: str  # yes | no
    p: int


def _is_delete_word(message: Message) -> bool:
    return (message.text or "").strip().lower().strip("!.") in texts.DELETE_WORDS


class DeleteFeature:
    def __init__(
        self,
        *,
        settings: Settings,
        service: PublicationService,
        reporter_for: ReporterFor,
    ) -> None:
        self.settings = settings
        self.service = service
        self.reporter_for = reporter_for
        self.router = Router(name="delete")
        self.router.message.register(self.on_command, F.chat.type == "private", Command("delete"))
        self.router.message.register(
            self.on_reply,
            F.chat.id == settings.telegram.staff_chat_id,
            F.reply_to_message.from_user.is_bot,
            _is_delete_word,
        )
        self.router.callback_query.register(self.on_button, DeleteCb.filter())

    async def on_command(self, message: Message, command: CommandObject) -> None:
        link = (command.args or "").strip()
        if not link:
            await message.answer(texts.BOT_DELETE_USAGE, parse_mode=None)
            return
        info = await publication_by_link(self.service, self.settings, link)
        if info is None:
            await message.answer(texts.BOT_DELETE_NOT_FOUND, parse_mode=None)
            return
        await self._ask(message, info.publication_id)

    async def on_reply(self, message: Message, bot: Bot) -> None:
        reply = message.reply_to_message
        if reply is None or reply.from_user is None or reply.from_user.id != bot.id:
            return
        info = await self.service.by_report(message.chat.id, reply.message_id)
        if info is None:
            await message.reply(texts.BOT_DELETE_NOT_FOUND, parse_mode=None)
            return
        await self._ask(message, info.publication_id)

    async def _ask(self, message: Message, publication_id: int) -> None:
        view = await self.service.view(publication_id)
        if view is None:
            await message.answer(texts.BOT_DELETE_NOT_FOUND, parse_mode=None)
            return
        if view.info.deleted_at is not None:
            await message.answer(
                texts.BOT_DELETE_ALREADY.format(id=publication_id), parse_mode=None
            )
            return
        targets = ", ".join(
            f"{account_label(self.settings, d.account)} · {platform_name(d.platform)}"
            for d in view.deliveries
            if d.account in self.settings.accounts
        )
        prompt = texts.BOT_DELETE_CONFIRM.format(id=publication_id, targets=targets)
        if view.info.source_chat_id is not None:
            prompt += "\n" + texts.BOT_DELETE_ORIGINAL_STAYS
        await message.reply(
            prompt,
            parse_mode=None,
            reply_markup=InlineKeyboardMarkup(
                inline_keyboard=[
                    [
                        InlineKeyboardButton(
                            text=texts.BOT_BUTTON_DELETE_CONFIRM,
                            callback_data=DeleteCb(a="yes", p=publication_id).pack(),
                        ),
                        InlineKeyboardButton(
                            text=texts.BOT_BUTTON_DELETE_KEEP,
                            callback_data=DeleteCb(a="no", p=publication_id).pack(),
                        ),
                    ]
                ]
            ),
        )

    async def on_button(self, query: CallbackQuery, callback_data: DeleteCb, bot: Bot) -> None:
        pid = callback_data.p
        view = await self.service.view(pid)
        if view is None or callback_data.a not in ("yes", "no"):
            await query.answer(texts.BOT_BUTTON_UNKNOWN, show_alert=True)
            return
        if callback_data.a == "no":
            await query.answer()
            await close_message(query, texts.BOT_DELETE_KEPT)
            return
        if view.info.deleted_at is not None:
            await query.answer(texts.BOT_DELETE_ALREADY.format(id=pid), show_alert=True)
            await close_message(query, None)
            return
        await query.answer()
        await close_message(query, None)
        result = await self.service.delete(pid, actor=actor_of(query.from_user.id))
        await add_notes(
            self.service.sessionmaker,
            pid,
            copy_notes("delete", result.copies),
            self.service.clock(),
        )
        await close_message(query, texts.BOT_DELETE_DONE.format(id=pid))
        await self.reporter_for(bot).refresh(pid)
