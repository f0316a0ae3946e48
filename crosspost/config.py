"""Typed TOML configuration: `${ENV}` secrets resolved before validation, unknown keys rejected."""

from __future__ import annotations

import difflib
import os
import re
import tomllib
import types
import typing
from collections.abc import Iterator, Mapping
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal, Self, get_args, get_origin
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from crosspost.errors import ConfigError
from crosspost.models import Platform

ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
# "$NAME" without braces: almost always meant as a reference, and taken literally it would be sent
# to the platform as the token.
BARE_ENV_REF = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")
PROXY_SCHEMES = ("socks5", "socks4", "http", "https")
BOT_TOKEN = re.compile(r"[0-9]{1,20}:[A-Za-z0-9_-]{1,200}")
# Database drivers the service runs on (it is async throughout).
ASYNC_DRIVERS = {"sqlite+aiosqlite": "SQLite", "postgresql+asyncpg": "PostgreSQL"}
DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///crosspost.db"

# Requests per second kept per token before the platform has to say so (platforms.md §1.6, §2.7).
DEFAULT_RATE_LIMITS: Mapping[str, float] = {
    "telegram": 0.33,  # one post per ~3 s per channel
    "vk_user": 3.0,
    "vk_community": 20.0,
    "ok": 2.0,  # OK publishes no number: a conservative default
    "max": 2.0,  # MAX: 2 messages per second per chat (official)
    "max_bot": 30.0,  # MAX: 30 requests per second per bot
}


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _check_http_url(value: str) -> str:
    """An http(s) base address; the message never repeats the value (it may hold a token)."""
    try:
        parts = urlsplit(value)
        has_host = bool(parts.hostname)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        has_host = False
        parts = urlsplit("")
    if parts.scheme not in ("http", "https") or not has_host:
        raise ValueError("is not a web address: write it like https://api.example.ru")
    return value


