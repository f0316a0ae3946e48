from __future__ import annotations

from datetime import timedelta

import pytest

from adapters.vk.errors import RULES, classify, scrub, transport_error
from crosspost.errors import (
    AuthError,
    NeedsAttentionError,
    OutcomeUnknownError,
    PermanentError,
    PublishError,
    Reason,
    TransientError,
)

T, P, H, A = TransientError, PermanentError, NeedsAttentionError, AuthError

# platforms.md §2.6, row by row: code -> (class, reason)
EXPECTED: dict[int, tuple[type[PublishError], Reason]] = {
    1: (T, Reason.PLATFORM_DOWN),
    10: (T, Reason.PLATFORM_DOWN),
    6: (T, Reason.RATE_LIMITED),
    9: (T, Reason.RATE_LIMITED),
    29: (T, Reason.RATE_LIMITED),
    22: (T, Reason.MEDIA_REJECTED),
    219: (T, Reason.POST_LIMIT),
    224: (T, Reason.POST_LIMIT),
    2: (H, Reason.BLOCKED),
    5: (A, Reason.TOKEN_INVALID),
    7: (H, Reason.NO_RIGHTS),
    15: (H, Reason.NO_RIGHTS),
    14: (H, Reason.CAPTCHA),
    17: (H, Reason.CAPTCHA),
    18: (H, Reason.BLOCKED),
    200: (H, Reason.NO_RIGHTS),
    203: (H, Reason.NO_RIGHTS),
    27: (P, Reason.WRONG_TOKEN_TYPE),
    8: (P, Reason.BAD_REQUEST),
    100: (P, Reason.BAD_REQUEST),
    113: (P, Reason.BAD_REQUEST),
    210: (P, Reason.NO_RIGHTS),
    214: (H, Reason.POST_LIMIT),
    220: (P, Reason.BAD_REQUEST),
    225: (P, Reason.BAD_REQUEST),
    222: (P, Reason.LINKS_FORBIDDEN),
    1051: (A, Reason.WRONG_TOKEN_TYPE),
    1116: (A, Reason.TOKEN_INVALID),
    1117: (A, Reason.SESSION_EXPIRED),
}


def test_table_covers_exactly_the_documented_codes() -> None:
    assert set(RULES) == set(EXPECTED)


@pytest.mark.parametrize("code", sorted(EXPECTED))
def test_every_code_is_classified(code: int) -> None:
    cls, reason = EXPECTED[code]
    error = classify(code, "some message", method="wall.post", account="adm")
    assert type(error) is cls
    assert error.reason is reason
    assert error.code == str(code)
    assert error.account == "adm"
    assert "wall.post" in str(error)
    # The error tree keeps these apart: nothing permanent can be retried by accident.
    assert isinstance(error, TransientError) == (cls is T)


def test_rate_limits_carry_a_retry_floor() -> None:
    six = classify(6, "", method="wall.post")
    nine = classify(9, "", method="wall.post")
    assert isinstance(six, TransientError)
    assert isinstance(nine, TransientError)
    assert six.retry_after == timedelta(seconds=1)
    assert nine.retry_after is not None
    assert nine.retry_after >= timedelta(minutes=1)


def test_auth_and_account_wide_failures_pause_the_account() -> None:
    for code in (5, 1051, 1116, 1117, 2, 18):
        error = classify(code, "", method="wall.post")
        assert isinstance(error, NeedsAttentionError)
        assert error.pause_account, code
    for code in (7, 14, 15, 214):
        error = classify(code, "", method="wall.post")
        assert isinstance(error, NeedsAttentionError)
        assert not error.pause_account, code


def test_unknown_code_fails_permanently() -> None:
    error = classify(4242, "Strange", method="wall.post")
    assert type(error) is PermanentError
    assert error.reason is Reason.UNKNOWN
    assert error.code == "4242"


def test_transport_errors() -> None:
    before = transport_error(
        "network: cannot connect",
        method="wall.post",
        account=None,
        request_sent=False,
        unsafe=True,
    )
    assert type(before) is TransientError
    assert before.reason is Reason.NETWORK
    after = transport_error(
        "network: SocketTimeoutError",
        method="wall.post",
        account=None,
        request_sent=True,
        unsafe=True,
    )
    assert type(after) is OutcomeUnknownError
    safe = transport_error(
        "HTTP 502", method="groups.getById", account=None, request_sent=True, unsafe=False
    )
    assert type(safe) is TransientError
    assert safe.reason is Reason.PLATFORM_DOWN


def test_scrub_removes_tokens() -> None:
    assert scrub("bad token vk1.a.XYZ here", ("vk1.a.XYZ", "")) == "bad token *** here"
