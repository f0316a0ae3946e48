"""VK: an async API client, the community-wall publisher and its error table."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import aiohttp

from adapters.vk.client import VkClient, VkToken, VkTokenKind
from adapters.vk.publisher import VkPublisher
from crosspost.config import Settings
from crosspost.errors import ConfigError
from crosspost.publishing import ThrottleFactory, UploadMemo

__all__ = ["VkClient", "VkPublisher", "VkToken", "VkTokenKind", "create_publisher"]


def create_publisher(
    *,
    settings: Settings,
    account: str,
    http: aiohttp.ClientSession,
    throttle: ThrottleFactory,
    is_taken: Callable[[str], Awaitable[bool]] | None = None,
    memo: UploadMemo | None = None,
) -> VkPublisher:
    """The publisher for one account's VK community. Raises ConfigError if it has no [vk].

    `is_taken(post_id)` tells reconcile whether a post id is recorded for another delivery
    of this account (the queue repository answers it); without it nothing counts as taken.
    """
    config = settings.accounts.get(account)
    vk = config.vk if config is not None else None
    if vk is None:
        raise ConfigError(f"account {account!r} has no vk settings")
    client = VkClient(
        http=http,
        api_base=settings.vk.api_base,
        api_version=settings.vk.api_version,
        timeout_seconds=settings.vk.timeout_seconds,
        throttle=throttle,
        account=account,
    )
    return VkPublisher(
        account=account,
        group_id=vk.group_id,
        client=client,
        community_token=(
            VkToken(VkTokenKind.COMMUNITY, vk.community_token)
            if vk.community_token is not None
            else None
        ),
        user_token=(
            VkToken(VkTokenKind.USER, vk.user_token) if vk.user_token is not None else None
        ),
        is_taken=is_taken,
        memo=memo,
    )