def _database_url_problem(url: str) -> str | None:
    """What is wrong with a database URL, in words that never repeat it (it may hold a
    password); None when it is usable."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        return (
            "is not a database URL: use sqlite+aiosqlite:///path/to/crosspost.db "
            "or postgresql+asyncpg://user:password@host/dbname"
        )
    driver = parsed.drivername
    if driver not in ASYNC_DRIVERS:
        if driver.startswith("sqlite"):
            return "needs the async SQLite driver: start it with sqlite+aiosqlite:///"
        if driver.startswith(("postgres", "postgresql")):
            return "needs the async PostgreSQL driver: start it with postgresql+asyncpg://"
        return f"names database driver {driver!r}: use sqlite+aiosqlite or postgresql+asyncpg"
    if driver.startswith("sqlite"):
        if parsed.database in (None, "") or parsed.database == ":memory:":
            return "needs a database file: sqlite+aiosqlite:///path/to/crosspost.db"
        folder = Path(parsed.database).parent
        if not folder.is_dir():
            return f"points into folder {folder}, which does not exist: create it or fix the path"
        if Path(parsed.database).is_dir():
            return "points at a folder: add a file name, e.g. .../crosspost.db"
    elif not parsed.host or not parsed.database:
        return "needs a host and a database name: postgresql+asyncpg://user:password@host/dbname"
    return None


class DatabaseConfig(_Model):
    url: str = DEFAULT_DATABASE_URL

    @field_validator("url")
    @classmethod
    def _usable_url(cls, value: str) -> str:
        problem = _database_url_problem(value)
        if problem is not None:
            raise ValueError(problem)
        return value


class WebhookConfig(_Model):
    url: str
    secret_token: SecretStr
    listen_host: str = "127.0.0.1"
    listen_port: int = Field(default=8080, ge=1, le=65535)
    path: str = "/telegram/webhook"

    @field_validator("secret_token")
    @classmethod
    def _secret_shape(cls, value: SecretStr) -> SecretStr:
        if not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", value.get_secret_value()):
            raise ValueError("must be 1-256 characters of A-Z, a-z, 0-9, _ and -")
        return value


class TelegramConfig(_Model):
    token: SecretStr
    api_base: str = "https://api.telegram.org"
    # True when api_base is a local Bot API server (--local): files are read from its disk.
    is_local: bool = False
    staff_chat_id: int
    staff: list[int] = Field(min_length=1)
    timezone: str = "Asia/Vladivostok"
    webhook: WebhookConfig | None = None
    # socks5://, socks4:// or http:// proxy for every Telegram request (throttled networks).
    proxy: SecretStr | None = None

    @field_validator("token")
    @classmethod
    def _token_shape(cls, value: SecretStr) -> SecretStr:
        if not BOT_TOKEN.fullmatch(value.get_secret_value()):
            raise ValueError(
                "does not look like a bot token (digits, a colon, then letters, exactly as "
                "@BotFather gave it): check the value or the variable it comes from"
            )
        return value

    @field_validator("api_base")
    @classmethod
    def _api_base_url(cls, value: str) -> str:
        return _check_http_url(value)

    @field_validator("proxy")
    @classmethod
    def _proxy_url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return None
        try:
            parts = urlsplit(value.get_secret_value())
            ok = parts.scheme in PROXY_SCHEMES and bool(parts.hostname) and parts.port is not None
        except ValueError:
            ok = False
        if not ok:
            raise ValueError(
                "is not a proxy address: write socks5://host:port or http://host:port "
                "(user:password@ before the host if the proxy needs them)"
            )
        return value

    # User ids or chats told about technical failures (the database cannot be written; tokens,
    # rights, configuration) with the detail and the command to run; it_chat_id is one more chat
    # (e.g. the IT department's group). Neither set: such notes go to the staff chat.
    it_contacts: list[int] = Field(default_factory=list)
    it_chat_id: int | None = None

    @field_validator("it_contacts")
    @classmethod
    def _contacts_distinct(cls, value: list[int]) -> list[int]:
        if 0 in value:
            raise ValueError("0 is not a Telegram user id: write the numeric id (e.g. 123456789)")
        if len(set(value)) != len(value):
            raise ValueError("lists the same id twice")
        return value

    @model_validator(mode="after")
    def _it_chat_is_another_chat(self) -> Self:
        if self.it_chat_id is None:
            return self
        if self.it_chat_id == 0:
            raise ValueError(
                "it_chat_id 0 is not a chat: write the group's id (e.g. -1001234567890)"
            )
        if self.it_chat_id == self.staff_chat_id:
            raise ValueError(
                "it_chat_id is the staff chat: leave it out (technical notes then go to the "
                "staff chat) or name the IT group"
            )
        if self.it_chat_id in self.it_contacts:
            raise ValueError("it_chat_id is also in it_contacts: keep it in one of them")
        return self

    @property
    def it_recipients(self) -> list[int]:
        """Where technical notes go: the IT contacts and chat, else the staff chat."""
        chats = [*self.it_contacts, *([self.it_chat_id] if self.it_chat_id is not None else [])]
        return chats or [self.staff_chat_id]

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r} (use e.g. 'Asia/Vladivostok')") from exc
        return value

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


class VkConfig(_Model):
    api_base: str = "https://api.vk.ru/method"
    api_version: str = "5.199"
    timeout_seconds: float = Field(default=30.0, gt=0)

    @field_validator("api_base")
    @classmethod
    def _api_base_url(cls, value: str) -> str:
        return _check_http_url(value)


class OkConfig(_Model):
    api_base: str = "https://api.ok.ru/fb.do"
    timeout_seconds: float = Field(default=30.0, gt=0)
    # Warn staff this long before an OK token can lapse (tokens live 30 days, extended by use).
    token_warn_days: int = Field(default=7, ge=1, le=29)

    @field_validator("api_base")
    @classmethod
    def _api_base_url(cls, value: str) -> str:
        return _check_http_url(value)


class VkAccount(_Model):
    group_id: int = Field(gt=0)
    community_token: SecretStr | None = None
    user_token: SecretStr | None = None

    @model_validator(mode="after")
    def _some_token(self) -> Self:
        if self.community_token is None and self.user_token is None:
            raise ValueError("needs community_token or user_token")
        return self


class OkAccount(_Model):
    # OK ids exceed what some tools keep exactly, so the API treats them as strings; the file may
    # hold either a number or a string.
    group_id: str

    @field_validator("group_id", mode="before")
    @classmethod
    def _group_id_digits(cls, value: object) -> object:
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        if isinstance(value, str) and not re.fullmatch(r"[0-9]{1,30}", value):
            raise ValueError("must be the group's number (digits only), e.g. 53038939046008")
        return value

    application_key: str = Field(min_length=1)
    application_secret_key: SecretStr
    access_token: SecretStr
    # When OK issued a session_secret_key for an eternal token, it signs instead of
    # md5(access_token + application_secret_key).
    session_secret_key: SecretStr | None = None


# -- MAX (issue 14) -----------------------------------------------------------------------------


MAX_WEBHOOK_SECRET = re.compile(r"[A-Za-z0-9_-]{5,256}")
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


class MaxWebhookConfig(_Model):
    """MAX posts updates here instead of long polling (`POST /subscriptions`). The service
    listens on plain HTTP at listen_host:listen_port + path; a reverse proxy in front of it
    serves `url` over HTTPS."""

    url: str
    secret: SecretStr
    listen_host: str = "127.0.0.1"
    listen_port: int = Field(default=8081, ge=1, le=65535)
    path: str = "/max/webhook"

    @field_validator("url")
    @classmethod
    def _https_url(cls, value: str) -> str:
        _check_http_url(value)
        parts = urlsplit(value)
        # MAX refuses http:// and self-signed certificates since 25 May 2026; only a local
        # emulator is reached over plain http.
        if parts.scheme != "https" and (parts.hostname or "") not in LOOPBACK_HOSTS:
            raise ValueError(
                "must start with https:// (MAX delivers webhooks only over HTTPS with a "
                "certificate from a trusted CA), e.g. https://crosspost.example.ru/max/webhook"
            )
        return value

    @field_validator("secret")
    @classmethod
    def _secret_shape(cls, value: SecretStr) -> SecretStr:
        if not MAX_WEBHOOK_SECRET.fullmatch(value.get_secret_value()):
            raise ValueError(
                "must be 5-256 characters of A-Z, a-z, 0-9, _ and - (MAX's rule for the "
                "X-Max-Bot-Api-Secret header)"
            )
        return value

    @field_validator("path")
    @classmethod
    def _absolute_path(cls, value: str) -> str:
        if not value.startswith("/") or any(c in value for c in "?# "):
            raise ValueError('must be a path starting with "/", e.g. "/max/webhook"')
        return value


class MaxConfig(_Model):
    api_base: str = "https://platform-api2.max.ru"
    token: SecretStr
    # The Минцифры root CA (PEM) the MAX API's certificate chains to; None: the system store.
    ca_file: Path | None = None
    timeout_seconds: float = Field(default=30.0, gt=0)
    # Long polling: seconds MAX may hold a GET /updates open.
    poll_timeout_seconds: int = Field(default=30, ge=0, le=90)
    # Updates by webhook instead of long polling (the production way, per MAX).
    webhook: MaxWebhookConfig | None = None

    @field_validator("ca_file")
    @classmethod
    def _ca_exists(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_file():
            raise ValueError(f"file {value} does not exist (the Минцифры root CA in PEM)")
        return value


class AccountConfig(_Model):
    title: str = Field(min_length=1)
    # The account in report lines and buttons («Администрация»); default: the title's first word.
    short_title: str | None = Field(default=None, min_length=1, max_length=24)
    telegram_channel_id: int | None = None
    # Public @username of the channel (without @), for links to originals.
    telegram_channel_username: str | None = None
    mirror: list[Platform] = Field(default_factory=list)
    vk: VkAccount | None = None
    ok: OkAccount | None = None
    # -- MAX (issue 14): the channel's chat_id (`crosspost max link` prints it)
    max_chat_id: int | None = None
    # The platform whose copy goes out first; the others wait for it (or the timeout).
    publish_first: Platform | None = None
    # The other copies end with a link to the first one.
    link_to_first: bool = False
    publish_first_timeout_minutes: int = Field(default=30, ge=1, le=1440)

    @model_validator(mode="after")
    def _mirror_targets_configured(self) -> Self:
        named = [("mirror", p) for p in self.mirror]
        if self.publish_first is not None:
            named.append(("publish_first", self.publish_first))
        for key, platform in named:
            if self.platform_config(platform) is None:
                needed = {
                    Platform.TELEGRAM: "telegram_channel_id",
                    Platform.MAX: "max_chat_id",
                }.get(platform, f"[{platform}] settings")
                raise ValueError(f"{key} names {str(platform)!r} but the account has no {needed}")
        if self.link_to_first and self.publish_first is None:
            raise ValueError("link_to_first needs publish_first")
        return self

    def platform_config(self, platform: Platform) -> object | None:
        if platform is Platform.TELEGRAM:
            return self.telegram_channel_id
        if platform is Platform.MAX:
            return self.max_chat_id
        return getattr(self, str(platform), None)

    @property
    def label(self) -> str:
        """`short_title`, else the title's first word (Settings.account_label settles clashes)."""
        return self.short_title or self.title.split()[0]

    @property
    def platforms(self) -> list[Platform]:
        """Platforms this account can be published to."""
        return [p for p in Platform if self.platform_config(p) is not None]


