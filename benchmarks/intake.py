"""Intake under a flood: updates stored per second, and how long a channel post waits.

The Telegram emulator holds N updates from strangers (private messages and forged buttons) and,
last, one channel post. The real poller stores them (100 per getUpdates) and the inbox processor
handles them; the mirror publishes to fake VK/OK publishers. Printed: the store rate into the
inbox, the time from the channel post's arrival in Telegram to its first publish call, and the
time until the whole flood is handled.

    python -m benchmarks.intake [--flood 5000]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from adapters.telegram.session import create_bot
from benchmarks.queue import machine_line
from crosspost.config import Settings, parse_settings
from crosspost.db import create_engine, create_sessionmaker, migrate
from crosspost.emulators.telegram import TelegramEmulator
from crosspost.inbox import PENDING
from crosspost.models import DeliveryRef, Platform
from crosspost.publishing import FakePublisher
from crosspost.service import PublicationService
from scheduler.drain import Drainer
from staffbot.dispatcher import build_dispatcher
from staffbot.intake import TelegramIntake
from staffbot.reports import TelegramReporter

CHANNEL_ID = -1001111111111
STAFF_CHAT_ID = -1009999999999
STAFF_ID = 500001
STRANGERS = range(800_001, 800_201)


def settings_for(emulator: TelegramEmulator) -> Settings:
    return parse_settings(
        {
            "telegram": {
                "token": emulator.token,
                "api_base": emulator.api_base,
                "staff_chat_id": STAFF_CHAT_ID,
                "staff": [STAFF_ID],
            },
            "accounts": {
                "administration": {
                    "title": "Администрация",
                    "telegram_channel_id": CHANNEL_ID,
                    "mirror": ["vk"],
                    "vk": {"group_id": 1, "community_token": "bench"},
                }
            },
        },
        env={},
    )


async def run(flood: int) -> list[tuple[str, str]]:
    emulator = TelegramEmulator()
    await emulator.start()
    emulator.add_channel(CHANNEL_ID, "Администрация")
    emulator.add_group(STAFF_CHAT_ID, "Пресс-служба")
    emulator.add_user(STAFF_ID, "Мария")
    for user in STRANGERS:
        emulator.add_user(user, f"Чужой{user}")
    work = Path(tempfile.mkdtemp(prefix="crosspost-intake-"))
    engine = create_engine(f"sqlite+aiosqlite:///{work / 'bench.db'}")
    await migrate(engine)
    sessionmaker = create_sessionmaker(engine)
    settings = settings_for(emulator)
    published = asyncio.Event()
    published_at: list[float] = []

    def on_publish(_ref: DeliveryRef) -> None:
        published_at.append(time.perf_counter())
        published.set()

    fakes = {
        ("administration", p): FakePublisher(platform=p, account="administration")
        for p in (Platform.TELEGRAM, Platform.VK)
    }
    fakes[("administration", Platform.VK)].on_publish = on_publish
    drainer = Drainer(sessionmaker=sessionmaker, publishers=fakes)
    service = PublicationService(sessionmaker, publishers=fakes, wake=drainer.wake)
    bot = create_bot(settings.telegram)
    dp = build_dispatcher(
        settings=settings,
        service=service,
        sessionmaker=sessionmaker,
        media_dir=work / "media",
        clock=drainer.clock,
        reporter=TelegramReporter(bot=bot, settings=settings, service=service),
    )
    intake = TelegramIntake(bot=bot, dp=dp, settings=settings, sessionmaker=sessionmaker)
    drain = asyncio.create_task(drainer.run())
    # The flood waits in Telegram; the channel post comes last.
    for n in range(flood):
        user = STRANGERS[n % len(STRANGERS)]
        if n % 3:
            emulator.send_private(user, text=f"реклама {n}")
        else:
            emulator.inject_update(
                {
                    "callback_query": {
                        "id": str(n),
                        "from": {"id": user, "is_bot": False, "first_name": "Чужой"},
                        "chat_instance": "1",
                        "data": f"d:{n}:now:",
                    }
                }
            )
    emulator.post_to_channel(CHANNEL_ID, text="Срочное сообщение")
    started = time.perf_counter()
    polling = asyncio.create_task(intake.run_polling(polling_timeout=1))
    stored_at = handled_at = 0.0
    try:
        async with asyncio.timeout(300):
            while not stored_at or not handled_at or not published.is_set():
                counts = await intake.inbox.counts()
                now = time.perf_counter()
                if not stored_at and sum(counts.values()) >= flood + 1:
                    stored_at = now
                if stored_at and not handled_at and not counts.get(PENDING, 0):
                    handled_at = now
                intake.processor.progressed.clear()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(0.05):
                        await intake.processor.progressed.wait()
    except TimeoutError:
        pass
    finally:
        refusals = sum(len(emulator.sent(u)) for u in STRANGERS) + len(
            emulator.requests("answerCallbackQuery")
        )
        intake.stop()
        await polling
        await drainer.stop()
        await drain
        await bot.session.close()
        await emulator.stop()
        await engine.dispose()
    total = flood + 1
    return [
        (
            "updates held by Telegram (strangers, forged buttons, one channel post last)",
            f"{total}",
        ),
        ("stored into the inbox", f"{total / (stored_at - started):,.0f} updates/s"),
        (
            "channel post: Telegram → first publish call, behind the flood",
            f"{(published_at[0] - started) * 1000:,.0f} ms" if published_at else "not published",
        ),
        ("whole flood handled", f"{handled_at - started:,.1f} s"),
        ("strangers", f"{len(STRANGERS)}"),
        ("refusals sent (one per stranger per hour)", f"{refusals}"),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.intake", description=__doc__)
    parser.add_argument("--flood", type=int, default=5000, help="updates from strangers")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    rows = asyncio.run(run(args.flood))
    table = Table(title="Intake under a flood")
    table.add_column("measure")
    table.add_column("value", justify="right")
    for name, value in rows:
        table.add_row(name, value)
    console = Console()
    console.print(table)
    console.print(machine_line())


if __name__ == "__main__":
    main()
