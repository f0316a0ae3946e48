"""`crosspost post --at PHRASE [--dry-run]`: the bot's phrases on the command line, with the
clock fixed through CROSSPOST_NOW."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from crosspost.cli import app

runner = CliRunner()

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
[accounts.administration]
title = "Администрация"
telegram_channel_id = -1001
mirror = ["vk"]
vk = {{ group_id = 111, community_token = "vk1.a.x" }}
[accounts.head]
title = "Глава"
telegram_channel_id = -1002
"""
# Wednesday 2 December 2026, 16:00 in Vladivostok.
NOW = "2026-12-02T16:00:00+10:00"
TEXT = (
    "Субботник [в субботу] на набережной: приходите все, инвентарь выдадим на месте, начало в 10"
)


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "crosspost.toml"
    path.write_text(
        CONFIG.format(db=tmp_path / "q.db", media=tmp_path / "media"), encoding="utf-8"
    )
    return path


def post(config: Path, *args: str, now: str = NOW) -> tuple[int, list[str], list[str]]:
    result = runner.invoke(
        app, ["post", "-c", str(config), "-t", TEXT, *args], env={"CROSSPOST_NOW": now}
    )
    return result.exit_code, result.stdout.splitlines(), result.stderr.splitlines()


def nothing_written(tmp_path: Path) -> None:
    assert not (tmp_path / "q.db").exists()
    assert not (tmp_path / "media").exists()


@pytest.mark.parametrize(
    ("phrase", "expected"),
    [
        ("15.12 10:00", "2026-12-15T10:00:00+10:00"),
        ("15.12.2026 10:00", "2026-12-15T10:00:00+10:00"),
        ("15 декабря в 10", "2026-12-15T10:00:00+10:00"),
        ("15 декабря 2026 в 10:30", "2026-12-15T10:30:00+10:00"),
        ("завтра в 9", "2026-12-03T09:00:00+10:00"),
        ("завтра в 9 вечера", "2026-12-03T21:00:00+10:00"),
        ("сегодня в 18", "2026-12-02T18:00:00+10:00"),
        ("в 18", "2026-12-02T18:00:00+10:00"),
        ("через 2 часа", "2026-12-02T18:00:00+10:00"),
        ("через 30 минут", "2026-12-02T16:30:00+10:00"),
        ("в пятницу в 11", "2026-12-04T11:00:00+10:00"),
        ("в пн в 9:30", "2026-12-07T09:30:00+10:00"),
        ("послезавтра в 8 утра", "2026-12-04T08:00:00+10:00"),
        ("2026-12-15 10:00", "2026-12-15T10:00:00+10:00"),
        ("2026-12-15 10:00:30", "2026-12-15T10:00:30+10:00"),
        ("2026-12-15T10:00:00+03:00", "2026-12-15T17:00:00+10:00"),
    ],
)
def test_dry_run_prints_the_resolved_time_last_and_writes_nothing(
    config: Path, tmp_path: Path, phrase: str, expected: str
) -> None:
    code, out, err = post(config, "--at", phrase, "--dry-run")
    assert code == 0, (out, err)
    assert out[-1] == expected
    assert datetime.fromisoformat(out[-1]).tzinfo is not None
    assert err == []
    nothing_written(tmp_path)


def test_dry_run_says_what_it_would_queue(config: Path, tmp_path: Path) -> None:
    photo = tmp_path / "афиша.jpg"
    photo.write_bytes(b"\xff\xd8\xff" + b"0" * 100)
    code, out, _ = post(config, "--at", "завтра в 9", "--dry-run", "-m", str(photo))
    assert code == 0
    shown = "\n".join(out)
    assert "nothing is written" in shown
    assert "administration/telegram, administration/vk, head/telegram" in shown
    assert "Субботник [в субботу] на набережной:" in shown  # brackets are not markup
    assert "начало в 10" not in shown  # only the first words
    assert "афиша.jpg" in shown
    assert "2026-12-03 09:00 (Asia/Vladivostok)" in shown
    nothing_written(tmp_path)


