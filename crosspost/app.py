"""Wiring: builds the engine, publishers, drainer, periodic jobs and the Telegram side."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import gc
import logging
import os
import signal
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aiohttp
from aiogram import Bot, Dispatcher
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from crosspost import texts
from crosspost.config import Settings
from crosspost.coordination import Coordinator, coordinator_for
from crosspost.db import (
    DeliveryRow,
    create_engine,
    create_sessionmaker,
    migrate,
    sqlite_path,
    write_session,
)
from crosspost.errors import AuthError, PublishError, UsageError
from crosspost.events import EventSink, FanOutSink, LogSink
from crosspost.media import DbUploadMemo, MediaStore
from crosspost.models import DeliveryOperation, Platform
from crosspost.ordering import FirstOrder, wrap_for_links
from crosspost.planning.wiring import Planning
from crosspost.publishing import CheckLine, Publisher, ThrottleFactory
from crosspost.queue import DeliveryRepository
from crosspost.service import PublicationService
from scheduler.drain import Drainer
from scheduler.limits import RateLimits
from scheduler.periodic import PeriodicJob, build_scheduler
from scheduler.retry import RetryPolicy

if TYPE_CHECKING:
    from adapters.max.listener import MaxChannelMirror
    from crosspost.inbox import InboxItem
    from crosspost.stats.collect import Collection
    from staffbot.intake import TelegramIntake
    from staffbot.reports import TelegramReporter

logger = logging.getLogger(__name__)

# Handled inbound updates are kept this long (a record of what arrived), then deleted.
INBOX_KEEP = timedelta(days=30)
INBOX_PRUNE_EVERY = timedelta(hours=6)
LEASE_SWEEP_EVERY = timedelta(seconds=30)
MEDIA_CLEANUP_EVERY = timedelta(hours=1)
# Media stays this long after its deliveries settle, so a quick edit can still use it.
MEDIA_KEEP = timedelta(hours=24)
# At start, the staff reports of publications whose deliveries changed this shortly before are
# brought up to date: the last run may have died between a commit and the report's edit (or
# while a report update waited to be tried again).
REPORT_SWEEP = timedelta(seconds=90)
# OK extends a long-lived token to 30 days from its last use (platforms.md §3.4).
OK_TOKEN_LIFETIME = timedelta(days=30)
# Publishers checked at once by `crosspost check`; each still keeps its own per-token limit.
CHECK_CONCURRENCY = 100
CHECK_WRITE_BATCH = 200


def utcnow() -> datetime:
    return datetime.now(UTC)


class RunLock:
    """One `crosspost run` per SQLite database: an exclusive OS lock on `<db>.lock`, held for
    the life of the process and released by the OS even after SIGKILL."""

    def __init__(self, path: Path, fd: int) -> None:
        self.path = path
        self._fd = fd

    @classmethod
    def acquire(cls, database_url: str) -> RunLock | None:
        """Take the lock (None for databases other than a SQLite file). Raises UsageError
        when another run holds it."""
        db = sqlite_path(database_url)
        if db is None:
            return None
        path = db.with_name(db.name + ".lock")
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise UsageError(
                f"another crosspost run is already using the database {db} "
                f"(lock file {path}); stop it first"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        return cls(path, fd)

    def release(self) -> None:
        if self._fd >= 0:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = -1


def _keeps_alive(publisher: Publisher) -> bool:
    return hasattr(publisher, "keep_alive") or hasattr(publisher, "touch_session")


def _taken(
    sessionmaker: async_sessionmaker[AsyncSession] | None, account: str, platform: Platform
) -> Callable[[str], Awaitable[bool]] | None:
    if sessionmaker is None:
        return None

    async def taken(remote_id: str) -> bool:
        async with sessionmaker() as session:
            return await DeliveryRepository(session).remote_id_taken(platform, account, remote_id)

    return taken


def build_publishers(
    settings: Settings,
    *,
    http: aiohttp.ClientSession,
    bot: Bot | None,
    throttle: ThrottleFactory,
    sessionmaker: async_sessionmaker[AsyncSession] | None = None,
) -> dict[tuple[str, Platform], Publisher]:
    """One publisher per configured account × platform. With a sessionmaker, VK and OK
    reconcile ask the ledger whether a post they read back is already another delivery's."""
    from adapters import ok as ok_adapter
    from adapters import telegram as telegram_adapter
    from adapters import vk as vk_adapter

    publishers: dict[tuple[str, Platform], Publisher] = {}
    # What attempts uploaded or posted, kept in the database so a restart reuses it too.
    memo = DbUploadMemo(sessionmaker) if sessionmaker is not None else None
    for name, account in settings.accounts.items():
        if account.telegram_channel_id is not None and bot is not None:
            publishers[(name, Platform.TELEGRAM)] = telegram_adapter.create_publisher(
                settings=settings, account=name, bot=bot, throttle=throttle
            )
        if account.vk is not None:
            publishers[(name, Platform.VK)] = vk_adapter.create_publisher(
                settings=settings,
                account=name,
                http=http,
                throttle=throttle,
                is_taken=_taken(sessionmaker, name, Platform.VK),
                memo=memo,
            )
        if account.ok is not None:
            publishers[(name, Platform.OK)] = ok_adapter.create_publisher(
                settings=settings,
                account=name,
                http=http,
                throttle=throttle,
                is_taken=_taken(sessionmaker, name, Platform.OK),
                memo=memo,
            )
        if account.max_chat_id is not None:
            from adapters import max as max_adapter

            publishers[(name, Platform.MAX)] = max_adapter.create_publisher(
                settings=settings,
                account=name,
                http=http,
                throttle=throttle,
                is_taken=_taken(sessionmaker, name, Platform.MAX),
                memo=memo,
            )
    return publishers


