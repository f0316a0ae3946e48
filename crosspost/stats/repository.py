"""The statistics SQL. Returns plain values and never commits: the caller owns the transaction."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import and_, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from crosspost.db import DeliveryRow, PostViewsRow, SubscriberSnapshotRow
from crosspost.models import DeliveryStatus

Key = tuple[str, str]  # (account, platform)

SOURCE_COLLECT = "collect"
SOURCE_IMPORT = "import"


@dataclass(frozen=True, kw_only=True)
class Snapshot:
    day: date
    account: str
    platform: str
    subscribers: int | None
    source: str
    error_reason: str | None = None
    error_detail: str | None = None

    @property
    def key(self) -> Key:
        return (self.account, self.platform)


@dataclass(frozen=True, kw_only=True)
class ImportRow:
    day: date
    account: str
    platform: str
    subscribers: int


@dataclass(frozen=True, kw_only=True)
class PublishedPost:
    account: str
    platform: str
    remote_id: str
    published_at: datetime


def _snapshot(row: SubscriberSnapshotRow) -> Snapshot:
    return Snapshot(
        day=row.day,
        account=row.account,
        platform=row.platform,
        subscribers=row.subscribers,
        source=row.source,
        error_reason=row.error_reason,
        error_detail=row.error_detail,
    )


class StatsRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def _row(self, day: date, account: str, platform: str) -> SubscriberSnapshotRow | None:
        return await self.session.scalar(
            select(SubscriberSnapshotRow).where(
                SubscriberSnapshotRow.account == account,
                SubscriberSnapshotRow.platform == platform,
                SubscriberSnapshotRow.day == day,
            )
        )

    async def record_count(
        self,
        day: date,
        account: str,
        platform: str,
        subscribers: int,
        now: datetime,
        *,
        source: str = SOURCE_COLLECT,
    ) -> bool:
        """Store the day's number (a later reading replaces an earlier one). True if a row for
        the day existed."""
        if subscribers < 0:
            raise ValueError("a subscriber count cannot be negative")
        row = await self._row(day, account, platform)
        existed = row is not None
        if row is None:
            row = SubscriberSnapshotRow(day=day, account=account, platform=platform)
            self.session.add(row)
        row.subscribers = subscribers
        row.source = source
        row.error_reason = None
        row.error_detail = None
        row.collected_at = now
        row.reported_at = None
        await self.session.flush()
        return existed

    async def record_failure(
        self, day: date, account: str, platform: str, reason: str, detail: str, now: datetime
    ) -> bool:
        """Store a failed read; a number read earlier the same day stays. True when staff have
        not yet been told about this run of failures (since the last good reading)."""
        row = await self._row(day, account, platform)
        if row is None:
            row = SubscriberSnapshotRow(
                day=day, account=account, platform=platform, subscribers=None
            )
            self.session.add(row)
        row.source = SOURCE_COLLECT
        row.error_reason = reason
        row.error_detail = detail
        row.collected_at = now
        await self.session.flush()
        last_good = await self.session.scalar(
            select(func.max(SubscriberSnapshotRow.collected_at)).where(
                SubscriberSnapshotRow.account == account,
                SubscriberSnapshotRow.platform == platform,
                SubscriberSnapshotRow.error_reason.is_(None),
                SubscriberSnapshotRow.subscribers.is_not(None),
                SubscriberSnapshotRow.source == SOURCE_COLLECT,
            )
        )
        told = select(SubscriberSnapshotRow.id).where(
            SubscriberSnapshotRow.account == account,
            SubscriberSnapshotRow.platform == platform,
            SubscriberSnapshotRow.reported_at.is_not(None),
        )
        if last_good is not None:
            told = told.where(SubscriberSnapshotRow.reported_at >= last_good)
        return (await self.session.scalar(told.limit(1))) is None

    async def mark_reported(self, day: date, account: str, platform: str, now: datetime) -> None:
        row = await self._row(day, account, platform)
        if row is not None:
            row.reported_at = now

    async def import_rows(self, rows: Sequence[ImportRow], now: datetime) -> int:
        """Write imported figures (replacing the same day's numbers). Returns how many replaced."""
        replaced = 0
        for item in rows:
            if await self.record_count(
                item.day,
                item.account,
                item.platform,
                item.subscribers,
                now,
                source=SOURCE_IMPORT,
            ):
                replaced += 1
        return replaced

    async def on_day(self, day: date) -> list[Snapshot]:
        rows = await self.session.scalars(
            select(SubscriberSnapshotRow).where(SubscriberSnapshotRow.day == day)
        )
        return [_snapshot(r) for r in rows]

    async def nearest_on_or_before(self, day: date) -> dict[Key, Snapshot]:
        """Per account × platform, the latest known number on or before `day`."""
        known = and_(SubscriberSnapshotRow.subscribers.is_not(None))
        latest = (
            select(
                SubscriberSnapshotRow.account,
                SubscriberSnapshotRow.platform,
                func.max(SubscriberSnapshotRow.day).label("day"),
            )
            .where(known, SubscriberSnapshotRow.day <= day)
            .group_by(SubscriberSnapshotRow.account, SubscriberSnapshotRow.platform)
            .subquery()
        )
        rows = await self.session.scalars(
            select(SubscriberSnapshotRow).join(
                latest,
                and_(
                    SubscriberSnapshotRow.account == latest.c.account,
                    SubscriberSnapshotRow.platform == latest.c.platform,
                    SubscriberSnapshotRow.day == latest.c.day,
                ),
            )
        )
        return {(r.account, r.platform): _snapshot(r) for r in rows}

    async def series(self, start: date, end: date) -> list[Snapshot]:
        """Known numbers with start <= day <= end, by day."""
        rows = await self.session.scalars(
            select(SubscriberSnapshotRow)
            .where(
                SubscriberSnapshotRow.subscribers.is_not(None),
                SubscriberSnapshotRow.day >= start,
                SubscriberSnapshotRow.day <= end,
            )
            .order_by(SubscriberSnapshotRow.day)
        )
        return [_snapshot(r) for r in rows]

    async def keys(self) -> list[Key]:
        rows = await self.session.execute(
            select(SubscriberSnapshotRow.account, SubscriberSnapshotRow.platform).distinct()
        )
        return [(a, p) for a, p in rows]

    # -- posts and reach ----------------------------------------------------------------------

    async def published(self, start: datetime, end: datetime) -> list[PublishedPost]:
        """Deliveries the queue recorded as published with start <= published_at < end."""
        rows = await self.session.execute(
            select(
                DeliveryRow.account,
                DeliveryRow.platform,
                DeliveryRow.remote_id,
                DeliveryRow.published_at,
            ).where(
                DeliveryRow.status == str(DeliveryStatus.PUBLISHED),
                DeliveryRow.published_at >= start,
                DeliveryRow.published_at < end,
            )
        )
        return [
            PublishedPost(account=a, platform=p, remote_id=r or "", published_at=at)
            for a, p, r, at in rows
            if at is not None
        ]

    async def record_views(self, post: PublishedPost, views: int, now: datetime) -> None:
        row = await self.session.scalar(
            select(PostViewsRow).where(
                PostViewsRow.account == post.account,
                PostViewsRow.platform == post.platform,
                PostViewsRow.remote_id == post.remote_id,
            )
        )
        if row is None:
            row = PostViewsRow(
                account=post.account, platform=post.platform, remote_id=post.remote_id
            )
            self.session.add(row)
        row.published_at = post.published_at
        row.views = views
        row.read_at = now

    async def views(self, start: datetime, end: datetime) -> list[tuple[str, str, datetime, int]]:
        """(account, platform, published_at, views) of posts published in [start, end)."""
        rows = await self.session.execute(
            select(
                PostViewsRow.account,
                PostViewsRow.platform,
                PostViewsRow.published_at,
                PostViewsRow.views,
            ).where(PostViewsRow.published_at >= start, PostViewsRow.published_at < end)
        )
        return [(a, p, at, v) for a, p, at, v in rows]


def unique_keys(snapshots: Iterable[Snapshot]) -> list[Key]:
    seen: dict[Key, None] = {}
    for s in snapshots:
        seen.setdefault(s.key, None)
    return list(seen)
