"""Which targets a publication goes to."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from crosspost.config import Settings
from crosspost.errors import UsageError
from crosspost.models import Platform, Target


def mirror_targets(
    settings: Settings, account: str, source: Platform = Platform.TELEGRAM
) -> tuple[Target, ...]:
    """A post in one of an account's channels (Telegram or MAX) goes to that account's `mirror`
    platforms, never back to the channel it came from."""
    config = settings.accounts[account]
    return tuple(Target(account=account, platform=p) for p in config.mirror if p is not source)


def chosen_targets(
    settings: Settings, accounts: Iterable[str], platforms: Iterable[Platform]
) -> tuple[Target, ...]:
    """Every chosen account × platform that the account has. Raises UsageError for an unknown
    account or a platform none of the chosen accounts has."""
    accounts = list(dict.fromkeys(accounts))
    platforms = list(dict.fromkeys(platforms))
    if not accounts:
        raise UsageError("no account chosen")
    if not platforms:
        raise UsageError("no platform chosen")
    for name in accounts:
        if name not in settings.accounts:
            known = ", ".join(settings.accounts)
            raise UsageError(f"unknown account {name!r} (known: {known})")
    targets = tuple(
        Target(account=name, platform=p)
        for name in accounts
        for p in platforms
        if p in settings.accounts[name].platforms
    )
    missing = [p for p in platforms if not any(t.platform is p for t in targets)]
    if missing:
        raise UsageError(f"platform {missing[0]} is not configured for {', '.join(accounts)}")
    return targets


@dataclass(frozen=True, kw_only=True)
class PostLink:
    """What a post link pasted by staff can be matched against: the spellings of its address
    and, for a MAX link, the last path part (a message id where the link carries one)."""

    urls: frozenset[str]
    last_part: str | None


def post_link(link: str) -> PostLink | None:
    """The forms of a post address staff pasted (https/http, with or without a trailing slash,
    query and fragment dropped: platforms print one canonical form, browsers add the rest);
    None when it is not a web address."""
    text = link.strip().strip("<>")
    try:
        parts = urlsplit(text)
        host = (parts.hostname or "").lower()
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not host:
        return None
    path = parts.path.rstrip("/")
    urls = {text}
    for scheme in ("https", "http"):
        for tail in (path, f"{path}/"):
            urls.add(f"{scheme}://{host}{port}{tail}")
    last = path.rsplit("/", 1)[-1] if path else ""
    return PostLink(urls=frozenset(urls), last_part=last or None)
