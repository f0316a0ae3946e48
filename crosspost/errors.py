"""The error tree. Messages are English and never contain a token; staff wording is in texts.py."""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum

from crosspost.models import Platform


class Reason(StrEnum):
    """Why a delivery failed, in words staff can act on (texts.py has the Russian)."""

    NETWORK = "network"
    RATE_LIMITED = "rate_limited"
    PLATFORM_DOWN = "platform_down"
    TOKEN_INVALID = "token_invalid"
    SESSION_EXPIRED = "session_expired"
    NO_RIGHTS = "no_rights"
    WRONG_TOKEN_TYPE = "wrong_token_type"
    CAPTCHA = "captcha"
    TOO_LONG = "too_long"
    MEDIA_REJECTED = "media_rejected"
    FILE_TOO_BIG = "file_too_big"
    LINKS_FORBIDDEN = "links_forbidden"
    POST_LIMIT = "post_limit"
    BLOCKED = "blocked"
    BAD_REQUEST = "bad_request"
    NOT_FOUND = "not_found"
    UNSUPPORTED = "unsupported"
    CONFIG = "config"
    OUTCOME_UNKNOWN = "outcome_unknown"
    UNKNOWN = "unknown"


# Failures only the IT person can fix (tokens, rights, configuration): they also reach the IT
# contact with the technical detail (staffbot/reports.py).
TECHNICAL = frozenset(
    {
        Reason.TOKEN_INVALID,
        Reason.SESSION_EXPIRED,
        Reason.NO_RIGHTS,
        Reason.WRONG_TOKEN_TYPE,
        Reason.CAPTCHA,
        Reason.CONFIG,
        Reason.BLOCKED,
        Reason.UNKNOWN,
    }
)


class CrosspostError(Exception):
    """Base of every error this package raises on purpose."""


class ConfigError(CrosspostError):
    """The configuration is broken; the CLI prints the message and exits 2."""


class UsageError(CrosspostError):
    """Bad input from a person (CLI or bot); nothing was written."""


class PublishError(CrosspostError):
    """A platform call failed. `code` is the platform's own error code, if any."""

    reason: Reason = Reason.UNKNOWN

    def __init__(
        self,
        message: str,
        *,
        platform: Platform | None = None,
        account: str | None = None,
        code: str | int | None = None,
        reason: Reason | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.platform = platform
        self.account = account
        self.code = None if code is None else str(code)
        if reason is not None:
            self.reason = reason

    def __str__(self) -> str:
        where = "/".join(p for p in (self.account, self.platform and str(self.platform)) if p)
        code = f" [{self.code}]" if self.code else ""
        return f"{where + ': ' if where else ''}{self.message}{code}"


class TransientError(PublishError):
    """Worth retrying later: network, 5xx, rate limit, flood control."""

    reason = Reason.NETWORK

    def __init__(
        self,
        message: str,
        *,
        retry_after: timedelta | None = None,
        platform: Platform | None = None,
        account: str | None = None,
        code: str | int | None = None,
        reason: Reason | None = None,
    ) -> None:
        super().__init__(message, platform=platform, account=account, code=code, reason=reason)
        self.retry_after = retry_after

    @property
    def rate_limited(self) -> bool:
        """A rate-limit answer: the scheduler waits for it, it does not count as an attempt."""
        return self.reason is Reason.RATE_LIMITED


class OutcomeUnknownError(PublishError):
    """The request left and no answer came: the post may exist. Never retried blindly."""

    reason = Reason.OUTCOME_UNKNOWN


class PermanentError(PublishError):
    """Retrying cannot help: bad payload, too long, wrong token type."""

    reason = Reason.BAD_REQUEST


class NeedsAttentionError(PermanentError):
    """A person must act (rights, captcha, blocked). `pause_account` holds the account's queue."""

    reason = Reason.NO_RIGHTS
    pause_account: bool = False


class AuthError(NeedsAttentionError):
    """The token is revoked, invalid or expired: pause the account until `check` passes."""

    reason = Reason.TOKEN_INVALID
    pause_account = True


class UnsupportedError(PermanentError):
    """The platform cannot do this at all (edit on OK, delete after 48 h on Telegram)."""

    reason = Reason.UNSUPPORTED
