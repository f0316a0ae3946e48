"""Issue 15: several processes on one PostgreSQL queue against one process on SQLite.

    scripts/with-postgres .venv/bin/python -m benchmarks.postgres      (make bench does this)

1. Drain throughput: the same backlog of pending deliveries drained by 1, 2 and 4 worker
   processes on PostgreSQL and by 1 process on SQLite, in the same run. Each worker is a real
   `Drainer` with fake publishers (no network), as in benchmarks/queue.py; the figure is the
   wall time from "all workers ready" to "every delivery published", read from the database.
2. Start-up and `crosspost check` with 1,000 accounts in the config (VK and OK emulators on
   127.0.0.1): time until `crosspost run` logs that it runs, and the whole `check` command.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from benchmarks.queue import (
    ACCOUNT,
    ENQUEUE_BATCH,
    LEASE,
    PLATFORMS,
    Row,
    fake_publishers,
    machine_line,
    new_publication,
)
from crosspost.db import create_engine, create_sessionmaker, migrate, write_session
from crosspost.queue import DeliveryRepository
from scheduler.drain import Drainer

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results" / "postgres.txt"
URL_ENV = "CROSSPOST_TEST_POSTGRES_URL"
CONCURRENCY = 16


class _Quiet:
    async def delivery_event(self, event: object) -> None:
        return None


# -- the worker process --------------------------------------------------------------------


async def worker(url: str, concurrency: int) -> None:
    """Drain until SIGTERM; prints `ready` once built, so the parent starts its clock."""
    sessionmaker = create_sessionmaker(create_engine(url))
    drainer = Drainer(
        sessionmaker=sessionmaker,
        publishers=fake_publishers(),
        sink=_Quiet(),
        concurrency=concurrency,
        lease=LEASE,
    )
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(15, stop.set)
    print("ready", flush=True)
    await asyncio.to_thread(sys.stdin.readline)  # the parent says go
    runner = asyncio.create_task(drainer.run())
    await stop.wait()
    await drainer.stop()
    await runner
    bind = sessionmaker.kw.get("bind")
    if bind is not None:
        await bind.dispose()


# -- the parent ------------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def fresh_postgres(base_url: str) -> Any:
    name = f"bench_{uuid.uuid4().hex[:12]}"
    admin = create_async_engine(base_url, isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as conn:
            await conn.execute(text(f'CREATE DATABASE "{name}"'))
        yield make_url(base_url).set(database=name).render_as_string(hide_password=False)
        async with admin.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        await admin.dispose()


async def fill(url: str, publications: int) -> None:
    engine = create_engine(url)
    await migrate(engine)
    sessionmaker = create_sessionmaker(engine)
    due = datetime.now(UTC)
    for first in range(0, publications, ENQUEUE_BATCH):
        async with write_session(sessionmaker, what="bench fill") as session:
            repo = DeliveryRepository(session)
            for _ in range(first, min(publications, first + ENQUEUE_BATCH)):
                await repo.enqueue(new_publication(due), due)
    await engine.dispose()


async def published(url: str) -> int:
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            return int(
                await conn.scalar(text("SELECT count(*) FROM deliveries WHERE status='published'"))
                or 0
            )
    finally:
        await engine.dispose()


async def drain_with(url: str, processes: int, total: int, cap: float) -> tuple[float, int]:
    """Seconds from "go" to every delivery published (or the cap), and how many were."""
    procs = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "benchmarks.postgres",
            "worker",
            url,
            str(CONCURRENCY),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            cwd=ROOT,
        )
        for _ in range(processes)
    ]
    try:
        for proc in procs:
            assert proc.stdout is not None
            async with asyncio.timeout(120):
                line = await proc.stdout.readline()
            if line.strip() != b"ready":
                raise RuntimeError(f"worker did not start: {line!r}")
        started = time.perf_counter()
        for proc in procs:
            assert proc.stdin is not None
            proc.stdin.write(b"go\n")
            await proc.stdin.drain()
        done = 0
        while time.perf_counter() - started < cap:
            done = await published(url)
            if done >= total:
                break
            await asyncio.sleep(0.05)
        return time.perf_counter() - started, done
    finally:
        for proc in procs:
            with contextlib.suppress(ProcessLookupError):
                proc.terminate()
        for proc in procs:
            await proc.wait()


async def exactly_once(url: str) -> bool:
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            bad = await conn.scalar(
                text(
                    "SELECT count(*) FROM deliveries WHERE attempts <> 1 OR status <> 'published'"
                )
            )
        return bool(bad == 0)
    finally:
        await engine.dispose()


async def throughput(base_url: str, publications: int, cap: float, work: Path) -> list[Row]:
    total = publications * len(PLATFORMS)
    rows: list[Row] = []
    cases: list[tuple[str, int]] = [("sqlite", 1), ("postgresql", 1), ("postgresql", 2)]
    cases.append(("postgresql", 4))
    for kind, processes in cases:
        if kind == "sqlite":
            url = f"sqlite+aiosqlite:///{work / 'bench.db'}"
            ctx: Any = contextlib.nullcontext(url)
        else:
            ctx = fresh_postgres(base_url)
        async with ctx as url:
            await fill(url, publications)
            seconds, done = await drain_with(url, processes, total, cap)
            once = await exactly_once(url) if done >= total else False
        per_second = done / seconds if seconds else 0.0
        rows.append(
            Row(
                section="drain",
                figure=f"{kind}, {processes} process{'es' if processes > 1 else ''} × "
                f"concurrency {CONCURRENCY}",
                value=f"{per_second:,.0f} deliveries/s",
                goal="",
                met=None,
                note=f"{done:,} of {total:,} in {seconds:.1f} s"
                + ("; each sent once" if once else "; NOT each exactly once"),
            )
        )
    return rows


# -- start-up and check with 1,000 accounts ---------------------------------------------------


async def thousand_accounts(base_url: str, work: Path, accounts: int) -> list[Row]:
    from crosspost.emulators.ok import OkEmulator
    from crosspost.emulators.telegram import TelegramEmulator
    from crosspost.emulators.vk import VkEmulator
    from crosspost.sandbox import BOT_TOKEN, OK_APP_KEY, OK_APP_SECRET, STAFF_CHAT_ID, write_toml

    tg, vk, ok = TelegramEmulator(token=BOT_TOKEN), VkEmulator(), OkEmulator()
    tg.add_group(STAFF_CHAT_ID, "staff")
    ok.add_app(OK_APP_KEY, OK_APP_SECRET)
    table: dict[str, Any] = {}
    for n in range(accounts):
        name = f"a{n:04d}"
        channel = -1002000000000 - n
        tg.add_channel(channel, name, f"ch{n}", members=10)
        vk.add_group(100000 + n, name, community_token=f"vk1.a.bench-{n}")
        ok.add_group(str(500000 + n), name)
        ok.add_token(f"ok-bench-{n}")
        table[name] = {
            "title": f"Аккаунт {n}",
            "telegram_channel_id": channel,
            "mirror": ["vk", "ok"],
            "vk": {"group_id": 100000 + n, "community_token": f"vk1.a.bench-{n}"},
            "ok": {
                "group_id": str(500000 + n),
                "application_key": OK_APP_KEY,
                "application_secret_key": OK_APP_SECRET,
                "access_token": f"ok-bench-{n}",
            },
        }
    tg_base, vk_base, ok_base = await tg.start(), await vk.start(), await ok.start()

    def config_for(kind: str, url: str) -> Path:
        config = work / f"thousand-{kind}.toml"
        write_toml(
            {
                "database": {"url": url},
                "telegram": {
                    "token": BOT_TOKEN,
                    "api_base": tg_base,
                    "staff_chat_id": STAFF_CHAT_ID,
                    "staff": [1],
                },
                "vk": {"api_base": vk_base},
                "ok": {"api_base": ok_base},
                "media": {"dir": str(work / "media")},
                "accounts": table,
            },
            config,
        )
        return config

    rows: list[Row] = []
    try:
        for kind in ("sqlite", "postgresql"):
            if kind == "sqlite":
                ctx: Any = contextlib.nullcontext(f"sqlite+aiosqlite:///{work / 'thousand.db'}")
            else:
                ctx = fresh_postgres(base_url)
            async with ctx as url:
                config = config_for(kind, url)
                up = await start_up(config, work / f"thousand-{kind}.log")
                rows.append(
                    Row(
                        section=f"{accounts:,} accounts",
                        figure=f"`crosspost run` on {kind}, start → running "
                        "(migrations, publishers, polling)",
                        value=f"{up:.1f} s",
                        goal="",
                        met=None,
                        note=f"{accounts:,} accounts × 3 platforms, empty database",
                    )
                )
                if kind == "postgresql":
                    took, code, err = await check_all(config)
                    rows.append(
                        Row(
                            section=f"{accounts:,} accounts",
                            figure="`crosspost check` (every token and channel of every account)",
                            value=f"{took:.1f} s",
                            goal="",
                            met=None,
                            note=f"exit {code}" + (f": {err[-200:]}" if code else ""),
                        )
                    )
    finally:
        await tg.stop()
        await vk.stop()
        await ok.stop()
    return rows


def read(path: Path) -> str:
    return path.read_text(errors="replace")


async def start_up(config: Path, log: Path) -> float:
    """Seconds from `crosspost run` to its «crosspost running» line."""
    started = time.perf_counter()
    with log.open("wb") as out:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "crosspost", "run", "-c", str(config),
            stdout=out, stderr=out, cwd=ROOT,
        )  # fmt: skip
    try:
        async with asyncio.timeout(300):
            while "crosspost running" not in (text := await asyncio.to_thread(read, log)):
                if proc.returncode is not None:
                    raise RuntimeError(text[-2000:])
                await asyncio.sleep(0.05)
        return time.perf_counter() - started
    finally:
        proc.terminate()
        await proc.wait()


async def check_all(config: Path) -> tuple[float, int | None, str]:
    started = time.perf_counter()
    check = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "crosspost", "check", "-c", str(config),
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE, cwd=ROOT,
    )  # fmt: skip
    _, err = await check.communicate()
    return time.perf_counter() - started, check.returncode, err.decode(errors="replace").strip()


def render(rows: Sequence[Row]) -> Table:
    table = Table(title="PostgreSQL: several processes on one queue")
    for column in ("section", "figure", "value", "note"):
        table.add_column(column)
    for row in rows:
        table.add_row(row.section, row.figure, row.value, row.note)
    return table


async def run(args: argparse.Namespace) -> list[Row]:
    base = os.environ.get(URL_ENV)
    if not base:
        raise SystemExit(f"{URL_ENV} is not set: run under scripts/with-postgres")
    with tempfile.TemporaryDirectory(prefix="crosspost-bench-pg-") as tmp:
        work = Path(tmp)
        rows = (
            await throughput(base, args.publications, args.cap, work) if args.publications else []
        )
        if args.accounts:
            rows += await thousand_accounts(base, work, args.accounts)
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "worker":
        asyncio.run(worker(argv[1], int(argv[2])))
        return 0
    parser = argparse.ArgumentParser(prog="python -m benchmarks.postgres")
    parser.add_argument("--publications", type=int, default=5000)
    parser.add_argument("--cap", type=float, default=120.0, help="seconds per drain at most")
    parser.add_argument("--accounts", type=int, default=1000)
    args = parser.parse_args(argv)
    console = Console(width=140)
    rows = asyncio.run(run(args))
    table = render(rows)
    console.print(table)
    console.print(machine_line())
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    with RESULTS.open("w") as out:
        file_console = Console(file=out, width=140)
        file_console.print(table)
        file_console.print(machine_line())
    print(f"(account {ACCOUNT}; results in {RESULTS.relative_to(ROOT)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
