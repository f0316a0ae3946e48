from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from crosspost.dates import DateParseError, DateProblem, format_local, parse_local_time

TZ = ZoneInfo("Asia/Vladivostok")  # UTC+10
# 30 Nov 2026 15:00 UTC = 1 Dec 2026 01:00 local.
NOW = datetime(2026, 11, 30, 15, 0, tzinfo=UTC)


def local(y: int, mo: int, d: int, h: int, mi: int) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=TZ).astimezone(UTC)


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("01.12 10:00", local(2026, 12, 1, 10, 0)),
        ("1.12 в 10:00", local(2026, 12, 1, 10, 0)),
        ("05.01 9:00", local(2027, 1, 5, 9, 0)),
        ("01.12.2026 10:00", local(2026, 12, 1, 10, 0)),
        ("1 декабря 10:00", local(2026, 12, 1, 10, 0)),
        ("1 декабря в 10:00", local(2026, 12, 1, 10, 0)),
        ("завтра 9:30", local(2026, 12, 2, 9, 30)),
        ("Завтра в 9:30", local(2026, 12, 2, 9, 30)),
        ("через 2 часа", local(2026, 12, 1, 3, 0)),
        ("через 30 минут", local(2026, 12, 1, 1, 30)),
        ("10:00", local(2026, 12, 1, 10, 0)),
        ("00:30", local(2026, 12, 2, 0, 30)),
    ],
)
def test_forms_staff_type(typed: str, expected: datetime) -> None:
    result = parse_local_time(typed, now=NOW, tz=TZ)
    assert result == expected
    assert result.tzinfo is UTC


@pytest.mark.parametrize(
    "typed", ["30.11 10:00", "вчера 10:00", "30 ноября 10:00", "01.12.2025 10:00"]
)
def test_past_is_refused(typed: str) -> None:
    with pytest.raises(DateParseError) as info:
        parse_local_time(typed, now=NOW, tz=TZ)
    assert info.value.problem is DateProblem.PAST


@pytest.mark.parametrize("typed", ["абракадабра", "", "32.13 10:00", "25:99", "31.02 10:00"])
def test_garbage_is_refused(typed: str) -> None:
    with pytest.raises(DateParseError) as info:
        parse_local_time(typed, now=NOW, tz=TZ)
    assert info.value.problem is DateProblem.UNPARSEABLE


def test_format_local() -> None:
    assert format_local(local(2026, 12, 1, 10, 0), TZ) == "01.12.2026 10:00"
