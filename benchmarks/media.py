"""Media benchmark: a 1 GB video posted in a Telegram channel is mirrored by a real
`crosspost run` through a local Bot API server emulator to VK and OK; the figure is how much
the process's peak RSS grows over its idle RSS. Run: `python -m benchmarks.media`."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import logging
import os
import signal
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from rich.console import Console
from rich.table import Table

from benchmarks.queue import machine_line, mb, proc_status, tail
from crosspost.emulators.ok import OkEmulator
from crosspost.emulators.telegram import TelegramEmulator
from crosspost.emulators.vk import VkEmulator

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results" / "media.txt"
CHANNEL = -1001111111111
STAFF_CHAT = -1001234567890
STAFF_USER = 123456789
VK_GROUP = 111
VK_USER = "vk1.a.bench-user-token"
VK_COMMUNITY = "vk1.a.bench-community-token"
OK_GID = "5555"
OK_APP_KEY = "CBABENCHKEY"
OK_APP_SECRET = "bench-ok-app-secret"
OK_TOKEN = "bench-ok-access-token"
GOAL_MIB = 64.0
HASH_CHUNK = 4 * 1024 * 1024


@dataclass(frozen=True, kw_only=True)
class Row:
    figure: str
    value: str
    goal: str = ""
    met: bool | None = None
    note: str = ""


def config(work: Path, tg: str, vk: str, ok: str, processing: float) -> Path:
    text = f"""
[database]
url = "sqlite+aiosqlite:///{work / "media.db"}"

[telegram]
token = "${{BENCH_TELEGRAM_TOKEN}}"
api_base = "{tg}"
is_local = true
staff_chat_id = {STAFF_CHAT}
staff = [{STAFF_USER}]

[vk]
api_base = "{vk}"

[ok]
api_base = "{ok}"

[media]
dir = "{work / "media"}"
max_file_mb = 2000

[logging]
level = "info"

[accounts.administration]
title = "Benchmark"
telegram_channel_id = {CHANNEL}
mirror = ["vk", "ok"]
vk = {{ group_id = {VK_GROUP}, community_token = "${{BENCH_VK_COMMUNITY}}", user_token = "${{BENCH_VK_USER}}" }}
ok = {{ group_id = "{OK_GID}", application_key = "{OK_APP_KEY}", application_secret_key = "${{BENCH_OK_SECRET}}", access_token = "${{BENCH_OK_TOKEN}}" }}
"""  # noqa: E501
    path = work / "media.toml"
    path.write_text(text.lstrip())
    return path


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def reset_peak(pid: int) -> bool:
    """Reset VmHWM to the current RSS (Linux: writing 5 to clear_refs), so the peak read later
    is the peak of the mirror alone, not of start-up."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    except OSError:
        return False
    return True


async def sample_rss(pid: int, stop: asyncio.Event, peak: list[float]) -> None:
    while not stop.is_set():
        with contextlib.suppress(OSError, KeyError):
            peak[0] = max(peak[0], mb(proc_status(pid)["VmRSS"]))
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(0.05):
                await stop.wait()


async def mirror_video(args: argparse.Namespace, work: Path, progress: Console) -> list[Row]:
    size = args.size_mb * 1024 * 1024 if args.size_mb else 1_000_000_000
    tg = TelegramEmulator(local_dir=work / "bot-api-server")
    vk = VkEmulator(keep_bytes=False)
    ok = OkEmulator(keep_bytes=False, video_processing=timedelta(seconds=args.processing))
    tg_base, vk_base, ok_base = await tg.start(), await vk.start(), await ok.start()
    try:
        tg.add_channel(CHANNEL, "Benchmark", "bench_channel")
        tg.add_group(STAFF_CHAT, "Staff")
        tg.add_user(STAFF_USER, "Staff")
        vk.add_group(VK_GROUP, "Benchmark", 10, community_token=VK_COMMUNITY, user_token=VK_USER)
        ok.add_app(OK_APP_KEY, OK_APP_SECRET)
        ok.add_token(OK_TOKEN)
        ok.add_group(OK_GID, "Benchmark", members=10)
        path = config(work, tg_base, vk_base, ok_base, args.processing)
        env = {
            **os.environ,
            "BENCH_TELEGRAM_TOKEN": tg.token,
            "BENCH_VK_USER": VK_USER,
            "BENCH_VK_COMMUNITY": VK_COMMUNITY,
            "BENCH_OK_SECRET": OK_APP_SECRET,
            "BENCH_OK_TOKEN": OK_TOKEN,
        }
        script = ROOT / ".venv" / "bin" / "crosspost"
        if not script.exists():
            script = Path(sys.executable).parent / "crosspost"
        log = work / "run.log"
        with log.open("wb") as out:
            proc = await asyncio.create_subprocess_exec(
                str(script), "run", "-c", str(path), cwd=work, env=env, stdout=out, stderr=out
            )
        try:
            return await _measure(args, proc, tg, vk, ok, size, log, progress)
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
    finally:
        await tg.stop()
        await vk.stop()
        await ok.stop()


