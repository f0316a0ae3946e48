"""Health and metrics over HTTP: `GET /healthz` (JSON, 200 or 503) and `GET /metrics`
(Prometheus text format). Outcomes and durations come from delivery events; queue depth, the
oldest overdue delivery and paused targets are read from the database at each request.
Nothing here reads a secret: only account names, platforms, statuses and numbers go out."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crosspost import __version__
from crosspost.db import DeliveryRow, TargetStateRow
from crosspost.errors import ConfigError
from crosspost.events import DeliveryEvent, EventKind
from crosspost.models import OPEN, DeliveryStatus, Platform

if TYPE_CHECKING:
    from crosspost.app import App

logger = logging.getLogger(__name__)

# A health check must answer fast even when the database is locked or gone.
PROBE_TIMEOUT = timedelta(seconds=3)
# Seconds; publish calls range from a text post (~0.1 s) to a video upload (minutes).
DURATION_BUCKETS = (0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600)


class Metrics:
    """The service's Prometheus metrics in their own registry, fed as an EventSink."""

    def __init__(self, clock: Callable[[], datetime] | None = None) -> None:
        self.clock = clock or (lambda: datetime.now(UTC))
        self.registry = CollectorRegistry(auto_describe=True)
        self.deliveries = Counter(
            "crosspost_deliveries",
            "Delivery outcomes (published, retry, failed, uncertain, held, paused, cancelled).",
            ["account", "platform", "outcome"],
            registry=self.registry,
        )
        self.publish_duration = Histogram(
            "crosspost_publish_duration_seconds",
            "From claiming a delivery to its settled result, by platform.",
            ["platform"],
            buckets=DURATION_BUCKETS,
            registry=self.registry,
        )
        self.queue_depth = Gauge(
            "crosspost_queue_depth",
            "Deliveries not yet settled, by status.",
            ["status"],
            registry=self.registry,
        )
        self.oldest_overdue = Gauge(
            "crosspost_oldest_overdue_seconds",
            "Age of the oldest pending delivery whose due time has passed (0 when none).",
            registry=self.registry,
        )
        self.target_paused = Gauge(
            "crosspost_target_paused",
            "1 while an account on a platform is paused (its token stopped working).",
            ["account", "platform"],
            registry=self.registry,
        )
        self.component_up = Gauge(
            "crosspost_component_up",
            "1 when the component is alive: database, drain, inbound.",
            ["component"],
            registry=self.registry,
        )
        self.info = Gauge(
            "crosspost_build_info",
            "Version of the running service.",
            ["version"],
            registry=self.registry,
        )
        self.info.labels(version=__version__).set(1)

    async def delivery_event(self, event: DeliveryEvent) -> None:
        d = event.delivery
        self.deliveries.labels(
            account=d.account, platform=str(d.platform), outcome=str(event.kind)
        ).inc()
        timed = event.kind in (EventKind.PUBLISHED, EventKind.FAILED, EventKind.RETRY)
        if timed and d.last_attempt_at is not None:
            seconds = (self.clock() - d.last_attempt_at).total_seconds()
            if seconds >= 0:
                self.publish_duration.labels(platform=str(d.platform)).observe(seconds)

    def update(self, report: HealthReport) -> None:
        for name, alive in report.checks.items():
            self.component_up.labels(component=name).set(1 if alive else 0)
        if report.queue_depth is not None:
            for status in sorted(OPEN):
                self.queue_depth.labels(status=str(status)).set(
                    report.queue_depth.get(str(status), 0)
                )
        if report.oldest_overdue_seconds is not None:
            self.oldest_overdue.set(report.oldest_overdue_seconds)
        for target in report.targets:
            self.target_paused.labels(account=target.account, platform=target.platform).set(
                1 if target.paused else 0
            )

    def render(self) -> bytes:
        return generate_latest(self.registry)


@dataclass(frozen=True, kw_only=True)
class TargetHealth:
    account: str
    platform: str
    paused: bool
    pause_reason: str | None
    last_success_at: datetime | None
    last_error_at: datetime | None

    def as_json(self) -> dict[str, object]:
        return {
            "account": self.account,
            "platform": self.platform,
            "state": "paused" if self.paused else "active",
            "pause_reason": self.pause_reason,
            "last_success_at": _iso(self.last_success_at),
            "last_error_at": _iso(self.last_error_at),
        }


@dataclass(frozen=True, kw_only=True)
class HealthReport:
    checks: dict[str, bool]
    targets: list[TargetHealth] = field(default_factory=list)
    queue_depth: dict[str, int] | None = None
    oldest_overdue_seconds: float | None = None
    error: str | None = None

    @property
    def healthy(self) -> bool:
        return all(self.checks.values())

    def as_json(self) -> dict[str, object]:
        return {
            "status": "ok" if self.healthy else "unhealthy",
            "version": __version__,
            "checks": self.checks,
            "targets": [t.as_json() for t in self.targets],
            "queue": {
                "depth": self.queue_depth,
                "oldest_overdue_seconds": self.oldest_overdue_seconds,
            },
            **({"error": self.error} if self.error else {}),
        }


def _iso(at: datetime | None) -> str | None:
    return at.astimezone(UTC).isoformat() if at is not None else None


