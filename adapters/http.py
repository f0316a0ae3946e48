"""What the JSON-over-HTTP clients (OK, MAX) share: the error a failed exchange becomes, decided
by how far the request got, and opening a stored media file for a streamed upload.

Before the request left (no connection): nothing happened, retry. After it left and no answer
came, or the answer cannot be read: a read is simply retried, a send is `uncertain` (the post may
exist) and is settled by reconcile, never resent blindly.
"""

from __future__ import annotations

import asyncio
from typing import BinaryIO

from crosspost.errors import (
    OutcomeUnknownError,
    PermanentError,
    PublishError,
    Reason,
    TransientError,
)
from crosspost.models import MediaItem, Platform


def label(platform: Platform) -> str:
    """The platform's name in error messages and logs: "OK", "MAX"."""
    return str(platform).upper()


def not_sent(platform: Platform, method: str, *, account: str | None) -> PublishError:
    """The request never reached the platform (connecting failed)."""
    name = label(platform)
    return TransientError(
        f"{name} {method}: network error before the request reached {name}",
        platform=platform,
        account=account,
        reason=Reason.NETWORK,
    )


def lost(
    platform: Platform, method: str, *, account: str | None, idempotent: bool
) -> PublishError:
    """The request was sent and no answer came."""
    if idempotent:
        return TransientError(
            f"{label(platform)} {method}: no answer",
            platform=platform,
            account=account,
            reason=Reason.NETWORK,
        )
    return OutcomeUnknownError(
        f"{label(platform)} {method}: the request was sent and no answer came",
        platform=platform,
        account=account,
    )


def unreadable(
    platform: Platform, method: str, *, account: str | None, idempotent: bool
) -> PublishError:
    """An answer came that cannot be read (not JSON)."""
    message = f"{label(platform)} {method}: unreadable answer"
    if not idempotent:
        return OutcomeUnknownError(message, platform=platform, account=account)
    return TransientError(message, platform=platform, account=account, reason=Reason.PLATFORM_DOWN)


async def open_media(
    platform: Platform, item: MediaItem, what: str, *, account: str | None
) -> BinaryIO:
    """Open a stored media file for streaming (the caller closes it). Raises PermanentError
    when the store lost it."""
    try:
        return await asyncio.to_thread(item.path.open, "rb")
    except OSError as exc:
        raise PermanentError(
            f"{label(platform)} {what}: media file {item.file_name!r} is missing from the store",
            platform=platform,
            account=account,
            reason=Reason.MEDIA_REJECTED,
        ) from exc
