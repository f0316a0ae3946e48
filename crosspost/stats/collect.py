"""Reading subscriber counts and post views from every publisher, and storing them."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Protocol, runtime_checkable

from pydantic import BaseModel, SecretStr
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crosspost import texts
from crosspost.config import Settings
from crosspost.db import write_session
from crosspost.errors import PublishError, Reason, UnsupportedError
from crosspost.models import Platform
from crosspost.publishing import Publisher
from crosspost.stats.repository import PublishedPost, StatsRepository

logger = logging.getLogger(__name__)

# Views of a post are read again every day for this long after it was published; after that
# the last reading stands (most views come in the first days).
VIEWS_WINDOW = timedelta(days=31)
VIEWS_BATCH = 100  # posts per request (VK wall.getById takes up to 100)
REDACTED = "***"


@runtime_checkable
class ViewsReader(Protocol):
    """A publisher that can read its posts' view counts (VK, OK; MAX when it can)."""

    async def post_views(self, remote_ids: Sequence[str]) -> dict[str, int]:
        """remote id → views, for the posts still there. Raises PublishError."""
        ...


@dataclass(frozen=True, kw_only=True)
class CountReading:
    account: str
    platform: str
    subscribers: int | None = None
    reason: str | None = None
    detail: str | None = None
    alerted: bool = False

    @property
    def ok(self) -> bool:
        return self.subscribers is not None and self.reason is None


@dataclass(frozen=True, kw_only=True)
class Collection:
    day: date
    readings: tuple[CountReading, ...]
    views_read: int = 0

    @property
    def failed(self) -> tuple[CountReading, ...]:
        return tuple(r for r in self.readings if not r.ok)


def secret_values(model: BaseModel) -> set[str]:
    """Every secret in the settings, so that no error text stored or shown carries one."""
    found: set[str] = set()

    def walk(value: object) -> None:
        if isinstance(value, SecretStr):
            secret = value.get_secret_value()
            if len(secret) >= 4:
                found.add(secret)
        elif isinstance(value, BaseModel):
            for name in type(value).model_fields:
                walk(getattr(value, name))
        elif isinstance(value, Mapping):
            for item in value.values():
                walk(item)
        elif isinstance(value, list | tuple):
            for item in value:
                walk(item)

    walk(model)
    return found


def scrub(text: str, secrets: set[str]) -> str:
    for secret in sorted(secrets, key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    return text


def _batches(items: Sequence[str], size: int) -> Iterator[Sequence[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class StatsCollector:
    """Collects every account × platform of `publishers`: a new platform's publisher (MAX)
    joins by implementing `subscriber_count` (and `post_views` for reach)."""

    def __init__(
        self,
        *,
        settings: Settings,
        sessionmaker: async_sessionmaker[AsyncSession],
        publishers: Mapping[tuple[str, Platform], Publisher],
        alert: Callable[[str], Awaitable[None]] | None = None,
    ) -> None:
        self.settings = settings
        self.sessionmaker = sessionmaker
        self.publishers = publishers
        self.alert = alert
        self._secrets = secret_values(settings)

    async def collect(self, now: datetime) -> Collection:
        """Read and store every count for today's local date; tell staff once per failing
        account × platform. Never raises for a platform's failure."""
        day = now.astimezone(self.settings.tz).date()
        readings = await self._read_counts()
        stored: list[CountReading] = []
        async with write_session(self.sessionmaker, what="stats") as session:
            repo = StatsRepository(session)
            for reading in readings:
                if reading.subscribers is not None:
                    await repo.record_count(
                        day, reading.account, reading.platform, reading.subscribers, now
                    )
                    stored.append(reading)
                    continue
                first = await repo.record_failure(
                    day,
                    reading.account,
                    reading.platform,
                    reading.reason or str(Reason.UNKNOWN),
                    reading.detail or "",
                    now,
                )
                stored.append(
                    CountReading(
                        account=reading.account,
                        platform=reading.platform,
                        reason=reading.reason,
                        detail=reading.detail,
                        alerted=first,
                    )
                )
        for reading in stored:
            if reading.alerted and self.alert is not None:
                await self.alert(self._alert_text(reading))
                async with write_session(self.sessionmaker, what="stats") as session:
                    await StatsRepository(session).mark_reported(
                        day, reading.account, reading.platform, now
                    )
        views = await self.collect_views(now)
        return Collection(day=day, readings=tuple(stored), views_read=views)

    async def _read_counts(self) -> list[CountReading]:
        keys = list(self.publishers)
        answers = await asyncio.gather(
            *(self.publishers[key].subscriber_count() for key in keys), return_exceptions=True
        )
        readings: list[CountReading] = []
        for (account, platform), answer in zip(keys, answers, strict=True):
            if isinstance(answer, int) and not isinstance(answer, bool) and answer >= 0:
                readings.append(
                    CountReading(account=account, platform=str(platform), subscribers=answer)
                )
                continue
            if isinstance(answer, PublishError):
                reason, detail = str(answer.reason), str(answer)
            elif isinstance(answer, BaseException) and not isinstance(answer, Exception):
                raise answer  # cancellation and the like are not a platform's failure
            elif isinstance(answer, Exception):
                reason, detail = str(Reason.UNKNOWN), f"{type(answer).__name__}: {answer}"
            else:
                reason, detail = str(Reason.UNKNOWN), f"not a count: {answer!r}"
            detail = scrub(detail, self._secrets)[:1000]
            logger.warning(
                "account=%s platform=%s subscriber count failed: %s", account, platform, detail
            )
            readings.append(
                CountReading(account=account, platform=str(platform), reason=reason, detail=detail)
            )
        return readings

    async def collect_views(self, now: datetime) -> int:
        """Read views of posts published in the last VIEWS_WINDOW where the platform tells them.
        A failure is logged and skipped: reach is secondary to the subscriber counts."""
        async with self.sessionmaker() as session:
            posts = await StatsRepository(session).published(now - VIEWS_WINDOW, now)
        by_key: dict[tuple[str, str], list[PublishedPost]] = {}
        for post in posts:
            if post.remote_id:
                by_key.setdefault((post.account, post.platform), []).append(post)
        read = 0
        for (account, platform), items in by_key.items():
            publisher = self.publishers.get((account, Platform(platform)))
            if not isinstance(publisher, ViewsReader):
                continue
            found: dict[str, int] = {}
            ids = [p.remote_id for p in items]
            try:
                for batch in _batches(ids, VIEWS_BATCH):
                    found.update(await publisher.post_views(batch))
            except PublishError as exc:
                # A platform that cannot tell views with these tokens says so every day.
                logger.log(
                    logging.INFO if isinstance(exc, UnsupportedError) else logging.WARNING,
                    "account=%s platform=%s post views not read: %s",
                    account,
                    platform,
                    scrub(str(exc), self._secrets),
                )
            if not found:
                continue
            async with write_session(self.sessionmaker, what="stats") as session:
                repo = StatsRepository(session)
                for post in items:
                    if post.remote_id in found:
                        await repo.record_views(post, found[post.remote_id], now)
                        read += 1
        return read

    def _alert_text(self, reading: CountReading) -> str:
        account = self.settings.accounts.get(reading.account)
        platform = texts.STATS_PLATFORM_NAMES.get(reading.platform, reading.platform)
        reason = texts.REASONS.get(reading.reason or "", texts.REASON_FALLBACK)
        return texts.ALERT_STATS_FAILED.format(
            account=account.title if account is not None else reading.account,
            platform=platform,
            reason=reason.format(**texts.platform_fields(reading.platform)),
        )
