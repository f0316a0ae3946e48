"""One message per publication in the staff chat, edited in place as its deliveries settle."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import ClassVar

from aiogram import Bot
from aiogram.exceptions import (
    TelegramAPIError,
    TelegramBadRequest,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.filters.callback_data import CallbackData
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup, LinkPreviewOptions
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crosspost import texts
from crosspost.config import Settings
from crosspost.dates import format_local
from crosspost.db import TelegramReportNoteRow, write_session
from crosspost.errors import PublishError
from crosspost.events import DeliveryEvent
from crosspost.models import Delivery, DeliveryStatus, OperationKind, OperationStatus, Platform
from crosspost.queue import TargetState
from crosspost.service import CopyOutcome, CopyResult, PublicationService

logger = logging.getLogger(__name__)

# A delivery due later than this is "scheduled", not "being published".
_SCHEDULED_AFTER = timedelta(minutes=1)
_EXCERPT = 120
# Telegram's message limit; a report longer than this is cut (the log has everything).
_MAX_REPORT = 4000
_NO_PREVIEW = LinkPreviewOptions(is_disabled=True)
# A report update that failed on a Telegram 5xx or a network fault is tried again after these
# waits (seconds), then given up until the publication's next event.
REPORT_RETRY_SECONDS = (1.0, 2.0, 5.0, 15.0, 60.0)


@dataclass(frozen=True, kw_only=True)
class Note:
    """A line for the report besides delivery statuses (codes: see `_note_line`)."""

    code: str
    account: str = ""
    platform: str = ""
    url: str | None = None
    detail: str = ""


async def add_notes(
    sessionmaker: async_sessionmaker[AsyncSession],
    publication_id: int,
    notes: Iterable[Note],
    now: datetime,
) -> None:
    async with write_session(sessionmaker, what="report notes") as session:
        for note in notes:
            session.add(
                TelegramReportNoteRow(
                    publication_id=publication_id,
                    code=note.code,
                    account=note.account,
                    platform=note.platform,
                    url=note.url,
                    detail=note.detail,
                    at=now,
                )
            )


def copy_notes(
    action: str, copies: Sequence[CopyResult], version: int | None = None
) -> list[Note]:
    """Report lines for the per-copy result of an edit ("edit") or a delete ("delete")."""
    notes = []
    for copy in copies:
        detail = ""
        if copy.outcome is CopyOutcome.FAILED:
            detail = reason_text(copy.error, copy.remote.platform)
        elif copy.outcome is CopyOutcome.DONE and version is not None:
            detail = str(version)
        notes.append(
            Note(
                code=f"{action}_{copy.outcome}",
                account=copy.remote.account,
                platform=str(copy.remote.platform),
                url=copy.remote.url,
                detail=detail,
            )
        )
    return notes


def operation_notes(event: DeliveryEvent) -> list[Note]:
    """The report line for a queued edit or delete that finished (the drainer's event)."""
    op = event.operation
    if op is None or op.kind not in (OperationKind.EDIT, OperationKind.DELETE):
        return []
    outcome = {
        OperationStatus.DONE: CopyOutcome.DONE,
        OperationStatus.UNSUPPORTED: CopyOutcome.UNSUPPORTED,
        OperationStatus.FAILED: CopyOutcome.FAILED,
    }.get(op.status)
    if outcome is None:
        return []
    remote = op.remote
    detail = ""
    if outcome is CopyOutcome.FAILED:
        detail = reason_text(event.error or op.error_reason, op.platform)
    elif outcome is CopyOutcome.DONE and op.kind is OperationKind.EDIT and op.version:
        detail = str(op.version)
    return [
        Note(
            code=f"{op.kind}_{outcome}",
            account=op.account,
            platform=str(op.platform),
            url=remote.url if remote is not None else event.delivery.remote_url,
            detail=detail,
        )
    ]


def platform_name(platform: str | Platform) -> str:
    return texts.PLATFORM_NAMES.get(str(platform), str(platform))


def reason_text(error: PublishError | str | None, platform: str | Platform) -> str:
    """The plain-Russian reason with what to do, for an error or a stored Reason value."""
    reason = error.reason if isinstance(error, PublishError) else error
    template = texts.REASONS.get(str(reason), texts.REASON_FALLBACK) if reason else None
    return (template or texts.REASON_FALLBACK).format(platform=platform_name(platform))


class DeliveryCb(CallbackData, prefix="r"):
    """A button on a report: retry or cancel one delivery."""

    a: str  # retry | cancel
    d: int  # delivery id


class TelegramReporter:
    """EventSink that keeps one report message per publication in the staff chat.

    Locks and the last rendered text are per process, shared by every instance, so the drainer's
    reporter and the bot's own (after a submit or an edit) never send two messages.
    """

    _locks: ClassVar[dict[int, asyncio.Lock]] = {}
    # Keyed by the report message itself, so a new database or staff chat never matches.
    _rendered: ClassVar[dict[tuple[int, int], str]] = {}
    _later: ClassVar[set[asyncio.Task[None]]] = set()
    # Report updates that failed on a passing fault, by publication: how many times in a row.
    _failed_tries: ClassVar[dict[int, int]] = {}

    def __init__(self, *, bot: Bot, settings: Settings, service: PublicationService) -> None:
        self.bot = bot
        self.settings = settings
        self.service = service
        self.chat_id = settings.telegram.staff_chat_id

    async def delivery_event(self, event: DeliveryEvent) -> None:
        """EventSink: a delivery settled or changed; bring its publication's report up to date."""
        d = event.delivery
        try:
            if event.operation is not None:
                notes = operation_notes(event)
                if notes:
                    await add_notes(
                        self.service.sessionmaker, d.publication_id, notes, self.service.clock()
                    )
            if event.notices:
                await add_notes(
                    self.service.sessionmaker,
                    d.publication_id,
                    [
                        Note(code="notice", account=d.account, platform=str(d.platform), detail=n)
                        for n in event.notices
                    ],
                    self.service.clock(),
                )
            await self.refresh(d.publication_id)
        except Exception:
            logger.exception(
                "delivery=%s account=%s platform=%s report failed",
                d.delivery_id,
                d.account,
                d.platform,
            )

    async def refresh(self, publication_id: int) -> None:
        """Send the report (first time) or edit it in place. Raises nothing it can handle."""
        lock = self._locks.setdefault(publication_id, asyncio.Lock())
        async with lock:
            info = await self.service.view(publication_id)
            text = await self.render(publication_id)
            if text is None or info is None:
                return
            markup = self._keyboard(info.deliveries)
            fingerprint = text + (markup.model_dump_json() if markup else "")
            sent_before = (
                (self.chat_id, info.info.report_message_id)
                if info.info.report_message_id is not None
                and info.info.report_chat_id == self.chat_id
                else None
            )
            if sent_before is not None and self._rendered.get(sent_before) == fingerprint:
                return
            message_id = info.info.report_message_id
            try:
                if message_id is not None and info.info.report_chat_id == self.chat_id:
                    try:
                        await self.bot.edit_message_text(
                            text=text,
                            chat_id=self.chat_id,
                            message_id=message_id,
                            parse_mode=None,
                            link_preview_options=_NO_PREVIEW,
                            reply_markup=markup,
                        )
                    except TelegramBadRequest as exc:
                        if "not modified" in exc.message:
                            pass
                        elif "not found" in exc.message or "can't be edited" in exc.message:
                            message_id = None  # someone deleted the report: send a new one
                        else:
                            raise
                if message_id is None or info.info.report_chat_id != self.chat_id:
                    sent = await self.bot.send_message(
                        chat_id=self.chat_id,
                        text=text,
                        parse_mode=None,
                        link_preview_options=_NO_PREVIEW,
                        reply_markup=markup,
                    )
                    await self.service.set_report_message(
                        publication_id, self.chat_id, sent.message_id
                    )
                    message_id = sent.message_id
            except TelegramRetryAfter as exc:
                logger.warning(
                    "publication=%s report flood control: again in %ss",
                    publication_id,
                    exc.retry_after,
                )
                self._again_after(publication_id, exc.retry_after)
                return
            except (TelegramServerError, TelegramNetworkError) as exc:
                # A passing fault: the report would stay stale until the next event (none may
                # come once everything settled), so it is refreshed again soon, a few times.
                tries = self._failed_tries.get(publication_id, 0) + 1
                self._failed_tries[publication_id] = tries
                if tries > len(REPORT_RETRY_SECONDS):
                    logger.warning(
                        "publication=%s report not sent (gave up): %s", publication_id, exc.message
                    )
                    self._failed_tries.pop(publication_id, None)
                    return
                logger.warning(
                    "publication=%s report not sent, again in %ss: %s",
                    publication_id,
                    REPORT_RETRY_SECONDS[tries - 1],
                    exc.message,
                )
                self._again_after(publication_id, REPORT_RETRY_SECONDS[tries - 1])
                return
            except TelegramAPIError as exc:
                logger.warning("publication=%s report not sent: %s", publication_id, exc.message)
                return
            self._failed_tries.pop(publication_id, None)
            self._rendered[(self.chat_id, message_id)] = fingerprint

    def _again_after(self, publication_id: int, seconds: float) -> None:
        async def later() -> None:
            await asyncio.sleep(seconds)
            await self.refresh(publication_id)

        task = asyncio.create_task(later())
        self._later.add(task)
        task.add_done_callback(self._later.discard)

    def _keyboard(self, deliveries: Iterable[Delivery]) -> InlineKeyboardMarkup | None:
        """Buttons for what needs a person: retry a failed or held delivery, or cancel a held
        one (never resent without this press)."""
        rows: list[list[InlineKeyboardButton]] = []
        for d in deliveries:
            if d.status not in (DeliveryStatus.FAILED, DeliveryStatus.HELD):
                continue
            where = texts.REPORT_BUTTON_TARGET.format(
                account=self._short_account(d.account), platform=platform_name(d.platform)
            )
            row = [
                InlineKeyboardButton(
                    text=texts.REPORT_BUTTON_RETRY.format(target=where),
                    callback_data=DeliveryCb(a="retry", d=d.delivery_id).pack(),
                )
            ]
            if d.status is DeliveryStatus.HELD:
                row.append(
                    InlineKeyboardButton(
                        text=texts.REPORT_BUTTON_CANCEL,
                        callback_data=DeliveryCb(a="cancel", d=d.delivery_id).pack(),
                    )
                )
            rows.append(row)
        return InlineKeyboardMarkup(inline_keyboard=rows) if rows else None

    def _short_account(self, name: str) -> str:
        account = self.settings.accounts.get(name)
        return account.title.split()[0] if account is not None else name

    async def send_note(self, text: str) -> None:
        """A standalone message to staff (nothing to report on, e.g. a post nothing of which
        could travel)."""
        try:
            await self.bot.send_message(
                chat_id=self.chat_id, text=text, parse_mode=None, link_preview_options=_NO_PREVIEW
            )
        except TelegramAPIError as exc:
            logger.warning("staff note not sent: %s", exc.message)

    async def render(self, publication_id: int) -> str | None:
        view = await self.service.view(publication_id)
        if view is None:
            return None
        info = view.info
        tz = self.settings.tz
        now = self.service.clock()
        lines = [texts.REPORT_TITLE.format(id=publication_id)]
        if info.source == "channel" and info.original_url:
            lines.append(texts.REPORT_SOURCE_CHANNEL.format(url=info.original_url))
        elif info.source == "bot":
            lines.append(texts.REPORT_SOURCE_BOT.format(author=info.author))
        else:
            lines.append(texts.REPORT_SOURCE_OTHER.format(source=info.source))
        excerpt = " ".join(info.text.split())
        if excerpt:
            if len(excerpt) > _EXCERPT:
                excerpt = excerpt[:_EXCERPT].rstrip() + texts.ELLIPSIS
            lines.append(f"«{excerpt}»")
        if info.version > 1:
            lines.append(texts.REPORT_VERSION.format(version=info.version))
        if info.deleted_at is not None:
            lines.append(texts.REPORT_DELETED.format(at=format_local(info.deleted_at, tz)))
        lines.append("")
        states = {(s.account, s.platform): s for s in await self.service.target_states()}
        for delivery in view.deliveries:
            lines.append(
                self._line(delivery, states.get((delivery.account, delivery.platform)), now)
            )
        notes = await self._notes(publication_id)
        if notes:
            lines.append("")
            lines.append(texts.REPORT_NOTES_TITLE)
            lines.extend(self._note_line(n) for n in notes)
        if info.deleted_at is None and any(
            d.status is DeliveryStatus.PUBLISHED for d in view.deliveries
        ):
            lines.append("")
            lines.append(texts.REPORT_HINT_DELETE)
        text = "\n".join(lines)
        return text if len(text) <= _MAX_REPORT else text[:_MAX_REPORT] + texts.ELLIPSIS

    def _account(self, name: str) -> str:
        account = self.settings.accounts.get(name)
        return account.title if account is not None else name

    def _line(self, d: Delivery, state: TargetState | None, now: datetime) -> str:
        tz = self.settings.tz
        status, detail = texts.REPORT_PENDING, texts.REPORT_DETAIL_PENDING
        if d.status is DeliveryStatus.PUBLISHED:
            status = texts.REPORT_PUBLISHED
            detail = d.remote_url or texts.REPORT_DETAIL_PUBLISHED_NO_LINK
        elif d.status is DeliveryStatus.FAILED:
            status, detail = texts.REPORT_FAILED, reason_text(d.error_reason, d.platform)
        elif d.status is DeliveryStatus.CANCELLED:
            status, detail = texts.REPORT_CANCELLED, texts.REPORT_DETAIL_CANCELLED
        elif d.status is DeliveryStatus.UNCERTAIN or d.status is DeliveryStatus.RECONCILING:
            status, detail = texts.REPORT_UNCERTAIN, texts.REPORT_DETAIL_UNCERTAIN
        elif d.status is DeliveryStatus.HELD:
            status, detail = texts.REPORT_HELD, texts.REPORT_DETAIL_HELD
        elif state is not None and state.paused:
            status = texts.REPORT_PAUSED
            detail = texts.REPORT_DETAIL_PAUSED.format(
                reason=reason_text(state.pause_reason, d.platform)
            )
        elif d.status is DeliveryStatus.PENDING and d.attempts > 0 and d.error_reason:
            status = texts.REPORT_RETRYING
            detail = texts.REPORT_DETAIL_RETRY.format(
                at=format_local(d.due_at, tz), reason=reason_text(d.error_reason, d.platform)
            )
        elif d.status is DeliveryStatus.PENDING and d.due_at > now + _SCHEDULED_AFTER:
            status = texts.REPORT_SCHEDULED
            detail = texts.REPORT_DETAIL_SCHEDULED.format(at=format_local(d.due_at, tz))
        return texts.REPORT_LINE.format(
            status=status,
            account=self._account(d.account),
            platform=platform_name(d.platform),
            detail=detail,
        )

    async def _notes(self, publication_id: int) -> list[Note]:
        async with self.service.sessionmaker() as session:
            rows = (
                await session.scalars(
                    select(TelegramReportNoteRow)
                    .where(TelegramReportNoteRow.publication_id == publication_id)
                    .order_by(TelegramReportNoteRow.id)
                )
            ).all()
        return [
            Note(code=r.code, account=r.account, platform=r.platform, url=r.url, detail=r.detail)
            for r in rows
        ]

    def _note_line(self, note: Note) -> str:
        where = {
            "account": self._account(note.account),
            "platform": platform_name(note.platform),
            "url": note.url or texts.REPORT_NO_LINK,
        }
        match note.code:
            case "file_too_big":
                return texts.REPORT_NOTE_FILE_TOO_BIG.format(name=note.detail)
            case "dropped_text_only":
                kinds, _, platforms = note.detail.partition("|")
                return texts.REPORT_NOTE_DROPPED_TEXT_ONLY.format(kinds=kinds, platforms=platforms)
            case "notice":
                notice = texts.NOTICES.get(note.detail, note.detail)
                return texts.REPORT_NOTICE.format(notice=notice, **where)
            case "edit_done":
                return texts.REPORT_NOTE_EDIT_DONE.format(version=note.detail, **where)
            case "edit_unsupported":
                return texts.REPORT_NOTE_EDIT_UNSUPPORTED.format(**where)
            case "edit_failed":
                return texts.REPORT_NOTE_EDIT_FAILED.format(reason=note.detail, **where)
            case "delete_done":
                return texts.REPORT_NOTE_DELETE_DONE.format(**where)
            case "delete_unsupported":
                return texts.REPORT_NOTE_DELETE_UNSUPPORTED.format(**where)
            case "delete_failed":
                return texts.REPORT_NOTE_DELETE_FAILED.format(reason=note.detail, **where)
        return note.detail
