"""`crosspost run` as a real process: starts, polls Telegram, and exits 0 on SIGTERM."""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path

from crosspost.emulators.telegram import TelegramEmulator

TOKEN = "900000001:PROCESS-TEST"
CONFIG = """
[database]
url = "sqlite+aiosqlite:///{db}"
[telegram]
token = "${{CROSSPOST_TEST_TOKEN}}"
api_base = "{api}"
staff_chat_id = -1009
staff = [1]
[media]
dir = "{media}"
[accounts.administration]
title = "Администрация"
telegram_channel_id = -1001
"""


async def test_run_polls_and_exits_0_on_sigterm(tmp_path: Path) -> None:
    emulator = TelegramEmulator(token=TOKEN)
    emulator.add_channel(-1001, "Администрация")
    emulator.add_group(-1009, "Пресс-служба")
    api = await emulator.start()
    config = tmp_path / "crosspost.toml"
    config.write_text(
        CONFIG.format(db=tmp_path / "q.db", api=api, media=tmp_path / "media"), encoding="utf-8"
    )
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "crosspost",
        "run",
        "-c",
        str(config),
        env={"CROSSPOST_TEST_TOKEN": TOKEN, "PATH": "/usr/bin:/bin"},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        # A bound, not a timing claim: a loaded machine takes long to import aiogram.
        await emulator.wait_for_request("getUpdates", timeout=180)
        process.send_signal(signal.SIGTERM)
        async with asyncio.timeout(30):
            output, _ = await process.communicate()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
        await emulator.stop()
    log = output.decode()
    assert process.returncode == 0, log
    assert "stopping: no new claims" in log
    assert TOKEN not in log  # the token never reaches the log
    assert TOKEN.split(":")[1] not in log


async def test_a_second_run_on_the_same_database_exits_2_with_one_line(tmp_path: Path) -> None:
    emulator = TelegramEmulator(token=TOKEN)
    emulator.add_channel(-1001, "Администрация")
    emulator.add_group(-1009, "Пресс-служба")
    api = await emulator.start()
    config = tmp_path / "crosspost.toml"
    config.write_text(
        CONFIG.format(db=tmp_path / "q.db", api=api, media=tmp_path / "media"), encoding="utf-8"
    )
    env = {"CROSSPOST_TEST_TOKEN": TOKEN, "PATH": "/usr/bin:/bin"}
    args = (sys.executable, "-m", "crosspost", "run", "-c", str(config))
    first = await asyncio.create_subprocess_exec(
        *args, env=env, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL
    )
    try:
        await emulator.wait_for_request("getUpdates", timeout=120)
        second = await asyncio.create_subprocess_exec(
            *args, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
        )
        async with asyncio.timeout(120):
            out, err = await second.communicate()
    finally:
        if first.returncode is None:
            first.send_signal(signal.SIGTERM)
            async with asyncio.timeout(60):
                await first.wait()
        await emulator.stop()
    lines = [line for line in err.decode().splitlines() if line.strip()]
    assert second.returncode == 2, (out, err)
    assert len(lines) == 1, lines
    assert "another crosspost run is already using the database" in lines[0]
