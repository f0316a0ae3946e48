"""The three emulators as one long-lived stack, and `crosspost run` as a child process.

The emulators live in the caller's process, so their state (walls, topics, uploaded bytes,
the staff chat) survives every SIGKILL and restart of the crosspost process under test.
`EmulatorStack.start()` seeds them like the sandbox, installs the seeded fault middleware
and writes a config file for `crosspost run -c`; `CrosspostProcess` starts, kills and
restarts that process with its log appended to one file.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from crosspost.emulators.faults import NO_FAULTS, FaultInjector, FaultLog, FaultPlan
from crosspost.emulators.ok import OkEmulator
from crosspost.emulators.telegram import TelegramEmulator
from crosspost.emulators.vk import VkEmulator
from crosspost.sandbox import BOT_TOKEN, sandbox_config, seed, write_toml


async def eventually(
    check: Callable[[], Awaitable[bool]], *, within: float, interval: float = 0.1
) -> None:
    """Wait until `check()` holds: for state another process changes, which sends no event.
    Raises TimeoutError after `within` seconds."""
    async with asyncio.timeout(within):
        while not await check():  # noqa: ASYNC110 - the other process cannot set an Event
            await asyncio.sleep(interval)


@dataclass
class EmulatorStack:
    """Telegram, VK and OK emulators with fault injectors, seeded like the sandbox."""

    root: Path
    seed: int = 1
    plan: FaultPlan = NO_FAULTS
    telegram_plan: FaultPlan = NO_FAULTS
    polling_plan: FaultPlan = NO_FAULTS
    log: FaultLog = field(default_factory=FaultLog)

    def __post_init__(self) -> None:
        self.tg = TelegramEmulator(token=BOT_TOKEN)
        self.vk = VkEmulator()
        self.ok = OkEmulator()
        self.injectors = [
            FaultInjector("vk", self.plan, seed=self.seed * 3 + 0, log=self.log),
            FaultInjector("ok", self.plan, seed=self.seed * 3 + 1, log=self.log),
            FaultInjector(
                "telegram",
                self.telegram_plan,
                seed=self.seed * 3 + 2,
                polling_plan=self.polling_plan,
                log=self.log,
            ),
        ]
        for injector, app in zip(
            self.injectors, (self.vk.app, self.ok.app, self.tg.app), strict=True
        ):
            injector.install(app)
        self.config_path = self.root / "crosspost.toml"
        self.db_path = self.root / "crosspost.db"

    def set_faults(self, enabled: bool) -> None:
        for injector in self.injectors:
            injector.enabled = enabled

    async def start(self, **overrides: dict[str, Any]) -> Path:
        """Serve all three and write the config; `overrides` merge into its tables."""
        self.root.mkdir(parents=True, exist_ok=True)
        seed(self.tg, self.vk, self.ok)
        tg_base = await self.tg.start()
        vk_base = await self.vk.start()
        ok_base = await self.ok.start()
        data = sandbox_config(tg_base, vk_base, ok_base, self.root)
        data.pop("sandbox", None)
        for table, values in overrides.items():
            data.setdefault(table, {}).update(values)
        write_toml(data, self.config_path)
        return self.config_path

    async def stop(self) -> None:
        self.vk.release_hangs()
        self.ok.release_hangs()
        await self.tg.stop()
        await self.vk.stop()
        await self.ok.stop()


@dataclass
class CrosspostProcess:
    """`crosspost run -c CONFIG` as a child process, killed and restarted at will."""

    config: Path
    log_path: Path
    env: dict[str, str] = field(default_factory=dict)
    starts: int = 0
    kills: int = 0
    # A line the service logs once it is up (polling, draining).
    ready_line: str = "crosspost running"
    _proc: asyncio.subprocess.Process | None = None
    _log_offset: int = 0

    async def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, **self.env}
        with self.log_path.open("ab") as log:
            log.write(f"\n=== chaos: start #{self.starts + 1} ===\n".encode())
            log.flush()
            self._log_offset = log.tell()
            self._proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "crosspost",
                "run",
                "-c",
                str(self.config),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                env=env,
            )
        self.starts += 1

    async def wait_ready(self, limit_seconds: float = 60.0) -> bool:
        """Wait (polling the log, bounded) until this start logged `ready_line`; False if it
        exited or the limit passed first."""
        needle = self.ready_line.encode()
        try:
            async with asyncio.timeout(limit_seconds):
                while self.running:
                    if needle in await asyncio.to_thread(self._log_since_start):
                        return True
                    await asyncio.sleep(0.1)
        except TimeoutError:
            return False
        return False

    def _log_since_start(self) -> bytes:
        with self.log_path.open("rb") as log:
            log.seek(self._log_offset)
            return log.read()

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.returncode is None

    @property
    def returncode(self) -> int | None:
        return None if self._proc is None else self._proc.returncode

    async def wait_for_log(self, line: str, *, within: float = 60.0) -> None:
        """Wait until the process's log holds `line` (appended since the last start too)."""

        async def logged() -> bool:
            if not self.running:
                raise RuntimeError(f"crosspost exited with {self.returncode}; see {self.log_path}")
            text = await asyncio.to_thread(self.log_path.read_text, errors="replace")
            return line in text.rsplit("=== chaos: start #", 1)[-1]

        await eventually(logged, within=within)

    async def kill(self) -> None:
        """SIGKILL: no shutdown code runs, as in a power cut or an OOM kill."""
        if self._proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            self._proc.send_signal(signal.SIGKILL)
        await self._proc.wait()
        self.kills += 1

    async def terminate(self, grace_seconds: float = 30.0) -> int | None:
        """SIGTERM and wait (SIGKILL after `grace_seconds`); returns the exit code."""
        if self._proc is None:
            return None
        if self._proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self._proc.send_signal(signal.SIGTERM)
            try:
                async with asyncio.timeout(grace_seconds):
                    await self._proc.wait()
            except TimeoutError:
                self._proc.kill()
                await self._proc.wait()
        return self._proc.returncode
