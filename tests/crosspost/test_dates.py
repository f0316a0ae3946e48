"""The phrases press officers type, read in the configured zone with a fixed clock."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from crosspost import texts
from crosspost.dates import (
    Ambiguity,
    DateParseError,
    DateProblem,
    NeedsTime,
    Resolved,
    describe_day,
    describe_local,
    explain,
    format_local,
    parse_local_time,
    parse_time_on,
    parse_when,
    quick_picks,
    zone_words,
)

TZ = ZoneInfo("Asia/Vladivostok")  # UTC+10, no DST
# Wednesday 2 December 2026, 16:00 local (06:00 UTC).
NOW = datetime(2026, 12, 2, 6, 0, tzinfo=UTC)


def local(y: int, mo: int, d: int, h: int, mi: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=TZ).astimezone(UTC)


def at(typed: str, now: datetime = NOW, tz: ZoneInfo = TZ) -> datetime:
    parsed = parse_when(typed, now=now, tz=tz)
    assert isinstance(parsed, Resolved), parsed
    assert parsed.at.tzinfo is UTC
    return parsed.at


def refused(typed: str, now: datetime = NOW) -> DateParseError:
    with pytest.raises(DateParseError) as info:
        parse_when(typed, now=now, tz=TZ)
    return info.value


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        # the phrases of issue 13
        ("15.12 10:00", local(2026, 12, 15, 10)),
        ("15.12.2026 10:00", local(2026, 12, 15, 10)),
        ("15 декабря в 10", local(2026, 12, 15, 10)),
        ("15 декабря 2026 в 10:30", local(2026, 12, 15, 10, 30)),
        ("завтра в 9", local(2026, 12, 3, 9)),
        ("завтра в 9 вечера", local(2026, 12, 3, 21)),
        ("сегодня в 18", local(2026, 12, 2, 18)),
        ("через 2 часа", local(2026, 12, 2, 18)),
        ("через 30 минут", local(2026, 12, 2, 16, 30)),
        ("в пятницу в 11", local(2026, 12, 4, 11)),
        ("в пн в 9:30", local(2026, 12, 7, 9, 30)),
        ("послезавтра в 8 утра", local(2026, 12, 4, 8)),
        ("2026-12-15 10:00", local(2026, 12, 15, 10)),
        ("в 18", local(2026, 12, 2, 18)),
        # numeric dates
        ("1.12.2027 в 10:00", local(2027, 12, 1, 10)),
        ("15/12 10:00", local(2026, 12, 15, 10)),
        ("15.12.26 10:00", local(2026, 12, 15, 10)),
        ("15.12 в 10", local(2026, 12, 15, 10)),
        ("15.12, 10.30", local(2026, 12, 15, 10, 30)),
        ("05.01 9:00", local(2027, 1, 5, 9)),  # January typed in December: next year
        ("15.12. в 10:00", local(2026, 12, 15, 10)),
        # month names
        ("15 дек в 10", local(2026, 12, 15, 10)),
        ("15 дек. 10:00", local(2026, 12, 15, 10)),
        ("15-го декабря в 10", local(2026, 12, 15, 10)),
        ("15 декабря 2026 г. в 10:00", local(2026, 12, 15, 10)),
        ("15 декабря 2026 года в 10", local(2026, 12, 15, 10)),
        ("5 января в 10", local(2027, 1, 5, 10)),
        ("3 марта в 12:00", local(2027, 3, 3, 12)),
        ("1 сентября 2027 в 8 утра", local(2027, 9, 1, 8)),
        ("1 мая в 10", local(2027, 5, 1, 10)),
        ("31 декабря в 23:59", local(2026, 12, 31, 23, 59)),
        ("15 Декабря В 10", local(2026, 12, 15, 10)),
        # relative days and weekdays
        ("Завтра в 9:30", local(2026, 12, 3, 9, 30)),
        ("завтра 9:30", local(2026, 12, 3, 9, 30)),
        ("завтра, в 10", local(2026, 12, 3, 10)),
        ("в четверг в 10", local(2026, 12, 3, 10)),
        ("во вторник в 10:00", local(2026, 12, 8, 10)),
        ("в субботу в 12", local(2026, 12, 5, 12)),
        ("в воскресенье в 9", local(2026, 12, 6, 9)),
        ("в вс в 9", local(2026, 12, 6, 9)),
        ("пятница 11:00", local(2026, 12, 4, 11)),
        ("в понедельник в 9 утра", local(2026, 12, 7, 9)),
        ("через 2 дня в 10", local(2026, 12, 4, 10)),
        ("через неделю в 10", local(2026, 12, 9, 10)),
        # times of day
        ("в 9 завтра", local(2026, 12, 3, 9)),
        ("10:00 15.12", local(2026, 12, 15, 10)),
        ("в 18 часов", local(2026, 12, 2, 18)),
        ("в 18 ч.", local(2026, 12, 2, 18)),
        ("18:30", local(2026, 12, 2, 18, 30)),
        ("в 18.30", local(2026, 12, 2, 18, 30)),
        ("в 7 вечера", local(2026, 12, 2, 19)),
        ("в 19 вечера", local(2026, 12, 2, 19)),
        ("в 11 ночи", local(2026, 12, 2, 23)),
        ("в 23 ночи", local(2026, 12, 2, 23)),
        ("в 5 вечера", local(2026, 12, 2, 17)),
        ("завтра в 2 часа дня", local(2026, 12, 3, 14)),
        ("завтра в час дня", local(2026, 12, 3, 13)),
        ("завтра в 12 дня", local(2026, 12, 3, 12)),
        ("завтра в полдень", local(2026, 12, 3, 12)),
        ("завтра в 10 часов 30 минут", local(2026, 12, 3, 10, 30)),
        ("завтра в 9:30 вечера", local(2026, 12, 3, 21, 30)),
        ("завтра в 05:00", local(2026, 12, 3, 5)),  # minutes make a 24-hour clock
        ("завтра в 0:30", local(2026, 12, 3, 0, 30)),
        ("завтра в 7", local(2026, 12, 3, 7)),
        # from now
        ("через час", NOW + timedelta(hours=1)),
        ("через 1 час", NOW + timedelta(hours=1)),
        ("через 3 ч", NOW + timedelta(hours=3)),
        ("через полчаса", NOW + timedelta(minutes=30)),
        ("через полтора часа", NOW + timedelta(minutes=90)),
        ("через 1 час 30 минут", NOW + timedelta(minutes=90)),
        ("через минуту", NOW + timedelta(minutes=1)),
        ("через 5 мин", NOW + timedelta(minutes=5)),
        ("через 48 часов", NOW + timedelta(hours=48)),
        ("сейчас", NOW),
        # ISO 8601 and the old CLI form
        ("2026-12-15 10:00:00", local(2026, 12, 15, 10)),
        ("2026-12-15T10:00", local(2026, 12, 15, 10)),
        ("2026-12-15T10:00:00+03:00", datetime(2026, 12, 15, 7, tzinfo=UTC)),
        ("2026-12-15T10:00Z", datetime(2026, 12, 15, 10, tzinfo=UTC)),
        # spacing, case, ё, punctuation
        ("  ЗАВТРА   в  9  ", local(2026, 12, 3, 9)),
        ("завтра в 9.", local(2026, 12, 3, 9)),
        ("Послезавтра в 8 утра!", local(2026, 12, 4, 8)),
    ],
)
def test_phrases_resolve(typed: str, expected: datetime) -> None:
    assert at(typed) == expected


@pytest.mark.parametrize(
    ("typed", "day"),
    [
        ("15.12", date(2026, 12, 15)),
        ("15.12.2026", date(2026, 12, 15)),
        ("15 декабря", date(2026, 12, 15)),
        ("15 декабря 2026 года", date(2026, 12, 15)),
        ("завтра", date(2026, 12, 3)),
        ("сегодня", date(2026, 12, 2)),
        ("послезавтра", date(2026, 12, 4)),
        ("в пятницу", date(2026, 12, 4)),
        ("пт", date(2026, 12, 4)),
        ("2026-12-15", date(2026, 12, 15)),
        ("через 3 дня", date(2026, 12, 5)),
        ("5 января", date(2027, 1, 5)),
        ("2.12", date(2026, 12, 2)),
    ],
)
def test_a_date_without_a_time_needs_one(typed: str, day: date) -> None:
    assert parse_when(typed, now=NOW, tz=TZ) == NeedsTime(day=day)


@pytest.mark.parametrize(
    "typed",
    [
        "сегодня в 15",  # 15:00 today has passed (it is 16:00)
        "сегодня в 15:59",
        "2.12 10:00",
        "вчера в 10",
        "вчера",
        "1.12",
        "30 ноября в 10",
        "01.12.2025 10:00",
        "2026-12-01 10:00",
        "1 сентября в 8 утра",  # three months ago
        "1 декабря в 10 часов",  # yesterday: a mistake to point out, not a date a year ahead
        "2026-12-02T15:00:00+10:00",
    ],
)
def test_past_is_refused(typed: str) -> None:
    error = refused(typed)
    assert error.problem is DateProblem.PAST
    assert not error.time_only
    assert "in the past" in str(error)


@pytest.mark.parametrize(("typed", "hour"), [("в 15", 15), ("15:30", 15), ("в 9 утра", 9)])
def test_a_time_alone_that_passed_today_is_refused_not_moved_to_tomorrow(
    typed: str, hour: int
) -> None:
    error = refused(typed)
    assert error.problem is DateProblem.PAST
    assert error.time_only
    assert error.parsed is not None
    assert error.parsed.astimezone(TZ).hour == hour
    assert "завтра" in str(error)
    assert "«завтра в" in explain(error, TZ)


def test_a_time_alone_a_few_seconds_old_is_now() -> None:
    assert at("в 16", now=NOW + timedelta(seconds=20)) == NOW + timedelta(seconds=20)
    assert refused("в 16", now=NOW + timedelta(seconds=40)).problem is DateProblem.PAST


@pytest.mark.parametrize(
    ("typed", "kind"),
    [
        ("в 5", Ambiguity.HOUR),
        ("завтра в 3", Ambiguity.HOUR),
        ("завтра в 6 часов", Ambiguity.HOUR),
        ("завтра в час", Ambiguity.HOUR),
        ("завтра в 10 дня", Ambiguity.HOUR),
        ("завтра в 12 утра", Ambiguity.HOUR),
        ("завтра в 2 вечера", Ambiguity.HOUR),
        ("завтра в 12 ночи", Ambiguity.NIGHT),
        ("завтра в 1 ночи", Ambiguity.NIGHT),
        ("завтра в полночь", Ambiguity.NIGHT),
        ("в полночь", Ambiguity.NIGHT),
        ("в среду в 18", Ambiguity.WEEKDAY_TODAY),  # NOW is a Wednesday
        ("ср", Ambiguity.WEEKDAY_TODAY),
    ],
)
def test_ambiguous_is_refused(typed: str, kind: Ambiguity) -> None:
    error = refused(typed)
    assert error.problem is DateProblem.AMBIGUOUS
    assert error.ambiguity is kind
    assert "ambiguous" in str(error) or "today's weekday" in str(error)


def test_weekday_today_suggests_the_date_next_week() -> None:
    error = refused("в среду в 18")
    assert error.day == date(2026, 12, 9)
    assert "09.12" in explain(error, TZ)


@pytest.mark.parametrize(
    "typed",
    [
        "абракадабра",
        "",
        "   ",
        "18",  # a bare number is not clearly an hour
        "завтра 18",
        "15.12 10",
        "9.30",  # the 30th month
        "32.12 10:00",
        "15.13 10:00",
        "31.02 10:00",
        "29.02 10:00",  # 2027 is not a leap year either
        "25:00",
        "в 24",
        "10:60",
        "завтра в 25",
        "завтра в 9 абв",
        "15 абвгдея в 10",
        "в следующую пятницу в 11",
        "через 0 минут",
        "через 2 часа 75 минут",
        "через 0 дней",
        "вечером",
        "завтра утром",
        "2026-13-01 10:00",
        "2026-12-15T10:00+99:00",
        "tomorrow 9am",
        "15.12 10:00 10:00",
    ],
)
def test_unclear_is_refused_with_examples(typed: str) -> None:
    error = refused(typed)
    assert error.problem is DateProblem.UNPARSEABLE
    assert "15.12 10:00" in str(error)
    message = explain(error, TZ)
    assert message.startswith("Не удалось понять время")
    assert "«завтра в 9»" in message


@pytest.mark.parametrize(
    "typed",
    ["15.12.2110 10:00", "01.12.2110", "2028-01-10 10:00", "через 9000 часов", "15.12.2027 10:00"],
)
def test_more_than_a_year_ahead_is_refused(typed: str) -> None:
    error = refused(typed)
    assert error.problem is DateProblem.TOO_FAR
    assert "больше чем через год" in explain(error, TZ)


def test_the_year_2110_bug_is_gone() -> None:
    """«1 декабря в 10 часов» typed before 1 December is this 1 December, never 2110."""
    before = datetime(2026, 11, 29, 1, 0, tzinfo=UTC)
    assert at("1 декабря в 10 часов", now=before) == local(2026, 12, 1, 10)
    summer = datetime(2026, 7, 1, tzinfo=UTC)
    assert at("1 декабря в 10 часов", now=summer) == local(2026, 12, 1, 10)


def test_a_date_long_past_this_year_is_next_year() -> None:
    # In December, June is next June; November is a typo (see test_past_is_refused).
    assert at("1 июня в 10") == local(2027, 6, 1, 10)
    assert refused("1 ноября в 10").problem is DateProblem.PAST


def test_new_year_eve() -> None:
    eve = datetime(2026, 12, 31, 13, 0, tzinfo=UTC)  # 31.12 23:00 local
    assert at("завтра в 9", now=eve) == local(2027, 1, 1, 9)
    assert at("01.01 10:00", now=eve) == local(2027, 1, 1, 10)
    assert at("в пятницу в 11", now=eve) == local(2027, 1, 1, 11)
    assert at("через 2 часа", now=eve) == local(2027, 1, 1, 1)


def test_the_zone_is_the_configured_one() -> None:
    moscow = ZoneInfo("Europe/Moscow")
    assert at("15.12 10:00", tz=moscow) == datetime(2026, 12, 15, 7, tzinfo=UTC)
    # 06:00 UTC is 16:00 in Vladivostok but 09:00 in Moscow: «в 15» is still ahead there.
    assert at("в 15", tz=moscow) == datetime(2026, 12, 2, 12, tzinfo=UTC)
    # 23:00 UTC on 2 Dec is already 3 Dec in Vladivostok: «завтра» is the 4th.
    late = datetime(2026, 12, 2, 23, 0, tzinfo=UTC)
    assert at("завтра в 9", now=late) == local(2026, 12, 4, 9)


def test_a_time_skipped_by_a_clock_change_is_refused() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    now = datetime(2027, 3, 20, 12, tzinfo=UTC)
    with pytest.raises(DateParseError) as info:
        parse_when("28.03 02:30", now=now, tz=berlin)
    assert info.value.ambiguity is Ambiguity.CLOCK_CHANGE
    now = datetime(2027, 10, 20, 12, tzinfo=UTC)
    with pytest.raises(DateParseError) as info:
        parse_when("31.10 02:30", now=now, tz=berlin)
    assert info.value.ambiguity is Ambiguity.CLOCK_CHANGE
    assert parse_when("31.10 03:30", now=now, tz=berlin) == Resolved(
        at=datetime(2027, 10, 31, 2, 30, tzinfo=UTC)
    )


def test_naive_now_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="aware"):
        parse_when("завтра в 9", now=datetime(2026, 12, 2), tz=TZ)  # noqa: DTZ001


def test_resolved_must_be_utc() -> None:
    with pytest.raises(ValueError, match="UTC"):
        Resolved(at=datetime(2026, 12, 2, 10, tzinfo=TZ))


# -- after NeedsTime: the time alone -----------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("10:00", local(2026, 12, 15, 10)),
        ("в 10", local(2026, 12, 15, 10)),
        ("в 9 вечера", local(2026, 12, 15, 21)),
        ("в полдень", local(2026, 12, 15, 12)),
        ("завтра в 9", local(2026, 12, 3, 9)),  # a full phrase is read as such
    ],
)
def test_parse_time_on_a_day(typed: str, expected: datetime) -> None:
    assert parse_time_on(date(2026, 12, 15), typed, now=NOW, tz=TZ) == Resolved(at=expected)


@pytest.mark.parametrize(
    ("typed", "problem"),
    [
        ("в 5", DateProblem.AMBIGUOUS),
        ("абв", DateProblem.UNPARSEABLE),
        ("завтра", DateProblem.NEEDS_TIME),
        ("в 10", DateProblem.PAST),  # on 1 December
    ],
)
def test_parse_time_on_refuses(typed: str, problem: DateProblem) -> None:
    day = date(2026, 12, 1) if problem is DateProblem.PAST else date(2026, 12, 15)
    with pytest.raises(DateParseError) as info:
        parse_time_on(day, typed, now=NOW, tz=TZ)
    assert info.value.problem is problem


# -- the old API, kept for its callers ---------------------------------------------------------


def test_parse_local_time_returns_utc_and_refuses_a_date_alone() -> None:
    assert parse_local_time("15.12 10:00", now=NOW, tz=TZ) == local(2026, 12, 15, 10)
    with pytest.raises(DateParseError) as info:
        parse_local_time("15 декабря", now=NOW, tz=TZ)
    assert info.value.problem is DateProblem.NEEDS_TIME
    assert info.value.day == date(2026, 12, 15)
    assert "without a time" in str(info.value)
    assert explain(info.value, TZ).startswith("Во сколько опубликовать во вторник, 15 декабря?")


def test_past_keeps_the_time_it_meant() -> None:
    with pytest.raises(DateParseError) as info:
        parse_local_time("01.12 10:00", now=NOW, tz=TZ)
    assert info.value.parsed == local(2026, 12, 1, 10)
    assert "2026-12-01T10:00:00+10:00" in str(info.value)


def test_format_local() -> None:
    assert format_local(local(2026, 12, 1, 10, 0), TZ) == "01.12.2026 10:00"


# -- words -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("when", "expected"),
    [
        (local(2026, 12, 2, 15, 12), "в среду, 2 декабря, в 15:12 (по владивостокскому времени)"),
        (local(2026, 12, 7, 9), "в понедельник, 7 декабря, в 09:00 (по владивостокскому времени)"),
        (local(2026, 12, 8, 9), "во вторник, 8 декабря, в 09:00 (по владивостокскому времени)"),
        (local(2026, 12, 10, 9), "в четверг, 10 декабря, в 09:00 (по владивостокскому времени)"),
        (local(2026, 12, 11, 9), "в пятницу, 11 декабря, в 09:00 (по владивостокскому времени)"),
        (local(2026, 12, 12, 9), "в субботу, 12 декабря, в 09:00 (по владивостокскому времени)"),
        (
            local(2026, 12, 13, 23, 59),
            "в воскресенье, 13 декабря, в 23:59 (по владивостокскому времени)",
        ),
        (
            local(2027, 1, 5, 9),
            "во вторник, 5 января 2027 года, в 09:00 (по владивостокскому времени)",
        ),
    ],
)
def test_describe_local(when: datetime, expected: str) -> None:
    assert describe_local(when, TZ, now=NOW) == expected


def test_describe_local_without_now_shows_no_year() -> None:
    assert describe_local(local(2027, 1, 5, 9), TZ).startswith("во вторник, 5 января, в 09:00")


@pytest.mark.parametrize(
    ("month", "word"),
    list(enumerate(texts.MONTHS_GENITIVE, start=1)),
)
def test_every_month_in_the_genitive(month: int, word: str) -> None:
    assert describe_day(date(2026, month, 3)).endswith(f", 3 {word}")
    assert word.endswith(("я", "а"))


@pytest.mark.parametrize(
    ("key", "words"),
    [
        ("Asia/Vladivostok", "по владивостокскому времени"),
        ("Europe/Moscow", "по московскому времени"),
        ("Asia/Yakutsk", "по якутскому времени"),
        ("Asia/Magadan", "по магаданскому времени"),
        ("Asia/Kamchatka", "по камчатскому времени"),
        ("Asia/Irkutsk", "по иркутскому времени"),
        ("Asia/Krasnoyarsk", "по красноярскому времени"),
        ("Asia/Novosibirsk", "по новосибирскому времени"),
        ("Asia/Omsk", "по омскому времени"),
        ("Asia/Yekaterinburg", "по екатеринбургскому времени"),
        ("Europe/Samara", "по самарскому времени"),
        ("Europe/Kaliningrad", "по калининградскому времени"),
        ("Asia/Sakhalin", "время UTC+11"),
        ("Asia/Kolkata", "время UTC+5:30"),
        ("America/New_York", "время UTC−5"),
        ("UTC", "время UTC"),
    ],
)
def test_zone_words(key: str, words: str) -> None:
    assert zone_words(ZoneInfo(key), NOW) == words


def test_describe_local_in_an_unnamed_zone() -> None:
    sakhalin = ZoneInfo("Asia/Sakhalin")
    text = describe_local(datetime(2026, 12, 2, 4, 12, tzinfo=UTC), sakhalin)
    assert text == "в среду, 2 декабря, в 15:12 (время UTC+11)"


# -- quick picks -------------------------------------------------------------------------------


def test_quick_picks_in_the_afternoon() -> None:
    picks = quick_picks(NOW, TZ)  # 16:00
    assert picks == [
        ("Сегодня 18:00", local(2026, 12, 2, 18)),
        ("Завтра 9:00", local(2026, 12, 3, 9)),
        ("Завтра 12:00", local(2026, 12, 3, 12)),
        ("Завтра 18:00", local(2026, 12, 3, 18)),
    ]


def test_quick_picks_in_the_morning_and_late_evening() -> None:
    morning = local(2026, 12, 2, 8)
    assert [label for label, _ in quick_picks(morning, TZ)] == [
        "Сегодня 12:00",
        "Сегодня 18:00",
        "Завтра 9:00",
        "Завтра 12:00",
        "Завтра 18:00",
    ]
    almost = local(2026, 12, 2, 17, 55)  # 18:00 is too close to confirm
    assert next(label for label, _ in quick_picks(almost, TZ)) == "Завтра 9:00"


def test_quick_picks_are_what_the_labels_say() -> None:
    for label, when in quick_picks(NOW, TZ):
        typed = label.lower().replace(" ", " в ")
        assert parse_when(typed, now=NOW, tz=TZ) == Resolved(at=when)


# -- more forms people use ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("на завтра в 10", local(2026, 12, 3, 10)),
        ("на 15 декабря в 10", local(2026, 12, 15, 10)),
        ("на 15.12 10:00", local(2026, 12, 15, 10)),
        ("в эту пятницу в 11", local(2026, 12, 4, 11)),
        ("в пт. в 11", local(2026, 12, 4, 11)),
        ("15.12.2026г. 10:00", local(2026, 12, 15, 10)),
        ("15.12.2026 г. в 10", local(2026, 12, 15, 10)),
        ("в 10 утра 15 декабря", local(2026, 12, 15, 10)),
        ("в 10 часов утра 15 декабря", local(2026, 12, 15, 10)),
        ("11:00 в пятницу", local(2026, 12, 4, 11)),
        # a zone named after the time: Moscow is 7 hours behind Vladivostok
        ("завтра в 10:00 мск", local(2026, 12, 3, 17)),
        ("завтра в 10 по москве", local(2026, 12, 3, 17)),
        ("15.12 10:00 (мск)", local(2026, 12, 15, 17)),
        ("в 10 по московскому времени", local(2026, 12, 2, 17)),  # 09:00 in Moscow now
        ("завтра в 9 по местному времени", local(2026, 12, 3, 9)),
        ("завтра в 9 по владивостокскому времени", local(2026, 12, 3, 9)),
        ("завтра в 9 по хабаровскому времени", local(2026, 12, 3, 9)),
        ("завтра в 12 по калининграду", local(2026, 12, 3, 20)),
    ],
)
def test_more_forms(typed: str, expected: datetime) -> None:
    assert at(typed) == expected


def test_moscow_tomorrow_is_tomorrow_in_moscow() -> None:
    # 23:30 on 2 Dec in Vladivostok is 16:30 on 2 Dec in Moscow: «завтра по москве» is the 3rd.
    late = local(2026, 12, 2, 23, 30)
    assert at("завтра в 10 мск", now=late) == local(2026, 12, 3, 17)
    assert at("завтра в 10", now=late) == local(2026, 12, 3, 10)


@pytest.mark.parametrize("typed", ["10-00", "15-12", "мск", "по москве", "в 10 по марсу"])
def test_still_unclear(typed: str) -> None:
    assert refused(typed).problem is DateProblem.UNPARSEABLE


def test_a_date_alone_with_a_zone_is_a_date_in_the_configured_zone() -> None:
    # 02:00 on 3 Dec in Vladivostok is still 2 Dec in Moscow; the time asked for next is read
    # in Vladivostok, so «сегодня» is the 3rd.
    early = local(2026, 12, 3, 2)
    assert parse_when("сегодня мск", now=early, tz=TZ) == NeedsTime(day=date(2026, 12, 3))


def test_parse_time_on_with_a_zone() -> None:
    assert parse_time_on(date(2026, 12, 15), "10:00 мск", now=NOW, tz=TZ) == Resolved(
        at=local(2026, 12, 15, 17)
    )


def test_a_long_message_is_refused_quickly() -> None:
    # A whole post typed where a time is expected must not take long to refuse.
    post = "Уважаемые жители! " + "В 10:00 завтра на площади пройдёт праздник. " * 200
    assert refused(post).problem is DateProblem.UNPARSEABLE
