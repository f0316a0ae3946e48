"""Recurring posts: rules in the database, each run an ordinary publication.

A rule is a 5-field cron line (APScheduler's CronTrigger.from_crontab) or an RFC 5545 RRULE
(dateutil), read in the local zone it was written in, so «every Monday at 09:00» stays 09:00
across DST. An APScheduler job calls `tick()` every minute; a tick enqueues the runs due within
the look-ahead (with their exact time, so the drainer posts them on the minute), makes a missed
run late when it is within the grace and skips older ones, telling staff. Runs are rows unique
per (rule, instant): two ticks, two processes or a restart cannot enqueue one run twice.
"""

from __future__ import annotations

import itertools
import json
import logging
import re
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Protocol
from zoneinfo import ZoneInfo

from apscheduler.triggers.cron import CronTrigger
from dateutil.rrule import rrule, rrulestr
from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crosspost import texts
from crosspost.config import Settings
from crosspost.db import PublicationRow, RecurringRuleRow, RecurringRunRow, write_session
from crosspost.errors import UsageError
from crosspost.models import Content, NewPublication, Platform, PublicationSource
from crosspost.richtext import RichText
from crosspost.routing import chosen_targets
from crosspost.service import PublicationService

logger = logging.getLogger(__name__)

Clock = Callable[[], datetime]
TICK_EVERY = timedelta(minutes=1)
# Runs this close ahead are queued with their exact time: longer than a tick, so none is late.
LOOKAHEAD = timedelta(minutes=5)
# A run enqueued this little after its instant is on time, not late (the tick's own lag).
ON_TIME = timedelta(minutes=2)
# Rules that would post more often than this are refused: a mistyped cron line ("* * * * *")
# would otherwise flood every account.
MIN_INTERVAL = timedelta(hours=1)
# At most this many missed runs are looked at per rule and tick (a long outage is summarised).
_MAX_RUNS_PER_TICK = 500


class RuleKind(StrEnum):
    CRON = "cron"
    RRULE = "rrule"


class RunStatus(StrEnum):
    CLAIMED = "claimed"  # the run's row is written; its publication is being submitted
    QUEUED = "queued"
    LATE = "late"  # queued after its time (the service was down), within the grace
    SKIPPED = "skipped"  # missed by more than the grace
    CANCELLED = "cancelled"  # queued ahead, then the rule was paused or deleted


_CRON_WEEKDAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat", "sun")


def _crontab(rule: str) -> str:
    """Standard cron counts weekdays from Sunday = 0; APScheduler 3 counts from Monday = 0, so
    numeric weekdays become names ("0 9 * * 1" is Monday, as in crontab(5))."""
    fields = rule.split()
    if len(fields) != 5:
        raise ValueError(f"a cron line has 5 fields, not {len(fields)}")

    def name(match: re.Match[str]) -> str:
        number = int(match.group(0))
        if number > 7:
            raise ValueError(f"weekday {number} is not 0-7")
        return _CRON_WEEKDAYS[number]

    # Only the numbers of lists and ranges are weekdays; a step ("*/2") stays a number.
    fields[4] = re.sub(r"(?<![/\d])\d+", name, fields[4])
    return " ".join(fields)


def rule_kind(rule: str) -> RuleKind:
    head = rule.strip().upper()
    return RuleKind.RRULE if head.startswith(("RRULE:", "FREQ=")) else RuleKind.CRON


class Schedule:
    """The run instants of a rule, in aware UTC."""

    def __init__(self, rule: str, tz: ZoneInfo, *, anchor: datetime) -> None:
        self.rule = rule.strip()
        self.kind = rule_kind(self.rule)
        self.tz = tz
        self._cron: CronTrigger | None = None
        self._rrule: rrule | None = None
        try:
            if self.kind is RuleKind.CRON:
                self._cron = CronTrigger.from_crontab(_crontab(self.rule), timezone=tz)
            else:
                body = (
                    self.rule if self.rule.upper().startswith("RRULE:") else "RRULE:" + self.rule
                )
                # The anchor (the rule's creation, local, on the minute) supplies what the rule
                # leaves out: BYHOUR, BYMINUTE, the weekday of a plain FREQ=WEEKLY.
                start = anchor.astimezone(tz).replace(second=0, microsecond=0)
                parsed = rrulestr(body, dtstart=start)
                if not isinstance(parsed, rrule):
                    raise ValueError("one RRULE line expected")
                self._rrule = parsed
        except (ValueError, TypeError, KeyError) as exc:
            raise UsageError(
                f'rule {rule!r} is not a 5-field cron line ("0 9 * * 1") nor an RRULE '
                f'("RRULE:FREQ=WEEKLY;BYDAY=MO;BYHOUR=9;BYMINUTE=0"): {exc}'
            ) from None

    def next_after(self, after: datetime) -> datetime | None:
        """The first run strictly after `after`."""
        if self._cron is not None:
            fire = self._cron.get_next_fire_time(None, after + timedelta(microseconds=1))
            return None if fire is None else fire.astimezone(UTC)
        if self._rrule is None:
            return None
        # rrule compares wall-clock values in the rule's zone.
        fire = self._rrule.after(after.astimezone(self.tz), inc=False)
        return None if fire is None else fire.astimezone(UTC)

    def between(self, after: datetime, until: datetime) -> Iterator[datetime]:
        """Runs in (after, until]."""
        current = after
        while True:
            nxt = self.next_after(current)
            if nxt is None or nxt > until:
                return
            yield nxt
            current = nxt

    def check_interval(self, after: datetime) -> None:
        """Raises UsageError when the rule never runs or runs more often than MIN_INTERVAL."""
        runs = []
        current = after
        for _ in range(12):
            nxt = self.next_after(current)
            if nxt is None:
                break
            runs.append(nxt)
            current = nxt
        if not runs:
            raise UsageError(f"rule {self.rule!r} has no run in the future")
        for a, b in itertools.pairwise(runs):
            if b - a < MIN_INTERVAL:
                raise UsageError(
                    f"rule {self.rule!r} would post every {int((b - a).total_seconds() // 60)} "
                    "min; recurring posts may not come more often than once an hour"
                )


