from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from crosspost.planning import wording

VLADIVOSTOK = ZoneInfo("Asia/Vladivostok")


@pytest.mark.parametrize(
    ("local", "expected"),
    [
        ((2026, 12, 5, 10, 0), "в субботу, 5 декабря, в 10:00"),
        ((2026, 12, 1, 9, 30), "во вторник, 1 декабря, в 09:30"),
        ((2026, 12, 2, 18, 0), "в среду, 2 декабря, в 18:00"),
        ((2026, 12, 6, 12, 0), "в воскресенье, 6 декабря, в 12:00"),
        ((2026, 5, 4, 11, 0), "в понедельник, 4 мая, в 11:00"),
        ((2026, 3, 8, 11, 0), "в воскресенье, 8 марта, в 11:00"),
        ((2027, 1, 15, 10, 0), "в пятницу, 15 января 2027 года, в 10:00"),
    ],
)
def test_dates_as_people_write_them(local: tuple[int, ...], expected: str) -> None:
    now = datetime(2026, 11, 30, 0, 0, tzinfo=UTC)
    at = datetime(*local, tzinfo=VLADIVOSTOK)
    assert wording.when(at, VLADIVOSTOK, now=now) == expected


def test_reminder_says_today_and_tomorrow() -> None:
    event = datetime(2026, 12, 5, 10, 0, tzinfo=VLADIVOSTOK)
    day_before = datetime(2026, 12, 4, 10, 0, tzinfo=VLADIVOSTOK)
    same_day = datetime(2026, 12, 5, 8, 0, tzinfo=VLADIVOSTOK)
    assert (
        wording.when_relative(event, VLADIVOSTOK, now=day_before)
        == "завтра, в субботу, 5 декабря, в 10:00"
    )
    assert wording.when_relative(event, VLADIVOSTOK, now=same_day) == "сегодня, в 10:00"
    text = wording.reminder(
        title="Субботник",
        place="городской парк",
        text="Приходите!",
        starts_at=event,
        tz=VLADIVOSTOK,
        sent_at=day_before,
    )
    assert text.startswith("Напоминаем: «Субботник» — завтра, в субботу, 5 декабря, в 10:00.")
    assert "Место: городской парк." in text


def test_announcement_starts_with_a_capital() -> None:
    text = wording.announcement(
        title="Субботник",
        place="парк",
        text="Инвентарь выдадим.",
        starts_at=datetime(2026, 12, 5, 10, 0, tzinfo=VLADIVOSTOK),
        tz=VLADIVOSTOK,
        now=datetime(2026, 12, 1, tzinfo=UTC),
    )
    assert (
        text == "Субботник\n\nВ субботу, 5 декабря, в 10:00.\nМесто: парк.\n\nИнвентарь выдадим."
    )
