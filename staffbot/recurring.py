"""The staff bot's /recurring: the recurring posts with pause, resume and delete buttons.

Staff only; every press re-reads the rule. Rules are added from the command line
(`crosspost recurring add`), where the cron line or RRULE is typed once by the IT person.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from aiogram import F, Router
from aiogram.exceptions import TelegramAPIError
from aiogram.filters.callback_data import CallbackData
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message

from crosspost import texts
from crosspost.config import Settings
from crosspost.errors import UsageError
from crosspost.planning.recurring import RecurringPlanner, Rule
from crosspost.service import PublicationService

logger = logging.getLogger(__name__)

Clock = Callable[[], datetime]


class RecurringCb(CallbackData, prefix="rr"):
    a: str  # pause | resume | ask | delete | keep
    r: int


class RecurringDialog:
    def __init__(
        self,
        *,
        settings: Settings,
        service: PublicationService,
        clock: Clock,
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.planner = RecurringPlanner(settings=settings, service=service, clock=clock)
        self.router = Router(name="staff-recurring")
        self.router.message.register(self.on_command, F.chat.type == "private", self._ours)
        self.router.callback_query.register(self.on_button, RecurringCb.filter())

    async def _ours(self, message: Message) -> bool:
        if message.from_user is None:
            return False
        head = (message.text or "").strip().split(" ", 1)[0]
        return head[1:].split("@", 1)[0].lower() == "recurring" if head.startswith("/") else False

    def _local(self, at: datetime | None) -> str:
        if at is None:
            return texts.RECURRING_NO_NEXT
        return at.astimezone(self.settings.tz).strftime("%d.%m.%Y %H:%M")

    def _line(self, rule: Rule) -> str:
        flat = " ".join(rule.text.split())
        return texts.RECURRING_LIST_LINE.format(
            id=rule.rule_id,
            rule=rule.rule,
            status=texts.RECURRING_STATUS_PAUSED if rule.paused else texts.RECURRING_STATUS_ACTIVE,
            next=self._local(rule.next_run_at),
            accounts=", ".join(
                self.settings.accounts[a].title if a in self.settings.accounts else a
                for a in rule.accounts
            ),
            text=flat if len(flat) <= 80 else flat[:80].rstrip() + texts.ELLIPSIS,
        )

    def _keyboard(self, rules: list[Rule]) -> InlineKeyboardMarkup | None:
        rows = []
        for rule in rules:
            toggle = (
                InlineKeyboardButton(
                    text=texts.RECURRING_BUTTON_RESUME.format(id=rule.rule_id),
                    callback_data=RecurringCb(a="resume", r=rule.rule_id).pack(),
                )
                if rule.paused
                else InlineKeyboardButton(
                    text=texts.RECURRING_BUTTON_PAUSE.format(id=rule.rule_id),
                    callback_data=RecurringCb(a="pause", r=rule.rule_id).pack(),
                )
            )
            remove = InlineKeyboardButton(
                text=texts.RECURRING_BUTTON_DELETE.format(id=rule.rule_id),
                callback_data=RecurringCb(a="ask", r=rule.rule_id).pack(),
            )
            rows.append([toggle, remove])
        return InlineKeyboardMarkup(inline_keyboard=rows) if rows else None

    async def _listing(self) -> tuple[str, InlineKeyboardMarkup | None]:
        rules = await self.planner.list()
        if not rules:
            return texts.RECURRING_LIST_EMPTY, None
        body = "\n\n".join(self._line(r) for r in rules)
        return f"{texts.RECURRING_LIST_TITLE}\n\n{body}", self._keyboard(rules)

    async def on_command(self, message: Message) -> None:
        text, markup = await self._listing()
        await message.answer(text, parse_mode=None, reply_markup=markup)

    async def on_button(self, query: CallbackQuery, callback_data: RecurringCb) -> None:
        actor = f"tg:{query.from_user.id}"
        rule_id = callback_data.r
        message = query.message if isinstance(query.message, Message) else None
        try:
            if callback_data.a == "pause":
                await self.planner.pause(rule_id, actor=actor)
                notice = texts.RECURRING_PAUSED.format(id=rule_id)
            elif callback_data.a == "resume":
                rule = await self.planner.resume(rule_id, actor=actor)
                notice = texts.RECURRING_RESUMED.format(
                    id=rule_id, next=self._local(rule.next_run_at)
                )
            elif callback_data.a == "ask":
                await query.answer()
                if message is not None:
                    await message.answer(
                        texts.RECURRING_ASK_DELETE.format(id=rule_id),
                        parse_mode=None,
                        reply_markup=InlineKeyboardMarkup(
                            inline_keyboard=[
                                [
                                    InlineKeyboardButton(
                                        text=texts.RECURRING_BUTTON_CONFIRM_DELETE,
                                        callback_data=RecurringCb(a="delete", r=rule_id).pack(),
                                    ),
                                    InlineKeyboardButton(
                                        text=texts.BOT_EVENT_BUTTON_KEEP,
                                        callback_data=RecurringCb(a="keep", r=rule_id).pack(),
                                    ),
                                ]
                            ]
                        ),
                    )
                return
            elif callback_data.a == "delete":
                await self.planner.delete(rule_id, actor=actor)
                notice = texts.RECURRING_DELETED.format(id=rule_id)
            else:
                await query.answer()
                if message is not None:
                    await message.edit_reply_markup(reply_markup=None)
                return
        except UsageError:
            await query.answer(texts.RECURRING_NOT_FOUND.format(id=rule_id), show_alert=True)
            return
        await query.answer(notice)
        if message is None:
            return
        if callback_data.a == "delete":
            await message.edit_text(notice, parse_mode=None)
            return
        text, markup = await self._listing()
        try:
            await message.edit_text(text, parse_mode=None, reply_markup=markup)
        except TelegramAPIError as exc:
            logger.debug("recurring list not edited: %s", exc.message)
