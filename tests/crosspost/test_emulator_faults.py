"""The chaos fault middleware: each kind in each platform's wire format, seeded, scoped."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aiohttp
import pytest

from crosspost.emulators.faults import (
    NO_FAULTS,
    FaultInjector,
    FaultKind,
    FaultPlan,
)
from crosspost.emulators.ok import OkEmulator
from crosspost.emulators.telegram import TelegramEmulator
from crosspost.emulators.vk import VkEmulator

TOKEN = "vk1.a.user"


def only(kind: FaultKind) -> FaultPlan:
    rates = {k: 0.0 for k in ("server_error", "hang", "rate_limit", "lost_reply")}
    rates[
        {
            FaultKind.SERVER_ERROR: "server_error",
            FaultKind.HANG: "hang",
            FaultKind.RATE_LIMIT: "rate_limit",
            FaultKind.LOST_REPLY: "lost_reply",
        }[kind]
    ] = 1.0
    return FaultPlan(**rates, hang_seconds=0.3, retry_after_seconds=2)


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def vk_with(plan: FaultPlan) -> tuple[VkEmulator, FaultInjector, str]:
    vk = VkEmulator()
    injector = FaultInjector("vk", plan, seed=1)
    injector.install(vk.app)
    vk.add_group(111, "Адм", user_token=TOKEN)
    return vk, injector, await vk.start()


def wall_post(base: str) -> tuple[str, dict[str, str]]:
    form = {
        "owner_id": "-111",
        "from_group": "1",
        "message": "Новость",
        "access_token": TOKEN,
        "v": "5.199",
    }
    return f"{base}/wall.post", form


async def test_vk_rate_limit_is_error_6_with_http_200(http: aiohttp.ClientSession) -> None:
    vk, injector, base = await vk_with(only(FaultKind.RATE_LIMIT))
    try:
        url, form = wall_post(base)
        async with http.post(url, data=form) as resp:
            assert resp.status == 200
            body = await resp.json()
        assert body["error"]["error_code"] == 6
        assert vk.wall(111) == []
        assert injector.log.total(FaultKind.RATE_LIMIT) == 1
    finally:
        await vk.stop()


async def test_lost_reply_makes_the_post_then_drops_the_connection(
    http: aiohttp.ClientSession,
) -> None:
    vk, injector, base = await vk_with(only(FaultKind.LOST_REPLY))
    try:
        url, form = wall_post(base)
        with pytest.raises(aiohttp.ClientConnectionError):
            async with http.post(url, data=form) as resp:
                await resp.read()
        assert [p.text for p in vk.wall(111)] == ["Новость"]
        assert injector.log.by_method[("vk", "lost_reply", "wall.post")] == 1
    finally:
        await vk.stop()


async def test_hang_outlasts_the_client_and_does_nothing(http: aiohttp.ClientSession) -> None:
    vk, _, base = await vk_with(only(FaultKind.HANG))
    try:
        url, form = wall_post(base)
        with pytest.raises(TimeoutError):
            async with http.post(url, data=form, timeout=aiohttp.ClientTimeout(total=0.1)):
                pass
        assert vk.wall(111) == []
    finally:
        await vk.stop()


async def test_upload_hosts_answer_no_api_errors(http: aiohttp.ClientSession) -> None:
    vk, injector, base = await vk_with(only(FaultKind.RATE_LIMIT))
    try:
        async with http.post(base.replace("/method", "/upload/photo/x"), data={}) as resp:
            assert resp.status in (500, 502, 503)
        assert injector.log.total(FaultKind.SERVER_ERROR) == 1
    finally:
        await vk.stop()


async def test_5xx_and_spared_methods(http: aiohttp.ClientSession) -> None:
    vk, injector, base = await vk_with(only(FaultKind.SERVER_ERROR))
    try:
        url, form = wall_post(base)
        async with http.post(url, data=form) as resp:
            assert resp.status in (500, 502, 503)
        # Checks made at start are spared, so a fault there never stops start-up.
        async with http.post(
            f"{base}/users.get", data={"access_token": TOKEN, "v": "5.199"}
        ) as resp:
            assert resp.status == 200
            assert "response" in await resp.json()
        injector.enabled = False
        async with http.post(url, data=form) as resp:
            assert "response" in await resp.json()
        assert len(vk.wall(111)) == 1
    finally:
        await vk.stop()


async def test_ok_flood_is_error_8_with_http_200(http: aiohttp.ClientSession) -> None:
    ok = OkEmulator()
    FaultInjector("ok", only(FaultKind.RATE_LIMIT), seed=1).install(ok.app)
    base = await ok.start()
    try:
        async with http.post(base, data={"method": "mediatopic.post"}) as resp:
            assert resp.status == 200
            body = await resp.json()
        assert body["error_code"] == 8
        assert body["error_msg"].startswith("FLOOD_BLOCKED")
        assert ok.calls == []  # never reached the emulator
    finally:
        await ok.stop()


async def test_telegram_429_carries_retry_after_and_polling_has_its_own_plan(
    http: aiohttp.ClientSession,
) -> None:
    tg = TelegramEmulator(token="1:T")
    tg.add_group(-100, "Штаб")
    FaultInjector("telegram", only(FaultKind.RATE_LIMIT), seed=1, polling_plan=NO_FAULTS).install(
        tg.app
    )
    base = await tg.start()
    try:
        async with http.post(
            f"{base}/bot1:T/sendMessage", json={"chat_id": -100, "text": "x"}
        ) as resp:
            assert resp.status == 429
            body = await resp.json()
        assert body["parameters"] == {"retry_after": 2}
        async with asyncio.timeout(5):
            async with http.post(f"{base}/bot1:T/getUpdates", json={"timeout": 0}) as resp:
                assert (await resp.json())["ok"] is True
    finally:
        await tg.stop()


def test_seeded_plans_repeat_and_match_their_rates() -> None:
    plan = FaultPlan(server_error=0.10, hang=0.05, rate_limit=0.03, lost_reply=0.02)
    first = FaultInjector("vk", plan, seed=7)
    second = FaultInjector("vk", plan, seed=7)
    a = [first.pick("wall.post") for _ in range(10_000)]
    assert a == [second.pick("wall.post") for _ in range(10_000)]
    assert a != [FaultInjector("vk", plan, seed=8).pick("wall.post") for _ in range(10_000)]
    assert 0.08 < a.count(FaultKind.SERVER_ERROR) / len(a) < 0.12
    assert 0.035 < a.count(FaultKind.HANG) / len(a) < 0.065
    assert 0.78 < a.count(None) / len(a) < 0.82
    with pytest.raises(ValueError, match="sum"):
        FaultPlan(server_error=0.9, hang=0.2)
