"""Times staff type in Russian → aware UTC, read in the configured zone (`telegram.timezone`).

A small explicit grammar, not a general date parser: what it cannot read for certain it refuses
with examples, because a wrong guess is approved in the confirmation and published at the wrong
hour. What it reads:

- a date: «15.12», «15.12.2026», «15 декабря», «15-го дек. 2026 года», «2026-12-15», «сегодня»,
  «завтра», «послезавтра», «вчера», a weekday «в пятницу» / «в пт», «через 2 дня», «через неделю»;
- a time: «10:00», «в 10.30», «в 10», «в 10 часов», «в 9 вечера», «в 8 утра», «в 2 часа дня»,
  «в 11 ночи», «в час дня», «в полдень» (either side of the date: «в 9 завтра» too);
- from now: «через 30 минут», «через 2 часа», «через час», «через полчаса», «через 1 час 30 минут»;
- ISO 8601 with or without an offset: «2026-12-15 10:00», «2026-12-15T10:00:00+03:00»; «сейчас»;
- a leading «на» («на завтра в 10»), and a zone at the end («10:00 мск», «по московскому
  времени», «по местному времени»): the time is read in that zone.

Rules, each one a refusal rather than a guess:

- a date without a time is `NeedsTime(day)`: the caller asks for the time;
- a time without a date is today; if it has passed today it is refused (PAST, `time_only`),
  since «в 18» at 19:00 meaning tomorrow is a guess;
- a bare hour 1–6 («в 5», «завтра в 3 часа») could be morning or afternoon: AMBIGUOUS, unless
  a part of day («утра», «дня», «вечера») or minutes («5:00») say which; «12 ночи» and «в полночь»
  are AMBIGUOUS too (which night?);
- a weekday that is today («в среду» on a Wednesday) may mean today or in a week: AMBIGUOUS;
- a date without a year is this year's; if that day has passed it is next year's only when it
  was more than half a year ago («05.01» in December), otherwise refused as PAST («30.11» on
  1 December is a typo to point out, not a date a year ahead);
- past times are refused (PAST), and so is anything more than `MAX_AHEAD` ahead (TOO_FAR).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from crosspost import texts
from crosspost.errors import UsageError

# A date typed without a year that lies this far back means next year ("05.01" in December).
_NEXT_YEAR_AFTER = timedelta(days=180)
# A time a few seconds old is "now" (the person typed it a moment ago).
GRACE = timedelta(seconds=30)
# Nothing is scheduled further ahead than this: "01.12.2110" is a typo, not a plan.
MAX_AHEAD = timedelta(days=366)
# Quick-pick times closer than this are not offered (there is no time left to confirm them).
QUICK_PICK_LEAD = timedelta(minutes=10)
QUICK_PICK_TODAY = (time(12), time(18))
QUICK_PICK_TOMORROW = (time(9), time(12), time(18))


class DateProblem(StrEnum):
    UNPARSEABLE = "unparseable"
    PAST = "past"
    AMBIGUOUS = "ambiguous"
    TOO_FAR = "too far"
    # Only from `parse_local_time`, which must return a time; `parse_when` returns NeedsTime.
    NEEDS_TIME = "needs a time"


class Ambiguity(StrEnum):
    """Why an AMBIGUOUS phrase is refused (each gets its own advice)."""

    HOUR = "hour"  # «в 5»: morning or evening
    WEEKDAY_TODAY = "weekday today"  # «в среду» on a Wednesday: today or in a week
    NIGHT = "night"  # «в полночь», «в 1 ночи»: which night
    CLOCK_CHANGE = "clock change"  # a local time skipped or repeated by a DST change


@dataclass(frozen=True, kw_only=True)
class Resolved:
    """A publish time: aware UTC."""

    at: datetime

    def __post_init__(self) -> None:
        if self.at.utcoffset() != timedelta(0):
            raise ValueError("Resolved.at must be aware UTC")


@dataclass(frozen=True, kw_only=True)
class NeedsTime:
    """A date (local, in the configured zone) without a time: ask for the time."""

    day: date


Parsed = Resolved | NeedsTime


class DateParseError(UsageError):
    """What staff typed is not a time we can use; `problem` says why, `str()` says it in one
    English line (for the CLI), `explain()` in Russian (for the bot).

    `parsed` is the time it would have meant (PAST, TOO_FAR), `day` the date of a date-only
    phrase (for WEEKDAY_TODAY: the same weekday next week), `time_only` whether no date was
    typed («в 18» after 18:00), `ambiguity` why an AMBIGUOUS phrase is."""

    def __init__(
        self,
        problem: DateProblem,
        typed: str,
        parsed: datetime | None = None,
        *,
        day: date | None = None,
        time_only: bool = False,
        ambiguity: Ambiguity | None = None,
    ) -> None:
        self.problem = problem
        self.typed = typed
        self.parsed = parsed
        self.day = day
        self.time_only = time_only
        self.ambiguity = ambiguity
        # Set by parse_when, so that str() shows local times.
        self.tz: ZoneInfo | None = None
        super().__init__(typed)

    def __str__(self) -> str:
        typed = repr(self.typed)
        if self.problem is DateProblem.PAST:
            if self.time_only:
                return (
                    f"{typed} has already passed today; give a date too, "
                    f"e.g. 'завтра {_normalized(self.typed)}'"
                )
            if self.parsed is not None:
                when = self.parsed.astimezone(self.tz or UTC).isoformat()
            else:
                when = self.day.isoformat() if self.day is not None else "?"
            return f"{typed} is in the past ({when}); give a future time"
        if self.ambiguity is Ambiguity.WEEKDAY_TODAY:
            return (
                f"{typed} names today's weekday: today or in a week? "
                "Write 'сегодня в …' or the date, e.g. '15.12 10:00'"
            )
        if self.ambiguity in (Ambiguity.NIGHT, Ambiguity.CLOCK_CHANGE):
            return (
                f"{typed} is ambiguous (which night?); give the date and time, e.g. '15.12 00:30'"
            )
        if self.problem is DateProblem.AMBIGUOUS:
            return (
                f"{typed} is ambiguous; say which, e.g. 'в 5 утра', 'в 5 вечера', '17:00', "
                "or a date such as '15.12 10:00'"
            )
        if self.problem is DateProblem.TOO_FAR:
            return f"{typed} is more than a year ahead; check the date"
        if self.problem is DateProblem.NEEDS_TIME:
            return f"{typed} is a date without a time; add one, e.g. '{self.typed} в 10:00'"
        return f"{typed} is not a time; examples: {EXAMPLES_EN}"


EXAMPLES_EN = "'15.12 10:00', '15 декабря в 10', 'завтра в 9', 'через 2 часа', '2026-12-15 10:00'"

# -- the grammar ------------------------------------------------------------------------------

_MONTHS = {
    name: number
    for number, names in enumerate(
        (
            ("январь", "января", "янв"),
            ("февраль", "февраля", "фев", "февр"),
            ("март", "марта", "мар"),
            ("апрель", "апреля", "апр"),
            ("май", "мая"),
            ("июнь", "июня", "июн"),
            ("июль", "июля", "июл"),
            ("август", "августа", "авг"),
            ("сентябрь", "сентября", "сен", "сент"),
            ("октябрь", "октября", "окт"),
            ("ноябрь", "ноября", "ноя", "нояб"),
            ("декабрь", "декабря", "дек"),
        ),
        start=1,
    )
    for name in names
}
_WEEKDAYS = {
    name: number
    for number, names in enumerate(
        (
            ("понедельник", "пн", "пон"),
            ("вторник", "вт"),
            ("среда", "среду", "ср"),
            ("четверг", "чт"),
            ("пятница", "пятницу", "пт"),
            ("суббота", "субботу", "сб"),
            ("воскресенье", "вс"),
        )
    )
    for name in names
}
_RELATIVE_DAYS = {"вчера": -1, "сегодня": 0, "завтра": 1, "послезавтра": 2}

# Each date form matches at the start of the text; the rest must be a time or nothing.
_ISO_DATE = re.compile(r"(?P<y>\d{4})-(?P<m>\d{1,2})-(?P<d>\d{1,2})(?=$|[t ])t?")
_NUMERIC_DATE = re.compile(
    r"(?P<d>\d{1,2})[./](?P<m>\d{1,2})(?:[./](?P<y>\d{4}|\d{2})(?: ?(?:г\.?|года?))?)?\.?(?=$| )"
)
_WORD_DATE = re.compile(
    r"(?P<d>\d{1,2})(?:-?(?:го|е|ое))? (?P<mon>[а-я]+)\.?"
    r"(?: (?P<y>\d{4})(?: ?(?:г\.?|года?))?)?(?=$| )"
)
_RELATIVE_DATE = re.compile(r"(?P<rel>вчера|сегодня|завтра|послезавтра)(?=$| )")
_WEEKDAY_DATE = re.compile(r"(?:во? )?(?:эт[оу] )?(?P<wd>[а-я]+)\.?(?=$| )")
_DAYS_AHEAD = re.compile(r"через (?:(?P<n>\d{1,3}) (?:день|дня|дней)|(?P<week>неделю))(?=$| )")
_DATE_FORMS = (_ISO_DATE, _NUMERIC_DATE, _WORD_DATE, _RELATIVE_DATE, _DAYS_AHEAD, _WEEKDAY_DATE)

_PERIOD = r"(?: (?P<per>утра|дня|вечера|ночи))?"
_CLOCK_TIME = re.compile(
    r"(?:(?P<at>во?) )?(?P<H>\d{1,2})[:.](?P<M>\d{2})(?::(?P<S>\d{2}))?(?: ?ч\.?)?" + _PERIOD
)
_HOUR_TIME = re.compile(
    r"(?:(?P<at>во?) )?(?P<H>\d{1,2})(?: ?(?P<unit>часов|часа|час|ч)\.?)?"
    r"(?: (?P<M>\d{1,2}) ?(?:минут[уы]?|мин)\.?)?" + _PERIOD
)
_ONE_OCLOCK = re.compile(r"(?:в )?(?P<unit>час)" + _PERIOD)
_NOON = re.compile(r"(?:в )?полдень")
_MIDNIGHT = re.compile(r"(?:в )?полночь")
_TIME_FORMS = (_CLOCK_TIME, _HOUR_TIME, _ONE_OCLOCK)

_FROM_NOW = re.compile(
    r"через (?:(?P<half>полчаса)|(?P<oneandhalf>полтора часа)"
    r"|(?:(?P<h>\d{1,4}) ?|(?P<h1>))(?:часов|часа|час|ч)\.?"
    r"(?: (?P<hm>\d{1,2}) ?(?:минут[уы]?|мин)\.?)?"
    r"|(?:(?P<m>\d{1,5}) ?|(?P<m1>))(?:минут[уы]?|мин)\.?)"
)
_NOW_WORDS = frozenset({"сейчас", "немедленно", "сразу"})
_ISO_WITH_OFFSET = re.compile(r"\d{4}-\d{2}-\d{2}[t ]\d{2}:\d{2}(?::\d{2})?(?:z|[+-]\d{2}:?\d{2})")


# A zone named after the time («10:00 мск», «по московскому времени»): city names in the dative
# and the adjectives of texts.DATES_ZONE_ADJECTIVES; «по местному» is the configured zone.
_ZONE_WORDS: dict[str, str | None] = {
    "мск": "Europe/Moscow",
    "москве": "Europe/Moscow",
    "владивостоку": "Asia/Vladivostok",
    "хабаровску": "Asia/Vladivostok",
    "хабаровскому": "Asia/Vladivostok",
    "якутску": "Asia/Yakutsk",
    "магадану": "Asia/Magadan",
    "камчатке": "Asia/Kamchatka",
    "иркутску": "Asia/Irkutsk",
    "красноярску": "Asia/Krasnoyarsk",
    "новосибирску": "Asia/Novosibirsk",
    "омску": "Asia/Omsk",
    "екатеринбургу": "Asia/Yekaterinburg",
    "самаре": "Europe/Samara",
    "калининграду": "Europe/Kaliningrad",
    "местному": None,
    **{adjective: key for key, adjective in texts.DATES_ZONE_ADJECTIVES.items()},
}
_ZONE_SUFFIX = re.compile(r"(?:^| )\(?(?:по )?(?P<word>[а-я]+)(?: времени)?\)?$")


def _normalized(typed: str) -> str:
    text = typed.strip().lower().replace("ё", "е").replace(",", " ")
    return " ".join(text.split()).rstrip(".!").strip()


def _zone(text: str, tz: ZoneInfo) -> tuple[str, ZoneInfo]:
    """The text without a zone named at its end, and that zone (else `tz`)."""
    match = _ZONE_SUFFIX.search(text)
    if match is None or match["word"] not in _ZONE_WORDS:
        return text, tz
    key = _ZONE_WORDS[match["word"]]
    return text[: match.start()].strip(), tz if key is None else ZoneInfo(key)


def parse_when(typed: str, *, now: datetime, tz: ZoneInfo) -> Parsed:
    """Read what staff typed, seen from `now` (aware) in zone `tz`.

    Returns `Resolved(at=…)` (aware UTC, not in the past, at most MAX_AHEAD ahead) or
    `NeedsTime(day=…)` for a date without a time. Raises DateParseError: UNPARSEABLE,
    AMBIGUOUS, PAST or TOO_FAR.
    """
    try:
        return _parse_when(typed, now=now, tz=tz)
    except DateParseError as exc:
        exc.tz = tz
        raise


def _parse_when(typed: str, *, now: datetime, tz: ZoneInfo) -> Parsed:
    if now.tzinfo is None:
        raise ValueError("now must be aware")
    now = now.astimezone(UTC)
    text, zone = _zone(_normalized(typed), tz)
    if text.startswith("на "):  # «на завтра в 10», «на 15 декабря»
        text = text[3:]
    parsed = _parse_text(typed, text, now, zone)
    if isinstance(parsed, NeedsTime) and zone is not tz:
        # The time asked for next is read in the configured zone, so its date words are too.
        parsed = _parse_text(typed, text, now, tz)
    return parsed


def _parse_text(typed: str, text: str, now: datetime, tz: ZoneInfo) -> Parsed:
    local_now = now.astimezone(tz)
    if text in _NOW_WORDS:
        return Resolved(at=now)
    if _ISO_WITH_OFFSET.fullmatch(text):
        try:
            at = datetime.fromisoformat(text.upper().replace(" ", "T"))
        except ValueError:
            raise DateParseError(DateProblem.UNPARSEABLE, typed) from None
        return _checked(typed, at.astimezone(UTC), now)
    ahead = _FROM_NOW.fullmatch(text)
    if ahead is not None:
        return _checked(typed, now + _duration(typed, ahead), now)
    for form in _DATE_FORMS:
        match = form.match(text)
        if match is None:
            continue
        day = _day(typed, match, local_now.date())
        if day is None:
            continue
        rest = text[match.end() :].strip()
        if not rest:
            return _date_only(typed, day, local_now.date())
        clock = _time(typed, rest)
        if clock is None:
            continue
        return _checked(typed, _local(typed, day, clock, tz), now)
    # A time first: «в 9 завтра», «10:00 15.12», or no date at all.
    for form in (*_TIME_FORMS, _NOON, _MIDNIGHT):
        for match in _prefixes(form, text):
            rest = text[match.end() :].strip()
            clock = _time(typed, text[: match.end()])
            if clock is None:
                continue
            if not rest:
                at = _local(typed, local_now.date(), clock, tz)
                if at < now - GRACE:
                    raise DateParseError(DateProblem.PAST, typed, at, time_only=True)
                return _checked(typed, at, now)
            for date_form in _DATE_FORMS:
                date_match = date_form.fullmatch(rest)
                if date_match is None:
                    continue
                day = _day(typed, date_match, local_now.date())
                if day is not None:
                    return _checked(typed, _local(typed, day, clock, tz), now)
    raise DateParseError(DateProblem.UNPARSEABLE, typed)


def _prefixes(form: re.Pattern[str], text: str) -> list[re.Match[str]]:
    """Matches of `form` ending at a word boundary, longest first."""
    ends = [i for i, ch in enumerate(text) if ch == " "] + [len(text)]
    found = [form.fullmatch(text, 0, end) for end in reversed(ends)]
    return [m for m in found if m is not None]


def _duration(typed: str, match: re.Match[str]) -> timedelta:
    if match["half"]:
        return timedelta(minutes=30)
    if match["oneandhalf"]:
        return timedelta(minutes=90)
    if match["h"] is not None or match["h1"] is not None:
        hours = int(match["h"]) if match["h"] is not None else 1
        minutes = int(match["hm"] or 0)
        if minutes > 59:
            raise DateParseError(DateProblem.UNPARSEABLE, typed)
        delta = timedelta(hours=hours, minutes=minutes)
    else:
        delta = timedelta(minutes=int(match["m"]) if match["m"] is not None else 1)
    if delta <= timedelta(0):
        raise DateParseError(DateProblem.UNPARSEABLE, typed)
    return delta


def _day(typed: str, match: re.Match[str], today: date) -> date | None:
    """The date a date form names; None when the word is not a date (the weekday form)."""
    groups = match.groupdict()
    if groups.get("rel"):
        return today + timedelta(days=_RELATIVE_DAYS[groups["rel"]])
    if groups.get("n") or groups.get("week"):
        days = 7 if groups.get("week") else int(groups["n"])
        if days < 1:
            raise DateParseError(DateProblem.UNPARSEABLE, typed)
        return today + timedelta(days=days)
    if "wd" in groups:
        weekday = _WEEKDAYS.get(groups["wd"])
        if weekday is None:
            return None
        if weekday == today.weekday():
            raise DateParseError(
                DateProblem.AMBIGUOUS,
                typed,
                day=today + timedelta(days=7),
                ambiguity=Ambiguity.WEEKDAY_TODAY,
            )
        return today + timedelta(days=(weekday - today.weekday()) % 7)
    if "mon" in groups:
        month = _MONTHS.get(groups["mon"])
        if month is None:
            return None
    else:
        month = int(groups["m"])
    day = int(groups["d"])
    if groups.get("y"):
        year = int(groups["y"])
        year = year + 2000 if year < 100 else year
        return _date(typed, year, month, day)
    candidate = _date(typed, today.year, month, day)
    if candidate < today and today - candidate > _NEXT_YEAR_AFTER:
        return _date(typed, today.year + 1, month, day)
    return candidate


def _date(typed: str, year: int, month: int, day: int) -> date:
    try:
        return date(year, month, day)
    except ValueError:  # 31.02, 15.13 and the like
        raise DateParseError(DateProblem.UNPARSEABLE, typed) from None


def _time(typed: str, text: str) -> time | None:
    """The time of day `text` names in full, or None when it is not a time."""
    if _NOON.fullmatch(text):
        return time(12)
    if _MIDNIGHT.fullmatch(text):
        raise DateParseError(DateProblem.AMBIGUOUS, typed, ambiguity=Ambiguity.NIGHT)
    match = (
        _CLOCK_TIME.fullmatch(text) or _HOUR_TIME.fullmatch(text) or _ONE_OCLOCK.fullmatch(text)
    )
    if match is None:
        return None
    groups = match.groupdict()
    hour = int(groups["H"]) if groups.get("H") else 1
    minute = int(groups["M"]) if groups.get("M") else 0
    second = int(groups["S"]) if groups.get("S") else 0
    period = groups.get("per")
    has_minutes = groups.get("M") is not None
    if match.re is _HOUR_TIME and not (groups.get("at") or groups.get("unit") or period):
        return None  # a bare number («завтра 18») is not clearly a time
    if hour > 23 or minute > 59 or second > 59:
        raise DateParseError(DateProblem.UNPARSEABLE, typed)
    if period is not None:
        hour = _with_period(typed, hour, period)
    elif not has_minutes and 1 <= hour <= 6:
        raise DateParseError(DateProblem.AMBIGUOUS, typed, ambiguity=Ambiguity.HOUR)
    return time(hour, minute, second)


def _with_period(typed: str, hour: int, period: str) -> int:
    """«9 вечера» → 21; a period that does not fit the hour is AMBIGUOUS («12 ночи», «10 дня»)."""
    if period == "утра" and 1 <= hour <= 11:
        return hour
    if period == "дня" and (hour == 12 or 1 <= hour <= 6):
        return 12 if hour == 12 else hour + 12
    if period == "дня" and 12 < hour <= 18:
        return hour
    if period == "вечера" and 4 <= hour <= 11:
        return hour + 12
    if period == "вечера" and 16 <= hour <= 23:
        return hour
    if period == "ночи" and hour in (10, 11, 22, 23):
        return hour % 12 + 12
    kind = Ambiguity.NIGHT if period == "ночи" else Ambiguity.HOUR
    raise DateParseError(DateProblem.AMBIGUOUS, typed, ambiguity=kind)


def _local(typed: str, day: date, clock: time, tz: ZoneInfo) -> datetime:
    at = datetime.combine(day, clock, tzinfo=tz)
    # A local time that does not exist or exists twice (a DST change) is not guessed either.
    back = at.astimezone(UTC).astimezone(tz)
    if (
        back.replace(tzinfo=None) != at.replace(tzinfo=None)
        or at.utcoffset() != at.replace(fold=1).utcoffset()
    ):
        raise DateParseError(DateProblem.AMBIGUOUS, typed, ambiguity=Ambiguity.CLOCK_CHANGE)
    return at.astimezone(UTC)


def _checked(typed: str, at: datetime, now: datetime) -> Resolved:
    if at < now - GRACE:
        raise DateParseError(DateProblem.PAST, typed, at)
    if at > now + MAX_AHEAD:
        raise DateParseError(DateProblem.TOO_FAR, typed, at)
    return Resolved(at=max(at, now))


def _date_only(typed: str, day: date, today: date) -> NeedsTime:
    if day < today:
        raise DateParseError(DateProblem.PAST, typed, day=day)
    if day > today + MAX_AHEAD:
        raise DateParseError(DateProblem.TOO_FAR, typed, day=day)
    return NeedsTime(day=day)


def parse_time_on(day: date, typed: str, *, now: datetime, tz: ZoneInfo) -> Resolved:
    """The answer to "what time?" after `NeedsTime(day)`: «10:00», «в 9 вечера», «в 10».

    A full phrase with its own date («завтра в 9») is read as such. Raises DateParseError.
    """
    try:
        text, zone = _zone(_normalized(typed), tz)
        clock = _time(typed, text)
        if clock is None:
            parsed = parse_when(typed, now=now, tz=tz)
            if isinstance(parsed, NeedsTime):
                raise DateParseError(DateProblem.NEEDS_TIME, typed, day=parsed.day)
            return parsed
        return _checked(typed, _local(typed, day, clock, zone), now.astimezone(UTC))
    except DateParseError as exc:
        exc.tz = tz
        raise


def parse_local_time(typed: str, *, now: datetime, tz: ZoneInfo) -> datetime:
    """As `parse_when`, for callers that need a time: returns aware UTC.

    Raises DateParseError: also NEEDS_TIME for a date without a time.
    """
    parsed = parse_when(typed, now=now, tz=tz)
    if isinstance(parsed, NeedsTime):
        raise DateParseError(DateProblem.NEEDS_TIME, typed, day=parsed.day)
    return parsed.at


# -- rendering --------------------------------------------------------------------------------


def format_local(at: datetime, tz: ZoneInfo) -> str:
    """How staff read a time: "01.12.2026 10:00" in the configured zone."""
    return at.astimezone(tz).strftime("%d.%m.%Y %H:%M")


def zone_words(tz: ZoneInfo, at: datetime) -> str:
    """«по владивостокскому времени», or «время UTC+10» for a zone without a Russian name."""
    adjective = texts.DATES_ZONE_ADJECTIVES.get(tz.key)
    if adjective is not None:
        return texts.DATES_ZONE_NAMED.format(adjective=adjective)
    offset = at.astimezone(tz).utcoffset() or timedelta(0)
    minutes = int(offset.total_seconds()) // 60
    sign = "+" if minutes >= 0 else "−"
    hours, rest = divmod(abs(minutes), 60)
    shown = "" if minutes == 0 else f"{sign}{hours}" + (f":{rest:02}" if rest else "")
    return texts.DATES_ZONE_OFFSET.format(offset=shown)


def describe_day(day: date, *, today: date | None = None) -> str:
    """«в среду, 2 декабря»; the year is added when it is not `today`'s."""
    fields = {
        "weekday": texts.WEEKDAYS_ON[day.weekday()],
        "day": day.day,
        "month": texts.MONTHS_GENITIVE[day.month - 1],
        "year": day.year,
    }
    same_year = today is None or today.year == day.year
    return (texts.DATES_DAY if same_year else texts.DATES_DAY_WITH_YEAR).format(**fields)


