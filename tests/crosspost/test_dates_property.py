"""Properties of the date parser over generated phrases, clocks and zones: whatever is typed,
the answer is a refusal, a date that needs a time, or an aware UTC time not in the past and at
most a year ahead; and a time written out in full reads back as itself."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from crosspost import texts
from crosspost.dates import (
    GRACE,
    MAX_AHEAD,
    Ambiguity,
    DateParseError,
    DateProblem,
    NeedsTime,
    Resolved,
    describe_local,
    parse_when,
    quick_picks,
)

ZONES = [
    ZoneInfo(key)
    for key in (
        "Asia/Vladivostok",
        "Europe/Moscow",
        "Asia/Kamchatka",
        "Europe/Kaliningrad",
        "UTC",
        "Europe/Berlin",  # has DST
        "America/New_York",
    )
]
clocks = st.datetimes(
    min_value=datetime(2024, 1, 1),  # noqa: DTZ001 - made aware by timezones=
    max_value=datetime(2035, 12, 31),  # noqa: DTZ001
    timezones=st.just(UTC),
)
zones = st.sampled_from(ZONES)

MONTH_WORDS = [*texts.MONTHS_GENITIVE, "дек", "янв.", "март", "сент"]
WEEKDAY_WORDS = ["в понедельник", "во вторник", "в среду", "в пт", "сб", "воскресенье"]
dates = st.one_of(
    st.just(""),
    st.sampled_from(["сегодня", "завтра", "послезавтра", "вчера", "через 2 дня", "через неделю"]),
    st.sampled_from(WEEKDAY_WORDS),
    st.builds("{}.{}".format, st.integers(0, 40).map(str), st.integers(0, 14).map("{:02}".format)),
    st.builds(
        "{}.{:02}.{}".format, st.integers(1, 31), st.integers(1, 12), st.integers(2020, 2200)
    ),
    st.builds("{} {}".format, st.integers(1, 31), st.sampled_from(MONTH_WORDS)),
    st.builds(
        "{} {} {} года".format,
        st.integers(1, 31),
        st.sampled_from(MONTH_WORDS),
        st.integers(2020, 2200),
    ),
    st.builds(
        "{}-{:02}-{:02}".format, st.integers(2020, 2200), st.integers(1, 13), st.integers(1, 32)
    ),
)
times = st.one_of(
    st.just(""),
    st.builds("{}:{:02}".format, st.integers(0, 25), st.integers(0, 61)),
    st.builds("в {}".format, st.integers(0, 25)),
    st.builds("в {} часов".format, st.integers(0, 25)),
    st.builds(
        "в {} {}".format,
        st.integers(0, 25),
        st.sampled_from(["утра", "дня", "вечера", "ночи"]),
    ),
    st.sampled_from(["в полдень", "в полночь", "в час дня"]),
)
relative = st.builds(
    "через {} {}".format,
    st.integers(0, 10000),
    st.sampled_from(["минут", "минуту", "мин", "час", "часа", "часов", "ч"]),
)


def attempt(typed: str, now: datetime, tz: ZoneInfo) -> Resolved | NeedsTime | DateParseError:
    try:
        return parse_when(typed, now=now, tz=tz)
    except DateParseError as exc:
        return exc


def check(typed: str, now: datetime, tz: ZoneInfo) -> None:
    parsed = attempt(typed, now, tz)
    if isinstance(parsed, DateParseError):
        assert str(parsed)
    elif isinstance(parsed, Resolved):
        assert parsed.at.tzinfo is UTC
        assert now <= parsed.at <= now + MAX_AHEAD
    else:
        assert isinstance(parsed, NeedsTime)
        today = now.astimezone(tz).date()
        assert today <= parsed.day <= today + MAX_AHEAD


zone_names = st.sampled_from(["", " мск", " (по москве)", " по местному времени", " по омску"])


@settings(max_examples=400)
@given(date=dates, time=times, zone=zone_names, now=clocks, tz=zones, time_first=st.booleans())
def test_generated_phrases(
    date: str, time: str, zone: str, now: datetime, tz: ZoneInfo, time_first: bool
) -> None:
    check((f"{time} {date}" if time_first else f"{date} {time}") + zone, now, tz)


@given(typed=relative, now=clocks, tz=zones)
def test_from_now(typed: str, now: datetime, tz: ZoneInfo) -> None:
    check(typed, now, tz)


@given(typed=st.text(max_size=40), now=clocks, tz=zones)
def test_any_text_is_answered_or_refused(typed: str, now: datetime, tz: ZoneInfo) -> None:
    check(typed, now, tz)


@given(
    now=clocks,
    tz=zones,
    ahead=st.timedeltas(min_value=timedelta(minutes=1), max_value=timedelta(days=360)),
    form=st.sampled_from(
        [
            "{d}.{m:02}.{y} {H}:{M:02}",
            "{d} {month} {y} года в {H}:{M:02}",
            "{y}-{m:02}-{d:02} {H:02}:{M:02}",
            "{d}.{m:02} в {H}:{M:02}",
        ]
    ),
)
def test_a_time_written_out_reads_back_as_itself(
    now: datetime, tz: ZoneInfo, ahead: timedelta, form: str
) -> None:
    target = (now + ahead).astimezone(tz).replace(second=0, microsecond=0)
    typed = form.format(
        d=target.day,
        m=target.month,
        y=target.year,
        month=texts.MONTHS_GENITIVE[target.month - 1],
        H=target.hour,
        M=target.minute,
    )
    parsed = attempt(typed, now, tz)
    if isinstance(parsed, DateParseError):
        if parsed.ambiguity is Ambiguity.CLOCK_CHANGE:
            return
        # Without a year, a date that passed this year less than half a year ago is refused
        # as past rather than moved to next year.
        assert parsed.problem is DateProblem.PAST, parsed
        assert "{y}" not in form
        assert target.year > now.astimezone(tz).year
        return
    assert isinstance(parsed, Resolved)
    assert parsed == Resolved(at=max(target.astimezone(UTC), now))
    assert target.strftime("%H:%M") in describe_local(parsed.at, tz, now=now)


@given(now=clocks, tz=zones)
def test_quick_picks_are_ahead_and_read_back(now: datetime, tz: ZoneInfo) -> None:
    picks = quick_picks(now, tz)
    assert len(picks) >= 2  # at least two of tomorrow's (a DST day may lose one)
    for label, at in picks:
        assert at.tzinfo is UTC
        assert now < at <= now + timedelta(days=2)
        assert label.startswith(("Сегодня", "Завтра"))


def test_grace_is_small() -> None:
    assert timedelta(0) < GRACE <= timedelta(minutes=1)
