"""MAX: an async Bot API client, a Publisher for one account's channel, the channel listener."""

from __future__ import annotations

import hashlib

import aiohttp

from adapters.max.client import MaxClient, SentRegistry, ssl_context
from adapters.max.publisher import MAX_CAPABILITIES, IsTaken, MaxPublisher, render_max_html
from crosspost.config import Settings
from crosspost.errors import ConfigError
from crosspost.publishing import ThrottleFactory, UploadMemo

__all__ = [
    "MAX_CAPABILITIES",
    "MaxClient",
    "MaxPublisher",
    "create_client",
    "create_publisher",
    "render_max_html",
]


# One registry per bot token in this process: every publisher and the listener share it.
_SENT: dict[str, SentRegistry] = {}


def sent_registry(token: str) -> SentRegistry:
    key = hashlib.sha256(token.encode()).hexdigest()
    return _SENT.setdefault(key, SentRegistry())


def create_client(
    settings: Settings,
    *,
    http: aiohttp.ClientSession,
    throttle: ThrottleFactory,
    account: str | None = None,
) -> MaxClient:
    """The client of the configured bot. Raises ConfigError if there is no [max] table."""
    if settings.max is None:
        raise ConfigError("there is no [max] table in the config")
    token = settings.max.token.get_secret_value()
    client = MaxClient(
        api_base=settings.max.api_base,
        token=token,
        http=http,
        throttle=throttle,
        timeout=settings.max.timeout_seconds,
        ssl_context=ssl_context(settings.max.ca_file),
        account=account,
    )
    client.sent = sent_registry(token)
    return client


def create_publisher(
    *,
    settings: Settings,
    account: str,
    http: aiohttp.ClientSession,
    throttle: ThrottleFactory,
    is_taken: IsTaken | None = None,
    memo: UploadMemo | None = None,
) -> MaxPublisher:
    """The MAX publisher of one configured account; `is_taken(mid)` tells reconcile whether a
    message is recorded for another delivery; `memo` keeps what attempts uploaded (in this
    process when None). Raises ConfigError without max_chat_id."""
    account_config = settings.accounts.get(account)
    chat_id = account_config.max_chat_id if account_config is not None else None
    if chat_id is None:
        raise ConfigError(f"account {account!r} has no max_chat_id")
    client = create_client(settings, http=http, throttle=throttle, account=account)
    publisher = MaxPublisher(account=account, chat_id=chat_id, client=client, memo=memo)
    if is_taken is not None:
        publisher.is_taken = is_taken
    return publisher
