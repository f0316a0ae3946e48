"""One contract for every publisher, run against its emulator over real HTTP.

Each error class a platform can answer with becomes the same core error everywhere:
rate limits are `TransientError` with reason RATE_LIMITED and a hinted wait, outages
`TransientError`, a send whose answer was lost `OutcomeUnknownError`, bad requests
`PermanentError`, dead tokens `AuthError`. No token or secret ever appears in an exception
(its text, repr or chained causes) or in a log line. Reconcile settles what the platform can
tell: exactly one post when it says FOUND, none when NOT_FOUND.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

import aiohttp
import pytest
from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer

from adapters import max as max_adapter
from adapters import ok as ok_adapter
from adapters import telegram as telegram_adapter
from adapters import vk as vk_adapter
from crosspost.config import Settings, parse_settings
from crosspost.emulators.max import MaxEmulator
from crosspost.emulators.ok import OkEmulator
from crosspost.emulators.telegram import TelegramEmulator
from crosspost.emulators.vk import VkEmulator
from crosspost.errors import (
    AuthError,
    OutcomeUnknownError,
    PermanentError,
    PublishError,
    Reason,
    TransientError,
)
from crosspost.models import Content, DeliveryRef, Platform, ReconcileOutcome
from crosspost.publishing import Publisher, no_throttle
from crosspost.richtext import RichText

ACCOUNT = "administration"
CHANNEL_ID = -1001111111111
VK_GROUP = 111
OK_GID = "5555"
TG_TOKEN = "123456:TG-SECRET-token-value"
VK_USER = "vk1.a.USER-SECRET-token"
VK_COMMUNITY = "vk1.a.COMMUNITY-SECRET-token"
OK_APP_KEY = "CBAPUBLICKEY"
OK_APP_SECRET = "OK-APP-SECRET-0123456789"
OK_TOKEN = "tkn1-OK-SECRET-access-token"
MAX_TOKEN = "MAX-SECRET-bot-token-0001"
MAX_CHAT = -70000000000001
SECRETS = (TG_TOKEN, VK_USER, VK_COMMUNITY, OK_APP_SECRET, OK_TOKEN, MAX_TOKEN)
TIMEOUT = 0.5


class Fault(StrEnum):
    RATE_LIMITED = "rate_limited"
    DOWN = "down"  # 5xx or an internal error before anything happened
    LOST = "lost"  # the post is made and the answer never comes
    PERMANENT = "permanent"
    AUTH = "auth"


EXPECTED: dict[Fault, type[PublishError]] = {
    Fault.RATE_LIMITED: TransientError,
    Fault.DOWN: TransientError,
    Fault.LOST: OutcomeUnknownError,
    Fault.PERMANENT: PermanentError,
    Fault.AUTH: AuthError,
}


@dataclass
class Harness:
    platform: Platform
    publisher: Publisher
    inject: Callable[[Fault], None]
    posts: Callable[[], int]
    # What reconcile can say about a send that was lost, and about one that never landed.
    after_lost: ReconcileOutcome
    after_never: tuple[ReconcileOutcome, ...]


def settings(tg: str, vk: str, ok: str, mx: str) -> Settings:
    return parse_settings(
        {
            "telegram": {"token": "${TG}", "api_base": tg, "staff_chat_id": -1, "staff": [1]},
            "vk": {"api_base": vk, "timeout_seconds": TIMEOUT},
            "ok": {"api_base": ok, "timeout_seconds": TIMEOUT},
            "max": {"api_base": mx, "token": "${MAX}", "timeout_seconds": TIMEOUT},
            "accounts": {
                ACCOUNT: {
                    "title": "Администрация",
                    "telegram_channel_id": CHANNEL_ID,
                    "max_chat_id": MAX_CHAT,
                    "vk": {
                        "group_id": VK_GROUP,
                        "community_token": "${VK_COMMUNITY}",
                        "user_token": "${VK_USER}",
                    },
                    "ok": {
                        "group_id": OK_GID,
                        "application_key": OK_APP_KEY,
                        "application_secret_key": "${OK_SECRET}",
                        "access_token": "${OK_TOKEN}",
                    },
                }
            },
        },
        env={
            "TG": TG_TOKEN,
            "VK_COMMUNITY": VK_COMMUNITY,
            "VK_USER": VK_USER,
            "OK_SECRET": OK_APP_SECRET,
            "OK_TOKEN": OK_TOKEN,
            "MAX": MAX_TOKEN,
        },
    )


Emulators = tuple[TelegramEmulator, VkEmulator, OkEmulator, MaxEmulator]


@pytest.fixture(scope="module")
async def emulators() -> AsyncIterator[Emulators]:
    tg, vk, ok = TelegramEmulator(token=TG_TOKEN), VkEmulator(hang_seconds=5), OkEmulator()
    mx = MaxEmulator()
    await tg.start()
    await vk.start()
    await ok.start()
    await mx.start()
    yield tg, vk, ok, mx
    await tg.stop()
    await vk.stop()
    await ok.stop()
    await mx.stop()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
async def bot(emulators: Emulators) -> AsyncIterator[Bot]:
    api = TelegramAPIServer.from_base(emulators[0].api_base)
    bot = Bot(TG_TOKEN, session=AiohttpSession(api=api, timeout=TIMEOUT))
    yield bot
    await bot.session.close()


@pytest.fixture(params=list(Platform), ids=str)
def harness(
    request: pytest.FixtureRequest,
    emulators: Emulators,
    http: aiohttp.ClientSession,
    bot: Bot,
) -> Harness:
    tg, vk, ok, mx = emulators
    config = settings(tg.api_base, f"{vk._base}/method", f"{ok.base_url}/fb.do", mx.base_url)
    platform: Platform = request.param
    if platform is Platform.TELEGRAM:
        tg.reset()
        tg.add_channel(CHANNEL_ID, "Администрация", "adm", members=10)
        telegram_faults = {
            Fault.RATE_LIMITED: {"error_code": 429, "retry_after": 3},
            Fault.DOWN: {"error_code": 502},
            Fault.LOST: {"delay": 3.0},
            Fault.PERMANENT: {
                "error_code": 400,
                "description": "Bad Request: message is too long",
            },
            Fault.AUTH: {"error_code": 401},
        }
        return Harness(
            platform=platform,
            publisher=telegram_adapter.create_publisher(
                settings=config, account=ACCOUNT, bot=bot, throttle=no_throttle
            ),
            inject=lambda f: tg.fail_next("sendMessage", **telegram_faults[f]),  # type: ignore[arg-type]
            posts=lambda: len(tg.messages(CHANNEL_ID)),
            after_lost=ReconcileOutcome.CANNOT_TELL,
            after_never=(ReconcileOutcome.CANNOT_TELL,),
        )
    if platform is Platform.VK:
        vk.reset()
        vk.user_rate = vk.community_rate = 10_000.0
        vk.add_group(
            VK_GROUP, "Администрация", 10, community_token=VK_COMMUNITY, user_token=VK_USER
        )
        vk_faults = {
            Fault.RATE_LIMITED: {"error": 6},
            Fault.DOWN: {"error": 10},
            Fault.LOST: {"drop": True, "after": True},
            Fault.PERMANENT: {"error": 100},
            Fault.AUTH: {"error": 5},
        }
        return Harness(
            platform=platform,
            publisher=vk_adapter.create_publisher(
                settings=config, account=ACCOUNT, http=http, throttle=no_throttle
            ),
            inject=lambda f: vk.fail_next("wall.post", **vk_faults[f]),  # type: ignore[arg-type]
            posts=lambda: len(vk.wall(VK_GROUP)),
            # Inside the guid window a resend settles both: the post exists exactly once.
            after_lost=ReconcileOutcome.FOUND,
            after_never=(ReconcileOutcome.FOUND,),
        )
    if platform is Platform.MAX:
        mx.reset()
        mx.chat_rate = mx.bot_rate = 10_000
        mx.add_bot(MAX_TOKEN)
        mx.add_channel(MAX_CHAT, "Администрация", participants_count=10)
        mx.add_bot_to(MAX_CHAT, MAX_TOKEN)
        max_faults = {
            Fault.RATE_LIMITED: {"status": 429},
            Fault.DOWN: {"status": 503},
            Fault.LOST: {"status": 502, "after_effect": True},
            Fault.PERMANENT: {"status": 400, "code": "proto.payload"},
            Fault.AUTH: {"status": 401},
        }
        return Harness(
            platform=platform,
            publisher=max_adapter.create_publisher(
                settings=config, account=ACCOUNT, http=http, throttle=no_throttle
            ),
            inject=lambda f: mx.fail_next("POST /messages", **max_faults[f]),  # type: ignore[arg-type]
            posts=lambda: len(mx.bot_messages(MAX_CHAT)),
            # MAX takes no idempotency key: reconcile reads the channel's recent messages.
            after_lost=ReconcileOutcome.FOUND,
            after_never=(ReconcileOutcome.NOT_FOUND,),
        )
    ok.reset()
    ok.add_app(OK_APP_KEY, OK_APP_SECRET)
    ok.add_token(OK_TOKEN)
    ok.add_group(OK_GID, "Администрация", members=10)
    ok_faults = {
        Fault.RATE_LIMITED: {"error_code": 8},
        Fault.DOWN: {"error_code": 2},
        Fault.LOST: {"http_status": 502, "after_effect": True},
        Fault.PERMANENT: {"error_code": 100},
        Fault.AUTH: {"error_code": 102},
    }
    return Harness(
        platform=platform,
        publisher=ok_adapter.create_publisher(
            settings=config, account=ACCOUNT, http=http, throttle=no_throttle
        ),
        inject=lambda f: ok.fail_next("mediatopic.post", **ok_faults[f]),  # type: ignore[arg-type]
        posts=lambda: len(ok.group_topics(OK_GID)),
        after_lost=ReconcileOutcome.FOUND,
        after_never=(ReconcileOutcome.NOT_FOUND,),
    )


_numbers = iter(range(1, 100_000))


def delivery(platform: Platform) -> DeliveryRef:
    n = next(_numbers)
    return DeliveryRef(
        delivery_id=n,
        publication_id=n,
        account=ACCOUNT,
        platform=platform,
        idempotency_key=f"{n}:{ACCOUNT}:{platform}",
        attempts=1,
        last_attempt_at=datetime.now(UTC),
    )


def content(n: int = 0) -> Content:
    return Content(text=RichText.plain(f"Приём граждан в пятницу №{n}"))


def exception_texts(exc: BaseException) -> list[str]:
    texts: list[str] = []
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        texts += [str(current), repr(current), *(str(a) for a in current.args)]
        current = current.__cause__ or current.__context__
    return texts


def assert_no_secret(texts: list[str]) -> None:
    for text in texts:
        for secret in SECRETS:
            assert secret not in text, f"a secret leaked into: {text[:200]}"


def our_log_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    # The emulators' own access log shows request paths as a server would; ours must not.
    return [
        r.getMessage() + (r.exc_text or "")
        for r in caplog.records
        if not r.name.startswith("aiohttp.access")
    ]


async def test_a_post_goes_out_once(harness: Harness) -> None:
    assert isinstance(harness.publisher, Publisher)
    result = await harness.publisher.publish(delivery(harness.platform), content())
    assert result.remote.platform is harness.platform
    assert result.remote.remote_id
    assert harness.posts() == 1


@pytest.mark.parametrize("fault", list(Fault), ids=str)
async def test_every_error_class_is_classified_and_carries_no_secret(
    harness: Harness, fault: Fault, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    harness.inject(fault)
    with pytest.raises(PublishError) as info:
        await harness.publisher.publish(delivery(harness.platform), content())
    error = info.value
    assert type(error) is EXPECTED[fault] or (
        isinstance(error, EXPECTED[fault]) and fault is Fault.PERMANENT
    ), f"{fault}: got {type(error).__name__}"
    assert error.platform is harness.platform
    assert error.account == ACCOUNT
    if fault is Fault.RATE_LIMITED:
        assert isinstance(error, TransientError)
        assert error.reason is Reason.RATE_LIMITED
        assert error.rate_limited
        assert error.retry_after is not None
        assert error.retry_after > timedelta(0)
    if fault is Fault.DOWN:
        assert isinstance(error, TransientError)
        assert not error.rate_limited
    if fault is Fault.AUTH:
        assert isinstance(error, AuthError)
        assert error.pause_account
    assert harness.posts() == (1 if fault is Fault.LOST else 0)
    assert_no_secret(exception_texts(error))
    assert_no_secret(our_log_lines(caplog))


async def test_a_lost_answer_is_reconciled_without_a_second_post(harness: Harness) -> None:
    d = delivery(harness.platform)
    harness.inject(Fault.LOST)
    with pytest.raises(OutcomeUnknownError):
        await harness.publisher.publish(d, content(1))
    result = await harness.publisher.reconcile(d, content(1))
    assert result.outcome is harness.after_lost
    assert harness.posts() == 1
    if result.outcome is ReconcileOutcome.FOUND:
        assert result.remote is not None
        assert result.remote.platform is harness.platform


async def test_a_send_that_never_landed_is_not_adopted(harness: Harness) -> None:
    d = delivery(harness.platform)
    # Looked at a minute later, as the drainer does after a lease or a timeout.
    d = dataclasses.replace(d, last_attempt_at=datetime.now(UTC) - timedelta(minutes=1))
    result = await harness.publisher.reconcile(d, content(2))
    assert result.outcome in harness.after_never
    # FOUND only where the platform deduplicates (VK guid): then the post exists exactly once.
    assert harness.posts() == (1 if result.outcome is ReconcileOutcome.FOUND else 0)