@dataclass
class App:
    settings: Settings
    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    http: aiohttp.ClientSession
    bot: Bot | None
    limits: RateLimits
    publishers: dict[tuple[str, Platform], Publisher]
    drainer: Drainer
    service: PublicationService
    media: MediaStore
    sinks: list[EventSink] = field(default_factory=list)
    clock: Callable[[], datetime] = utcnow
    dispatcher: Dispatcher | None = None
    # The Telegram listener (staffbot.intake.TelegramIntake) once it runs.
    intake: TelegramIntake | None = None
    # Leadership and cross-process wake-ups (crosspost.coordination) while the service runs.
    coordinator: Coordinator | None = None
    # Events, recurring posts and website feeds (issue 11).
    planning: Planning | None = None
    # The one staff-chat reporter (with the bot): a delivery sink and the bot's handlers share it.
    reporter: TelegramReporter | None = None

    async def close(self) -> None:
        if self.planning is not None:
            await self.planning.close()
        await self.http.close()
        if self.bot is not None:
            await self.bot.session.close()
        await self.engine.dispose()

    def periodic_jobs(self) -> list[PeriodicJob]:
        planned = self.planning.periodic_jobs() if self.planning is not None else []
        return [
            *planned,
            PeriodicJob(name="lease-sweep", func=self.sweep_leases, every=LEASE_SWEEP_EVERY),
            PeriodicJob(name="media-cleanup", func=self.cleanup_media, every=MEDIA_CLEANUP_EVERY),
            PeriodicJob(
                name="token-keepalive",
                func=self.keep_tokens_alive,
                cron="0 4 * * *",
                timezone=self.settings.telegram.timezone,
            ),
            # -- inbox (issue 9) --
            PeriodicJob(name="inbox-prune", func=self.prune_inbox, every=INBOX_PRUNE_EVERY),
            # -- statistics (issue 10) --
            PeriodicJob(
                name="stats-collect",
                func=self.collect_stats,
                cron=self.settings.stats.collect_cron,
                timezone=self.settings.telegram.timezone,
            ),
        ]

    async def prune_inbox(self) -> int:
        """Forget handled inbound updates after INBOX_KEEP; failed ones stay for inspection."""
        from crosspost.inbox import Inbox

        return await Inbox(self.sessionmaker).prune(self.clock() - INBOX_KEEP)

    async def collect_stats(self) -> Collection:
        """The daily snapshot of every account's subscribers (and recent posts' views)."""
        from crosspost.stats.collect import StatsCollector

        collector = StatsCollector(
            settings=self.settings,
            sessionmaker=self.sessionmaker,
            publishers=self.publishers,
            alert=self.alert,
        )
        return await collector.collect(self.clock())

    async def sweep_leases(self) -> int:
        async with write_session(self.sessionmaker, what="lease sweep") as session:
            expired = await DeliveryRepository(session).expire_leases(self.clock())
        for delivery in expired:
            logger.warning(
                "delivery=%s account=%s platform=%s lease expired: now uncertain",
                delivery.delivery_id,
                delivery.account,
                delivery.platform,
            )
        if expired:
            self.drainer.wake()
        return len(expired)

    async def refresh_recent_reports(self) -> int:
        """Bring the staff reports of recently changed publications up to date (at start).
        Returns how many were looked at; never raises."""
        from staffbot.reports import TelegramReporter

        reporters = [
            s for s in getattr(self.drainer.sink, "sinks", ()) if isinstance(s, TelegramReporter)
        ]
        if not reporters:
            return 0
        since = self.clock() - REPORT_SWEEP
        try:
            async with self.sessionmaker() as session:
                ids = list(
                    await session.scalars(
                        select(DeliveryRow.publication_id)
                        .where(DeliveryRow.updated_at >= since)
                        .distinct()
                    )
                )
            for publication_id in ids:
                await reporters[0].refresh(publication_id)
        except Exception:
            logger.exception("refreshing recent staff reports failed")
            return 0
        return len(ids)

    async def cleanup_media(self) -> int:
        now = self.clock()
        return await self.media.cleanup(
            self.sessionmaker, settled_before=now - MEDIA_KEEP, now=now
        )

    async def keep_tokens_alive(self) -> None:
        """Daily: queue a keep-alive call for every token that lapses unless used (OK: 30 days
        from the last call; the drainer makes the call and records the success), and warn
        staff once a token is within `ok.token_warn_days` of lapsing."""
        now = self.clock()
        queued = 0
        async with write_session(self.sessionmaker, what="keep-alive") as session:
            repo = DeliveryRepository(session)
            for (account, platform), publisher in self.publishers.items():
                if not _keeps_alive(publisher):
                    continue
                op = await repo.enqueue_keep_alive(account, platform, now, actor="keep-alive")
                queued += op is not None
        if queued:
            self.drainer.wake()
        await self.warn_lapsing_tokens()

    async def keep_alive_done(
        self, op: DeliveryOperation, error: PublishError | None, newly_paused: bool
    ) -> None:
        """The drainer ran a keep-alive: a token that stopped working pauses its account (the
        drainer did that) and staff are told once."""
        if error is None:
            return
        logger.error(
            "account=%s platform=%s token keep-alive failed: %s", op.account, op.platform, error
        )
        if isinstance(error, AuthError) and newly_paused:
            if self.reporter is not None:
                await self.reporter.account_paused(op.account, op.platform, error)
                return
            platform = texts.PLATFORM_NAMES.get(str(op.platform), str(op.platform))
            await self.alert(
                texts.ALERT_ACCOUNT_PAUSED.format(
                    account=self._title(op.account),
                    platform=platform,
                    reason=texts.REASONS.get(str(error.reason), texts.REASON_FALLBACK).format(
                        **texts.platform_fields(str(op.platform))
                    ),
                )
            )

    async def warn_lapsing_tokens(self) -> list[tuple[str, Platform, datetime]]:
        """OK tokens whose last successful use is so old that they lapse within the warning
        window; staff are told which account and by when."""
        now = self.clock()
        window = timedelta(days=self.settings.ok.token_warn_days)
        lapsing: list[tuple[str, Platform, datetime]] = []
        async with self.sessionmaker() as session:
            states = await DeliveryRepository(session).target_states()
        for state in states:
            if state.platform is not Platform.OK or state.last_success_at is None:
                continue
            lapses_at = state.last_success_at + OK_TOKEN_LIFETIME
            if lapses_at - now <= window:
                lapsing.append((state.account, state.platform, lapses_at))
                at = lapses_at.astimezone(self.settings.tz).strftime("%d.%m.%Y")
                ending = (
                    self.reporter.it_ending
                    if self.reporter is not None
                    else texts.REASON_IT_IN_CHAT
                )
                await self.alert(
                    texts.ALERT_OK_TOKEN_LAPSING.format(
                        account=self.settings.account_label(state.account), at=at, ending=ending
                    )
                )
                if self.reporter is not None:
                    await self.reporter.tell_it_text(
                        texts.IT_OK_TOKEN_LAPSING.format(
                            account=f"{self._title(state.account)} ({state.account})",
                            at=at,
                            config=self.reporter.config_path,
                        )
                    )
        return lapsing

    def _title(self, account: str) -> str:
        config = self.settings.accounts.get(account)
        return config.title if config is not None else account

    async def alert(self, text: str) -> None:
        """A message to the staff chat (and the log); never raises."""
        logger.warning("staff alert: %s", text)
        if self.bot is None:
            return
        try:
            await self.bot.send_message(
                chat_id=self.settings.telegram.staff_chat_id, text=text, parse_mode=None
            )
        except Exception as exc:
            logger.error("staff alert not sent: %s", exc)

    async def check(self) -> dict[tuple[str, Platform], list[CheckLine]]:
        """Ask every publisher what its tokens can do; resume targets whose check passes.

        Publishers are asked CHECK_CONCURRENCY at a time (each keeps its platform's rate limit
        per token), and what passed is written afterwards in a few short transactions: one by
        one, a region's 1,000 accounts took minutes."""
        gate = asyncio.Semaphore(CHECK_CONCURRENCY)

        async def one(publisher: Publisher) -> list[CheckLine]:
            async with gate:
                try:
                    return await publisher.check()
                except Exception as exc:
                    return [CheckLine(ok=False, code="check.crashed", detail=str(exc))]

        keys = list(self.publishers)
        found = await asyncio.gather(*(one(self.publishers[key]) for key in keys))
        results = dict(zip(keys, found, strict=True))
        passed = [key for key, lines in results.items() if lines and all(x.ok for x in lines)]
        now = self.clock()
        for start in range(0, len(passed), CHECK_WRITE_BATCH):
            # A passing check is a successful call: it also extends an OK token.
            async with write_session(self.sessionmaker, what="check") as session:
                repo = DeliveryRepository(session)
                for account, platform in passed[start : start + CHECK_WRITE_BATCH]:
                    await repo.record_success(account, platform, now)
        paused = {(s.account, s.platform) for s in await self.service.target_states() if s.paused}
        for key in passed:
            if key in paused and await self.service.resume(key[0], key[1], actor="check"):
                results[key].append(
                    CheckLine(ok=True, code="resumed", detail="paused deliveries resume now")
                )
                await self.alert(
                    texts.ALERT_ACCOUNT_RESUMED.format(
                        account=self.settings.account_label(key[0]),
                        platform=texts.platform_name(str(key[1])).nom,
                    )
                )
        return results


