"""The one table that turns OK API errors into the core's typed errors (platforms.md §3.5)."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import timedelta

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

# OK publishes no flood windows (platforms.md §3.5: codes 8 and 11, "T (long)"). A flood
# answer is a rate-limit wait, not a failed attempt: about half a minute, jittered so the
# deliveries it stopped do not come back together (the retry policy caps it at max_delay).
# LIMIT_REACHED is a quota, so its wait is longer.
FLOOD_WAIT = timedelta(seconds=30)
LIMIT_WAIT = timedelta(hours=1)
# Up to this fraction is added to a wait at random.
WAIT_JITTER = 0.5
SERVICE_BACKOFF = timedelta(seconds=30)
_jitter = random.SystemRandom()

# Codes that mean the server gave up while working on the request: a non-idempotent call
# (mediatopic.post) may have taken effect, so it becomes `uncertain` instead of failing.
SERVER_GAVE_UP = frozenset({31, 5000})


@dataclass(frozen=True, kw_only=True)
class Rule:
    kind: type[PublishError]
    reason: Reason
    name: str
    retry_after: timedelta | None = None
    pause_account: bool = False


def _rules(codes: tuple[int, ...], rule: Rule) -> dict[int, Rule]:
    return dict.fromkeys(codes, rule)


OK_ERRORS: dict[int, Rule] = {
    **_rules((1,), Rule(kind=TransientError, reason=Reason.PLATFORM_DOWN, name="UNKNOWN")),
    **_rules(
        (5000,), Rule(kind=TransientError, reason=Reason.PLATFORM_DOWN, name="INVALID_RESPONSE")
    ),
    **_rules((9999,), Rule(kind=TransientError, reason=Reason.PLATFORM_DOWN, name="SYSTEM")),
    2: Rule(
        kind=TransientError,
        reason=Reason.PLATFORM_DOWN,
        name="SERVICE",
        retry_after=SERVICE_BACKOFF,
    ),
    8: Rule(
        kind=TransientError,
        reason=Reason.RATE_LIMITED,
        name="FLOOD_BLOCKED",
        retry_after=FLOOD_WAIT,
    ),
    11: Rule(
        kind=TransientError,
        reason=Reason.RATE_LIMITED,
        name="LIMIT_REACHED",
        retry_after=LIMIT_WAIT,
    ),
    31: Rule(kind=TransientError, reason=Reason.NETWORK, name="NETWORK_TIMEOUT"),
    7: Rule(
        kind=NeedsAttentionError,
        reason=Reason.BLOCKED,
        name="ACTION_BLOCKED",
        pause_account=True,
    ),
    9: Rule(
        kind=NeedsAttentionError, reason=Reason.BLOCKED, name="IP_BLOCKED", pause_account=True
    ),
    10: Rule(kind=NeedsAttentionError, reason=Reason.NO_RIGHTS, name="PERMISSION_DENIED"),
    50: Rule(kind=NeedsAttentionError, reason=Reason.NO_RIGHTS, name="NOT_ADMIN"),
    200: Rule(kind=NeedsAttentionError, reason=Reason.NO_RIGHTS, name="PARAM_PERMISSION"),
    101: Rule(kind=AuthError, reason=Reason.CONFIG, name="PARAM_API_KEY", pause_account=True),
    102: Rule(
        kind=AuthError,
        reason=Reason.SESSION_EXPIRED,
        name="PARAM_SESSION_EXPIRED",
        pause_account=True,
    ),
    103: Rule(
        kind=AuthError,
        reason=Reason.TOKEN_INVALID,
        name="PARAM_SESSION_KEY",
        pause_account=True,
    ),
    210: Rule(
        kind=NeedsAttentionError,
        reason=Reason.BLOCKED,
        name="APP_DISABLED",
        pause_account=True,
    ),
    # A wrong signature is our bug or a wrong secret in the config: retrying cannot help.
    104: Rule(kind=PermanentError, reason=Reason.CONFIG, name="PARAM_SIGNATURE"),
    160: Rule(kind=NeedsAttentionError, reason=Reason.CONFIG, name="PARAM_GROUP_ID"),
    3: Rule(kind=PermanentError, reason=Reason.BAD_REQUEST, name="METHOD"),
    4: Rule(kind=PermanentError, reason=Reason.BAD_REQUEST, name="REQUEST"),
    21: Rule(kind=PermanentError, reason=Reason.BAD_REQUEST, name="NOT_MULTIPART"),
    30: Rule(kind=PermanentError, reason=Reason.FILE_TOO_BIG, name="REQUEST_BODY_TOO_BIG"),
    100: Rule(kind=PermanentError, reason=Reason.BAD_REQUEST, name="PARAM"),
    110: Rule(kind=PermanentError, reason=Reason.BAD_REQUEST, name="PARAM_USER_ID"),
    120: Rule(kind=PermanentError, reason=Reason.BAD_REQUEST, name="PARAM_ALBUM_ID"),
    121: Rule(kind=PermanentError, reason=Reason.BAD_REQUEST, name="PARAM_PHOTO_ID"),
    300: Rule(kind=PermanentError, reason=Reason.NOT_FOUND, name="NOT_FOUND"),
    453: Rule(kind=PermanentError, reason=Reason.BAD_REQUEST, name="SESSION_REQUIRED"),
    **_rules(
        (455, 456, 457, 458),
        Rule(kind=PermanentError, reason=Reason.BAD_REQUEST, name="RESTRICTION"),
    ),
    454: Rule(kind=NeedsAttentionError, reason=Reason.BLOCKED, name="CENSOR_MATCH"),
    **_rules(
        (500, 503, 504, 505),
        Rule(kind=PermanentError, reason=Reason.MEDIA_REJECTED, name="PHOTO"),
    ),
    **_rules((501, 502), Rule(kind=PermanentError, reason=Reason.FILE_TOO_BIG, name="PHOTO_SIZE")),
    511: Rule(kind=NeedsAttentionError, reason=Reason.BLOCKED, name="IDS_BLOCKED"),
    514: Rule(kind=NeedsAttentionError, reason=Reason.BLOCKED, name="VERIFICATION_REQUIRED"),
    600: Rule(kind=PermanentError, reason=Reason.MEDIA_REJECTED, name="TOO_MANY_MEDIA"),
    601: Rule(kind=PermanentError, reason=Reason.TOO_LONG, name="TEXT_TOO_LONG"),
    607: Rule(kind=PermanentError, reason=Reason.LINKS_FORBIDDEN, name="BAD_LINK"),
}

UNKNOWN_RULE = Rule(kind=PermanentError, reason=Reason.UNKNOWN, name="UNRECOGNISED")


def classify_api_error(
    code: int,
    *,
    method: str,
    idempotent: bool,
    account: str | None = None,
) -> PublishError:
    """The typed error for an OK `error_code`. The message names the method and code only:
    OK's `error_msg` can echo parameters, so it is never copied into the error."""
    if not idempotent and code in SERVER_GAVE_UP:
        return OutcomeUnknownError(
            f"OK {method}: server gave up while processing (error {code})",
            platform=Platform.OK,
            account=account,
            code=code,
        )
    rule = OK_ERRORS.get(code, UNKNOWN_RULE)
    message = f"OK {method} failed: {rule.name}"
    error: PublishError
    if issubclass(rule.kind, TransientError):
        retry_after = rule.retry_after
        if retry_after is not None and rule.reason is Reason.RATE_LIMITED:
            retry_after = retry_after * (1 + WAIT_JITTER * _jitter.random())
        error = rule.kind(
            message,
            retry_after=retry_after,
            platform=Platform.OK,
            account=account,
            code=code,
            reason=rule.reason,
        )
    else:
        error = rule.kind(
            message, platform=Platform.OK, account=account, code=code, reason=rule.reason
        )
    if isinstance(error, NeedsAttentionError):
        error.pause_account = rule.pause_account
    return error


def classify_http_status(
    status: int, *, method: str, idempotent: bool, account: str | None = None
) -> PublishError:
    """A non-200 answer. OK reports API errors with HTTP 200, so these come from its front end."""
    if status >= 500 or status in (408, 429):
        if not idempotent and status >= 500:
            # The request reached OK; platforms.md §3.5: after a 5xx the topic may exist.
            return OutcomeUnknownError(
                f"OK {method}: HTTP {status} after the request was sent",
                platform=Platform.OK,
                account=account,
                code=f"http_{status}",
            )
        reason = Reason.RATE_LIMITED if status == 429 else Reason.PLATFORM_DOWN
        return TransientError(
            f"OK {method}: HTTP {status}",
            platform=Platform.OK,
            account=account,
            code=f"http_{status}",
            reason=reason,
        )
    return PermanentError(
        f"OK {method}: HTTP {status}",
        platform=Platform.OK,
        account=account,
        code=f"http_{status}",
        reason=Reason.BAD_REQUEST,
    )
