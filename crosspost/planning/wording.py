"""The one place event texts are built: dates as people write them, «в субботу, 5 декабря,
в 10:00», and the announcement, reminder and notice templates from texts.py."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from crosspost import texts


def when(at: datetime, tz: ZoneInfo, *, now: datetime | None = None) -> str:
    """«в субботу, 5 декабря, в 10:00»; the year is added when it is not the current one."""
    local = at.astimezone(tz)
    fields = {
        "weekday": texts.WEEKDAYS_ON[local.weekday()],
        "day": local.day,
        "month": texts.MONTHS_GENITIVE[local.month - 1],
        "year": local.year,
        "time": local.strftime("%H:%M"),
    }
    this_year = (now.astimezone(tz).year if now is not None else local.year) == local.year
    return (texts.EVENT_WHEN if this_year else texts.EVENT_WHEN_WITH_YEAR).format(**fields)


def when_relative(at: datetime, tz: ZoneInfo, *, now: datetime) -> str:
    """As `when`, but «сегодня, в 18:00» or «завтра, в субботу, …» seen from `now`."""
    local, today = at.astimezone(tz), now.astimezone(tz).date()
    if local.date() == today:
        return texts.EVENT_TODAY.format(time=local.strftime("%H:%M"))
    if local.date() == today + timedelta(days=1):
        return texts.EVENT_TOMORROW.format(when=when(at, tz, now=now))
    return when(at, tz, now=now)


def capitalized(phrase: str) -> str:
    return phrase[:1].upper() + phrase[1:]


def announcement(
    *, title: str, place: str, text: str, starts_at: datetime, tz: ZoneInfo, now: datetime
) -> str:
    return texts.EVENT_ANNOUNCEMENT.format(
        title=title,
        When=capitalized(when(starts_at, tz, now=now)),
        place=place,
        text=text,
    ).strip()


def reminder(
    *,
    title: str,
    place: str,
    text: str,
    starts_at: datetime,
    tz: ZoneInfo,
    sent_at: datetime,
) -> str:
    """The reminder as read at `sent_at` (so «завтра» and «сегодня» are right then)."""
    return texts.EVENT_REMINDER.format(
        title=title,
        when=when_relative(starts_at, tz, now=sent_at),
        place=place,
        text=text,
    ).strip()


def moved(
    *, title: str, place: str, starts_at: datetime, previous: datetime, tz: ZoneInfo, now: datetime
) -> str:
    return texts.EVENT_MOVED.format(
        title=title,
        when=when(starts_at, tz, now=now),
        old_when=when(previous, tz, now=now),
        place=place,
    )


def cancelled(*, title: str, starts_at: datetime, tz: ZoneInfo, now: datetime) -> str:
    return texts.EVENT_CANCELLED.format(title=title, when=when(starts_at, tz, now=now))
