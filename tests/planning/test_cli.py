"""The CLI contract of `crosspost event` and `crosspost recurring` (scripts rely on it)."""

from __future__ import annotations

import re
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import feedparser
import pytest
from icalendar import Calendar
from typer.testing import CliRunner

from crosspost.cli import app

runner = CliRunner()
VLADIVOSTOK = ZoneInfo("Asia/Vladivostok")

CONFIG = """
[database]
url = "sqlite+aiosqlite:///{db}"
[telegram]
token = "123456:TEST"
staff_chat_id = -100900
staff = [1]
timezone = "Asia/Vladivostok"
[media]
dir = "{media}"
[events]
reminders = ["1d@10:00", "2h"]
recurring_grace_minutes = 30
[feeds]
dir = "{feeds}"
base_url = "https://spassk.example/feeds"
[accounts.administration]
title = "Администрация"
telegram_channel_id = -1001
mirror = ["vk"]
vk = {{ group_id = 111, community_token = "vk1.a.x" }}
[accounts.head]
title = "Глава"
telegram_channel_id = -1002
"""


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "crosspost.toml"
    path.write_text(
        CONFIG.format(db=tmp_path / "q.db", media=tmp_path / "media", feeds=tmp_path / "feeds"),
        encoding="utf-8",
    )
    return path


def local(at: datetime) -> str:
    return at.astimezone(VLADIVOSTOK).strftime("%Y-%m-%d %H:%M")


def last_number(output: str) -> int:
    return int(re.findall(r"\d+", output.strip().splitlines()[-1])[-1])


def rows(tmp_path: Path, sql: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(tmp_path / "q.db") as conn:
        return list(conn.execute(sql))


def test_event_add_list_move_cancel(config: Path, tmp_path: Path) -> None:
    starts = (datetime.now(UTC) + timedelta(days=10)).replace(second=0, microsecond=0)
    photo = tmp_path / "афиша.jpg"
    photo.write_bytes(b"\xff\xd8\xff" + b"0" * 100)
    result = runner.invoke(
        app,
        [
            "event", "add", "-c", str(config),
            "--account", "administration", "--account", "head",
            "--platform", "telegram",
            "--title", "Субботник", "--at", local(starts), "--place", "Городской парк",
            "--text", "Приходите всей семьёй", "--photo", str(photo),
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    event_id = last_number(result.output)
    assert event_id == 1
    # The announcement now, two default reminders; to both accounts' Telegram channels.
    pubs = rows(tmp_path, "select author, source from publications")
    assert pubs == [("event:1", "schedule")] * 3
    assert len(rows(tmp_path, "select id from deliveries where platform = 'telegram'")) == 6
    assert len(rows(tmp_path, "select id from media")) == 3
    assert (tmp_path / "feeds" / "head.ics").exists()

    result = runner.invoke(app, ["event", "list", "-c", str(config)])
    assert result.exit_code == 0, result.output
    assert "Субботник" in result.output

    later = starts + timedelta(days=1)
    result = runner.invoke(
        app, ["event", "move", "1", "-c", str(config), "--at", local(later), "--notice"]
    )
    assert result.exit_code == 0, result.output
    assert "2 reminder(s) moved" in result.output
    assert "notice queued" in result.output
    due = sorted(
        r[0] for r in rows(tmp_path, "select due_at from event_posts where kind = 'reminder'")
    )
    assert str(due[-1]).startswith((later - timedelta(hours=2)).strftime("%Y-%m-%d %H:%M"))
    cal = Calendar.from_ical((tmp_path / "feeds" / "administration.ics").read_bytes())
    [vevent] = cal.walk("VEVENT")
    assert vevent.decoded("dtstart") == later

    result = runner.invoke(app, ["event", "cancel", "1", "-c", str(config)])
    assert result.exit_code == 0, result.output
    # No service ran: the announcement, both reminders and the notice were all still waiting.
    assert "4 post(s) taken off the queue" in result.output
    result = runner.invoke(app, ["event", "cancel", "1", "-c", str(config)])
    assert result.exit_code == 2
    result = runner.invoke(app, ["event", "notice", "1", "-c", str(config)])
    assert result.exit_code == 0, result.output
    assert feedparser.parse((tmp_path / "feeds" / "administration.atom").read_bytes()).bozo == 0


def test_event_add_skips_past_reminders_and_refuses_bad_input(
    config: Path, tmp_path: Path
) -> None:
    starts = (datetime.now(UTC) + timedelta(hours=5)).replace(second=0, microsecond=0)
    past = datetime.now(UTC) - timedelta(hours=1)
    result = runner.invoke(
        app,
        [
            "event", "add", "-c", str(config), "--account", "administration",
            "--title", "Концерт", "--at", local(starts), "--place", "ДК",
            "--text", "Вход свободный",
            "--announce-at", local(starts - timedelta(hours=4)),
            "--remind", local(past), "--remind", local(starts - timedelta(hours=1)),
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "Skipped reminders (their time has passed): " + local(past) in result.output
    assert last_number(result.output) == 1
    for bad in (
        ["--at", "завтра"],
        ["--at", local(past)],
        ["--at", local(starts), "--account", "nobody"],
        ["--at", local(starts), "--remind", local(starts + timedelta(hours=1))],
    ):
        args = ["event", "add", "-c", str(config), "--title", "X", "--place", "Y", "--text", "Z"]
        if "--account" not in bad:
            args += ["--account", "head"]
        result = runner.invoke(app, args + bad)
        assert result.exit_code == 2, (bad, result.output)
    assert len(rows(tmp_path, "select id from events")) == 1


def test_recurring_add_list_pause_resume_delete(config: Path) -> None:
    result = runner.invoke(
        app,
        [
            "recurring", "add", "-c", str(config), "--account", "administration",
            "--text", "Приём граждан по личным вопросам", "--rule", "0 9 * * 1",
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "cron" in result.output
    rule_id = last_number(result.output)
    result = runner.invoke(
        app,
        [
            "recurring", "add", "-c", str(config), "--account", "head",
            "--text", "Прямая линия",
            "--rule", "RRULE:FREQ=MONTHLY;BYMONTHDAY=1;BYHOUR=10;BYMINUTE=0",
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "rrule" in result.output
    assert last_number(result.output) == rule_id + 1
    result = runner.invoke(app, ["recurring", "list", "-c", str(config)])
    assert result.exit_code == 0
    assert "линия" in result.output
    assert (
        runner.invoke(app, ["recurring", "pause", str(rule_id), "-c", str(config)]).exit_code == 0
    )
    result = runner.invoke(app, ["recurring", "resume", str(rule_id), "-c", str(config)])
    assert result.exit_code == 0
    assert "active" in result.output
    assert (
        runner.invoke(app, ["recurring", "delete", str(rule_id), "-c", str(config)]).exit_code == 0
    )
    assert (
        runner.invoke(app, ["recurring", "delete", str(rule_id), "-c", str(config)]).exit_code == 2
    )
    bad = runner.invoke(
        app,
        [
            "recurring",
            "add",
            "-c",
            str(config),
            "--account",
            "head",
            "--text",
            "x",
            "--rule",
            "* * * * *",
        ],
    )
    assert bad.exit_code == 2
    assert "once an hour" in bad.output
