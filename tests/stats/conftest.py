"""The service wired as `crosspost run` wires it, against the three emulators holding the
yearly report's six numbers (the administration's hand-written report for 2023)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from crosspost.app import App, build_app
from crosspost.config import parse_settings
from crosspost.emulators.ok import OkEmulator
from crosspost.emulators.telegram import TelegramEmulator
from crosspost.emulators.vk import VkEmulator
from crosspost.models import (
    Content,
    NewPublication,
    Platform,
    PublicationSource,
    RemotePost,
    Target,
)
from crosspost.queue import DeliveryRepository
from crosspost.richtext import RichText
from crosspost.sandbox import ACCOUNTS, BOT_TOKEN, sandbox_config, seed
from crosspost.stats.repository import ImportRow, StatsRepository

# 1 January 2024, 03:00 in Vladivostok: the daily job's default time.
NOW = datetime(2023, 12, 31, 17, 0, tzinfo=UTC)
ON = date(2024, 1, 1)
YEAR_AGO = date(2023, 1, 1)

SEED: dict[tuple[str, str], int] = {
    ("administration", "telegram"): 7855,
    ("administration", "vk"): 4236,
    ("administration", "ok"): 2357,
    ("head", "telegram"): 2542,
    ("head", "vk"): 7521,
    ("head", "ok"): 914,
}
# A year earlier every number was half of today's.
EARLIER = {key: value // 2 for key, value in SEED.items()}


@dataclass
class World:
    tg: TelegramEmulator
    vk: VkEmulator
    ok: OkEmulator
    app: App
    config: dict[str, Any]


def seed_counts(tg: TelegramEmulator, vk: VkEmulator, ok: OkEmulator) -> None:
    seed(tg, vk, ok)
    for (account, platform), count in SEED.items():
        a = ACCOUNTS[account]
        if platform == "telegram":
            tg.set_members(a["channel"], count)
        elif platform == "vk":
            vk.set_members(a["vk_group"], count)
        else:
            ok.set_members(a["ok_group"], count)


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    tg, vk, ok = TelegramEmulator(token=BOT_TOKEN), VkEmulator(), OkEmulator()
    seed_counts(tg, vk, ok)
    config = sandbox_config(await tg.start(), await vk.start(), await ok.start(), tmp_path)
    app = await build_app(parse_settings(config, env={}))
    app.clock = lambda: NOW
    try:
        yield World(tg=tg, vk=vk, ok=ok, app=app, config=config)
    finally:
        await app.close()
        await tg.stop()
        await vk.stop()
        await ok.stop()


async def import_year_ago(app: App) -> None:
    rows = [
        ImportRow(day=YEAR_AGO, account=a, platform=p, subscribers=n)
        for (a, p), n in EARLIER.items()
    ]
    async with app.sessionmaker() as session, session.begin():
        await StatsRepository(session).import_rows(rows, NOW)


async def publish_record(
    app: App, account: str, platform: Platform, remote_id: str, at: datetime
) -> None:
    """A post the queue recorded as published at `at` (as the drainer records it)."""
    new = NewPublication(
        content=Content(text=RichText.plain(f"Новость {remote_id}")),
        targets=(Target(account=account, platform=platform),),
        publish_at=at,
        source=PublicationSource.CLI,
        author="test",
    )
    async with app.sessionmaker() as session, session.begin():
        repo = DeliveryRepository(session)
        await repo.enqueue(new, at)
        (delivery,) = await repo.claim_due(at, timedelta(minutes=5), 10)
        await repo.mark_published(
            delivery.delivery_id,
            RemotePost(platform=platform, account=account, remote_id=remote_id, url=None),
            at,
        )
