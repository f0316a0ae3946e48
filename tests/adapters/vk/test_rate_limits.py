from __future__ import annotations

import asyncio

import pytest
from pydantic import SecretStr

from adapters.vk.client import VkToken
from crosspost.config import SchedulerConfig
from crosspost.emulators.vk import TokenKind, VkEmulator
from crosspost.errors import Reason, TransientError
from crosspost.models import Content
from crosspost.richtext import RichText
from scheduler.limits import RateLimits

from .conftest import (
    COMMUNITY,
    GROUP_ID,
    USER,
    ClientFactory,
    DeliveryFactory,
    FakeClock,
    PublisherFactory,
)


@pytest.fixture
def vk_limits(emu: VkEmulator) -> VkEmulator:
    emu.user_rate, emu.community_rate = 3.0, 20.0
    return emu


async def test_emulator_answers_error_6_past_three_per_second_for_a_user_token(
    vk_limits: VkEmulator, make_client: ClientFactory, user_token: VkToken, clock: FakeClock
) -> None:
    client = make_client()
    clock.freeze()
    for _ in range(3):
        await client.groups_get_by_id(user_token, group_id=GROUP_ID)
    with pytest.raises(TransientError) as info:
        await client.groups_get_by_id(user_token, group_id=GROUP_ID)
    assert info.value.code == "6"
    assert info.value.reason is Reason.RATE_LIMITED
    assert info.value.rate_limited
    assert info.value.retry_after is not None
    # A sliding second: a third of a second later the window still holds three.
    clock.advance(0.34)
    with pytest.raises(TransientError):
        await client.groups_get_by_id(user_token, group_id=GROUP_ID)
    clock.advance(0.67)
    await client.groups_get_by_id(user_token, group_id=GROUP_ID)
    assert vk_limits.rate_violations == {TokenKind.USER: 2}


async def test_emulator_answers_error_6_past_twenty_per_second_for_a_community_token(
    vk_limits: VkEmulator,
    make_client: ClientFactory,
    community_token: VkToken,
    clock: FakeClock,
) -> None:
    client = make_client()
    clock.freeze()
    for _ in range(20):
        await client.groups_get_by_id(community_token, group_id=GROUP_ID)
    with pytest.raises(TransientError) as info:
        await client.groups_get_by_id(community_token, group_id=GROUP_ID)
    assert info.value.code == "6"


async def test_scheduler_limits_keep_vk_from_answering_error_6(
    vk_limits: VkEmulator,
    make_client: ClientFactory,
    user_token: VkToken,
    community_token: VkToken,
) -> None:
    # Without the limiter the same burst is refused, so this test can fail.
    unthrottled = make_client()
    with pytest.raises(TransientError):
        await asyncio.gather(
            *(unthrottled.groups_get_by_id(user_token, group_id=GROUP_ID) for _ in range(6))
        )
    vk_limits.reset()
    vk_limits.add_group(GROUP_ID, "g", 1, community_token="c2", user_token="u2")
    user = VkToken(user_token.kind, SecretStr("u2"))
    community = VkToken(community_token.kind, SecretStr("c2"))
    client = make_client(throttle=RateLimits(SchedulerConfig()))
    async with asyncio.timeout(5):
        await asyncio.gather(
            *(client.groups_get_by_id(user, group_id=GROUP_ID) for _ in range(6)),
            *(client.groups_get_by_id(community, group_id=GROUP_ID) for _ in range(30)),
        )
    assert len(vk_limits.calls) == 36


async def test_a_burst_of_twenty_posts_draws_no_error_6(
    vk_limits: VkEmulator,
    make_publisher: PublisherFactory,
    make_delivery: DeliveryFactory,
    clock: FakeClock,
) -> None:
    clock.freeze()

    async def advance(seconds: float) -> None:
        # Time moves only when the limiter waits, on the emulator's clock too.
        clock.advance(max(0.0, seconds))
        await asyncio.sleep(0)

    def burst() -> list[Content]:
        return [Content(text=RichText.plain(f"Новость номер {n}")) for n in range(20)]

    unthrottled = make_publisher()
    results = await asyncio.gather(
        *(unthrottled.publish(make_delivery(), c) for c in burst()), return_exceptions=True
    )
    assert any(isinstance(r, TransientError) and r.code == "6" for r in results)
    vk_limits.reset()
    vk_limits.add_group(GROUP_ID, "g", 1, community_token=COMMUNITY, user_token=USER)

    limits = RateLimits(SchedulerConfig(), clock=clock, sleep=advance)
    publisher = make_publisher(throttle=limits)
    async with asyncio.timeout(10):
        posted = await asyncio.gather(*(publisher.publish(make_delivery(), c) for c in burst()))
    assert len({p.remote.remote_id for p in posted}) == 20
    assert len(vk_limits.wall(GROUP_ID)) == 20
    assert vk_limits.rate_violations == {}
