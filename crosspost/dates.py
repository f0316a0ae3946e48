"""Times staff type in Russian ("01.12 10:00", "завтра 9:30", "через 2 часа") → aware UTC."""

from __future__ import annotations

import re
from datetime import UTC, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

import dateparser

from crosspost.errors import UsageError

# A date typed without a year that lies this far back means next year ("05.01" in December).
_NEXT_YEAR_AFTER = timedelta(days=180)
# A time a few seconds old is "now" (the person typed it a moment ago).
_GRACE = timedelta(seconds=30)

_NUMERIC = re.compile(
    r"^(?P<d>\d{1,2})[./](?P<m>\d{1,2})(?:[./](?P<y>\d{2}|\d{4}))?"
    r"(?:\s*(?:г\.?|года)?\s*(?:в\s+)?(?P<H>\d{1,2})[:.](?P<M>\d{2}))?$"
)
_TIME_ONLY = re.compile(r"^(?:сегодня\s+)?(?:в\s+)?(?P<H>\d{1,2})[:.](?P<M>\d{2})$")
_EXPLICIT_YEAR = re.compile(r"\b\d{4}\b")


class DateProblem(StrEnum):
    UNPARSEABLE = "unparseable"
    PAST = "past"


class DateParseError(UsageError):
    """What staff typed is not a time we can use; `problem` says why (texts.py words it)."""

    def __init__(self, problem: DateProblem, typed: str, parsed: datetime | None = None) -> None:
        super().__init__(f"cannot use {typed!r} as a publish time: {problem}")
        self.problem = problem
        self.typed = typed
        self.parsed = parsed


def parse_local_time(typed: str, *, now: datetime, tz: ZoneInfo) -> datetime:
    """Parse a local time as staff type it; returns aware UTC.

    Raises DateParseError: UNPARSEABLE for garbage, PAST for a time before `now`.
    """
    if now.tzinfo is None:
        raise ValueError("now must be aware")
    text = " ".join(typed.strip().lower().replace("ё", "е").split())
    local_now = now.astimezone(tz)
    try:
        parsed = _numeric(text, local_now, tz) or _words(text, local_now, tz)
    except DateParseError:
        raise DateParseError(DateProblem.UNPARSEABLE, typed) from None
    if parsed is None:
        raise DateParseError(DateProblem.UNPARSEABLE, typed)
    result = parsed.astimezone(UTC)
    if result < now - _GRACE:
        raise DateParseError(DateProblem.PAST, typed, result)
    return result


def _local(tz: ZoneInfo, year: int, month: int, day: int, hour: int, minute: int) -> datetime:
    try:
        return datetime(year, month, day, hour, minute, tzinfo=tz)
    except ValueError:  # 31.02 and the like
        raise DateParseError(DateProblem.UNPARSEABLE, f"{day:02}.{month:02}") from None


def _numeric(text: str, local_now: datetime, tz: ZoneInfo) -> datetime | None:
    match = _TIME_ONLY.match(text)
    if match:
        hour, minute = int(match["H"]), int(match["M"])
        if hour > 23 or minute > 59:
            raise DateParseError(DateProblem.UNPARSEABLE, text)
        at = datetime.combine(local_now.date(), time(hour, minute), tzinfo=tz)
        explicit_today = text.startswith("сегодня")
        return at if at >= local_now or explicit_today else at + timedelta(days=1)
    match = _NUMERIC.match(text)
    if not match:
        return None
    day, month = int(match["d"]), int(match["m"])
    hour = int(match["H"]) if match["H"] else 9
    minute = int(match["M"]) if match["M"] else 0
    if not (1 <= month <= 12 and 1 <= day <= 31 and hour <= 23 and minute <= 59):
        raise DateParseError(DateProblem.UNPARSEABLE, text)
    if match["y"]:
        year = int(match["y"])
        year = year + 2000 if year < 100 else year
        return _local(tz, year, month, day, hour, minute)
    at = _local(tz, local_now.year, month, day, hour, minute)
    if at < local_now - _NEXT_YEAR_AFTER:
        at = _local(tz, local_now.year + 1, month, day, hour, minute)
    return at


def _words(text: str, local_now: datetime, tz: ZoneInfo) -> datetime | None:
    parsed = dateparser.parse(
        text,
        languages=["ru"],
        settings={
            "PREFER_DATES_FROM": "future",
            "TIMEZONE": str(tz.key),
            "RETURN_AS_TIMEZONE_AWARE": True,
            "RELATIVE_BASE": local_now.replace(tzinfo=None),
            "DATE_ORDER": "DMY",
        },
    )
    if parsed is None:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=tz)
    # "30 ноября" typed on 1 December is a mistake to point out, not a date a year ahead.
    if not _EXPLICIT_YEAR.search(text) and parsed.year > local_now.year:
        try:
            same_year = parsed.replace(year=local_now.year)
        except ValueError:
            return parsed
        if local_now - _NEXT_YEAR_AFTER <= same_year < local_now:
            return same_year
    return parsed


def format_local(at: datetime, tz: ZoneInfo) -> str:
    """How staff read a time: "01.12.2026 10:00" in the configured zone."""
    return at.astimezone(tz).strftime("%d.%m.%Y %H:%M")