@dataclass(frozen=True, kw_only=True)
class Rule:
    rule_id: int
    rule: str
    kind: RuleKind
    timezone: str
    text: str
    accounts: tuple[str, ...]
    platforms: tuple[Platform, ...]
    paused: bool
    checked_until: datetime
    created_by: str
    created_at: datetime
    next_run_at: datetime | None


@dataclass(frozen=True, kw_only=True)
class Missed:
    """Runs of one rule a tick found too old to make (staff are told)."""

    rule_id: int
    text: str
    count: int
    last_at: datetime


@dataclass(frozen=True, kw_only=True)
class TickResult:
    queued: tuple[tuple[int, datetime, int], ...] = ()  # (rule, run instant, publication)
    late: tuple[tuple[int, datetime, int], ...] = ()
    skipped: tuple[Missed, ...] = ()


class Alert(Protocol):
    def __call__(self, text: str) -> Awaitable[None]: ...


def _schedule(row: RecurringRuleRow) -> Schedule:
    return Schedule(row.rule, ZoneInfo(row.timezone), anchor=row.created_at)


def _rule(row: RecurringRuleRow, now: datetime) -> Rule:
    schedule = _schedule(row)
    return Rule(
        rule_id=row.id,
        rule=row.rule,
        kind=schedule.kind,
        timezone=row.timezone,
        text=row.text,
        accounts=tuple(json.loads(row.accounts)),
        platforms=tuple(Platform(p) for p in json.loads(row.platforms)),
        paused=row.paused,
        checked_until=row.checked_until,
        created_by=row.created_by,
        created_at=row.created_at,
        next_run_at=None if row.paused else schedule.next_after(max(now, row.checked_until)),
    )


def _excerpt(text: str, limit: int = 60) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[:limit].rstrip() + texts.ELLIPSIS