class SchedulerConfig(_Model):
    concurrency: int = Field(default=16, ge=1, le=64)
    lease_seconds: int = Field(default=300, ge=10)
    # Transient errors: first retry within ~2 s (full jitter), doubling up to 10 min; 15 attempts
    # span about an hour of outage. Rate-limit answers are waits, not attempts.
    max_attempts: int = Field(default=15, ge=1)
    base_delay_seconds: float = Field(default=2.0, gt=0)
    max_delay_seconds: float = Field(default=600.0, gt=0)
    shutdown_timeout_seconds: float = Field(default=20.0, gt=0)
    # Requests per second per token; keys: telegram, vk_user, vk_community, ok, max.
    rate_limits: dict[str, Annotated[float, Field(gt=0)]] = Field(default_factory=dict)

    @field_validator("rate_limits")
    @classmethod
    def _known_limit_keys(cls, value: dict[str, float]) -> dict[str, float]:
        unknown = set(value) - set(DEFAULT_RATE_LIMITS)
        if unknown:
            raise ValueError(
                f"unknown rate limit {sorted(unknown)[0]!r}; "
                f"known: {', '.join(sorted(DEFAULT_RATE_LIMITS))}"
            )
        return value

    @property
    def lease(self) -> timedelta:
        return timedelta(seconds=self.lease_seconds)

    @model_validator(mode="after")
    def _delays_ordered(self) -> Self:
        if self.base_delay_seconds > self.max_delay_seconds:
            raise ValueError(
                f"base_delay_seconds ({self.base_delay_seconds:g}) is above max_delay_seconds "
                f"({self.max_delay_seconds:g}): the first retry delay cannot exceed the longest; "
                "lower base_delay_seconds or raise max_delay_seconds"
            )
        return self

    def rate_limit(self, key: str) -> float:
        return self.rate_limits.get(key, DEFAULT_RATE_LIMITS.get(key, 1.0))


