"""Periodic jobs on APScheduler 3.x. They enqueue, sweep and wake; they never publish."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

logger = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class PeriodicJob:
    name: str
    func: Callable[[], Awaitable[object]]
    every: timedelta | None = None
    cron: str | None = None  # crontab in `timezone`
    timezone: str = "UTC"

    def __post_init__(self) -> None:
        if (self.every is None) == (self.cron is None):
            raise ValueError("a periodic job has either `every` or `cron`")


def _guarded(job: PeriodicJob) -> Callable[[], Awaitable[None]]:
    async def run() -> None:
        try:
            await job.func()
        except Exception:
            logger.exception("periodic job %s failed", job.name)

    return run


def build_scheduler(jobs: list[PeriodicJob]) -> AsyncIOScheduler:
    """An AsyncIOScheduler with the jobs added; start it inside the running loop."""
    scheduler = AsyncIOScheduler(timezone=UTC)
    for job in jobs:
        trigger = (
            IntervalTrigger(seconds=job.every.total_seconds(), timezone=UTC)
            if job.every is not None
            else CronTrigger.from_crontab(job.cron, timezone=job.timezone)
        )
        scheduler.add_job(
            _guarded(job),
            trigger,
            id=job.name,
            name=job.name,
            max_instances=1,
            coalesce=True,
            misfire_grace_time=60,
        )
    return scheduler
