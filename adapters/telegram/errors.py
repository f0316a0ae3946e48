"""Classification of aiogram exceptions into the error tree: one table for every call.

platforms.md §1.6. `classify` returns None where Telegram reports success in error form
("message is not modified").
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from aiogram.exceptions import (
    RestartingTelegram,
    TelegramAPIError,
    TelegramConflictError,
    TelegramEntityTooLarge,
    TelegramForbiddenError,
    TelegramMigrateToChat,
    TelegramNetworkError,
    TelegramNotFound,
    TelegramRetryAfter,
    TelegramServerError,
    TelegramUnauthorizedError,
)

from crosspost.errors import (
    AuthError,
    NeedsAttentionError,
    OutcomeUnknownError,
    PermanentError,
    PublishError,
    Reason,
    TransientError,
    UnsupportedError,
)
from crosspost.models import Platform

_TOKEN_IN_TEXT = re.compile(r"bot\d+:[A-Za-z0-9_-]+")

NOT_MODIFIED = "message is not modified"
DELETE_NOT_FOUND = "message to delete not found"
FILE_TOO_BIG = "file is too big"

_Factory = Callable[[str, str | None], PublishError | None]


@dataclass(frozen=True)
class _Rule:
    """Matches an exception class and, optionally, a substring of Telegram's description."""

    exc_type: type[TelegramAPIError]
    needle: str | None
    make: _Factory


def _success(message: str, code: str | None) -> None:
    return None


def _permanent(reason: Reason) -> _Factory:
    def make(message: str, code: str | None) -> PublishError:
        return PermanentError(message, code=code, reason=reason)

    return make


def _attention(reason: Reason) -> _Factory:
    def make(message: str, code: str | None) -> PublishError:
        return NeedsAttentionError(message, code=code, reason=reason)

    return make


def _unsupported(message: str, code: str | None) -> PublishError:
    return UnsupportedError(message, code=code)


def _auth(message: str, code: str | None) -> PublishError:
    return AuthError(message, code=code, reason=Reason.TOKEN_INVALID)


def _down(message: str, code: str | None) -> PublishError:
    return TransientError(message, code=code, reason=Reason.PLATFORM_DOWN)


# First match wins; description needles are lower-case substrings of Telegram's text.
_RULES: tuple[_Rule, ...] = (
    _Rule(TelegramUnauthorizedError, None, _auth),
    _Rule(TelegramForbiddenError, None, _attention(Reason.NO_RIGHTS)),
    _Rule(TelegramConflictError, None, _attention(Reason.CONFIG)),
    _Rule(TelegramNotFound, None, _attention(Reason.CONFIG)),
    _Rule(TelegramEntityTooLarge, None, _permanent(Reason.FILE_TOO_BIG)),
    _Rule(RestartingTelegram, None, _down),
    _Rule(TelegramServerError, None, _down),
    _Rule(TelegramAPIError, NOT_MODIFIED, _success),
    _Rule(TelegramAPIError, "chat not found", _attention(Reason.NO_RIGHTS)),
    _Rule(TelegramAPIError, "need administrator rights", _attention(Reason.NO_RIGHTS)),
    _Rule(TelegramAPIError, "not enough rights", _attention(Reason.NO_RIGHTS)),
    _Rule(TelegramAPIError, "have no rights", _attention(Reason.NO_RIGHTS)),
    _Rule(TelegramAPIError, "bot is not a member", _attention(Reason.NO_RIGHTS)),
    _Rule(TelegramAPIError, "bot was kicked", _attention(Reason.NO_RIGHTS)),
    _Rule(TelegramAPIError, FILE_TOO_BIG, _permanent(Reason.FILE_TOO_BIG)),
    _Rule(TelegramAPIError, "message can't be deleted", _unsupported),
    _Rule(TelegramAPIError, "message can't be edited", _unsupported),
    _Rule(TelegramAPIError, DELETE_NOT_FOUND, _permanent(Reason.NOT_FOUND)),
    _Rule(TelegramAPIError, "message to edit not found", _permanent(Reason.NOT_FOUND)),
    _Rule(TelegramAPIError, "too long", _permanent(Reason.TOO_LONG)),
    _Rule(TelegramAPIError, "wrong file identifier", _permanent(Reason.MEDIA_REJECTED)),
    _Rule(TelegramAPIError, "failed to get http url", _permanent(Reason.MEDIA_REJECTED)),
    _Rule(TelegramAPIError, "type of file mismatch", _permanent(Reason.MEDIA_REJECTED)),
    _Rule(TelegramAPIError, "file must be non-empty", _permanent(Reason.MEDIA_REJECTED)),
    _Rule(TelegramAPIError, "media of the specified type", _permanent(Reason.MEDIA_REJECTED)),
    _Rule(TelegramAPIError, "photo_", _permanent(Reason.MEDIA_REJECTED)),
    _Rule(TelegramAPIError, "image_process_failed", _permanent(Reason.MEDIA_REJECTED)),
    _Rule(TelegramAPIError, None, _permanent(Reason.BAD_REQUEST)),
)


def _describe(exc: TelegramAPIError) -> tuple[str, str]:
    method = getattr(exc.method, "__api_method__", type(exc.method).__name__)
    description = _TOKEN_IN_TEXT.sub("bot<token>", str(exc.message))
    return str(method), description


def _status(exc: TelegramAPIError) -> str | None:
    codes: tuple[tuple[type[TelegramAPIError], str], ...] = (
        (TelegramRetryAfter, "429"),
        (TelegramUnauthorizedError, "401"),
        (TelegramForbiddenError, "403"),
        (TelegramNotFound, "404"),
        (TelegramConflictError, "409"),
        (TelegramEntityTooLarge, "413"),
        (TelegramServerError, "5xx"),
        (RestartingTelegram, "5xx"),
        (TelegramMigrateToChat, "400"),
    )
    for exc_type, code in codes:
        if isinstance(exc, exc_type):
            return code
    return "400" if type(exc).__name__ == "TelegramBadRequest" else None


def classify(
    exc: TelegramAPIError,
    *,
    account: str | None = None,
    sending: bool = False,
) -> PublishError | None:
    """The PublishError for an aiogram exception; None means the call in fact succeeded.

    `sending` marks a call that may have created a message: a network failure or timeout
    then means the outcome is unknown (OutcomeUnknownError), not a plain retry.
    """
    method, description = _describe(exc)
    message = f"{method}: {description}"
    code = _status(exc)
    error: PublishError | None
    if isinstance(exc, TelegramRetryAfter):
        error = TransientError(
            message,
            retry_after=timedelta(seconds=exc.retry_after),
            code=code,
            reason=Reason.RATE_LIMITED,
        )
    elif isinstance(exc, TelegramNetworkError):
        if sending:
            error = OutcomeUnknownError(message, reason=Reason.OUTCOME_UNKNOWN)
        else:
            error = TransientError(message, reason=Reason.NETWORK)
    elif isinstance(exc, TelegramMigrateToChat):
        message = f"{message} (the chat is now {exc.migrate_to_chat_id})"
        error = NeedsAttentionError(message, code=code, reason=Reason.CONFIG)
    else:
        lowered = description.lower()
        rule = next(
            r
            for r in _RULES
            if isinstance(exc, r.exc_type) and (r.needle is None or r.needle in lowered)
        )
        error = rule.make(message, code)
    if error is not None:
        error.platform = Platform.TELEGRAM
        error.account = account
    return error


def describes(exc: TelegramAPIError, needle: str) -> bool:
    """Whether Telegram's description of `exc` contains `needle` (case-insensitive)."""
    return needle.lower() in str(exc.message).lower()
