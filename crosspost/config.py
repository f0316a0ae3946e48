"""Typed TOML configuration: `${ENV}` secrets resolved before validation, unknown keys rejected."""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Self
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

from crosspost.errors import ConfigError
from crosspost.models import Platform

ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")

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


class DatabaseConfig(_Model):
    url: str = "sqlite+aiosqlite:///crosspost.db"


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


class OkConfig(_Model):
    api_base: str = "https://api.ok.ru/fb.do"
    timeout_seconds: float = Field(default=30.0, gt=0)
    # Warn staff this long before an OK token can lapse (tokens live 30 days, extended by use).
    token_warn_days: int = Field(default=7, ge=1, le=29)


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
    group_id: str = Field(pattern=r"^[0-9]+$")
    application_key: str = Field(min_length=1)
    application_secret_key: SecretStr
    access_token: SecretStr
    # When OK issued a session_secret_key for an eternal token, it signs instead of
    # md5(access_token + application_secret_key).
    session_secret_key: SecretStr | None = None


# -- MAX (issue 14) -----------------------------------------------------------------------------


class MaxConfig(_Model):
    api_base: str = "https://platform-api2.max.ru"
    token: SecretStr
    # The Минцифры root CA (PEM) the MAX API's certificate chains to; None: the system store.
    ca_file: Path | None = None
    timeout_seconds: float = Field(default=30.0, gt=0)
    # Long polling: seconds MAX may hold a GET /updates open.
    poll_timeout_seconds: int = Field(default=30, ge=0, le=90)

    @field_validator("ca_file")
    @classmethod
    def _ca_exists(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_file():
            raise ValueError(f"file {value} does not exist (the Минцифры root CA in PEM)")
        return value


class AccountConfig(_Model):
    title: str = Field(min_length=1)
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
    def platforms(self) -> list[Platform]:
        """Platforms this account can be published to."""
        return [p for p in Platform if self.platform_config(p) is not None]


class SchedulerConfig(_Model):
    concurrency: int = Field(default=16, ge=1, le=64)
    lease_seconds: int = Field(default=300, ge=10)
    max_attempts: int = Field(default=8, ge=1)
    base_delay_seconds: float = Field(default=30.0, gt=0)
    max_delay_seconds: float = Field(default=3600.0, gt=0)
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

    def rate_limit(self, key: str) -> float:
        return self.rate_limits.get(key, DEFAULT_RATE_LIMITS.get(key, 1.0))


class MediaConfig(_Model):
    dir: Path = Path("media")
    max_file_mb: int = Field(default=2000, ge=1)


class Settings(_Model):
    database: DatabaseConfig = DatabaseConfig()
    telegram: TelegramConfig
    vk: VkConfig = VkConfig()
    ok: OkConfig = OkConfig()
    max: MaxConfig | None = None
    scheduler: SchedulerConfig = SchedulerConfig()
    media: MediaConfig = MediaConfig()
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


def _resolve_env(value: Any, path: str, env: Mapping[str, str]) -> Any:
    if isinstance(value, dict):
        return {k: _resolve_env(v, f"{path}.{k}" if path else k, env) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolve_env(v, f"{path}[{i}]", env) for i, v in enumerate(value)]
    if isinstance(value, str):

        def sub(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in env or env[name] == "":
                raise ConfigError(
                    f"config key {path}: environment variable {name} is not set "
                    f"(export {name}=... or put the value in the file)"
                )
            return env[name]

        return ENV_REF.sub(sub, value)
    return value


def _describe(error: ValidationError) -> str:
    first = error.errors()[0]
    key = ".".join(str(p) for p in first["loc"]) or "(top level)"
    kind = first["type"]
    if kind == "missing":
        return f"config key {key} is missing: add it (see config.example.toml)"
    if kind == "extra_forbidden":
        return f"config key {key} is not known: remove it or fix its spelling"
    msg = first["msg"].removeprefix("Value error, ")
    return f"config key {key}: {msg} (see config.example.toml)"


def parse_settings(data: Mapping[str, Any], env: Mapping[str, str] | None = None) -> Settings:
    """Validate a parsed TOML mapping. Raises ConfigError with one line naming the key."""
    resolved = _resolve_env(dict(data), "", os.environ if env is None else env)
    try:
        return Settings.model_validate(resolved)
    except ValidationError as exc:
        raise ConfigError(_describe(exc)) from None


def load_settings(path: Path, env: Mapping[str, str] | None = None) -> Settings:
    """Read and validate the TOML file. Raises ConfigError with one line naming the key and fix."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(
            f"config file {path} not found: copy config.example.toml there and edit it"
        ) from None
    except OSError as exc:
        raise ConfigError(f"config file {path} cannot be read: {exc.strerror}") from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
    return parse_settings(data, env)