class MediaConfig(_Model):
    dir: Path = Path("media")
    max_file_mb: int = Field(default=2000, ge=1)

    @field_validator("dir")
    @classmethod
    def _not_a_file(cls, value: Path) -> Path:
        if value.exists() and not value.is_dir():
            raise ValueError(
                f"{value} is a file, not a folder: point media.dir at a folder "
                "(it is created if missing)"
            )
        return value


class HttpConfig(_Model):
    """The health and metrics endpoint (/healthz, /metrics); off unless `listen` is set."""

    listen: str = "127.0.0.1:9108"

    @field_validator("listen")
    @classmethod
    def _host_port(cls, value: str) -> str:
        host, _, port = value.rpartition(":")
        if not host or not port.isdigit() or not 1 <= int(port) <= 65535:
            raise ValueError('must be "host:port", e.g. "127.0.0.1:9108"')
        return value

    @property
    def host(self) -> str:
        return self.listen.rpartition(":")[0].strip("[]")

    @property
    def port(self) -> int:
        return int(self.listen.rpartition(":")[2])


class LoggingConfig(_Model):
    level: Literal["debug", "info", "warning", "error"] = "info"
    # "text": one readable line per event; "json": one JSON object per line (journald, collectors).
    format: Literal["text", "json"] = "text"