def describe_local(at: datetime, tz: ZoneInfo, *, now: datetime | None = None) -> str:
    """The confirmation in words and digits: «в среду, 2 декабря, в 15:12 (по владивостокскому
    времени)»; with `now`, the year is added when it is not the current one."""
    local = at.astimezone(tz)
    today = now.astimezone(tz).date() if now is not None else None
    return texts.DATES_WHEN.format(
        day=describe_day(local.date(), today=today),
        time=local.strftime("%H:%M"),
        zone=zone_words(tz, at),
    )


def quick_picks(now: datetime, tz: ZoneInfo) -> list[tuple[str, datetime]]:
    """Buttons next to free typing: (label, aware UTC), today's only while still ahead."""
    local_now = now.astimezone(tz)
    today = local_now.date()
    picks: list[tuple[str, datetime]] = []
    for label, day, clocks in (
        (texts.DATES_PICK_TODAY, today, QUICK_PICK_TODAY),
        (texts.DATES_PICK_TOMORROW, today + timedelta(days=1), QUICK_PICK_TOMORROW),
    ):
        for clock in clocks:
            at = datetime.combine(day, clock, tzinfo=tz).astimezone(UTC)
            if at >= now + QUICK_PICK_LEAD:
                picks.append((label.format(time=f"{clock.hour}:{clock.minute:02}"), at))
    return picks


