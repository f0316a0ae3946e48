"""Broken configurations: every problem in one run, one line each naming the key and the fix,
exit code 2, nothing created, no secret printed."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from typer.testing import CliRunner

from crosspost.cli import app
from crosspost.config import load_settings

runner = CliRunner()

TOKEN = "123456789:AAHsecret-telegram-half_0123456789"
ENV = {
    "TELEGRAM_BOT_TOKEN": TOKEN,
    "VK_TOKEN": "vk1.a.community-secret-value",
    "OK_SECRET": "ok-app-secret-value",
    "OK_TOKEN": "ok-access-token-value",
}

BASE = """\
[database]
url = "sqlite+aiosqlite:///state/crosspost.db"

[telegram]
token = "${TELEGRAM_BOT_TOKEN}"
api_base = "https://api.telegram.org"
staff_chat_id = -1001234567890
staff = [123456789]
timezone = "Asia/Vladivostok"

[scheduler]
base_delay_seconds = 30
max_delay_seconds = 3600

[media]
dir = "state/media"

[accounts.adm]
title = "Администрация"
telegram_channel_id = -1001111111111
mirror = ["vk", "ok"]
vk = { group_id = 111, community_token = "${VK_TOKEN}" }
ok = { group_id = "5555", application_key = "CBAKEY", application_secret_key = "${OK_SECRET}", \
access_token = "${OK_TOKEN}" }
"""


@dataclass(frozen=True)
class Case:
    name: str
    edit: Callable[[str], str]
    lines: tuple[str, ...]
    env: dict[str, str] = field(default_factory=lambda: dict(ENV))
    absent: tuple[str, ...] = ()
    count: int | None = None  # exact number of error lines, when it matters


def sub(old: str, new: str) -> Callable[[str], str]:
    def edit(text: str) -> str:
        assert old in text, old
        return text.replace(old, new)

    return edit


def add(after: str, line: str) -> Callable[[str], str]:
    return sub(after, f"{after}\n{line}")


def env_without(*names: str, **values: str) -> dict[str, str]:
    env = {k: v for k, v in ENV.items() if k not in names}
    env.update(values)
    return env


CASES = [
    Case(
        "garbage database url",
        sub("sqlite+aiosqlite:///state/crosspost.db", "just some words"),
        ("config key database.url: is not a database URL",),
    ),
    Case(
        "sync sqlite url",
        sub("sqlite+aiosqlite:///", "sqlite:///"),
        ("config key database.url: needs the async SQLite driver: start it with sqlite+aio",),
    ),
    Case(
        "sync postgres url, password never printed",
        sub(
            "sqlite+aiosqlite:///state/crosspost.db",
            "postgresql://crosspost:pg-password-secret@db.local/crosspost",
        ),
        ("config key database.url: needs the async PostgreSQL driver",),
        absent=("pg-password-secret",),
    ),
    Case(
        "unknown database driver",
        sub("sqlite+aiosqlite:///state/crosspost.db", "mysql://u:p@h/db"),
        ("config key database.url: names database driver 'mysql'",),
    ),
    Case(
        "database folder missing",
        sub("state/crosspost.db", "nowhere/deeper/crosspost.db"),
        ("config key database.url: points into folder", "which does not exist: create it"),
    ),
    Case(
        "base delay above max delay",
        sub("base_delay_seconds = 30", "base_delay_seconds = 7200"),
        ("config key scheduler: base_delay_seconds (7200) is above max_delay_seconds (3600)",),
    ),
    Case(
        "media dir is a file",
        sub('dir = "state/media"', 'dir = "state/afile"'),
        ("config key media.dir:", "is a file, not a folder"),
    ),
    Case(
        "malformed bot token, never printed",
        lambda t: t,
        ("config key telegram.token: does not look like a bot token",),
        env=env_without(TELEGRAM_BOT_TOKEN="AAH-not-a-real-token-value"),
        absent=("AAH-not-a-real-token-value",),
    ),
    Case(
        "api_base not a URL, token not printed",
        sub('api_base = "https://api.telegram.org"', 'api_base = "api.telegram.org"'),
        ("config key telegram.api_base: is not a web address",),
    ),
    Case(
        "api_base with another scheme",
        sub('api_base = "https://api.telegram.org"', 'api_base = "ftp://api.telegram.org"'),
        ("config key telegram.api_base: is not a web address",),
    ),
    Case(
        "vk api_base not a URL",
        lambda t: t + '\n[vk]\napi_base = "vk.ru/method"\n',
        ("config key vk.api_base: is not a web address",),
    ),
    Case(
        "required key missing",
        sub("staff_chat_id = -1001234567890\n", ""),
        ("config key telegram.staff_chat_id is missing: add it",),
    ),
    Case(
        "misspelt required key: did you mean",
        sub("staff_chat_id =", "staf_chat_id ="),
        ("config key telegram.staf_chat_id is not known: did you mean staff_chat_id?",),
        absent=("staff_chat_id is missing",),
        count=1,
    ),
    Case(
        "misspelt table: did you mean",
        sub("[telegram]", "[telgram]"),
        ("config key telgram is not known: did you mean telegram?",),
        count=1,
    ),
    Case(
        "misspelt optional key: did you mean",
        sub("timezone =", "timezon ="),
        ("config key telegram.timezon is not known: did you mean timezone?",),
    ),
    Case(
        "misspelt account key: did you mean",
        sub("telegram_channel_id = -1001111111111", "telegram_chanel_id = -1001111111111"),
        (
            "config key accounts.adm.telegram_chanel_id is not known: "
            "did you mean telegram_channel_id?",
        ),
    ),
    Case(
        "unknown key far from any",
        add("[scheduler]", 'colour = "blue"'),
        ("config key scheduler.colour is not known: remove it or fix its spelling",),
    ),
    Case(
        "staff not a list",
        sub("staff = [123456789]", 'staff = "everyone"'),
        ("config key telegram.staff: must be a list in square brackets",),
    ),
    Case(
        "staff empty",
        sub("staff = [123456789]", "staff = []"),
        ("config key telegram.staff: must not be empty",),
    ),
    Case(
        "staff_chat_id as text",
        sub("staff_chat_id = -1001234567890", 'staff_chat_id = "press chat"'),
        ("config key telegram.staff_chat_id: must be a whole number, written without quotes",),
    ),
    Case(
        "unknown time zone",
        sub('timezone = "Asia/Vladivostok"', 'timezone = "Mars/Olympus"'),
        ("config key telegram.timezone: unknown time zone 'Mars/Olympus'",),
    ),
    Case(
        "is_local not a boolean",
        add('api_base = "https://api.telegram.org"', 'is_local = "yes please"'),
        ("config key telegram.is_local: must be true or false",),
    ),
    Case(
        "proxy without port",
        add('api_base = "https://api.telegram.org"', 'proxy = "socks5://proxy.local"'),
        ("config key telegram.proxy: is not a proxy address",),
    ),
    Case(
        "proxy of an unknown kind, password not printed",
        add('api_base = "https://api.telegram.org"', 'proxy = "ftp://u:proxy-pass-xyz@p:1080"'),
        ("config key telegram.proxy: is not a proxy address",),
        absent=("proxy-pass-xyz",),
    ),
    Case(
        "mirror names an unknown platform",
        sub('mirror = ["vk", "ok"]', 'mirror = ["vk", "facebook"]'),
        ("config key accounts.adm.mirror[1]: must be one of",),
    ),
    Case(
        "mirror names a platform without settings",
        sub('mirror = ["vk", "ok"]', 'mirror = ["vk", "ok", "max"]'),
        ("config key accounts.adm: mirror names 'max' but the account has no max_chat_id",),
    ),
    Case(
        "vk group_id not a number",
        sub("group_id = 111", 'group_id = "club111"'),
        ("config key accounts.adm.vk.group_id: must be a whole number",),
    ),
    Case(
        "vk group_id negative",
        sub("group_id = 111", "group_id = -111"),
        ("config key accounts.adm.vk.group_id: must be greater than 0",),
    ),
    Case(
        "vk without any token",
        sub(', community_token = "${VK_TOKEN}"', ""),
        ("config key accounts.adm.vk: needs community_token or user_token",),
    ),
    Case(
        "ok group_id not digits",
        sub('group_id = "5555"', 'group_id = "group5555"'),
        ("config key accounts.adm.ok.group_id: must be the group's number (digits only)",),
    ),
    Case(
        "bare $NAME refused with a hint",
        sub('community_token = "${VK_TOKEN}"', 'community_token = "$VK_TOKEN"'),
        (
            'config key accounts.adm.vk.community_token: "$VK_TOKEN" would be taken literally: '
            'write "${VK_TOKEN}"',
        ),
    ),
    Case(
        "environment variable not set",
        lambda t: t,
        ("config key accounts.adm.ok.access_token: environment variable OK_TOKEN is not set",),
        env=env_without("OK_TOKEN"),
        count=1,
    ),
    Case(
        "seven problems, seven lines, one run",
        lambda t: (
            t.replace("staff_chat_id", "staf_chat_id")
            .replace("base_delay_seconds = 30", "base_delay_seconds = 0")
            .replace('timezone = "Asia/Vladivostok"', 'timezone = "Nowhere"')
            .replace("group_id = 111", 'group_id = "x"')
        ),
        (
            "environment variable TELEGRAM_BOT_TOKEN is not set",
            "environment variable VK_TOKEN is not set",
            "environment variable OK_TOKEN is not set",
            "telegram.staf_chat_id is not known: did you mean staff_chat_id?",
            "config key scheduler.base_delay_seconds: must be greater than 0",
            "config key telegram.timezone: unknown time zone 'Nowhere'",
            "config key accounts.adm.vk.group_id: must be a whole number",
        ),
        env=env_without("TELEGRAM_BOT_TOKEN", "VK_TOKEN", "OK_TOKEN"),
        count=7,
    ),
    Case(
        "no accounts",
        lambda t: t[: t.index("[accounts.adm]")],
        ("config key accounts is missing: add it",),
        count=1,
    ),
    Case(
        "account name with capitals",
        sub("[accounts.adm]", "[accounts.Adm]"),
        ("config key accounts: account name 'Adm': use 1-32 of a-z, 0-9, _ and -",),
    ),
    Case(
        "empty account title",
        sub('title = "Администрация"', 'title = ""'),
        ("config key accounts.adm.title: must not be empty",),
    ),
    Case(
        "two accounts share a channel",
        lambda t: t + '\n[accounts.head]\ntitle = "Глава"\ntelegram_channel_id = -1001111111111\n',
        ("share telegram_channel_id -1001111111111",),
    ),
    Case(
        "concurrency zero",
        add("[scheduler]", "concurrency = 0"),
        ("config key scheduler.concurrency: must be 1 or more",),
    ),
    Case(
        "concurrency as words",
        add("[scheduler]", 'concurrency = "many"'),
        ("config key scheduler.concurrency: must be a whole number",),
    ),
    Case(
        "unknown rate limit",
        add("[scheduler]", "rate_limits = { vkk = 3 }"),
        ("config key scheduler.rate_limits: unknown rate limit 'vkk'",),
    ),
    Case(
        "max file size zero",
        add('dir = "state/media"', "max_file_mb = 0"),
        ("config key media.max_file_mb: must be 1 or more",),
    ),
    Case(
        "http listen without host",
        lambda t: t + '\n[http]\nlisten = "9108"\n',
        ('config key http.listen: must be "host:port"',),
    ),
    Case(
        "log level unknown",
        lambda t: t + '\n[logging]\nlevel = "loud"\n',
        ("config key logging.level: must be one of 'debug', 'info', 'warning' or 'error'",),
    ),
    Case(
        "webhook secret with spaces",
        lambda t: t.replace(
            "[scheduler]",
            '[telegram.webhook]\nurl = "https://x.ru/hook"\nsecret_token = "a b"\n\n[scheduler]',
        ),
        ("config key telegram.webhook.secret_token: must be 1-256 characters",),
    ),
    # -- IT contacts and short account labels (issue 13)
    Case(
        "it contact 0",
        add('timezone = "Asia/Vladivostok"', "it_contacts = [0]"),
        ("config key telegram.it_contacts: 0 is not a Telegram user id",),
    ),
    Case(
        "it contact twice",
        add('timezone = "Asia/Vladivostok"', "it_contacts = [5, 5]"),
        ("config key telegram.it_contacts: lists the same id twice",),
    ),
    Case(
        "it chat is the staff chat",
        add('timezone = "Asia/Vladivostok"', "it_chat_id = -1001234567890"),
        ("config key telegram: it_chat_id is the staff chat: leave it out",),
    ),
    Case(
        "it chat not a number",
        add('timezone = "Asia/Vladivostok"', 'it_chat_id = "it-group"'),
        ("config key telegram.it_chat_id:",),
    ),
    Case(
        "short title too long",
        add('title = "Администрация"', 'short_title = "' + "А" * 30 + '"'),
        ("config key accounts.adm.short_title:",),
    ),
    Case(
        "two accounts with one short title",
        lambda t: (
            t.replace('title = "Администрация"', 'title = "Администрация"\nshort_title = "Адм"')
            + '\n[accounts.adm2]\ntitle = "Администрация района"\n'
            + 'short_title = "адм"\nmirror = []\n'
        ),
        ("accounts 'adm' and 'adm2' have the same short_title 'адм': staff could not tell",),
    ),
    Case(
        "not TOML",
        lambda t: t.replace("[telegram]", "[telegram"),
        ("is not valid TOML",),
    ),
]


@pytest.fixture
def scratch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "state" / "media").mkdir(parents=True)
    (tmp_path / "state" / "afile").write_text("not a folder", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def files_in(root: Path) -> set[Path]:
    return set(root.rglob("*"))


def test_base_config_is_valid(scratch: Path) -> None:
    path = scratch / "crosspost.toml"
    path.write_text(BASE, encoding="utf-8")
    settings = load_settings(path, ENV)
    assert settings.database.url == f"sqlite+aiosqlite:///{scratch / 'state' / 'crosspost.db'}"


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_broken_config(
    case: Case, scratch: Path, monkeypatch: pytest.MonkeyPatch, command: list[str]
) -> None:
    for name in (*ENV, "TELEGRAM_BOT_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    for name, value in case.env.items():
        monkeypatch.setenv(name, value)
    path = scratch / "crosspost.toml"
    path.write_text(case.edit(BASE), encoding="utf-8")
    before = files_in(scratch)
    result = runner.invoke(app, [*command, "-c", str(path)])
    output = result.output
    assert result.exit_code == 2, output
    assert "Traceback" not in output
    lines = output.strip().splitlines()
    assert all(line.startswith("error: ") for line in lines), output
    for expected in case.lines:
        assert sum(expected in line for line in lines) == 1, (expected, output)
    if case.count is not None:
        assert len(lines) == case.count, output
    for secret in (*ENV.values(), TOKEN.split(":")[1], *case.env.values(), *case.absent):
        assert secret not in output
    assert "validation error" not in output.lower()  # pydantic's own wording
    assert "Input should" not in output
    assert files_in(scratch) == before  # nothing created


@pytest.fixture(params=[["check"], ["migrate"], ["run"]], ids=["check", "migrate", "run"])
def command(request: pytest.FixtureRequest) -> list[str]:
    return list(request.param)


def test_at_least_thirty_cases() -> None:
    assert len(CASES) >= 30


def test_ok_group_id_number_or_string(scratch: Path) -> None:
    path = scratch / "crosspost.toml"
    path.write_text(BASE.replace('group_id = "5555"', "group_id = 5555"), encoding="utf-8")
    settings = load_settings(path, ENV)
    ok = settings.accounts["adm"].ok
    assert ok is not None
    assert ok.group_id == "5555"


def test_relative_paths_are_taken_from_the_config_folder(
    scratch: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    etc = scratch / "etc"
    etc.mkdir()
    (etc / "state").mkdir()
    path = etc / "crosspost.toml"
    path.write_text(BASE.replace('dir = "state/media"', 'dir = "media"'), encoding="utf-8")
    settings = load_settings(path, ENV)
    assert settings.database.url == f"sqlite+aiosqlite:///{etc / 'state' / 'crosspost.db'}"
    assert settings.media.dir == etc / "media"


def test_default_database_sits_next_to_the_config(scratch: Path) -> None:
    etc = scratch / "etc"
    etc.mkdir()
    path = etc / "crosspost.toml"
    text = BASE.replace('[database]\nurl = "sqlite+aiosqlite:///state/crosspost.db"\n', "")
    path.write_text(text, encoding="utf-8")
    settings = load_settings(path, ENV)
    assert settings.database.url == f"sqlite+aiosqlite:///{etc / 'crosspost.db'}"


@pytest.mark.parametrize("action", ["show", "cancel", "retry"])
def test_queue_lookup_never_creates_a_database(scratch: Path, action: str) -> None:
    path = scratch / "crosspost.toml"
    path.write_text(BASE, encoding="utf-8")
    before = files_in(scratch)
    result = runner.invoke(app, ["queue", action, "7", "-c", str(path)], env=ENV)
    assert result.exit_code == 2, result.output
    assert "no delivery 7" in result.output
    assert files_in(scratch) == before
    huge = runner.invoke(app, ["queue", action, str(2**64), "-c", str(path)], env=ENV)
    assert huge.exit_code == 2
    assert huge.output.strip() == (
        f"error: delivery id {2**64} is out of range: ids run from 1 to 9223372036854775807 "
        "(see `crosspost queue list`)"
    )
    assert files_in(scratch) == before


def test_queue_list_without_database_creates_none(scratch: Path) -> None:
    path = scratch / "crosspost.toml"
    path.write_text(BASE, encoding="utf-8")
    before = files_in(scratch)
    result = runner.invoke(app, ["queue", "list", "-c", str(path)], env=ENV)
    assert result.exit_code == 0, result.output
    assert "empty" in result.output
    assert files_in(scratch) == before