class StatsConfig(_Model):
    """Subscriber statistics (issue 10)."""

    # Local time (telegram.timezone) of the daily snapshot of every account's subscribers.
    collect_at: str = "03:00"
    # Account name → its title in the genitive case («Официальные аккаунты <title>») where the
    # automatic form of the first word is wrong.
    title_genitive: dict[str, str] = Field(default_factory=dict)

    @field_validator("collect_at")
    @classmethod
    def _clock_time(cls, value: str) -> str:
        match = re.fullmatch(r"([01]?[0-9]|2[0-3]):([0-5][0-9])", value.strip())
        if match is None:
            raise ValueError(f'{value!r} is not a time of day: use HH:MM, e.g. "03:00"')
        return f"{int(match.group(1)):02d}:{match.group(2)}"

    @property
    def collect_hour(self) -> int:
        return int(self.collect_at[:2])

    @property
    def collect_minute(self) -> int:
        return int(self.collect_at[3:])

    @property
    def collect_cron(self) -> str:
        return f"{self.collect_minute} {self.collect_hour} * * *"


# -- events, recurring posts, feeds (issue 11) --------------------------------------------------

_REMINDER_OFFSET = re.compile(
    r"^(?:(?P<d>\d+)d@(?P<H>\d{1,2}):(?P<M>\d{2})|(?:(?P<h>\d+)h)?(?:(?P<m>\d+)m)?)$"
)


class EventsConfig(_Model):
    # Reminders before each event unless staff choose others: "1d@10:00" is the day before at
    # 10:00 local time, "2h" two hours before, "30m" half an hour before.
    reminders: list[str] = Field(default_factory=lambda: ["1d@10:00", "2h"])
    # A recurring run missed (the service was down) by less than this is made late; an older
    # one is skipped and staff are told.
    recurring_grace_minutes: int = Field(default=60, ge=0)

    @field_validator("reminders")
    @classmethod
    def _reminder_shape(cls, value: list[str]) -> list[str]:
        for item in value:
            match = _REMINDER_OFFSET.match(item.strip())
            if not item.strip() or match is None or (match["H"] and int(match["H"]) > 23):
                raise ValueError(
                    f'reminder {item!r}: use "1d@10:00" (days before at a local time), '
                    '"2h", "30m" or "1h30m" (before the event)'
                )
        return value

    @property
    def recurring_grace(self) -> timedelta:
        return timedelta(minutes=self.recurring_grace_minutes)


class FeedsConfig(_Model):
    # Where the Atom feeds and iCalendar files for the website are written; unset: none.
    dir: Path | None = None
    # The public address of `dir` (as the website serves it), for links to photos in the feed.
    base_url: str | None = None
    max_entries: int = Field(default=50, ge=1, le=1000)


# -- end of issue 11 config -----------------------------------------------------------------------


