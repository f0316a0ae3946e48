"""The yearly report's numbers, built from stored snapshots and the queue's records."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

from dateutil.relativedelta import relativedelta
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crosspost.config import Settings
from crosspost.models import Platform
from crosspost.stats.repository import Key, Snapshot, StatsRepository

PLATFORM_ORDER = {str(p): i for i, p in enumerate(Platform)}


@dataclass(frozen=True, kw_only=True)
class Cell:
    """A number and the snapshot date it really comes from (None: no data)."""

    subscribers: int | None = None
    day: date | None = None


def growth(now: int | None, before: int | None) -> int | None:
    return None if now is None or before is None else now - before


def growth_percent(now: int | None, before: int | None) -> float | None:
    if now is None or before is None or before == 0:
        return None
    return (now - before) * 100 / before


@dataclass(frozen=True, kw_only=True)
class Line:
    account: str
    platform: str
    on: Cell
    compare: Cell

    @property
    def growth(self) -> int | None:
        return growth(self.on.subscribers, self.compare.subscribers)

    @property
    def growth_percent(self) -> float | None:
        return growth_percent(self.on.subscribers, self.compare.subscribers)


@dataclass(frozen=True, kw_only=True)
class Total:
    """Sums of the lines that have data. The growth counts only lines known on both dates,
    so an account without history does not show as growth."""

    on: int | None
    compare: int | None
    growth: int | None
    growth_percent: float | None
    complete: bool

    @classmethod
    def of(cls, lines: Sequence[Line]) -> Total:
        on = [ln.on.subscribers for ln in lines if ln.on.subscribers is not None]
        before = [ln.compare.subscribers for ln in lines if ln.compare.subscribers is not None]
        pairs = [
            (ln.on.subscribers, ln.compare.subscribers)
            for ln in lines
            if ln.on.subscribers is not None and ln.compare.subscribers is not None
        ]
        change = sum(a - b for a, b in pairs) if pairs else None
        base = sum(b for _, b in pairs)
        return cls(
            on=sum(on) if on else None,
            compare=sum(before) if before else None,
            growth=change,
            growth_percent=None if change is None or base == 0 else change * 100 / base,
            complete=len(pairs) == len(lines),
        )


@dataclass(frozen=True, kw_only=True)
class Owner:
    account: str
    title: str
    genitive: str
    lines: tuple[Line, ...]

    @property
    def total(self) -> Total:
        return Total.of(self.lines)


@dataclass(frozen=True, kw_only=True)
class Report:
    on: date
    compare: date
    owners: tuple[Owner, ...]
    series: dict[Key, list[tuple[date, int]]] = field(default_factory=dict)
    months: tuple[date, ...] = ()  # first day of each month of [compare, on)
    posts: dict[Key, dict[date, int]] = field(default_factory=dict)
    views: dict[Key, dict[date, int]] = field(default_factory=dict)

    @property
    def lines(self) -> tuple[Line, ...]:
        return tuple(ln for owner in self.owners for ln in owner.lines)

    @property
    def total(self) -> Total:
        return Total.of(self.lines)

    @property
    def keys(self) -> list[Key]:
        return [(ln.account, ln.platform) for ln in self.lines]

    def title(self, account: str) -> str:
        for owner in self.owners:
            if owner.account == account:
                return owner.title
        return account


def year_before(day: date) -> date:
    return day - relativedelta(years=1)  # 29 February → 28 February


_GENITIVE_ENDINGS = (
    ("ия", "ии"),  # Администрация → Администрации
    ("ие", "ия"),  # Управление → Управления
    ("ка", "ки"),
    ("га", "ги"),
    ("ха", "хи"),
    ("ча", "чи"),
    ("ша", "ши"),
    ("ща", "щи"),
    ("жа", "жи"),
    ("а", "ы"),  # Глава → Главы, Дума → Думы
    ("я", "и"),
    ("ь", "я"),
)
_HARD_CONSONANTS = set("бвгджзклмнпрстфхцчшщ")


def genitive(title: str) -> str:
    """The title's first word in the genitive case (the rest of an official name usually is
    already: «Администрация городского округа» → «Администрации городского округа»).
    Overridden per account by `stats.title_genitive`."""
    first, sep, rest = title.partition(" ")
    lower = first.lower()
    for ending, replacement in _GENITIVE_ENDINGS:
        if lower.endswith(ending):
            return first[: -len(ending)] + replacement + sep + rest
    if lower and lower[-1] in _HARD_CONSONANTS:
        return first + "а" + sep + rest  # Совет → Совета, Комитет → Комитета
    return title


def local_start(day: date, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), tzinfo=tz).astimezone(UTC)


def _months(start: date, end: date) -> tuple[date, ...]:
    """First days of the months that [start, end) touches."""
    months: list[date] = []
    month = start.replace(day=1)
    while month < end or (not months and month <= end):
        months.append(month)
        month = month + relativedelta(months=1)
    return tuple(months)


async def build_report(
    *,
    settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    on: date,
    compare: date | None = None,
) -> Report:
    """The numbers for `on` against `compare` (default: a year earlier), nearest snapshots on or
    before each date; posts and views published in [compare, on)."""
    compare = compare if compare is not None else year_before(on)
    tz = settings.tz
    async with sessionmaker() as session:
        repo = StatsRepository(session)
        now_snaps = await repo.nearest_on_or_before(on)
        before_snaps = await repo.nearest_on_or_before(compare)
        stored_keys = await repo.keys()
        first = min((s.day for s in before_snaps.values()), default=compare)
        series_rows = await repo.series(first, on)
        start_at, end_at = local_start(compare, tz), local_start(on, tz)
        published = await repo.published(start_at, end_at)
        viewed = await repo.views(start_at, end_at)

    keys: list[Key] = []
    for name, account_config in settings.accounts.items():
        keys.extend((name, str(p)) for p in account_config.platforms)
    keys.extend(k for k in stored_keys if k not in keys)
    account_order = {name: i for i, name in enumerate(settings.accounts)}
    keys.sort(
        key=lambda k: (account_order.get(k[0], len(account_order)), k[0], PLATFORM_ORDER[k[1]])
    )

    def cell(snaps: dict[Key, Snapshot], key: Key) -> Cell:
        snap = snaps.get(key)
        return Cell() if snap is None else Cell(subscribers=snap.subscribers, day=snap.day)

    owners: list[Owner] = []
    for account in dict.fromkeys(k[0] for k in keys):
        config = settings.accounts.get(account)
        title = config.title if config is not None else account
        owners.append(
            Owner(
                account=account,
                title=title,
                genitive=settings.stats.title_genitive.get(account) or genitive(title),
                lines=tuple(
                    Line(
                        account=account,
                        platform=platform,
                        on=cell(now_snaps, (account, platform)),
                        compare=cell(before_snaps, (account, platform)),
                    )
                    for a, platform in keys
                    if a == account
                ),
            )
        )

    series: dict[Key, list[tuple[date, int]]] = {}
    for snap in series_rows:
        if snap.subscribers is not None:
            series.setdefault(snap.key, []).append((snap.day, snap.subscribers))

    def month_of(at: datetime) -> date:
        return at.astimezone(tz).date().replace(day=1)

    posts: dict[Key, dict[date, int]] = {}
    for post in published:
        per_month = posts.setdefault((post.account, post.platform), {})
        month = month_of(post.published_at)
        per_month[month] = per_month.get(month, 0) + 1
    views: dict[Key, dict[date, int]] = {}
    for account, platform, at, count in viewed:
        per_month = views.setdefault((account, platform), {})
        month = month_of(at)
        per_month[month] = per_month.get(month, 0) + count

    return Report(
        on=on,
        compare=compare,
        owners=tuple(owners),
        series=series,
        months=_months(compare, on),
        posts=posts,
        views=views,
    )
