"""Intake under a flood: updates stored per second, and how long a channel post waits.

The Telegram emulator holds N updates from strangers (private messages and forged buttons) and,
last, one channel post; it runs in a child process (Telegram is another machine), or in this
one with --emulator-in-process. The real poller stores them (100 per getUpdates) and the inbox
processor handles them; the mirror publishes to fake VK/OK publishers. Printed: the store rate
into the inbox, the time from the start of polling (everything already waiting in Telegram) to
the channel post's first publish call and from its storing to that call, the time until the
whole flood is handled, and this process's CPU time per 1,000 updates stored (what a loaded
machine does not change much).

    python -m benchmarks.intake [--flood 5000] [--emulator-in-process]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import multiprocessing
import os
import tempfile
import time
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

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
LIVE_STRANGERS = range(900_001, 900_201)


def settings_for(api_base: str, token: str) -> Settings:
    return parse_settings(
        {
            "telegram": {
                "token": token,
                "api_base": api_base,
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


def stranger_update(emulator: TelegramEmulator, n: int, users: range) -> None:
    user = users[n % len(users)]
    if n % 3:
        emulator.send_private(user, text=f"реклама {n}")
    else:
        emulator.inject_update(
            {
                "callback_query": {
                    "id": f"{user}-{n}",
                    "from": {"id": user, "is_bot": False, "first_name": "Чужой"},
                    "chat_instance": "1",
                    "data": f"d:{n}:now:",
                }
            }
        )


class TelegramSide:
    """What the benchmark asks of Telegram: the same calls in this process or in the child.
    Times are time.monotonic(), which processes on one machine share."""

    def __init__(self, emulator: TelegramEmulator) -> None:
        self.emulator = emulator

    def seed(self, flood: int) -> int:
        """The flood waits in Telegram, the channel post last; returns its update id."""
        emulator = self.emulator
        emulator.add_channel(CHANNEL_ID, "Администрация")
        emulator.add_group(STAFF_CHAT_ID, "Пресс-служба")
        emulator.add_user(STAFF_ID, "Мария")
        for user in (*STRANGERS, *LIVE_STRANGERS):
            emulator.add_user(user, f"Чужой{user}")
        for n in range(flood):
            stranger_update(emulator, n, STRANGERS)
        emulator.post_to_channel(CHANNEL_ID, text="Срочное сообщение")
        return self.last_update_id()

    def last_update_id(self) -> int:
        return max(int(u["update_id"]) for u in self.emulator.pending_updates())

    def post(self) -> float:
        self.emulator.post_to_channel(CHANNEL_ID, text="Пост без потока")
        return time.monotonic()

    async def live_flood(self, flood: int, rate: float) -> tuple[float, float, int]:
        """`flood` updates from new strangers at `rate` per second, the channel post in the
        middle; returns when the post and the last update were sent, and the last's id."""
        loop = asyncio.get_running_loop()
        began = loop.time()
        post_at = 0.0
        sent = 0
        while sent < flood:
            due = min(flood, int((loop.time() - began) * rate) + 1)
            while sent < due:
                stranger_update(self.emulator, sent, LIVE_STRANGERS)
                sent += 1
                if sent == flood // 2:
                    self.emulator.post_to_channel(CHANNEL_ID, text="Пост посреди потока")
                    post_at = time.monotonic()
            await asyncio.sleep(0.005)
        return post_at, time.monotonic(), self.last_update_id()

    def refusals(self) -> int:
        return sum(len(self.emulator.sent(u)) for u in (*STRANGERS, *LIVE_STRANGERS)) + len(
            self.emulator.requests("answerCallbackQuery")
        )


def serve_telegram(conn: Connection) -> None:
    """Child process: Telegram is another machine, its serving cost is not ours."""

    async def serve() -> None:
        emulator = TelegramEmulator()
        await emulator.start()
        side = TelegramSide(emulator)
        conn.send((emulator.api_base, emulator.token))
        loop = asyncio.get_running_loop()
        while True:
            name, args = await loop.run_in_executor(None, conn.recv)
            if name == "stop":
                break
            result = getattr(side, name)(*args)
            conn.send(await result if asyncio.iscoroutine(result) else result)
        await emulator.stop()
        conn.send(None)

    asyncio.run(serve())


class Telegram:
    """The emulator, in this process or in a child one."""

    def __init__(self, *, in_process: bool) -> None:
        self.in_process = in_process
        self.side: TelegramSide | None = None
        self.child: BaseProcess | None = None
        self.conn: Connection | None = None

    async def start(self) -> tuple[str, str]:
        if self.in_process:
            emulator = TelegramEmulator()
            await emulator.start()
            self.side = TelegramSide(emulator)
            return emulator.api_base, emulator.token
        context = multiprocessing.get_context("spawn")
        self.conn, child_conn = context.Pipe()
        self.child = context.Process(target=serve_telegram, args=(child_conn,))
        self.child.start()
        started: tuple[str, str] = await self._recv()
        return started

    async def _recv(self) -> Any:
        assert self.conn is not None
        return await asyncio.get_running_loop().run_in_executor(None, self.conn.recv)

    async def call(self, name: str, *args: object) -> Any:
        if self.side is not None:
            result = getattr(self.side, name)(*args)
            return await result if asyncio.iscoroutine(result) else result
        assert self.conn is not None
        self.conn.send((name, args))
        return await self._recv()

    async def stop(self) -> None:
        if self.side is not None:
            await self.side.emulator.stop()
            return
        assert self.conn is not None
        assert self.child is not None
        self.conn.send(("stop", ()))
        await self._recv()
        self.child.join(10)


