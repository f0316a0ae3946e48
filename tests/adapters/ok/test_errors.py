from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pytest

from adapters.ok.errors import (
    FLOOD_WAIT,
    OK_ERRORS,
    WAIT_JITTER,
    classify_api_error,
    classify_http_status,
)
from crosspost.emulators.ok import OkEmulator
from crosspost.errors import (
    AuthError,
    NeedsAttentionError,
    OutcomeUnknownError,
    PermanentError,
    PublishError,
    Reason,
    TransientError,
)
from scheduler.retry import RetryPolicy
from tests.adapters.ok.conftest import APP_SECRET, TOKEN, PublisherFactory

T, P, H, AUTH = TransientError, PermanentError, NeedsAttentionError, AuthError

# Every code of platforms.md §3.5 with its class, reason and whether it pauses the account.
TABLE: list[tuple[int, type[PublishError], Reason, bool]] = [
    (1, T, Reason.PLATFORM_DOWN, False),
    (5000, T, Reason.PLATFORM_DOWN, False),
    (9999, T, Reason.PLATFORM_DOWN, False),
    (2, T, Reason.PLATFORM_DOWN, False),
    (8, T, Reason.RATE_LIMITED, False),
    (11, T, Reason.RATE_LIMITED, False),
    (31, T, Reason.NETWORK, False),
    (7, H, Reason.BLOCKED, True),
    (9, H, Reason.BLOCKED, True),
    (10, H, Reason.NO_RIGHTS, False),
    (50, H, Reason.NO_RIGHTS, False),
    (200, H, Reason.NO_RIGHTS, False),
    (101, AUTH, Reason.CONFIG, True),
    (103, AUTH, Reason.TOKEN_INVALID, True),
    (210, H, Reason.BLOCKED, True),
    (102, AUTH, Reason.SESSION_EXPIRED, True),
    (104, P, Reason.CONFIG, False),
    (160, H, Reason.CONFIG, False),
    (3, P, Reason.BAD_REQUEST, False),
    (4, P, Reason.BAD_REQUEST, False),
    (21, P, Reason.BAD_REQUEST, False),
    (30, P, Reason.FILE_TOO_BIG, False),
    (100, P, Reason.BAD_REQUEST, False),
    (110, P, Reason.BAD_REQUEST, False),
    (120, P, Reason.BAD_REQUEST, False),
    (121, P, Reason.BAD_REQUEST, False),
    (300, P, Reason.NOT_FOUND, False),
    (453, P, Reason.BAD_REQUEST, False),
    (455, P, Reason.BAD_REQUEST, False),
    (456, P, Reason.BAD_REQUEST, False),
    (457, P, Reason.BAD_REQUEST, False),
    (458, P, Reason.BAD_REQUEST, False),
    (454, H, Reason.BLOCKED, False),
    (500, P, Reason.MEDIA_REJECTED, False),
    (501, P, Reason.FILE_TOO_BIG, False),
    (502, P, Reason.FILE_TOO_BIG, False),
    (503, P, Reason.MEDIA_REJECTED, False),
    (504, P, Reason.MEDIA_REJECTED, False),
    (505, P, Reason.MEDIA_REJECTED, False),
    (511, H, Reason.BLOCKED, False),
    (514, H, Reason.BLOCKED, False),
    (600, P, Reason.MEDIA_REJECTED, False),
    (601, P, Reason.TOO_LONG, False),
    (607, P, Reason.LINKS_FORBIDDEN, False),
]


def test_table_covers_every_code_of_platforms_md() -> None:
    assert {code for code, *_ in TABLE} == set(OK_ERRORS)


@pytest.mark.parametrize(("code", "kind", "reason", "pause"), TABLE)
def test_classification(code: int, kind: type[PublishError], reason: Reason, pause: bool) -> None:
    error = classify_api_error(code, method="mediatopic.post", idempotent=True, account="adm")
    assert type(error) is kind
    assert error.reason is reason
    assert error.code == str(code)
    assert getattr(error, "pause_account", False) is pause
    assert "mediatopic.post" in error.message


def test_flood_answers_are_jittered_rate_limit_waits_not_failures() -> None:
    floods = [classify_api_error(8, method="m", idempotent=True) for _ in range(50)]
    limit = classify_api_error(11, method="m", idempotent=True)
    waits = set()
    for flood in floods:
        assert isinstance(flood, TransientError)
        # A wait the scheduler does not count as an attempt.
        assert flood.rate_limited
        assert flood.retry_after is not None
        assert FLOOD_WAIT <= flood.retry_after <= FLOOD_WAIT * (1 + WAIT_JITTER)
        waits.add(flood.retry_after)
    assert len(waits) > 1  # jittered: the deliveries it stopped do not return together
    assert isinstance(limit, TransientError)
    assert limit.rate_limited
    assert limit.retry_after is not None
    assert limit.retry_after >= timedelta(minutes=30)
    # Bounded: the policy caps any rate-limit wait at its max_delay.
    policy = RetryPolicy(max_delay=timedelta(minutes=2))
    now = datetime(2026, 12, 1, tzinfo=UTC)
    assert policy.next_attempt_at(limit, 99, now) == now + timedelta(minutes=2)
    assert not policy.counts_as_attempt(floods[0])


@pytest.mark.parametrize("code", [31, 5000])
def test_server_timeouts_on_a_post_are_outcome_unknown(code: int) -> None:
    assert isinstance(
        classify_api_error(code, method="mediatopic.post", idempotent=False), OutcomeUnknownError
    )
    assert isinstance(classify_api_error(code, method="m", idempotent=True), TransientError)


def test_unknown_code_is_permanent() -> None:
    error = classify_api_error(12345, method="m", idempotent=True)
    assert type(error) is PermanentError
    assert error.reason is Reason.UNKNOWN


@pytest.mark.parametrize(
    ("status", "idempotent", "kind"),
    [
        (502, True, TransientError),
        (503, False, OutcomeUnknownError),
        (429, False, TransientError),
        (404, True, PermanentError),
    ],
)
def test_http_statuses(status: int, idempotent: bool, kind: type[PublishError]) -> None:
    assert type(classify_http_status(status, method="m", idempotent=idempotent)) is kind


@pytest.mark.parametrize(
    ("code", "kind"),
    [
        (2, TransientError),
        (8, TransientError),
        (11, TransientError),
        (10, NeedsAttentionError),
        (100, PermanentError),
        (102, AuthError),
        (104, PermanentError),
        (300, PermanentError),
    ],
)
async def test_injected_errors_arrive_typed(
    ok_emulator: OkEmulator,
    make_publisher: PublisherFactory,
    code: int,
    kind: type[PublishError],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    publisher = make_publisher()
    ok_emulator.fail_next("group.getCounters", error_code=code, error_text=f"token={TOKEN}")
    with pytest.raises(PublishError) as caught:
        await publisher.subscriber_count()
    assert type(caught.value) is kind
    assert caught.value.code == str(code)
    for secret in (TOKEN, APP_SECRET):
        assert secret not in str(caught.value)
        assert secret not in caplog.text
