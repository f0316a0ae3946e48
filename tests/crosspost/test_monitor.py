"""/healthz and /metrics: the running service against the emulators, and the probe's 503s."""

from __future__ import annotations

import asyncio
import socket
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer

from crosspost.app import App, build_app, run_service
from crosspost.config import parse_settings, secret_values
from crosspost.db import create_engine, create_sessionmaker, migrate
from crosspost.emulators.ok import OkEmulator
from crosspost.emulators.telegram import TelegramEmulator
from crosspost.emulators.vk import VkEmulator
from crosspost.models import Content, NewPublication, Platform, PublicationSource, Target
from crosspost.monitor import HealthProbe, Metrics, build_monitor, start_monitor
from crosspost.queue import DeliveryRepository
from crosspost.richtext import RichText
from crosspost.sandbox import (
    ACCOUNTS,
    BOT_TOKEN,
    DEMO_TEXT,
    STAFF_CHAT_ID,
    sandbox_config,
    seed,
    tiny_png,
)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_health_and_metrics_of_the_running_service(tmp_path: Path) -> None:
    tg, vk, ok = TelegramEmulator(token=BOT_TOKEN), VkEmulator(), OkEmulator()
    seed(tg, vk, ok)
    data = sandbox_config(await tg.start(), await vk.start(), await ok.start(), tmp_path)
    port = free_port()
    data["http"] = {"listen": f"127.0.0.1:{port}"}
    settings = parse_settings(data, env={})
    metrics_sink = Metrics()
    app: App = await build_app(settings, sinks=[metrics_sink])
    monitor = await start_monitor(app, metrics_sink)
    assert monitor is not None
    stop = asyncio.Event()
    service = asyncio.create_task(run_service(app, stop=stop))
    base = f"http://127.0.0.1:{port}"
    try:
        await tg.wait_for_request("getUpdates")
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{base}/healthz") as resp:
                assert resp.status == 200
                health = await resp.json()
            assert health["status"] == "ok"
            assert health["checks"] == {"database": True, "drain": True, "inbound": True}
            listed = {(t["account"], t["platform"]) for t in health["targets"]}
            assert listed == {(a, str(p)) for a, p in app.publishers}
            assert health["queue"]["oldest_overdue_seconds"] == 0

            adm = ACCOUNTS["administration"]
            tg.post_to_channel(adm["channel"], photo=tiny_png(), caption=DEMO_TEXT)
            await tg.wait_for_sent(
                lambda s: s.chat_id == STAFF_CHAT_ID and (s.text or "").count("✅") == 2,
                timeout=15,
            )
            async with app.sessionmaker() as session, session.begin():
                await DeliveryRepository(session).pause(
                    "head", Platform.OK, "auth", datetime.now(UTC)
                )
            async with http.get(f"{base}/metrics") as resp:
                assert resp.status == 200
                assert resp.content_type == "text/plain"
                metrics = await resp.text()
            async with http.get(f"{base}/healthz") as resp:
                health = await resp.json()
                body = await resp.text()
    finally:
        stop.set()
        async with asyncio.timeout(30):
            await service
        await monitor.stop()
        await app.close()
        await tg.stop()
        await vk.stop()
        await ok.stop()
    for platform in ("vk", "ok"):
        assert (
            "crosspost_deliveries_total"
            f'{{account="administration",outcome="published",platform="{platform}"}} 1.0'
        ) in metrics
        assert f'crosspost_publish_duration_seconds_count{{platform="{platform}"}} 1.0' in metrics
    assert 'crosspost_queue_depth{status="pending"} 0.0' in metrics
    assert "crosspost_oldest_overdue_seconds 0.0" in metrics
    assert 'crosspost_target_paused{account="head",platform="ok"} 1.0' in metrics
    assert 'crosspost_target_paused{account="administration",platform="vk"} 0.0' in metrics
    assert 'crosspost_component_up{component="drain"} 1.0' in metrics
    paused = [t for t in health["targets"] if t["state"] == "paused"]
    assert [(t["account"], t["platform"]) for t in paused] == [("head", "ok")]
    for secret in secret_values(settings):
        assert secret not in metrics
        assert secret not in body


@pytest.fixture
async def database(tmp_path: Path) -> str:
    url = f"sqlite+aiosqlite:///{tmp_path / 'q.db'}"
    engine = create_engine(url)
    await migrate(engine)
    await engine.dispose()
    return url


async def probe_client(
    probe: HealthProbe,
) -> TestClient[aiohttp.web.Request, aiohttp.web.Application]:
    client = TestClient(TestServer(build_monitor(probe, Metrics())))
    await client.start_server()
    return client


async def test_overdue_delivery_age_and_depth(database: str) -> None:
    now = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
    engine = create_engine(database)
    sessionmaker = create_sessionmaker(engine)
    async with sessionmaker() as session, session.begin():
        await DeliveryRepository(session).enqueue(
            NewPublication(
                content=Content(text=RichText.plain("x")),
                targets=(Target(account="a", platform=Platform.VK),),
                publish_at=now - timedelta(minutes=2),
                source=PublicationSource.CLI,
                author="cli:test",
            ),
            now - timedelta(minutes=3),
        )
    probe = HealthProbe(
        sessionmaker,
        targets=[("a", Platform.VK)],
        alive={"drain": lambda: True, "inbound": lambda: True},
        clock=lambda: now,
    )
    client = await probe_client(probe)
    try:
        resp = await client.get("/healthz")
        health = await resp.json()
        metrics = await (await client.get("/metrics")).text()
    finally:
        await client.close()
        await engine.dispose()
    assert resp.status == 200
    assert health["queue"] == {"depth": {"pending": 1}, "oldest_overdue_seconds": 120.0}
    assert "crosspost_oldest_overdue_seconds 120.0" in metrics
    assert 'crosspost_queue_depth{status="pending"} 1.0' in metrics


@pytest.mark.parametrize("dead", ["drain", "inbound", "database"])
async def test_503_when_a_vital_part_is_down(database: str, tmp_path: Path, dead: str) -> None:
    url = database if dead != "database" else f"sqlite+aiosqlite:///{tmp_path}/no/such/q.db"
    engine = create_engine(url)
    probe = HealthProbe(
        create_sessionmaker(engine),
        targets=[("a", Platform.VK)],
        alive={"drain": lambda: dead != "drain", "inbound": lambda: dead != "inbound"},
    )
    client = await probe_client(probe)
    try:
        resp = await client.get("/healthz")
        health = await resp.json()
    finally:
        await client.close()
        await engine.dispose()
    assert resp.status == 503
    assert health["status"] == "unhealthy"
    assert health["checks"][dead] is False
    assert sum(not ok for ok in health["checks"].values()) == 1