# -- MAX (issue 14) -----------------------------------------------------------------------------


def max_listener_wanted(settings: Settings) -> bool:
    return settings.max is not None and any(
        a.max_chat_id is not None for a in settings.accounts.values()
    )


def build_max_mirror(app: App) -> MaxChannelMirror:
    """The MAX channel mirror, reporting to the staff chat when the bot is there."""
    from adapters.max import create_client
    from adapters.max.listener import MaxChannelMirror

    on_queued = app.reporter.refresh if app.reporter is not None else None
    return MaxChannelMirror(
        settings=app.settings,
        service=app.service,
        sessionmaker=app.sessionmaker,
        client=create_client(app.settings, http=app.http, throttle=app.limits),
        media_dir=app.settings.media.dir,
        max_file_size=app.settings.media.max_file_mb * 1024 * 1024,
        clock=app.clock,
        on_queued=on_queued,
        on_edited=on_queued,
        on_deleted=on_queued,
    )


async def run_max(app: App, stop: asyncio.Event) -> None:
    """MAX channels as a source: long polling (stored before the marker moves) or the webhook
    (stored before the 200), into the inbox and handled from there; updates missed while down
    come first (the saved marker; MAX redelivers to a webhook)."""
    from adapters.max import create_client
    from adapters.max.listener import SOURCE, MaxListener, inbox_store, serve_webhook
    from crosspost.inbox import Inbox, InboxProcessor

    if app.settings.max is None:
        return
    mirror = build_max_mirror(app)
    inbox = Inbox(app.sessionmaker, clock=app.clock)
    processor = InboxProcessor(inbox)
    inbox.on_stored(processor.wake)

    async def report(item: InboxItem) -> None:
        await app.alert(max_failure_text(app.settings, item))

    processor.register(SOURCE, mirror.handle, on_failed=report)
    client = create_client(app.settings, http=app.http, throttle=app.limits)
    store = inbox_store(inbox, app.settings)
    webhook = app.settings.max.webhook
    processing = asyncio.create_task(processor.run(), name="max-inbox")
    try:
        if webhook is None:
            listener = MaxListener(
                client=client,
                sessionmaker=app.sessionmaker,
                store=store,
                hold_seconds=app.settings.max.poll_timeout_seconds,
                clock=app.clock,
            )
            await listener.run(stop)
        else:
            await serve_webhook(
                client=client,
                store=store,
                url=webhook.url,
                secret=webhook.secret.get_secret_value(),
                path=webhook.path,
                host=webhook.listen_host,
                port=webhook.listen_port,
                stop=stop,
            )
    finally:
        processor.stop()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(processing), timeout=5)
        processing.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await processing


