"""The one table that turns MAX API errors into the core's typed errors (platforms.md §4).

MAX answers an error with an HTTP status and `{"code": "chat.denied", "message": "…"}`; the
decision is made on the status and `code`, never on the message text (it is free wording).
"""

from __future__ import annotations

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

NOT_READY = "attachment.not.ready"
# MAX sends no Retry-After with its 429: wait a little over its one-second window.
RATE_LIMIT_BACKOFF = timedelta(seconds=2)
SERVICE_BACKOFF = timedelta(seconds=30)


@dataclass(frozen=True, kw_only=True)
class Rule:
    kind: type[PublishError]
    reason: Reason
    retry_after: timedelta | None = None
    pause_account: bool = False


MAX_CODES: dict[str, Rule] = {
    "verify.token": Rule(kind=AuthError, reason=Reason.TOKEN_INVALID, pause_account=True),
    "access.token.invalid": Rule(kind=AuthError, reason=Reason.TOKEN_INVALID, pause_account=True),
    "chat.denied": Rule(kind=NeedsAttentionError, reason=Reason.NO_RIGHTS),
    "access.denied": Rule(kind=NeedsAttentionError, reason=Reason.NO_RIGHTS),
    "chat.not.found": Rule(kind=NeedsAttentionError, reason=Reason.CONFIG),
    "not.found": Rule(kind=PermanentError, reason=Reason.NOT_FOUND),
    NOT_READY: Rule(kind=TransientError, reason=Reason.PLATFORM_DOWN),
    "attachment.invalid": Rule(kind=PermanentError, reason=Reason.MEDIA_REJECTED),
    "attachment.file.too.big": Rule(kind=PermanentError, reason=Reason.FILE_TOO_BIG),
    "too.many.requests": Rule(
        kind=TransientError, reason=Reason.RATE_LIMITED, retry_after=RATE_LIMIT_BACKOFF
    ),
    "service.unavailable": Rule(
        kind=TransientError, reason=Reason.PLATFORM_DOWN, retry_after=SERVICE_BACKOFF
    ),
    "internal.error": Rule(kind=TransientError, reason=Reason.PLATFORM_DOWN),
}

# When the code is unknown, the status decides.
STATUS_RULES: dict[int, Rule] = {
    401: Rule(kind=AuthError, reason=Reason.TOKEN_INVALID, pause_account=True),
    403: Rule(kind=NeedsAttentionError, reason=Reason.NO_RIGHTS),
    404: Rule(kind=PermanentError, reason=Reason.NOT_FOUND),
    405: Rule(kind=PermanentError, reason=Reason.BAD_REQUEST),
    413: Rule(kind=PermanentError, reason=Reason.FILE_TOO_BIG),
    429: Rule(kind=TransientError, reason=Reason.RATE_LIMITED, retry_after=RATE_LIMIT_BACKOFF),
    503: Rule(kind=TransientError, reason=Reason.PLATFORM_DOWN, retry_after=SERVICE_BACKOFF),
}
BAD_REQUEST_RULE = Rule(kind=PermanentError, reason=Reason.BAD_REQUEST)
SERVER_RULE = Rule(kind=TransientError, reason=Reason.PLATFORM_DOWN)


def classify(
    status: int,
    code: str | None,
    *,
    method: str,
    idempotent: bool,
    account: str | None = None,
    retry_after: timedelta | None = None,
) -> PublishError:
    """The typed error for one MAX answer. The message names the method, status and code only:
    MAX's `message` may echo the request, so it is never copied."""
    if status >= 500 and status != 503 and not idempotent:
        # The request reached MAX and it failed while working on it: the message may exist.
        # A 503 is MAX (or its front end) refusing to take the request: nothing was made.
        return OutcomeUnknownError(
            f"MAX {method}: HTTP {status} after the request was sent",
            platform=Platform.MAX,
            account=account,
            code=code or f"http_{status}",
        )
    rule = MAX_CODES.get(code or "")
    if rule is None:
        rule = STATUS_RULES.get(status) or (SERVER_RULE if status >= 500 else BAD_REQUEST_RULE)
    message = f"MAX {method} failed: HTTP {status}"
    error: PublishError
    if issubclass(rule.kind, TransientError):
        wait = rule.retry_after
        if retry_after is not None and (wait is None or retry_after > wait):
            wait = retry_after
        error = rule.kind(
            message,
            retry_after=wait,
            platform=Platform.MAX,
            account=account,
            code=code or f"http_{status}",
            reason=rule.reason,
        )
    else:
        error = rule.kind(
            message,
            platform=Platform.MAX,
            account=account,
            code=code or f"http_{status}",
            reason=rule.reason,
        )
    if isinstance(error, NeedsAttentionError):
        error.pause_account = rule.pause_account
    return error
