from __future__ import annotations

import sqlite3
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


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "crosspost.toml"
    path.write_text(
        CONFIG.format(db=tmp_path / "q.db", media=tmp_path / "media"), encoding="utf-8"
    )
    return path


def deliveries(tmp_path: Path) -> int:
    db = tmp_path / "q.db"
    if not db.exists():
        return 0
    with sqlite3.connect(db) as conn:
        tables = {r[0] for r in conn.execute("select name from sqlite_master")}
        if "deliveries" not in tables:
            return 0
        return int(conn.execute("select count(*) from deliveries").fetchone()[0])


def test_post_now_and_list(config: Path, tmp_path: Path) -> None:
    photo = tmp_path / "афиша.jpg"
    photo.write_bytes(b"\xff\xd8\xff" + b"0" * 100)
    result = runner.invoke(
        app, ["post", "-c", str(config), "-t", "Субботник в субботу", "-m", str(photo)]
    )
    assert result.exit_code == 0, result.output
    assert "Queued publication 1" in result.output
    assert deliveries(tmp_path) == 3  # administration: telegram + vk; head: telegram
    listed = runner.invoke(app, ["queue", "list", "-c", str(config)])
    assert listed.exit_code == 0
    assert "pending" in listed.output
    shown = runner.invoke(app, ["queue", "show", "1", "-c", str(config)])
    assert "Субботник" in shown.output
    cancelled = runner.invoke(app, ["queue", "cancel", "1", "-c", str(config)])
    assert cancelled.exit_code == 0
    assert "cancelled" in cancelled.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-t", "x", "--at", "2020-01-01 10:00"], "in the past"),
        (["-t", "x", "--at", "завтра"], "without a time"),
        (["-t", "x", "--at", "2031-02-30 10:00"], "is not a time"),
        ([], "nothing to publish"),
        (["-t", "   "], "nothing to publish"),
        (["-t", "x", "-a", "mayor"], "unknown account 'mayor'"),
        (["-t", "x", "-a", "head", "-p", "vk"], "platform vk is not configured"),
        (["-t", "x", "-m", "/nonexistent/file.jpg"], "does not exist"),
        (["-t", "x", "-p", "facebook"], "facebook"),
    ],
)
def test_bad_post_input_exits_2_and_writes_nothing(
    config: Path, tmp_path: Path, args: list[str], message: str
) -> None:
    result = runner.invoke(app, ["post", "-c", str(config), *args])
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert "Traceback" not in result.output
    assert deliveries(tmp_path) == 0


def test_database_in_missing_folder_exits_2(config: Path, tmp_path: Path) -> None:
    config.write_text(
        config.read_text(encoding="utf-8").replace(
            str(tmp_path / "q.db"), str(tmp_path / "no" / "such" / "q.db")
        ),
        encoding="utf-8",
    )
    result = runner.invoke(app, ["post", "-c", str(config), "-t", "x"])
    assert result.exit_code == 2
    assert "does not exist: create it" in result.output


def test_broken_config_is_one_line_exit_2(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text('[telegram]\ntoken = "${NOPE_TOKEN_X}"\n', encoding="utf-8")
    result = runner.invoke(app, ["check", "-c", str(path)])
    assert result.exit_code == 2
    assert "NOPE_TOKEN_X" in result.output
    assert "Traceback" not in result.output


def test_every_command_has_help() -> None:
    for cmd in (["run"], ["check"], ["migrate"], ["post"], ["queue", "list"], ["queue", "retry"]):
        result = runner.invoke(app, [*cmd, "--help"])
        assert result.exit_code == 0
        assert "Usage" in result.output


@pytest.mark.parametrize("flag", ["--version", "-V"])
def test_version(flag: str) -> None:
    from crosspost import __version__

    result = runner.invoke(app, [flag])
    assert result.exit_code == 0
    assert result.output.startswith(f"crosspost {__version__}")


def test_http_listen_override_is_checked(config: Path) -> None:
    result = runner.invoke(app, ["run", "-c", str(config), "--http-listen", "nowhere"])
    assert result.exit_code == 2
    assert "--http-listen 'nowhere': give HOST:PORT" in result.output


def test_http_listen_override_takes_a_port() -> None:
    from crosspost.cli import http_listen_config

    assert http_listen_config("127.0.0.1:9101").listen == "127.0.0.1:9101"