def max_failure_text(settings: Settings, item: InboxItem) -> str:
    """What staff read once about a MAX post that could not be handled."""
    data = item.data()
    message = data.get("message")
    recipient = message.get("recipient") if isinstance(message, dict) else None
    chat_id = recipient.get("chat_id") if isinstance(recipient, dict) else None
    account = settings.account_by_max_chat(chat_id) if isinstance(chat_id, int) else None
    channel = settings.accounts[account].title if account else texts.INBOX_UNKNOWN_CHANNEL
    when = item.received_at.astimezone(settings.tz).strftime("%d.%m.%Y %H:%M")
    template = (
        texts.MAX_INBOX_FAILED_EDIT
        if data.get("update_type") == "message_edited"
        else texts.MAX_INBOX_FAILED_POST
    )
    return template.format(channel=channel, at=when, id=item.id)


async def build_app(
    settings: Settings,
    *,
    sinks: list[EventSink] | None = None,
    with_telegram: bool = True,
    config_path: Path | None = None,
) -> App:
    """The service's parts, wired. `config_path` is named in the commands the IT contact is
    told to run."""
    engine = create_engine(settings.database.url)
    await migrate(engine)
    sessionmaker = create_sessionmaker(engine)
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=10, sock_read=60)
    http = aiohttp.ClientSession(timeout=timeout)
    bot: Bot | None = None
    if with_telegram:
        from adapters.telegram.session import create_bot

        bot = create_bot(settings.telegram)
    limits = RateLimits(settings.scheduler)
    publishers = build_publishers(
        settings, http=http, bot=bot, throttle=limits, sessionmaker=sessionmaker
    )
    sink_list: list[EventSink] = [LogSink(), *(sinks or [])]
    sink = FanOutSink(*sink_list)
    sc = settings.scheduler
    drainer = Drainer(
        sessionmaker=sessionmaker,
        publishers=publishers,
        policy=RetryPolicy(
            max_attempts=sc.max_attempts,
            base_delay=timedelta(seconds=sc.base_delay_seconds),
            max_delay=timedelta(seconds=sc.max_delay_seconds),
        ),
        sink=sink,
        concurrency=sc.concurrency,
        lease=sc.lease,
    )
    # -- MAX (issue 14): publish_first holds the other copies back; link_to_first links them
    order = FirstOrder(settings, sessionmaker, wake=drainer.wake, clock=utcnow)
    sink.sinks.append(order)
    wrap_for_links(settings, publishers, sessionmaker)
    service = PublicationService(
        sessionmaker, publishers=publishers, wake=drainer.wake, after_enqueue=order.after_enqueue
    )
    media = MediaStore(settings.media.dir, max_file_size=settings.media.max_file_mb * 1024 * 1024)
    app = App(
        settings=settings,
        engine=engine,
        sessionmaker=sessionmaker,
        http=http,
        bot=bot,
        limits=limits,
        publishers=publishers,
        drainer=drainer,
        service=service,
        media=media,
        sinks=sink_list,
    )
    drainer.on_keep_alive = app.keep_alive_done
    app.planning = Planning.build(settings=settings, service=service, alert=app.alert)
    sink.sinks.extend(app.planning.sinks)
    if bot is not None:
        from staffbot.reports import TelegramReporter

        app.reporter = TelegramReporter(
            bot=bot, settings=settings, service=service, config_path=config_path
        )
        sink.sinks.append(app.reporter)
    return app