class Settings(_Model):
    database: DatabaseConfig = DatabaseConfig()
    telegram: TelegramConfig
    vk: VkConfig = VkConfig()
    ok: OkConfig = OkConfig()
    max: MaxConfig | None = None
    scheduler: SchedulerConfig = SchedulerConfig()
    media: MediaConfig = MediaConfig()
    http: HttpConfig | None = None
    logging: LoggingConfig = LoggingConfig()
    stats: StatsConfig = StatsConfig()
    events: EventsConfig = EventsConfig()
    feeds: FeedsConfig = FeedsConfig()
    accounts: dict[str, AccountConfig] = Field(min_length=1)
    # Set by `run --sandbox`: the service talks to the built-in emulators.
    sandbox: bool = False

    @field_validator("accounts")
    @classmethod
    def _account_names(cls, value: dict[str, AccountConfig]) -> dict[str, AccountConfig]:
        for name in value:
            if not re.fullmatch(r"[a-z0-9_-]{1,32}", name):
                raise ValueError(f"account name {name!r}: use 1-32 of a-z, 0-9, _ and -")
        return value

    @model_validator(mode="after")
    def _unique_channels(self) -> Self:
        seen: dict[int, str] = {}
        for name, account in self.accounts.items():
            cid = account.telegram_channel_id
            if cid is not None:
                if cid in seen:
                    raise ValueError(
                        f"accounts {seen[cid]!r} and {name!r} share telegram_channel_id {cid}"
                    )
                seen[cid] = name
        max_seen: dict[int, str] = {}
        for name, account in self.accounts.items():
            if account.max_chat_id is None:
                continue
            if self.max is None:
                raise ValueError(f"account {name!r} has max_chat_id but there is no [max] table")
            if account.max_chat_id in max_seen:
                raise ValueError(
                    f"accounts {max_seen[account.max_chat_id]!r} and {name!r} share max_chat_id"
                )
            max_seen[account.max_chat_id] = name
        return self

    @model_validator(mode="after")
    def _webhooks_apart(self) -> Self:
        tg = self.telegram.webhook
        mx = self.max.webhook if self.max is not None else None
        if tg is not None and mx is not None and tg.listen_port == mx.listen_port:
            raise ValueError(
                f"telegram.webhook and max.webhook both listen on port {mx.listen_port}: "
                "give max.webhook another listen_port"
            )
        return self

    @model_validator(mode="after")
    def _distinct_short_titles(self) -> Self:
        labels: dict[str, str] = {}
        for name, account in self.accounts.items():
            if account.short_title is None:
                continue
            other = labels.setdefault(account.short_title.casefold(), name)
            if other != name:
                raise ValueError(
                    f"accounts {other!r} and {name!r} have the same short_title "
                    f"{account.short_title!r}: staff could not tell them apart in reports"
                )
        return self

    def account_label(self, name: str) -> str:
        """The account's short name in reports and on buttons: `short_title`, else the
        title's first word when no other account starts with it, else the whole title."""
        account = self.accounts.get(name)
        if account is None:
            return name
        if account.short_title is not None:
            return account.short_title
        first = account.label
        same = [a for a in self.accounts.values() if a.short_title is None and a.label == first]
        return first if len(same) == 1 else account.title

    @model_validator(mode="after")
    def _stats_accounts_known(self) -> Self:
        for name in self.stats.title_genitive:
            if name not in self.accounts:
                raise ValueError(f"stats.title_genitive names unknown account {name!r}")
        return self

    @property
    def tz(self) -> ZoneInfo:
        return self.telegram.tz

    def account_by_channel(self, chat_id: int) -> str | None:
        for name, account in self.accounts.items():
            if account.telegram_channel_id == chat_id:
                return name
        return None

    def account_by_max_chat(self, chat_id: int) -> str | None:
        for name, account in self.accounts.items():
            if account.max_chat_id == chat_id:
                return name
        return None


# Keys whose value is a path: a relative one is taken from the config file's folder, which is
# what a service user expects (the unit's working directory is not where the file lives).
PATH_KEYS: tuple[tuple[str, str], ...] = (("media", "dir"), ("feeds", "dir"))

Problem = tuple[str, str]  # (dotted key, one plain-English line)


def _resolve_env(value: Any, path: str, env: Mapping[str, str], problems: list[Problem]) -> Any:
    """Replace `${NAME}` references; every unset variable and bare `$NAME` becomes a problem
    (the value is left as written so validation can go on and report the rest)."""
    if isinstance(value, dict):
        return {
            k: _resolve_env(v, f"{path}.{k}" if path else k, env, problems)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_resolve_env(v, f"{path}[{i}]", env, problems) for i, v in enumerate(value)]
    if not isinstance(value, str):
        return value
    missing = [m.group(1) for m in ENV_REF.finditer(value) if not env.get(m.group(1))]
    for name in dict.fromkeys(missing):
        problems.append(
            (
                path,
                f"config key {path}: environment variable {name} is not set "
                f"(add {name}=... to the environment file, or export it)",
            )
        )
    bare = BARE_ENV_REF.search(ENV_REF.sub("", value))
    if bare is not None:
        name = bare.group(1)
        problems.append(
            (
                path,
                f'config key {path}: "${name}" would be taken literally: '
                f'write "${{{name}}}" to read the environment variable {name}',
            )
        )
    if missing or bare is not None:
        return value
    return ENV_REF.sub(lambda m: env[m.group(1)], value)


