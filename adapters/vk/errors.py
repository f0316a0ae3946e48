"""The one table that turns VK API errors into the core error tree (platforms.md §2.6)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from enum import Enum
from typing import Final

from crosspost.errors import (
    AuthError,
    NeedsAttentionError,
    OutcomeUnknownError,
    PermanentError,
    PublishError,
    Reason,
    TransientError,
)
from crosspost.models import Platform


class Kind(Enum):
    TRANSIENT = "transient"  # retry later (the scheduler decides when)
    PERMANENT = "permanent"  # fail now, retrying cannot help
    ATTENTION = "attention"  # fail now and tell staff: a person must act
    AUTH = "auth"  # the token is bad: pause the account until `check` passes


@dataclass(frozen=True, kw_only=True)
class Rule:
    kind: Kind
    reason: Reason
    meaning: str
    retry_after: timedelta | None = None
    pause_account: bool = False


def _t(reason: Reason, meaning: str, retry_after: timedelta | None = None) -> Rule:
    return Rule(kind=Kind.TRANSIENT, reason=reason, meaning=meaning, retry_after=retry_after)


def _p(reason: Reason, meaning: str) -> Rule:
    return Rule(kind=Kind.PERMANENT, reason=reason, meaning=meaning)


def _h(reason: Reason, meaning: str, *, pause: bool = False) -> Rule:
    return Rule(kind=Kind.ATTENTION, reason=reason, meaning=meaning, pause_account=pause)


def _a(reason: Reason, meaning: str) -> Rule:
    return Rule(kind=Kind.AUTH, reason=reason, meaning=meaning, pause_account=True)


RULES: Final[Mapping[int, Rule]] = {
    1: _t(Reason.PLATFORM_DOWN, "unknown error"),
    10: _t(Reason.PLATFORM_DOWN, "internal server error"),
    6: _t(Reason.RATE_LIMITED, "too many requests per second", timedelta(seconds=1)),
    9: _t(Reason.RATE_LIMITED, "flood control", timedelta(minutes=5)),
    29: _t(Reason.RATE_LIMITED, "daily method quota reached", timedelta(hours=1)),
    # A fresh upload server usually helps, and a retry asks for one.
    22: _t(Reason.MEDIA_REJECTED, "upload error"),
    219: _t(Reason.POST_LIMIT, "advertisement post limit", timedelta(hours=1)),
    224: _t(Reason.POST_LIMIT, "advertisement post limit", timedelta(hours=1)),
    2: _h(Reason.BLOCKED, "application is disabled", pause=True),
    5: _a(Reason.TOKEN_INVALID, "authorization failed"),
    7: _h(Reason.NO_RIGHTS, "permission denied"),
    15: _h(Reason.NO_RIGHTS, "access denied"),
    14: _h(Reason.CAPTCHA, "captcha needed"),
    17: _h(Reason.CAPTCHA, "validation required"),
    18: _h(Reason.BLOCKED, "user was deleted or banned", pause=True),
    200: _h(Reason.NO_RIGHTS, "access to album denied"),
    203: _h(Reason.NO_RIGHTS, "access to group denied"),
    27: _p(Reason.WRONG_TOKEN_TYPE, "method is unavailable with a community token"),
    8: _p(Reason.BAD_REQUEST, "invalid request"),
    100: _p(Reason.BAD_REQUEST, "invalid parameter"),
    113: _p(Reason.BAD_REQUEST, "invalid user id"),
    210: _p(Reason.NO_RIGHTS, "access to wall post denied"),
    214: _h(Reason.POST_LIMIT, "adding posts is denied"),
    220: _p(Reason.BAD_REQUEST, "too many recipients"),
    225: _p(Reason.BAD_REQUEST, "Donut is disabled"),
    222: _p(Reason.LINKS_FORBIDDEN, "hyperlinks are forbidden"),
    1051: _a(Reason.WRONG_TOKEN_TYPE, "unavailable for this profile type (VK ID token)"),
    1116: _a(Reason.TOKEN_INVALID, "token is invalid"),
    1117: _a(Reason.SESSION_EXPIRED, "token has expired"),
}

UNKNOWN_RULE: Final = _p(Reason.UNKNOWN, "unlisted VK error")


def scrub(text: str, secrets: tuple[str, ...]) -> str:
    """Remove token values from text that came from the wire before it reaches a message."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


def classify(code: int, message: str, *, method: str, account: str | None = None) -> PublishError:
    """The error for a VK `{"error": {...}}` answer. `message` must already be scrubbed."""
    rule = RULES.get(code, UNKNOWN_RULE)
    text = f"VK {method}: {rule.meaning}" + (f" ({message})" if message else "")
    vk = Platform.VK
    if rule.kind is Kind.TRANSIENT:
        return TransientError(
            text,
            retry_after=rule.retry_after,
            platform=vk,
            account=account,
            code=code,
            reason=rule.reason,
        )
    if rule.kind is Kind.AUTH:
        return AuthError(text, platform=vk, account=account, code=code, reason=rule.reason)
    if rule.kind is Kind.ATTENTION:
        error = NeedsAttentionError(
            text, platform=vk, account=account, code=code, reason=rule.reason
        )
        error.pause_account = rule.pause_account
        return error
    return PermanentError(text, platform=vk, account=account, code=code, reason=rule.reason)


def transport_error(
    what: str, *, method: str, account: str | None, request_sent: bool, unsafe: bool
) -> PublishError:
    """A network failure or a non-VK answer (HTTP status, bad JSON).

    After the request left, a non-idempotent call (wall.post) may have taken effect: that is
    OutcomeUnknownError, never a blind retry. Everything else is transient.
    """
    if request_sent and unsafe:
        return OutcomeUnknownError(
            f"VK {method}: {what} after the request was sent; the post may exist",
            platform=Platform.VK,
            account=account,
        )
    reason = Reason.NETWORK if what.startswith("network") else Reason.PLATFORM_DOWN
    return TransientError(
        f"VK {method}: {what}", platform=Platform.VK, account=account, reason=reason
    )
