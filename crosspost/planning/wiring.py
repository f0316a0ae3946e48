"""The planning side of the running service: planners, the feed writer, their periodic jobs."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from crosspost.config import Settings
from crosspost.events import EventSink
from crosspost.planning.events import EventPlanner
from crosspost.planning.recurring import TICK_EVERY, Alert, RecurringPlanner
from crosspost.service import PublicationService
from scheduler.periodic import PeriodicJob

if TYPE_CHECKING:
    from crosspost.planning.feeds import FeedWriter

# Planned posts a crash left unsubmitted are looked for this often.
RECOVER_EVERY = timedelta(minutes=5)


@dataclass
class Planning:
    events: EventPlanner
    recurring: RecurringPlanner
    feeds: FeedWriter | None

    @classmethod
    def build(
        cls, *, settings: Settings, service: PublicationService, alert: Alert | None = None
    ) -> Planning:
        events = EventPlanner(settings=settings, service=service)
        recurring = RecurringPlanner(settings=settings, service=service, alert=alert)
        feeds = None
        if settings.feeds.dir is not None:
            # feedgen and icalendar load only where feeds are written (start-up time).
            from crosspost.planning.feeds import FeedWriter

            feeds = FeedWriter(
                settings=settings,
                sessionmaker=service.sessionmaker,
                events=events,
                clock=service.clock,
            )
            events.on_change = feeds.write_all_quietly
        return cls(events=events, recurring=recurring, feeds=feeds)

    @property
    def sinks(self) -> list[EventSink]:
        return [self.feeds] if self.feeds is not None else []

    @property
    def on_event_change(self) -> Callable[[], Awaitable[None]] | None:
        return self.events.on_change

    def periodic_jobs(self) -> list[PeriodicJob]:
        jobs = [
            PeriodicJob(name="recurring-posts", func=self.recurring.tick, every=TICK_EVERY),
            PeriodicJob(name="event-posts-recover", func=self.events.recover, every=RECOVER_EVERY),
        ]
        if self.feeds is not None:
            # Events pass out of the calendar and edits change the feed without a new publish.
            jobs.append(
                PeriodicJob(name="feeds", func=self.feeds.write_all, every=timedelta(hours=1))
            )
        return jobs

    async def close(self) -> None:
        if self.feeds is not None:
            await self.feeds.close()