def _anchor_paths(data: dict[str, Any], base: Path) -> dict[str, Any]:
    """Relative SQLite files and folders are taken from `base` (the config file's folder)."""
    data = dict(data)
    database = data.get("database", {})
    if isinstance(database, dict):
        url = database.get("url", DEFAULT_DATABASE_URL)
        if isinstance(url, str):
            try:
                parsed = make_url(url)
            except ArgumentError:
                parsed = None
            if (
                parsed is not None
                and parsed.drivername.startswith("sqlite")
                and parsed.database not in (None, "", ":memory:")
                and not Path(parsed.database).is_absolute()
            ):
                full = (base / parsed.database).resolve()
                data["database"] = {**database, "url": f"{parsed.drivername}:///{full}"}
    for table, key in PATH_KEYS:
        section = data.get(table)
        if section is None and table == "media":
            section = {}
        if isinstance(section, dict):
            value = section.get(key, str(MediaConfig().dir) if table == "media" else None)
            if isinstance(value, str) and not Path(value).expanduser().is_absolute():
                data[table] = {**section, key: str((base / value).resolve())}
    return data


def _unwrap(annotation: Any) -> Any:
    while True:
        origin = get_origin(annotation)
        if origin is Annotated:
            annotation = get_args(annotation)[0]
        elif origin in (typing.Union, types.UnionType):
            args = [a for a in get_args(annotation) if a is not type(None)]
            if len(args) != 1:
                return annotation
            annotation = args[0]
        else:
            return annotation


def _known_keys(loc: tuple[str | int, ...]) -> list[str]:
    """The keys the table at `loc` may hold (for «did you mean»)."""
    current: Any = Settings
    for part in loc:
        current = _unwrap(current)
        if isinstance(current, type) and issubclass(current, BaseModel):
            field = current.model_fields.get(str(part))
            if field is None:
                return []
            current = field.annotation
        elif get_origin(current) in (dict, list):
            current = get_args(current)[-1]
        else:
            return []
    current = _unwrap(current)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return list(current.model_fields)
    return []


def _key(loc: tuple[str | int, ...]) -> str:
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text or "(top level)"


def _plain(error: Mapping[str, Any]) -> str:
    """Pydantic's error as a plain-English fix (what the value must be)."""
    kind = error["type"]
    ctx = error.get("ctx") or {}
    words = {
        "int_type": "must be a whole number, written without quotes, e.g. 123",
        "int_parsing": "must be a whole number, written without quotes, e.g. 123",
        "int_from_float": "must be a whole number, e.g. 123",
        "float_type": "must be a number, e.g. 30",
        "float_parsing": "must be a number, e.g. 30",
        "bool_type": "must be true or false",
        "bool_parsing": "must be true or false",
        "string_type": 'must be text in quotes, e.g. "..."',
        "list_type": "must be a list in square brackets, e.g. [1, 2]",
        "dict_type": "must be a table: [section] or { key = value, ... }",
        "model_type": "must be a table: [section] or { key = value, ... }",
        "model_attributes_type": "must be a table: [section] or { key = value, ... }",
        "path_type": 'must be a folder path in quotes, e.g. "/var/lib/crosspost/media"',
    }
    if kind in words:
        return words[kind]
    if kind in ("value_error", "assertion_error"):
        return str(error["msg"]).removeprefix("Value error, ").removeprefix("Assertion failed, ")
    if kind == "too_short":
        return "must not be empty" if ctx.get("min_length") == 1 else "has too few items"
    if kind == "too_long":
        return f"may have at most {ctx.get('max_length')} items"
    if kind == "greater_than":
        return f"must be greater than {ctx.get('gt')}"
    if kind == "greater_than_equal":
        return f"must be {ctx.get('ge')} or more"
    if kind == "less_than":
        return f"must be less than {ctx.get('lt')}"
    if kind == "less_than_equal":
        return f"must be {ctx.get('le')} or less"
    if kind in ("enum", "literal_error"):
        return f"must be one of {ctx.get('expected')}"
    if kind == "string_too_short":
        return "must not be empty"
    return "has a value of the wrong kind: see config.example.toml for what goes here"


