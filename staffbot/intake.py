"""Getting updates: long polling (the default) or a webhook, both through the inbox.

The listeners (crosspost/intake/telegram.py) store every update raw before confirming it to
Telegram; the inbox processor then hands each stored update to `TelegramIntake.handle`, which
judges it by its raw dict first (strangers are refused without parsing, unknown chats ignored),
then parses it with aiogram and feeds the Dispatcher. An update aiogram cannot parse, or whose
handler fails, is kept with its error, reported to staff once and skipped; a transient failure
(a getFile timeout) is retried with backoff.

Pending updates are never dropped: neither deleteWebhook nor setWebhook is called with
drop_pending_updates, so posts made while the service was down arrive when it starts.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import UTC, datetime

from aiogram import Bot, Dispatcher
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.exceptions import TelegramAPIError, TelegramNetworkError
from aiogram.types import Update
from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from adapters.telegram.errors import classify
from crosspost import texts
from crosspost.config import Settings, TelegramConfig, WebhookConfig
from crosspost.errors import ConfigError, TransientError
from crosspost.inbox import Inbox, InboxItem, InboxProcessor, describe_error
from crosspost.intake import telegram as intake
from crosspost.intake.telegram import (
    ALBUM_KEY,
    SOURCE,
    BotApi,
    Kind,
    OutageAlerter,
    Refusals,
    Rules,
    TelegramPoller,
    Verdict,
    classify_update,
    local_time,
)
from staffbot.mirror import AlbumGatherer

logger = logging.getLogger(__name__)

SECRET_HEADER = intake.SECRET_HEADER
# How long a stop waits for the update in hand before cancelling it (it stays pending).
STOP_GRACE_SECONDS = 5.0


def _utcnow() -> datetime:
    return datetime.now(UTC)


class TelegramIntake:
    """Polling or webhook → inbox → processor → aiogram Dispatcher."""

    def __init__(
        self,
        *,
        bot: Bot,
        dp: Dispatcher,
        settings: Settings,
        sessionmaker: async_sessionmaker[AsyncSession],
        clock: Callable[[], datetime] = _utcnow,
        inbox: Inbox | None = None,
        refusals: Refusals | None = None,
    ) -> None:
        self.bot = bot
        self.dp = dp
        self.settings = settings
        self.sessionmaker = sessionmaker
        self.clock = clock
        self.inbox = inbox or Inbox(sessionmaker, clock=clock)
        self.processor = InboxProcessor(self.inbox)
        self.inbox.on_stored(self.processor.wake)
        self.processor.register(SOURCE, self.handle, on_failed=self.report_failure)
        self.rules = Rules.from_settings(settings)
        self.refusals = refusals or Refusals()
        # Strangers with an update on its way to a refusal: their others are stored as handled.
        self._refusing: set[int] = set()
        self.alerter = OutageAlerter(
            send=self._direct_send,
            recipients=[settings.telegram.staff_chat_id, *settings.telegram.it_contacts],
            down_text=lambda reason: texts.INTAKE_DB_DOWN.format(reason=_short_reason(reason)),
            back_text=texts.INTAKE_DB_BACK,
        )
        self.poller: TelegramPoller | None = None
        self._stop = asyncio.Event()
        self._albums: list[AlbumGatherer] = [
            g.albums for name in ("mirror", "dialog") if (g := dp.get(name)) is not None
        ]
        for albums in self._albums:
            albums.inbox = self.inbox

    # -- lifecycle ---------------------------------------------------------------------------

    async def _api(self) -> BotApi:
        # The bot's own aiohttp session: the same proxy and limits as every other call.
        session = self.bot.session
        if not isinstance(session, AiohttpSession):
            raise ConfigError("the Telegram bot needs an aiohttp session")
        http = await session.create_session()
        api = session.api
        return BotApi(http=http, url=lambda method: api.api_url(self.bot.token, method))

    def allowed_updates(self) -> list[str]:
        return self.dp.resolve_used_update_types()

    def stop(self) -> None:
        self._stop.set()
        if self.poller is not None:
            self.poller.stop()

    async def _start_processing(self) -> asyncio.Task[None]:
        await self.dp.emit_startup(bot=self.bot, dispatcher=self.dp, **self.dp.workflow_data)
        return asyncio.create_task(self.processor.run(), name="inbox")

    async def _stop_processing(self, task: asyncio.Task[None]) -> None:
        self.processor.stop()
        try:
            async with asyncio.timeout(STOP_GRACE_SECONDS):
                await asyncio.shield(task)
        except TimeoutError:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        finally:
            await self.dp.emit_shutdown(bot=self.bot, dispatcher=self.dp, **self.dp.workflow_data)

    async def run_polling(self, *, polling_timeout: int = intake.POLL_TIMEOUT_SECONDS) -> None:
        """Long-poll until `stop()`. A webhook left from webhook mode is removed first (its
        pending updates kept)."""
        processing = await self._start_processing()
        self.poller = TelegramPoller(
            api=await self._api(),
            inbox=self.inbox,
            rules=self.rules,
            alerter=self.alerter,
            allowed_updates=self.allowed_updates(),
            timeout=polling_timeout,
            triage=self.triage,
        )
        if self._stop.is_set():
            self.poller.stop()
        for albums in self._albums:
            albums.caught_up = self.poller.caught_up_at
        try:
            await self.poller.run()
        finally:
            await self._stop_processing(processing)
            for albums in self._albums:
                albums.caught_up = None

    def webhook_app(self, cfg: WebhookConfig) -> web.Application:
        secret = cfg.secret_token.get_secret_value()
        if not secret:
            raise ConfigError("telegram.webhook.secret_token must not be empty")
        return intake.build_webhook_app(
            path=cfg.path,
            secret=secret,
            inbox=self.inbox,
            rules=self.rules,
            alerter=self.alerter,
            triage=self.triage,
        )

    async def set_webhook(self, cfg: WebhookConfig) -> None:
        """Tell Telegram where to send updates, with the secret and the update types in use."""
        await self.bot.set_webhook(
            url=cfg.url,
            secret_token=cfg.secret_token.get_secret_value(),
            allowed_updates=self.allowed_updates(),
            drop_pending_updates=False,
        )
        logger.info("telegram webhook set (path %s)", cfg.path)

    async def serve_webhook(self, cfg: WebhookConfig) -> None:
        """Serve the webhook on cfg.listen_host:listen_port and register it; runs until
        `stop()` or cancelled. The webhook stays registered on exit, so Telegram keeps the
        updates for the next start."""
        processing = await self._start_processing()
        runner = web.AppRunner(self.webhook_app(cfg))
        await runner.setup()
        try:
            site = web.TCPSite(runner, cfg.listen_host, cfg.listen_port)
            await site.start()
            await self.set_webhook(cfg)
            await self._stop.wait()
        finally:
            await runner.cleanup()
            await self._stop_processing(processing)

    # -- handling stored updates -------------------------------------------------------------

    def triage(self, verdict: Verdict) -> bool:
        """At the door, before anything is parsed: True when nothing is to be done with the
        update (stored as handled). Of a stranger's updates only the one that may earn a
        refusal goes on; a flood of them costs one insert each."""
        if verdict.kind is Kind.IGNORED:
            return True
        if verdict.kind is not Kind.STRANGER:
            return False
        user_id = verdict.user_id
        if user_id is None or user_id in self._refusing:
            return True
        if not self.refusals.would_refuse(user_id):
            return True
        self._refusing.add(user_id)
        return False

    async def handle(self, payload: dict[str, object]) -> None:
        """Handle one stored update. Raises TransientError to be retried; anything else marks
        it failed (reported once)."""
        verdict = classify_update(payload, self.rules)
        if verdict.update_type == ALBUM_KEY:
            await self._flush_album(payload)
            return
        if verdict.kind is Kind.IGNORED:
            return
        if verdict.kind is Kind.STRANGER:
            await self._refuse(verdict, payload)
            return
        update = Update.model_validate(payload, context={"bot": self.bot})
        try:
            await self.dp.feed_update(self.bot, update)
        except TelegramAPIError as exc:
            # A channel post is safe to handle again (the mirror is idempotent); a staff
            # dialog step is not, so only channel updates retry on a network hiccup.
            error = classify(exc)
            if verdict.kind is Kind.CHANNEL and isinstance(error, TransientError):
                raise error from exc
            raise

    async def _flush_album(self, payload: dict[str, object]) -> None:
        body = payload.get(ALBUM_KEY)
        if not isinstance(body, dict):
            return
        chat_id, group_id = body.get("chat_id"), body.get("media_group_id")
        if not isinstance(chat_id, int) or not isinstance(group_id, str):
            return
        for albums in self._albums:
            if albums.owns(chat_id):
                await albums.flush(self.bot, (chat_id, group_id))
                return

    async def _refuse(self, verdict: Verdict, payload: dict[str, object]) -> None:
        """A stranger: one polite refusal per period and an audit line, without parsing."""
        user_id = verdict.user_id
        if user_id is not None:
            self._refusing.discard(user_id)
        if user_id is None or not self.refusals.should_refuse(user_id):
            return
        logger.info("user=%s is not staff: %s refused", user_id, verdict.update_type)
        await intake.audit_refusal(self.sessionmaker, user_id, verdict.update_type, self.clock())
        text = texts.BOT_NOT_STAFF.format(user_id=user_id)
        try:
            if verdict.update_type == "callback_query":
                body = payload.get("callback_query")
                query_id = body.get("id") if isinstance(body, dict) else None
                if isinstance(query_id, str):
                    await self.bot.answer_callback_query(query_id, text=text, show_alert=True)
            else:
                await self.bot.send_message(user_id, text, parse_mode=None)
        except (TelegramAPIError, TelegramNetworkError) as exc:
            logger.info("user=%s refusal not delivered: %s", user_id, describe_error(exc))

    async def report_failure(self, item: InboxItem) -> None:
        """Tell staff once which channel and when; the technical error stays in the log."""
        data = item.data()
        at: datetime | int | None = item.received_at
        kinds = [k for k in data if k != "update_id"]
        body = data.get(kinds[0]) if kinds else None
        channel: str | None = None
        if isinstance(body, dict):
            date = body.get("edit_date") or body.get("date")
            if isinstance(date, int):
                at = date
            chat = body.get("chat")
            chat_id = chat.get("id") if isinstance(chat, dict) else None
            if kinds[0] in ("channel_post", "edited_channel_post", ALBUM_KEY):
                chat_id = body.get("chat_id", chat_id)
                account = (
                    self.settings.account_by_channel(chat_id) if isinstance(chat_id, int) else None
                )
                channel = (
                    self.settings.accounts[account].title
                    if account is not None
                    else texts.INBOX_UNKNOWN_CHANNEL
                )
        when = local_time(at, self.settings)
        if channel is not None and kinds[0] == "edited_channel_post":
            text = texts.INBOX_FAILED_EDIT.format(channel=channel, at=when, id=item.id)
        elif channel is not None:
            text = texts.INBOX_FAILED_CHANNEL.format(channel=channel, at=when, id=item.id)
        else:
            text = texts.INBOX_FAILED_OTHER.format(at=when, id=item.id)
        await self.bot.send_message(self.settings.telegram.staff_chat_id, text, parse_mode=None)

    async def _direct_send(self, chat_id: int, text: str) -> None:
        await self.bot.send_message(chat_id, text, parse_mode=None)


def _short_reason(reason: str) -> str:
    lowered = reason.lower()
    if "readonly" in lowered or "read-only" in lowered:
        return texts.INTAKE_DB_REASONS["readonly"]
    if "full" in lowered:
        return texts.INTAKE_DB_REASONS["full"]
    if "locked" in lowered:
        return texts.INTAKE_DB_REASONS["locked"]
    return texts.INTAKE_DB_REASONS["other"]


# -- the functions the app and older callers use -------------------------------------------


def build_intake(
    *,
    bot: Bot,
    dp: Dispatcher,
    settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: Callable[[], datetime] = _utcnow,
) -> TelegramIntake:
    return TelegramIntake(
        bot=bot, dp=dp, settings=settings, sessionmaker=sessionmaker, clock=clock
    )


async def setup_webhook(intake_: TelegramIntake, cfg: TelegramConfig) -> None:
    """Register the configured webhook. Raises ConfigError when none is configured."""
    if cfg.webhook is None:
        raise ConfigError("telegram.webhook is not configured")
    await intake_.set_webhook(cfg.webhook)