async def run_service(app: App, *, stop: asyncio.Event | None = None) -> None:
    """Run until SIGTERM/SIGINT (or `stop`): drain, periodic jobs, Telegram polling or webhook."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(RuntimeError):  # not the main thread (tests)
            loop.add_signal_handler(sig, stop.set)
    coordinator = coordinator_for(app.settings.database.url, owner=app.drainer.owner)
    await coordinator.start(app.drainer.wake)
    app.coordinator = coordinator
    drainer_wake = app.drainer.wake

    def wake_everyone() -> None:
        drainer_wake()
        coordinator.notify()

    app.service.wake = wake_everyone
    if sqlite_path(app.settings.database.url) is not None:
        # This run holds the database's run lock: every other lease owner is gone, so what it
        # left in flight is settled now rather than when its lease would expire.
        await app.drainer.recover()
    else:
        await app.drainer.recover_gone(coordinator.alive_owners)
    await app.sweep_leases()
    drain_task = asyncio.create_task(app.drainer.run(), name="drain")
    leader = Leader(app, coordinator)
    leader_task = asyncio.create_task(leader.run(), name="leader")
    # Everything built so far lives as long as the process: keep it out of the collector's
    # full passes (aiogram's large heap made them take ~100 ms).
    gc.collect()
    gc.freeze()
    reports_task = asyncio.create_task(app.refresh_recent_reports(), name="report sweep")
    logger.info(
        "crosspost running: %s accounts, %s publishers",
        len(app.settings.accounts),
        len(app.publishers),
    )
    stop_wait = asyncio.create_task(stop.wait())
    watched = {stop_wait, drain_task, leader_task}
    done, _ = await asyncio.wait(watched, return_when=asyncio.FIRST_COMPLETED)
    for task in done - {stop_wait}:
        if task.exception() is not None:
            logger.error("%s stopped unexpectedly: %r", task.get_name(), task.exception())
    logger.info("stopping: no new claims; waiting for sends in flight")
    reports_task.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await reports_task
    await leader.stop()
    leader_task.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await leader_task
    await app.drainer.stop(grace=app.settings.scheduler.shutdown_timeout_seconds)
    with contextlib.suppress(asyncio.CancelledError):
        await drain_task
    await coordinator.close()
    stop_wait.cancel()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(RuntimeError):  # not the main thread (tests)
            loop.remove_signal_handler(sig)


# How often the leader of a shared (PostgreSQL) queue looks for leases of runs that are gone.
ORPHAN_SWEEP = timedelta(seconds=5)


class Leader:
    """What exactly one process runs: the inbound listeners and the periodic jobs. On SQLite
    that is the only process; on PostgreSQL the one holding the advisory lock. A process that
    loses leadership stops, so that a restart (systemd) puts it back in line."""

    def __init__(self, app: App, coordinator: Coordinator) -> None:
        self.app = app
        self.coordinator = coordinator
        self._periodic: Any = None
        self._tasks: list[asyncio.Task[None]] = []
        self._max_stop = asyncio.Event()

    async def run(self) -> None:
        app = self.app
        await self.coordinator.wait_leader()
        self._periodic = build_scheduler(app.periodic_jobs())
        self._periodic.start()
        if app.bot is not None:
            self._tasks.append(asyncio.create_task(run_telegram(app), name="telegram"))
        if max_listener_wanted(app.settings):
            self._tasks.append(asyncio.create_task(run_max(app, self._max_stop), name="max"))
        if sqlite_path(app.settings.database.url) is None:
            self._tasks.append(asyncio.create_task(self._sweep_orphans(), name="orphan-sweep"))
        lost = asyncio.create_task(self.coordinator.lost(), name="leadership")
        done, _ = await asyncio.wait(
            {lost, *(t for t in self._tasks if t.get_name() == "telegram")},
            return_when=asyncio.FIRST_COMPLETED,
        )
        if lost in done:
            raise RuntimeError("leadership lost: the connection holding the leader lock broke")
        lost.cancel()
        for task in done:
            task.result()

    async def _sweep_orphans(self) -> None:
        while True:
            await asyncio.sleep(ORPHAN_SWEEP.total_seconds())
            try:
                await self.app.drainer.recover_gone(self.coordinator.alive_owners)
            except Exception:
                logger.exception("looking for leases of runs that are gone failed")

    async def stop(self) -> None:
        if self._periodic is not None:
            self._periodic.shutdown(wait=False)
        self._max_stop.set()
        if self.app.intake is not None:
            self.app.intake.stop()
        for task in self._tasks:
            if task.get_name() == "telegram":
                with contextlib.suppress(TimeoutError, asyncio.CancelledError, Exception):
                    await asyncio.wait_for(asyncio.shield(task), timeout=5)
            # A MAX long poll in flight is simply abandoned: its marker is not saved.
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


async def run_telegram(app: App) -> None:
    """The staff bot and the channel listener (long polling, or the webhook when configured).

    Every update is stored in the inbox before Telegram is told it arrived, then handled from
    there (staffbot/intake.py).
    """
    from staffbot.dispatcher import build_dispatcher
    from staffbot.intake import TelegramIntake

    if app.bot is None or app.reporter is None:
        return
    dp = build_dispatcher(
        settings=app.settings,
        service=app.service,
        sessionmaker=app.sessionmaker,
        media_dir=app.settings.media.dir,
        clock=app.clock,
        reporter=app.reporter,
        on_event_change=app.planning.on_event_change if app.planning is not None else None,
    )
    intake = TelegramIntake(
        bot=app.bot, dp=dp, settings=app.settings, sessionmaker=app.sessionmaker, clock=app.clock
    )
    app.dispatcher = dp
    app.intake = intake
    webhook = app.settings.telegram.webhook
    if webhook is None:
        await intake.run_polling()
    else:
        await intake.serve_webhook(webhook)