class HealthProbe:
    """Answers the health questions: is the database reachable, are the drain loop and the
    inbound listener alive, and what the queue and every account × platform look like."""

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        *,
        targets: Iterable[tuple[str, Platform]],
        alive: Mapping[str, Callable[[], bool]],
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.sessionmaker = sessionmaker
        self.targets = sorted((a, str(p)) for a, p in targets)
        self.alive = alive
        self.clock = clock or (lambda: datetime.now(UTC))

    async def report(self) -> HealthReport:
        checks = {name: bool(is_alive()) for name, is_alive in self.alive.items()}
        try:
            async with asyncio.timeout(PROBE_TIMEOUT.total_seconds()):
                depth, overdue, states = await self._read()
        except Exception as exc:
            # The class only: a driver message may carry a connection string.
            logger.warning("health: database not reachable: %s", type(exc).__name__)
            return HealthReport(
                checks={"database": False, **checks},
                targets=[self._target(a, p, None) for a, p in self.targets],
                error=f"database: {type(exc).__name__}",
            )
        return HealthReport(
            checks={"database": True, **checks},
            targets=[self._target(a, p, states.get((a, p))) for a, p in self.targets],
            queue_depth=depth,
            oldest_overdue_seconds=overdue,
        )

    @staticmethod
    def _target(account: str, platform: str, row: TargetStateRow | None) -> TargetHealth:
        return TargetHealth(
            account=account,
            platform=platform,
            paused=bool(row and row.paused),
            pause_reason=row.pause_reason if row else None,
            last_success_at=row.last_success_at if row else None,
            last_error_at=row.last_error_at if row else None,
        )

    async def _read(
        self,
    ) -> tuple[dict[str, int], float, dict[tuple[str, str], TargetStateRow]]:
        now = self.clock()
        async with self.sessionmaker() as session:
            await session.execute(text("SELECT 1"))
            counts = await session.execute(
                select(DeliveryRow.status, func.count())
                .where(DeliveryRow.status.in_([str(s) for s in OPEN]))
                .group_by(DeliveryRow.status)
            )
            depth = {str(status): int(n) for status, n in counts.all()}
            oldest = await session.scalar(
                select(func.min(DeliveryRow.due_at)).where(
                    DeliveryRow.status == str(DeliveryStatus.PENDING), DeliveryRow.due_at <= now
                )
            )
            rows = (await session.scalars(select(TargetStateRow))).all()
        overdue = 0.0
        if oldest is not None:
            # min() over a column skips the type decorator on SQLite: a naive string or datetime.
            if isinstance(oldest, str):
                oldest = datetime.fromisoformat(oldest)
            if oldest.tzinfo is None:
                oldest = oldest.replace(tzinfo=UTC)
            overdue = max(0.0, (now - oldest).total_seconds())
        return depth, overdue, {(r.account, r.platform): r for r in rows}


def build_monitor(probe: HealthProbe, metrics: Metrics) -> web.Application:
    async def healthz(request: web.Request) -> web.Response:
        report = await probe.report()
        metrics.update(report)
        return web.json_response(report.as_json(), status=200 if report.healthy else 503)

    async def metrics_page(request: web.Request) -> web.Response:
        metrics.update(await probe.report())
        return web.Response(body=metrics.render(), headers={"Content-Type": CONTENT_TYPE_LATEST})

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics_page)
    return app


class MonitorServer:
    """The /healthz and /metrics listener; `start()` raises OSError if the port is taken."""

    def __init__(self, app: web.Application, host: str, port: int) -> None:
        self.runner = web.AppRunner(app, access_log=None)
        self.host = host
        self.port = port

    async def start(self) -> None:
        await self.runner.setup()
        site = web.TCPSite(self.runner, self.host, self.port)
        await site.start()
        logger.info(
            "health and metrics on http://%s:%s/healthz and /metrics", self.host, self.port
        )

    async def stop(self) -> None:
        await self.runner.cleanup()


def task_running(name: str) -> bool:
    """Whether the service's task of that name (see crosspost.app.run_service) is running."""
    return any(t.get_name() == name and not t.done() for t in asyncio.all_tasks())


async def start_monitor(app: App, metrics: Metrics) -> MonitorServer | None:
    """The /healthz and /metrics listener when [http] is configured. The drain loop and the
    listeners are found by their task names, so they count as down until they run.
    Raises ConfigError when the address cannot be used."""
    http = app.settings.http
    if http is None:
        return None

    def inbound() -> bool:
        telegram = app.bot is None or task_running("telegram")
        max_ = not _max_listener_wanted(app) or task_running("max")
        return telegram and max_

    probe = HealthProbe(
        app.sessionmaker,
        targets=app.publishers,
        alive={"drain": lambda: task_running("drain"), "inbound": inbound},
        clock=app.clock,
    )
    server = MonitorServer(build_monitor(probe, metrics), http.host, http.port)
    try:
        await server.start()
    except OSError as exc:
        await server.stop()
        raise ConfigError(
            f"config key http.listen: cannot listen on {http.listen} ({exc.strerror}): "
            "pick a free port or another address"
        ) from None
    return server


def _max_listener_wanted(app: App) -> bool:
    from crosspost.app import max_listener_wanted

    return max_listener_wanted(app.settings)