class RecurringPlanner:
    """Add, list, pause, resume, delete rules; `tick()` turns due runs into publications."""

    def __init__(
        self,
        *,
        settings: Settings,
        service: PublicationService,
        sessionmaker: async_sessionmaker[AsyncSession] | None = None,
        clock: Clock | None = None,
        alert: Alert | None = None,
    ) -> None:
        self.settings = settings
        self.service = service
        self.sessionmaker = sessionmaker or service.sessionmaker
        self.clock = clock or service.clock
        self.alert = alert

    async def add(
        self,
        *,
        rule: str,
        text: str,
        accounts: Sequence[str],
        platforms: Sequence[Platform] | None = None,
        actor: str,
    ) -> Rule:
        """Store a rule; its first run is the first instant after now. Raises UsageError."""
        now = self.clock()
        if not text.strip():
            raise UsageError("a recurring post needs --text")
        chosen = (
            list(platforms)
            if platforms
            else sorted(
                {
                    p
                    for a in accounts
                    if a in self.settings.accounts
                    for p in self.settings.accounts[a].platforms
                }
            )
        )
        targets = chosen_targets(self.settings, accounts, chosen)
        tz = self.settings.telegram.timezone
        schedule = Schedule(rule, ZoneInfo(tz), anchor=now)
        schedule.check_interval(now)
        async with write_session(self.sessionmaker, what="recurring") as session:
            row = RecurringRuleRow(
                rule=schedule.rule,
                timezone=tz,
                text=text.strip(),
                accounts=json.dumps(sorted({t.account for t in targets})),
                platforms=json.dumps(sorted({str(t.platform) for t in targets})),
                paused=False,
                checked_until=now,
                created_by=actor,
                created_at=now,
            )
            session.add(row)
            await session.flush()
            result = _rule(row, now)
        logger.info("recurring rule=%s added by %s: %s", result.rule_id, actor, result.rule)
        return result

    async def list(self) -> list[Rule]:
        now = self.clock()
        async with self.sessionmaker() as session:
            rows = (
                await session.scalars(
                    select(RecurringRuleRow)
                    .where(RecurringRuleRow.deleted_at.is_(None))
                    .order_by(RecurringRuleRow.id)
                )
            ).all()
        return [_rule(r, now) for r in rows]

    async def _live(self, session: AsyncSession, rule_id: int) -> RecurringRuleRow:
        row = await session.get(RecurringRuleRow, rule_id)
        if row is None or row.deleted_at is not None:
            raise UsageError(f"no recurring post {rule_id}")
        return row

    async def pause(self, rule_id: int, *, actor: str) -> Rule:
        now = self.clock()
        async with write_session(self.sessionmaker, what="recurring") as session:
            row = await self._live(session, rule_id)
            row.paused = True
        await self._unqueue_ahead(rule_id, actor=actor)
        logger.info("recurring rule=%s paused by %s", rule_id, actor)
        async with self.sessionmaker() as session:
            return _rule(await self._live(session, rule_id), now)

    async def resume(self, rule_id: int, *, actor: str) -> Rule:
        """Resume from now: runs that fell in the pause are not made up."""
        now = self.clock()
        async with write_session(self.sessionmaker, what="recurring") as session:
            row = await self._live(session, rule_id)
            if row.paused:
                row.paused = False
                row.checked_until = max(row.checked_until, now)
            result = _rule(row, now)
        logger.info("recurring rule=%s resumed by %s", rule_id, actor)
        return result

    async def delete(self, rule_id: int, *, actor: str) -> None:
        now = self.clock()
        async with write_session(self.sessionmaker, what="recurring") as session:
            row = await self._live(session, rule_id)
            row.deleted_at = now
            row.paused = True
        await self._unqueue_ahead(rule_id, actor=actor)
        logger.info("recurring rule=%s deleted by %s", rule_id, actor)

    async def _unqueue_ahead(self, rule_id: int, *, actor: str) -> None:
        """Cancel runs queued ahead of their time (within the look-ahead) that have not left."""
        now = self.clock()
        async with self.sessionmaker() as session:
            runs = (
                await session.scalars(
                    select(RecurringRunRow).where(
                        RecurringRunRow.rule_id == rule_id,
                        RecurringRunRow.run_at > now,
                        RecurringRunRow.status == str(RunStatus.QUEUED),
                    )
                )
            ).all()
        for run in runs:
            if run.publication_id is not None:
                await self.service.cancel_publication(run.publication_id, actor=actor)
            await self._set_run(run.id, status=str(RunStatus.CANCELLED))

    # -- the periodic job -----------------------------------------------------------------------

    async def tick(self) -> TickResult:
        """Enqueue the runs due up to now + LOOKAHEAD; make missed runs within the grace late,
        skip older ones and tell staff. Safe to run concurrently and after a crash."""
        now = self.clock()
        grace = self.settings.events.recurring_grace
        horizon = now + LOOKAHEAD
        queued: list[tuple[int, datetime, int]] = []
        late: list[tuple[int, datetime, int]] = []
        skipped: list[Missed] = []
        await self._finish_claimed(now)
        async with self.sessionmaker() as session:
            rows = (
                await session.scalars(
                    select(RecurringRuleRow).where(
                        RecurringRuleRow.deleted_at.is_(None),
                        RecurringRuleRow.paused.is_(False),
                    )
                )
            ).all()
        for row in rows:
            try:
                schedule = _schedule(row)
            except UsageError:
                logger.error("recurring rule=%s cannot be read: %r", row.id, row.rule)
                continue
            missed: list[datetime] = []
            for count, run_at in enumerate(schedule.between(row.checked_until, horizon)):
                if count >= _MAX_RUNS_PER_TICK:
                    break
                if now - run_at > grace:
                    missed.append(run_at)
                    await self._claim(row.id, run_at, RunStatus.SKIPPED, now)
                    continue
                status = RunStatus.LATE if now - run_at > ON_TIME else RunStatus.QUEUED
                if not await self._claim(row.id, run_at, RunStatus.CLAIMED, now):
                    continue  # another tick or process has this run
                publication_id = await self._submit(row, run_at, status)
                (late if status is RunStatus.LATE else queued).append(
                    (row.id, run_at, publication_id)
                )
                if status is RunStatus.LATE:
                    logger.warning(
                        "recurring rule=%s run %s made late at %s",
                        row.id,
                        run_at.isoformat(),
                        now.isoformat(),
                    )
                    await self._alert(
                        texts.ALERT_RECURRING_LATE.format(
                            id=row.id, text=_excerpt(row.text), at=self._local(run_at)
                        )
                    )
            # Everything up to the horizon is settled now (made, claimed elsewhere or skipped).
            async with write_session(self.sessionmaker, what="recurring") as session:
                await session.execute(
                    update(RecurringRuleRow)
                    .where(RecurringRuleRow.id == row.id, RecurringRuleRow.checked_until < horizon)
                    .values(checked_until=horizon)
                )
            if missed:
                skipped.append(
                    Missed(rule_id=row.id, text=row.text, count=len(missed), last_at=missed[-1])
                )
                logger.warning(
                    "recurring rule=%s skipped %s run(s), last %s: beyond the grace",
                    row.id,
                    len(missed),
                    missed[-1].isoformat(),
                )
                await self._alert(
                    texts.ALERT_RECURRING_SKIPPED.format(
                        id=row.id,
                        text=_excerpt(row.text),
                        count=len(missed),
                        at=self._local(missed[-1]),
                        grace=self.settings.events.recurring_grace_minutes,
                    )
                )
        return TickResult(queued=tuple(queued), late=tuple(late), skipped=tuple(skipped))

    def _local(self, at: datetime) -> str:
        return at.astimezone(self.settings.tz).strftime("%d.%m.%Y %H:%M")

    async def _alert(self, text: str) -> None:
        if self.alert is not None:
            try:
                await self.alert(text)
            except Exception:
                logger.exception("recurring alert failed")

    async def _claim(
        self, rule_id: int, run_at: datetime, status: RunStatus, now: datetime
    ) -> bool:
        """Write the run's row; False when it exists already (the unique key says so)."""
        async with write_session(self.sessionmaker, what="recurring") as session:
            dialect = session.get_bind().dialect.name
            insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
            result = await session.execute(
                insert(RecurringRunRow)
                .values(rule_id=rule_id, run_at=run_at, status=str(status), created_at=now)
                .on_conflict_do_nothing()
                .returning(RecurringRunRow.id)
            )
            return result.scalar_one_or_none() is not None

    def _author(self, rule_id: int) -> str:
        return f"recurring:{rule_id}"

    async def _submit(self, row: RecurringRuleRow, run_at: datetime, status: RunStatus) -> int:
        new = NewPublication(
            content=Content(text=RichText.plain(row.text)),
            targets=chosen_targets(
                self.settings,
                json.loads(row.accounts),
                [Platform(p) for p in json.loads(row.platforms)],
            ),
            # A late run's time is in the past: the drainer sends it at once.
            publish_at=run_at,
            source=PublicationSource.SCHEDULE,
            author=self._author(row.id),
        )
        result = await self.service.submit(new, actor=self._author(row.id))
        async with write_session(self.sessionmaker, what="recurring") as session:
            await session.execute(
                update(RecurringRunRow)
                .where(RecurringRunRow.rule_id == row.id, RecurringRunRow.run_at == run_at)
                .values(status=str(status), publication_id=result.publication_id)
            )
        logger.info(
            "recurring rule=%s run %s queued as publication=%s",
            row.id,
            run_at.isoformat(),
            result.publication_id,
        )
        return result.publication_id

    async def _finish_claimed(self, now: datetime) -> None:
        """Runs claimed by a process that died before linking their publication: link the
        publication if it was submitted, else submit it (once)."""
        async with self.sessionmaker() as session:
            stale = (
                await session.execute(
                    select(RecurringRunRow, RecurringRuleRow)
                    .join(RecurringRuleRow, RecurringRuleRow.id == RecurringRunRow.rule_id)
                    .where(
                        RecurringRunRow.status == str(RunStatus.CLAIMED),
                        RecurringRunRow.created_at <= now - TICK_EVERY,
                    )
                )
            ).all()
        for run, rule in stale:
            async with self.sessionmaker() as session:
                publication_id = await session.scalar(
                    select(PublicationRow.id).where(
                        PublicationRow.author == self._author(rule.id),
                        PublicationRow.publish_at == run.run_at,
                    )
                )
            if publication_id is None:
                if now - run.run_at > self.settings.events.recurring_grace:
                    await self._set_run(run.id, status=str(RunStatus.SKIPPED))
                else:
                    await self._submit(rule, run.run_at, RunStatus.LATE)
                continue
            await self._set_run(
                run.id, status=str(RunStatus.QUEUED), publication_id=publication_id
            )

    async def _set_run(self, run_id: int, **values: object) -> None:
        async with write_session(self.sessionmaker, what="recurring") as session:
            await session.execute(
                update(RecurringRunRow).where(RecurringRunRow.id == run_id).values(**values)
            )