def _problems(error: ValidationError) -> Iterator[Problem]:
    errors = error.errors(include_url=False, include_input=False)
    extras = [e for e in errors if e["type"] == "extra_forbidden"]
    # A misspelt required key shows up twice: as unknown and as missing. Say it once.
    renamed: set[tuple[str | int, ...]] = set()
    suggestions: dict[tuple[str | int, ...], str] = {}
    for extra in extras:
        loc = tuple(extra["loc"])
        known = _known_keys(loc[:-1])
        close = difflib.get_close_matches(str(loc[-1]), known, n=1, cutoff=0.75)
        if close:
            suggestions[loc] = close[0]
            renamed.add((*loc[:-1], close[0]))
    for e in errors:
        loc = tuple(e["loc"])
        key = _key(loc)
        if e["type"] == "missing":
            if loc in renamed:
                continue
            yield key, f"config key {key} is missing: add it (see config.example.toml)"
        elif e["type"] == "extra_forbidden":
            if loc in suggestions:
                yield (
                    key,
                    (
                        f"config key {key} is not known: did you mean {suggestions[loc]}? "
                        "(fix its spelling)"
                    ),
                )
            else:
                yield key, f"config key {key} is not known: remove it or fix its spelling"
        else:
            yield key, f"config key {key}: {_plain(e)}"


def parse_settings(
    data: Mapping[str, Any],
    env: Mapping[str, str] | None = None,
    *,
    base_dir: Path | None = None,
) -> Settings:
    """Validate a parsed TOML mapping; relative paths are taken from `base_dir` when given.

    Raises ConfigError listing every problem, one line each, naming the key and the fix."""
    problems: list[Problem] = []
    raw = dict(data)
    if base_dir is not None:
        raw = _anchor_paths(raw, base_dir)
    resolved = _resolve_env(raw, "", os.environ if env is None else env, problems)
    try:
        settings = Settings.model_validate(resolved)
    except ValidationError as exc:
        reported = {key for key, _ in problems}
        problems += [(k, line) for k, line in _problems(exc) if k not in reported]
        settings = None
    if problems or settings is None:
        raise ConfigError("\n".join(dict.fromkeys(line for _, line in problems)))
    return settings


def load_settings(path: Path, env: Mapping[str, str] | None = None) -> Settings:
    """Read and validate the TOML file. Relative paths in it are taken from the file's folder.

    Raises ConfigError listing every problem, one line each, naming the key and the fix."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(
            f"config file {path} not found: copy config.example.toml there and edit it"
        ) from None
    except IsADirectoryError:
        raise ConfigError(f"config file {path} is a folder: give the .toml file") from None
    except OSError as exc:
        raise ConfigError(f"config file {path} cannot be read: {exc.strerror}") from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"config file {path} is not UTF-8 text: save it as UTF-8") from None
    return parse_settings(data, env, base_dir=path.resolve().parent)


def secret_values(settings: BaseModel) -> set[str]:
    """Every secret the settings hold (tokens, keys, proxy and database passwords), for the
    log filter that redacts them as a last line of defence."""
    found: set[str] = set()

    def walk(value: object) -> None:
        if isinstance(value, SecretStr):
            secret = value.get_secret_value()
            if secret:
                found.add(secret)
                # The part after the bot id is the secret half of a bot token.
                if BOT_TOKEN.fullmatch(secret):
                    found.add(secret.split(":", 1)[1])
                # A proxy URL's password may also be logged on its own.
                with_password = urlsplit(secret) if "://" in secret else None
                if with_password is not None and with_password.password:
                    found.add(with_password.password)
        elif isinstance(value, BaseModel):
            for name in type(value).model_fields:
                walk(getattr(value, name))
        elif isinstance(value, dict):
            for item in value.values():
                walk(item)
        elif isinstance(value, list | tuple):
            for item in value:
                walk(item)

    walk(settings)
    database = getattr(settings, "database", None)
    if isinstance(database, DatabaseConfig):
        with_password = make_url(database.url)
        if with_password.password:
            found.add(str(with_password.password))
    return {s for s in found if len(s) >= 4}
