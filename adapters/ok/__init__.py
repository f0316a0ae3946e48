"""OK.ru: an async OK API client with request signing, and a Publisher for one group."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import aiohttp

from adapters.ok.client import OkClient, OkCredentials, ok_sig, signing_secret, token_lapses_at
from adapters.ok.publisher import OK_CAPABILITIES, OkPublisher
from crosspost.config import Settings
from crosspost.errors import ConfigError
from crosspost.publishing import ThrottleFactory, UploadMemo

__all__ = [
    "OK_CAPABILITIES",
    "OkClient",
    "OkCredentials",
    "OkPublisher",
    "create_publisher",
    "ok_sig",
    "signing_secret",
    "token_lapses_at",
]


def create_publisher(
    *,
    settings: Settings,
    account: str,
    http: aiohttp.ClientSession,
    throttle: ThrottleFactory,
    is_taken: Callable[[str], Awaitable[bool]] | None = None,
    memo: UploadMemo | None = None,
) -> OkPublisher:
    """The OK publisher of one configured account. Raises ConfigError if it has no [ok] table.

    `is_taken(topic_id)` tells reconcile whether a topic id is recorded for another delivery
    of this account; without it nothing counts as taken.
    """
    account_config = settings.accounts.get(account)
    ok = account_config.ok if account_config is not None else None
    if ok is None:
        raise ConfigError(f"account {account!r} has no ok settings")
    credentials = OkCredentials(
        application_key=ok.application_key,
        application_secret_key=ok.application_secret_key.get_secret_value(),
        access_token=ok.access_token.get_secret_value(),
        session_secret_key=(
            ok.session_secret_key.get_secret_value() if ok.session_secret_key else None
        ),
    )
    client = OkClient(
        api_base=settings.ok.api_base,
        credentials=credentials,
        http=http,
        throttle=throttle,
        timeout=settings.ok.timeout_seconds,
        account=account,
    )
    return OkPublisher(
        account=account, group_id=ok.group_id, client=client, is_taken=is_taken, memo=memo
    )
