"""Which publication a link staff paste points at (used by the bot's /delete).

Links to our Telegram channels are resolved here; MAX posts and links to published copies by
`PublicationService.by_link` (crosspost.routing.post_link).
"""

from __future__ import annotations

import re

from crosspost.config import Settings
from crosspost.queue import PublicationInfo
from crosspost.service import PublicationService

_TELEGRAM_POST = re.compile(
    r"https?://t\.me/(?:c/(?P<internal>\d+)|(?P<username>[A-Za-z0-9_]{4,}))/(?P<msg>\d+)"
)


def telegram_source(settings: Settings, link: str) -> tuple[int, int] | None:
    """(channel id, message id) of a t.me post link to one of our channels, else None."""
    match = _TELEGRAM_POST.search(link)
    if match is None:
        return None
    message_id = int(match["msg"])
    if match["internal"]:
        return int(f"-100{match['internal']}"), message_id
    for account in settings.accounts.values():
        username = account.telegram_channel_username
        if username and username.lower() == match["username"].lower():
            if account.telegram_channel_id is None:
                return None
            return account.telegram_channel_id, message_id
    return None


async def publication_by_link(
    service: PublicationService, settings: Settings, link: str
) -> PublicationInfo | None:
    """The publication a pasted link points at: a post in one of our Telegram channels, a
    mirrored MAX post or any published copy. None when the link is not one of ours."""
    source = telegram_source(settings, link)
    info = await service.by_source(*source) if source is not None else None
    return info or await service.by_link(link)
