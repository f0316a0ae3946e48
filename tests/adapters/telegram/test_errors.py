from __future__ import annotations

from datetime import timedelta

import pytest
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramConflictError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.methods import GetUpdates, SendMessage

from adapters.telegram.errors import classify
from crosspost.errors import (
    NeedsAttentionError,
    OutcomeUnknownError,
    PermanentError,
    Reason,
    TransientError,
    UnsupportedError,
)

SEND = SendMessage(chat_id=-100, text="x")


def bad(description: str) -> TelegramBadRequest:
    return TelegramBadRequest(method=SEND, message=f"Bad Request: {description}")


def test_not_modified_is_success() -> None:
    assert classify(bad("message is not modified: specified new message content")) is None


@pytest.mark.parametrize(
    ("description", "kind", "reason"),
    [
        ("chat not found", NeedsAttentionError, Reason.NO_RIGHTS),
        ("need administrator rights in the channel chat", NeedsAttentionError, Reason.NO_RIGHTS),
        ("file is too big", PermanentError, Reason.FILE_TOO_BIG),
        ("message is too long", PermanentError, Reason.TOO_LONG),
        ("message can't be deleted", UnsupportedError, Reason.UNSUPPORTED),
        ("message to delete not found", PermanentError, Reason.NOT_FOUND),
        ("wrong file identifier/HTTP URL specified", PermanentError, Reason.MEDIA_REJECTED),
        ("can't parse entities: Unsupported start tag", PermanentError, Reason.BAD_REQUEST),
    ],
)
def test_bad_requests(description: str, kind: type[PermanentError], reason: Reason) -> None:
    error = classify(bad(description), account="head")

    assert type(error) is kind
    assert error.reason is reason
    assert error.account == "head"
    assert error.code == "400"
    assert "sendMessage" in str(error)


def test_retry_after_and_server_errors_are_transient() -> None:
    limited = classify(TelegramRetryAfter(method=SEND, message="Too Many Requests", retry_after=9))
    down = classify(TelegramServerError(method=SEND, message="Internal Server Error"))

    assert isinstance(limited, TransientError)
    assert limited.retry_after == timedelta(seconds=9)
    assert isinstance(down, TransientError)
    assert down.reason is Reason.PLATFORM_DOWN


def test_network_error_is_unknown_only_when_sending() -> None:
    timeout = TelegramNetworkError(method=SEND, message="Request timeout error")

    assert isinstance(classify(timeout, sending=True), OutcomeUnknownError)
    assert type(classify(timeout, sending=False)) is TransientError


def test_conflict_needs_attention() -> None:
    conflict = TelegramConflictError(
        method=GetUpdates(), message="Conflict: terminated by other getUpdates request"
    )

    error = classify(conflict)

    assert isinstance(error, NeedsAttentionError)
    assert error.reason is Reason.CONFIG


def test_token_is_scrubbed_from_messages() -> None:
    leaky = TelegramNetworkError(
        method=SEND, message="InvalidURL: http://h/bot123456:AAE-secret_Token/sendMessage"
    )

    assert "AAE-secret_Token" not in str(classify(leaky))