async def _measure(
    args: argparse.Namespace,
    proc: asyncio.subprocess.Process,
    tg: TelegramEmulator,
    vk: VkEmulator,
    ok: OkEmulator,
    size: int,
    log: Path,
    progress: Console,
) -> list[Row]:
    try:
        await tg.wait_for_request("getUpdates", timeout=90)
    except TimeoutError:
        raise RuntimeError(f"crosspost run did not start polling: {tail(log)}") from None
    await asyncio.sleep(3.0)  # idle after start-up
    idle = mb(proc_status(proc.pid)["VmRSS"])
    startup_peak = mb(proc_status(proc.pid)["VmHWM"])
    peak_reset = reset_peak(proc.pid)

    progress.log(f"posting a {size / 1e9:.2f} GB video in the channel …")
    message = tg.post_to_channel(CHANNEL, video=b"\0" * 4096, caption="Видео с праздника")
    # The file on the server's disk becomes the big one (a sparse file: no RAM, little disk),
    # before the bot's getUpdates can see the post; the update then names its real size.
    stored = tg._files[message["video"]["file_id"]]
    assert stored.local_path is not None
    os.truncate(stored.local_path, size)
    stored.size = size
    message["video"]["file_size"] = size

    stop = asyncio.Event()
    sampled = [idle]
    sampler = asyncio.create_task(sample_rss(proc.pid, stop, sampled))
    started = time.perf_counter()
    deadline = started + args.timeout
    vk_done = ok_done = None
    while time.perf_counter() < deadline and (vk_done is None or ok_done is None):
        if proc.returncode is not None:
            break
        if vk_done is None and any(p.attachments for p in vk.wall(VK_GROUP)):
            vk_done = time.perf_counter() - started
        if ok_done is None and any(t.blocks("movie") for t in ok.group_topics(OK_GID)):
            ok_done = time.perf_counter() - started
        await asyncio.sleep(0.2)
    stop.set()
    await sampler
    status = proc_status(proc.pid) if proc.returncode is None else {}
    peak = mb(status["VmHWM"]) if status and peak_reset else sampled[0]
    peak = max(peak, sampled[0])
    proc.send_signal(signal.SIGTERM)
    try:
        code: int | None = await asyncio.wait_for(proc.wait(), timeout=40)
    except TimeoutError:
        code = None

    progress.log("checking the bytes that arrived …")
    expected = await asyncio.to_thread(sha256_of, stored.local_path)
    vk_videos = [m for m in vk.uploads if m.kind == "video"]
    ok_videos = [v for v in ok.videos.values() if v.uploaded]
    vk_intact = [(m.size, m.sha256) for m in vk_videos] == [(size, expected)]
    ok_intact = [(v.size, v.sha256) for v in ok_videos] == [(size, expected)]
    ok_topics = ok.group_topics(OK_GID)
    growth = peak - idle
    done = vk_done is not None and ok_done is not None
    return [
        Row(
            figure="idle RSS of crosspost run (polling, 3 s after start)",
            value=f"{idle:.1f} MiB",
            note=f"start-up peak (VmHWM) {startup_peak:.1f} MiB, then reset"
            if peak_reset
            else f"start-up peak {startup_peak:.1f} MiB",
        ),
        Row(
            figure=f"peak RSS while mirroring the {size / 1e9:.2f} GB video",
            value=f"{peak:.1f} MiB",
            note="VmHWM since the reset" if peak_reset else "max of VmRSS sampled every 50 ms",
        ),
        Row(
            figure="peak RSS growth over idle",
            value=f"{growth:.1f} MiB",
            goal=f"<= {GOAL_MIB:.0f} MiB",
            met=done and growth <= GOAL_MIB,
            note=f"VmRSS sampled every 50 ms peaked at {sampled[0]:.1f} MiB",
        ),
        Row(
            figure="channel post → published on VK / on OK",
            value=(
                f"{vk_done:.1f} s / {ok_done:.1f} s"
                if done and vk_done is not None and ok_done is not None
                else "not done"
            ),
            note=f"OK answers PROCESSING for {args.processing:.0f} s after video.update; "
            f"timeout {args.timeout:.0f} s",
            met=done,
        ),
        Row(
            figure="bytes intact (size and SHA-256 on the VK and OK upload hosts)",
            value="yes" if vk_intact and ok_intact else "NO",
            met=vk_intact and ok_intact,
            note=f"VK video.save uploads {len(vk_videos)}, OK video uploads {len(ok_videos)}",
        ),
        Row(
            figure="OK: one topic, its video ready when posted, uploaded without gid",
            value=f"{len(ok_topics)} topic(s)",
            met=len(ok_topics) == 1
            and not ok.unready_video_topics
            and all(v.gid is None for v in ok_videos),
            note=f"video.get calls {len(ok.calls_to('video.get'))}; "
            f"VK error-6 answers {sum(vk.rate_violations.values())}",
        ),
        Row(
            figure="SIGTERM → exit code",
            value=str(code),
            met=code == 0,
            note="" if code == 0 else tail(log),
        ),
    ]


def table(rows: list[Row]) -> Table:
    out = Table(title="crosspost media benchmark", title_justify="left")
    for column in ("figure", "value", "goal", "met", "note"):
        out.add_column(column, overflow="fold")
    for row in rows:
        met = "" if row.met is None else ("yes" if row.met else "NO")
        out.add_row(row.figure, row.value, row.goal, met, row.note)
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.media", description=__doc__)
    parser.add_argument(
        "--size-mb", type=int, default=0, help="video size in MiB (default: 1 GB = 10^9 bytes)"
    )
    parser.add_argument(
        "--processing", type=float, default=5.0, help="seconds OK keeps the video PROCESSING"
    )
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds to wait at most")
    parser.add_argument("--save", action="store_true", help=f"also write {RESULTS}")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    console = Console(record=True, width=160)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="crosspost-media-") as tmp:
        rows = asyncio.run(mirror_video(args, Path(tmp), Console(stderr=True)))
    console.print(table(rows))
    console.print(f"machine: {machine_line()}")
    console.print(f"total run time {time.perf_counter() - started:.0f} s")
    if args.save:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(
            "\n".join(line.rstrip() for line in console.export_text().splitlines()) + "\n"
        )
    return 0 if all(row.met is not False for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