async def wait_stored(intake: TelegramIntake, update_id: int) -> float:
    """Until the poller's offset passes `update_id` (all up to it stored); no table scans."""
    while intake.poller is None:  # noqa: ASYNC110 - set by run_polling, no event
        await asyncio.sleep(0.005)
    poller = intake.poller
    while (poller.offset or 0) <= update_id:
        poller.stored.clear()
        await poller.stored.wait()
    return time.monotonic()


async def wait_handled(intake: TelegramIntake) -> float:
    while (await intake.inbox.counts()).get(PENDING, 0):
        intake.processor.progressed.clear()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(0.1):
                await intake.processor.progressed.wait()
    return time.monotonic()


def ms(seconds: float) -> str:
    return f"{seconds * 1000:,.0f} ms"


async def run(flood: int, rate: float, *, in_process: bool = False) -> list[tuple[str, str]]:
    telegram = Telegram(in_process=in_process)
    api_base, token = await telegram.start()
    last_update_id: int = await telegram.call("seed", flood)
    work = Path(tempfile.mkdtemp(prefix="crosspost-intake-"))
    engine = create_engine(f"sqlite+aiosqlite:///{work / 'bench.db'}")
    await migrate(engine)
    sessionmaker = create_sessionmaker(engine)
    settings = settings_for(api_base, token)
    published_at: list[float] = []
    published = asyncio.Event()

    def on_publish(_ref: DeliveryRef) -> None:
        published_at.append(time.monotonic())
        published.set()

    async def next_publish(count: int) -> float:
        while len(published_at) < count:
            published.clear()
            await published.wait()
        return published_at[count - 1]

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
    load = os.getloadavg()[0]
    cpu_started = time.process_time()
    started = time.monotonic()
    polling = asyncio.create_task(intake.run_polling(polling_timeout=1))
    rows: list[tuple[str, str]] = [
        ("Telegram emulator runs in", "this process" if in_process else "a child process"),
        ("load average (1 min) at the start", f"{load:.2f}"),
    ]
    try:
        async with asyncio.timeout(600):
            # 1. A backlog: everything waits in Telegram when polling starts, the post last.
            stored_at = await wait_stored(intake, last_update_id)
            cpu_stored = time.process_time() - cpu_started
            backlog_post = await next_publish(1)
            handled_at = await wait_handled(intake)
            total = flood + 1
            rows += [
                (f"backlog: {total} updates held by Telegram, the channel post last", ""),
                ("  stored into the inbox", f"{total / (stored_at - started):,.0f} updates/s"),
                (
                    "  CPU time of this process per 1,000 updates stored",
                    ms(cpu_stored / total * 1000),
                ),
                (
                    "  channel post: polling starts → first publish call",
                    ms(backlog_post - started),
                ),
                ("  channel post: stored → first publish call", ms(backlog_post - stored_at)),
                ("  whole backlog handled", f"{handled_at - started:,.1f} s"),
            ]
            # 2. A channel post alone: the mirror's own time.
            alone_at: float = await telegram.call("post")
            alone = await next_publish(2) - alone_at
            await wait_handled(intake)
            # 3. The flood arrives live from new strangers, the post in its middle.
            post_at, last_at, last_id = await telegram.call("live_flood", flood, rate)
            live = await next_publish(3) - post_at
            caught_up = await wait_stored(intake, last_id)
            await wait_handled(intake)
            rows += [
                ("channel post alone: sent → first publish call", ms(alone)),
                (f"live: {flood} updates at {rate:,.0f}/s, the channel post in the middle", ""),
                ("  channel post: sent → first publish call", ms(live)),
                ("  delay the flood adds to the channel post", ms(live - alone)),
                ("  last update sent → stored (intake lag)", ms(caught_up - last_at)),
            ]
    finally:
        intake.stop()
        await polling
        await drainer.stop()
        await drain
        await bot.session.close()
        refusals = await telegram.call("refusals")
        await telegram.stop()
        await engine.dispose()
    rows += [
        ("strangers", f"{len(STRANGERS) + len(LIVE_STRANGERS)}"),
        ("refusals sent (one per stranger per hour)", f"{refusals}"),
    ]
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.intake", description=__doc__)
    parser.add_argument("--flood", type=int, default=5000, help="updates from strangers")
    parser.add_argument(
        "--rate", type=float, default=1000.0, help="updates per second of the live flood"
    )
    parser.add_argument(
        "--emulator-in-process",
        action="store_true",
        help="serve Telegram from this process (its cost then counts against intake)",
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    rows = asyncio.run(run(args.flood, args.rate, in_process=args.emulator_in_process))
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
