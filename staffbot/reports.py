"""One message per publication in the staff chat, edited in place as its deliveries settle."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from pathlib import Path

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

from crosspost import texts
from crosspost.config import Settings, secret_values
from crosspost.dates import format_local
from crosspost.errors import TECHNICAL, PublishError, Reason
from crosspost.events import DeliveryEvent, EventKind
from crosspost.models import Delivery, DeliveryStatus, OperationKind, OperationStatus, Platform
from crosspost.queue import TargetState
from crosspost.report_notes import Note as Note
from crosspost.report_notes import add_notes as add_notes
from crosspost.report_notes import notes_of
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
_AUTHOR_MAX = 64
_IT_DETAIL_MAX = 500
# The same technical failure of one account is told to the IT contact at most this often.
IT_REPEAT_AFTER = timedelta(hours=6)
# Where `crosspost run` reads its config in the shipped systemd unit (deploy/crosspost.service).
DEFAULT_CONFIG_PATH = "/etc/crosspost/crosspost.toml"
# The report note that keeps the author's name of a bot publication.
AUTHOR_NOTE = "author"


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


def operation_notes(event: DeliveryEvent, *, it_ending: str | None = None) -> list[Note]:
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
        detail = reason_text(event.error or op.error_reason, op.platform, it_ending=it_ending)
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
    return texts.platform_name(str(platform)).nom


def reason_text(
    error: PublishError | str | None, platform: str | Platform, *, it_ending: str | None = None
) -> str:
    """The plain-Russian reason with what to do, for an error or a stored Reason value; a
    technical reason gets `it_ending` (where its detail went) when given."""
    reason = error.reason if isinstance(error, PublishError) else error
    template = texts.REASONS.get(str(reason), texts.REASON_FALLBACK) if reason else None
    text = (template or texts.REASON_FALLBACK).format(**texts.platform_fields(str(platform)))
    if it_ending and is_technical(reason):
        return texts.REASON_WITH_ENDING.format(reason=text, ending=it_ending)
    return text


def scrub(text: str, secrets: set[str]) -> str:
    """The text with every configured secret cut out (an error message may echo a request)."""
    for secret in sorted(secrets, key=len, reverse=True):
        text = text.replace(secret, "***")
    return text


def is_technical(reason: object) -> bool:
    """Whether only the IT person can fix it (an unknown stored value counts as unknown)."""
    if reason is None:
        return False
    try:
        return Reason(str(reason)) in TECHNICAL
    except ValueError:
        return True


def author_name(first_name: str, last_name: str | None) -> str:
    """«Ирина Петрова», as the Telegram user calls themselves."""
    return " ".join(" ".join(p.split()) for p in (first_name, last_name or "") if p.strip())[
        :_AUTHOR_MAX
    ]


class DeliveryCb(CallbackData, prefix="r"):
    """A button on a report: retry or cancel one delivery."""

    a: str  # retry | cancel
    d: int  # delivery id


class TelegramReporter:
    """EventSink that keeps one report message per publication in the staff chat, and tells the
    IT contact about technical failures.

    One instance per process, made in the wiring (crosspost.app) and handed to the bot's
    handlers, so the drainer's events and the bot's own refreshes (after a submit or an edit)
    share its locks and never send two messages for one publication.
    """

    def __init__(
        self,
        *,
        bot: Bot,
        settings: Settings,
        service: PublicationService,
        config_path: Path | str | None = None,
    ) -> None:
        self.bot = bot
        self.settings = settings
        self.service = service
        self.chat_id = settings.telegram.staff_chat_id
        self.config_path = str(config_path or DEFAULT_CONFIG_PATH)
        self._locks: dict[int, asyncio.Lock] = {}
        # Keyed by the report message itself, so a new database or staff chat never matches.
        self._rendered: dict[tuple[int, int], str] = {}
        self._later: set[asyncio.Task[None]] = set()
        # Report updates that failed on a passing fault, by publication: how many times in a row.
        self._failed_tries: dict[int, int] = {}
        # (account, platform, reason) -> when the IT contact was last told.
        self._it_told: dict[tuple[str, str, str], datetime] = {}
        self._secrets = secret_values(settings)

    # -- events ----------------------------------------------------------------------------------

    async def delivery_event(self, event: DeliveryEvent) -> None:
        """EventSink: a delivery settled or changed; bring its publication's report up to date,
        and tell staff and the IT contact what needs them."""
        d = event.delivery
        try:
            if event.operation is not None:
                notes = operation_notes(event, it_ending=self.it_ending)
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
            if event.kind is EventKind.PAUSED and event.error is not None:
                await self.account_paused(
                    d.account, d.platform, event.error, delivery_id=d.delivery_id
                )
            elif event.error is not None and is_technical(event.error.reason):
                await self.tell_it(d.account, d.platform, event.error, delivery_id=d.delivery_id)
            await self.refresh(d.publication_id)
        except Exception:
            logger.exception(
                "delivery=%s account=%s platform=%s report failed",
                d.delivery_id,
                d.account,
                d.platform,
            )

    async def account_paused(
        self,
        account: str,
        platform: Platform,
        error: PublishError,
        *,
        delivery_id: int | None = None,
    ) -> None:
        """An account × platform was just paused: staff read it once (later reports show only
        the state), the IT contact gets the detail. Never raises."""
        await self.send_note(
            texts.ALERT_ACCOUNT_PAUSED.format(
                account=self.label(account),
                platform=platform_name(platform),
                reason=reason_text(error, platform, it_ending=self.it_ending),
            )
        )
        await self.tell_it(account, platform, error, delivery_id=delivery_id, force=True)

    @property
    def it_ending(self) -> str:
        """What staff read after a technical reason: where its detail went."""
        tg = self.settings.telegram
        return (
            texts.REASON_IT_INFORMED
            if tg.it_contacts or tg.it_chat_id is not None
            else texts.REASON_IT_IN_CHAT
        )

    async def tell_it(
        self,
        account: str,
        platform: Platform,
        error: PublishError,
        *,
        delivery_id: int | None = None,
        force: bool = False,
    ) -> None:
        """The technical detail and the command to run, to the IT contact (the staff chat when
        none is set); the same account, platform and reason at most once in IT_REPEAT_AFTER
        unless `force`. Never raises; tokens are scrubbed."""
        key = (account, str(platform), str(error.reason))
        now = self.service.clock()
        told = self._it_told.get(key)
        if not force and told is not None and now - told < IT_REPEAT_AFTER:
            return
        self._it_told[key] = now
        reason = str(error.reason) if str(error.reason) in texts.IT_WHAT else "unknown"
        forms = texts.platform_fields(str(platform))
        detail = f"{type(error).__name__}: {error}"
        text = texts.IT_FAILURE.format(
            account=f"{self._title(account)} ({account})",
            platform=platform_name(platform),
            what=texts.IT_WHAT[reason].format(**forms),
            error=scrub(detail, self._secrets)[:_IT_DETAIL_MAX],
            todo=texts.IT_ACTIONS[reason].format(delivery=delivery_id or "-", **forms),
            config=self.config_path,
        )
        logger.warning(
            "delivery=%s account=%s platform=%s technical failure sent to IT: %s",
            delivery_id,
            account,
            platform,
            error.reason,
        )
        for chat_id in self.settings.telegram.it_recipients:
            await self._send(chat_id, text)

    async def tell_it_text(self, text: str) -> None:
        """A prepared IT_* text to the IT contact (the staff chat when none is set)."""
        for chat_id in self.settings.telegram.it_recipients:
            await self._send(chat_id, scrub(text, self._secrets))

    async def set_author(
        self, publication_id: int, first_name: str, last_name: str | None
    ) -> None:
        """Keep the author's name with a publication composed in the bot («автор: Ирина
        Петрова» in its report)."""
        name = author_name(first_name, last_name)
        if name:
            await add_notes(
                self.service.sessionmaker,
                publication_id,
                [Note(code=AUTHOR_NOTE, detail=name)],
                self.service.clock(),
            )

    # -- the report ------------------------------------------------------------------------------

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
                account=self.label(d.account), platform=platform_name(d.platform)
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

    def label(self, name: str) -> str:
        """The account's short label (Settings.account_label)."""
        return self.settings.account_label(name)

    def _title(self, name: str) -> str:
        account = self.settings.accounts.get(name)
        return account.title if account is not None else name

    async def send_note(self, text: str) -> None:
        """A standalone message to staff (nothing to report on, e.g. a post nothing of which
        could travel, or an account just paused)."""
        await self._send(self.chat_id, text)

    async def _send(self, chat_id: int, text: str) -> None:
        try:
            await self.bot.send_message(
                chat_id=chat_id, text=text, parse_mode=None, link_preview_options=_NO_PREVIEW
            )
        except TelegramAPIError as exc:
            logger.warning("chat=%s note not sent: %s", chat_id, exc.message)

    async def render(self, publication_id: int) -> str | None:
        view = await self.service.view(publication_id)
        if view is None:
            return None
        info = view.info
        tz = self.settings.tz
        now = self.service.clock()
        notes = await self._notes(publication_id)
        author = next((n.detail for n in notes if n.code == AUTHOR_NOTE), None)
        lines = [texts.REPORT_TITLE.format(id=publication_id)]
        if info.source == "channel" and info.original_url:
            lines.append(texts.REPORT_SOURCE_CHANNEL.format(url=info.original_url))
        elif info.source == "bot":
            lines.append(
                texts.REPORT_SOURCE_BOT.format(author=author or texts.REPORT_AUTHOR_UNKNOWN)
            )
        elif info.source == "cli":
            lines.append(texts.REPORT_SOURCE_CLI)
        elif info.source == "schedule":
            lines.append(texts.REPORT_SOURCE_SCHEDULE)
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
        shown = [n for n in notes if n.code != AUTHOR_NOTE]
        if shown:
            lines.append("")
            lines.append(texts.REPORT_NOTES_TITLE)
            lines.extend(self._note_line(n) for n in shown)
        if info.deleted_at is None and any(
            d.status is DeliveryStatus.PUBLISHED for d in view.deliveries
        ):
            lines.append("")
            lines.append(texts.REPORT_HINT_DELETE)
        text = "\n".join(lines)
        return text if len(text) <= _MAX_REPORT else text[:_MAX_REPORT] + texts.ELLIPSIS

    def _line(self, d: Delivery, state: TargetState | None, now: datetime) -> str:
        tz = self.settings.tz
        status, detail = texts.REPORT_PENDING, texts.REPORT_DETAIL_PENDING
        if d.status is DeliveryStatus.PUBLISHED:
            status = texts.REPORT_PUBLISHED
            detail = d.remote_url or texts.REPORT_DETAIL_PUBLISHED_NO_LINK
        elif d.status is DeliveryStatus.FAILED:
            status = texts.REPORT_FAILED
            detail = reason_text(d.error_reason, d.platform, it_ending=self.it_ending)
        elif d.status is DeliveryStatus.CANCELLED:
            status, detail = texts.REPORT_CANCELLED, texts.REPORT_DETAIL_CANCELLED
        elif d.status is DeliveryStatus.UNCERTAIN or d.status is DeliveryStatus.RECONCILING:
            status, detail = texts.REPORT_UNCERTAIN, texts.REPORT_DETAIL_UNCERTAIN
        elif d.status is DeliveryStatus.HELD:
            status, detail = texts.REPORT_HELD, texts.REPORT_DETAIL_HELD
        elif state is not None and state.paused:
            # The reason was told once when the account was paused; here only the state.
            status, detail = texts.REPORT_PAUSED, texts.REPORT_DETAIL_PAUSED
        elif d.status is DeliveryStatus.PENDING and d.attempts > 0 and d.error_reason:
            status = texts.REPORT_RETRYING
            detail = texts.REPORT_DETAIL_RETRY.format(
                at=format_local(d.due_at, tz), reason=reason_text(d.error_reason, d.platform)
            )
        elif d.status is DeliveryStatus.PENDING and d.due_at > now + _SCHEDULED_AFTER:
            status = texts.REPORT_SCHEDULED
            detail = texts.REPORT_DETAIL_SCHEDULED.format(at=format_local(d.due_at, tz))
        return texts.REPORT_LINE.format(
            mark=status,
            account=self.label(d.account),
            platform=platform_name(d.platform),
            detail=detail,
        )

    async def _notes(self, publication_id: int) -> list[Note]:
        return await notes_of(self.service.sessionmaker, publication_id)

    def _note_line(self, note: Note) -> str:
        where = {
            "account": self.label(note.account),
            "platform": platform_name(note.platform),
            "url": note.url or texts.REPORT_NO_LINK,
        }
        match note.code:
            case "file_too_big":
                return texts.REPORT_NOTE_FILE_TOO_BIG.format(name=note.detail)
            case "dropped_text_only":
                kinds, _, platforms = note.detail.partition("|")
                return texts.REPORT_NOTE_DROPPED_TEXT_ONLY.format(
                    kinds=kinds, in_platforms=platforms
                )
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