def test_dry_run_to_some_accounts_and_platforms(config: Path, tmp_path: Path) -> None:
    code, out, _ = post(config, "-a", "administration", "-p", "vk", "--dry-run")
    assert code == 0
    assert "Would queue to: administration/vk" in out
    nothing_written(tmp_path)


def test_dry_run_without_at_prints_now(config: Path, tmp_path: Path) -> None:
    code, out, _ = post(config, "--dry-run")
    assert code == 0
    assert out[-1] == NOW
    assert "At: now (Asia/Vladivostok)" in out
    nothing_written(tmp_path)


def test_dry_run_without_a_fixed_clock_prints_the_real_now(config: Path, tmp_path: Path) -> None:
    before = datetime.now(UTC).replace(microsecond=0)
    result = runner.invoke(app, ["post", "-c", str(config), "-t", "x", "--dry-run"])
    after = datetime.now(UTC)
    assert result.exit_code == 0, result.output
    printed = datetime.fromisoformat(result.stdout.splitlines()[-1])
    assert printed.utcoffset() is not None
    assert printed.utcoffset().total_seconds() == 10 * 3600  # type: ignore[union-attr]
    assert before <= printed <= after


def test_dry_run_leaves_an_existing_database_untouched(config: Path, tmp_path: Path) -> None:
    code, _, _ = post(config, "--at", "завтра в 10")
    assert code == 0
    db = tmp_path / "q.db"
    before = db.read_bytes()
    code, out, _ = post(config, "--at", "завтра в 11", "--dry-run")
    assert code == 0
    assert out[-1] == "2026-12-03T11:00:00+10:00"
    assert db.read_bytes() == before
    with sqlite3.connect(db) as conn:
        assert conn.execute("select count(*) from deliveries").fetchone()[0] == 3


@pytest.mark.parametrize(
    ("phrase", "message"),
    [
        ("сегодня в 15", "in the past"),
        ("в 15", "has already passed today"),  # not quietly moved to tomorrow
        ("1 декабря в 10 часов", "in the past"),
        ("2020-01-01 10:00", "in the past"),
        ("15.12.2110 10:00", "more than a year ahead"),
        ("абракадабра", "is not a time"),
        ("2031-02-30 10:00", "is not a time"),
        ("18", "is not a time"),
        ("в 5", "ambiguous"),
        ("в среду в 10", "today's weekday"),
        ("15 декабря", "without a time"),
        ("завтра", "without a time"),
        ("15.12", "without a time"),
    ],
)
@pytest.mark.parametrize("dry_run", [True, False])
def test_unusable_time_exits_2_with_one_line_and_writes_nothing(
    config: Path, tmp_path: Path, phrase: str, message: str, dry_run: bool
) -> None:
    code, out, err = post(config, "--at", phrase, *(["--dry-run"] if dry_run else []))
    assert code == 2
    assert out == []
    assert len(err) == 1, err
    assert message in err[0]
    assert err[0].startswith("error: --at ")
    assert err[0].isascii() or phrase in err[0]  # English, quoting what was typed
    nothing_written(tmp_path)


def test_phrase_is_queued_at_the_time_it_means(config: Path, tmp_path: Path) -> None:
    code, out, _ = post(config, "-a", "head", "--at", "завтра в 9 вечера")
    assert code == 0
    assert "Queued publication 1 for 2026-12-03 21:00 (Asia/Vladivostok)" in " ".join(out)
    with sqlite3.connect(tmp_path / "q.db") as conn:
        (due,) = conn.execute("select due_at from deliveries").fetchone()
    assert datetime.fromisoformat(due).replace(tzinfo=UTC) == datetime(
        2026, 12, 3, 11, 0, tzinfo=UTC
    )


@pytest.mark.parametrize("bad", ["yesterday", "2026-12-02T16:00:00"])
def test_a_bad_fixed_clock_is_refused(config: Path, tmp_path: Path, bad: str) -> None:
    code, _, err = post(config, "--dry-run", now=bad)
    assert code == 2
    assert "CROSSPOST_NOW" in err[0]
    nothing_written(tmp_path)