def explain(error: DateParseError, tz: ZoneInfo, *, now: datetime | None = None) -> str:
    """The refusal in Russian, with examples, for the bot."""
    typed = error.typed.strip()
    if error.problem is DateProblem.PAST and error.parsed is not None and error.time_only:
        clock = error.parsed.astimezone(tz).strftime("%H:%M")
        return texts.DATES_PASSED_TODAY.format(time=clock, examples=texts.DATES_EXAMPLES)
    if error.problem is DateProblem.PAST:
        if error.parsed is not None:
            when = describe_local(error.parsed, tz, now=now)
        elif error.day is not None:
            when = describe_day(error.day)
        else:
            when = typed
        return texts.DATES_PAST.format(when=when, examples=texts.DATES_EXAMPLES)
    if error.ambiguity is Ambiguity.WEEKDAY_TODAY and error.day is not None:
        return texts.DATES_AMBIGUOUS_WEEKDAY.format(
            typed=typed, next_week=f"{error.day.day:02}.{error.day.month:02}"
        )
    if error.ambiguity in (Ambiguity.NIGHT, Ambiguity.CLOCK_CHANGE):
        return texts.DATES_AMBIGUOUS_NIGHT.format(typed=typed)
    if error.problem is DateProblem.AMBIGUOUS:
        return texts.DATES_AMBIGUOUS.format(typed=typed)
    if error.problem is DateProblem.TOO_FAR:
        return texts.DATES_TOO_FAR.format(typed=typed, examples=texts.DATES_EXAMPLES)
    if error.problem is DateProblem.NEEDS_TIME and error.day is not None:
        return texts.DATES_ASK_TIME_FOR.format(day=describe_day(error.day))
    return texts.DATES_UNPARSEABLE.format(typed=typed, examples=texts.DATES_EXAMPLES)
