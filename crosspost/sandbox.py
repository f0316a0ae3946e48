"""Sandbox mode: the whole service against the built-in emulators of Telegram, VK and OK."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import struct
import zlib
from pathlib import Path
from typing import Any

from rich.console import Console

from crosspost.config import Settings, parse_settings
from crosspost.emulators.max import MaxEmulator
from crosspost.emulators.ok import OkEmulator
from crosspost.emulators.telegram import TelegramEmulator
from crosspost.emulators.vk import VkEmulator
from crosspost.events import DeliveryEvent, EventKind

SANDBOX_DIR = Path("sandbox")
BOT_TOKEN = "700000001:SANDBOX-bot-token"
STAFF_CHAT_ID = -1000000000001
STAFF_USER_ID = 100001
OK_APP_KEY = "CBASANDBOXAPPKEY"
OK_APP_SECRET = "sandbox-app-secret"
MAX_TOKEN = "sandbox-max-bot-token"

ACCOUNTS: dict[str, dict[str, Any]] = {
    "administration": {
        "title": "Администрация городского округа Спасск-Дальний",
        "channel": -1001111111111,
        "username": "spassk_adm",
        "vk_group": 111,
        "ok_group": "5555",
        "max_chat": -70000000000001,
    },
    "head": {
        "title": "Глава городского округа Спасск-Дальний",
        "channel": -1002222222222,
        "username": "spassk_head",
        "vk_group": 222,
        "ok_group": "6666",
        "max_chat": -70000000000002,
    },
}

DEMO_TEXT = (
    "Уважаемые жители! В субботу, 5 декабря, с 10:00 на площади Ленина пройдёт "
    "городской субботник. Подробности на сайте администрации. #СпасскДальний"
)


def tiny_png(width: int = 8, height: int = 8) -> bytes:
    """A valid PNG of a flat colour, so emulated uploads get a real image."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    raw = b"".join(b"\x00" + b"\x1f\x6f\xb4" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


class ConsoleSink:
    """Prints what happens to each delivery, for a person watching the sandbox."""

    def __init__(self, console: Console) -> None:
        self.console = console

    async def delivery_event(self, event: DeliveryEvent) -> None:
        d = event.delivery
        where = f"{d.account}/{d.platform}"
        if event.kind is EventKind.PUBLISHED:
            self.console.print(f"  [green]✓[/green] {where}: published {d.remote_url}")
        else:
            self.console.print(f"  [yellow]•[/yellow] {where}: {event.kind} {event.error or ''}")


def sandbox_config(
    tg_base: str, vk_base: str, ok_base: str, root: Path, max_base: str | None = None
) -> dict[str, Any]:
    """The sandbox's config; with `max_base` each account also has a MAX channel, and a post in
    any of its channels goes to all its other platforms."""
    accounts: dict[str, Any] = {}
    for name, a in ACCOUNTS.items():
        accounts[name] = {
            "title": a["title"],
            "telegram_channel_id": a["channel"],
            "telegram_channel_username": a["username"],
            "mirror": ["vk", "ok"],
            "vk": {
                "group_id": a["vk_group"],
                "community_token": f"vk1.a.sandbox-community-{name}",
                "user_token": f"vk1.a.sandbox-user-{name}",
            },
            "ok": {
                "group_id": a["ok_group"],
                "application_key": OK_APP_KEY,
                "application_secret_key": OK_APP_SECRET,
                "access_token": f"sandbox-ok-token-{name}",
            },
        }
        if max_base is not None:
            accounts[name]["max_chat_id"] = a["max_chat"]
            accounts[name]["mirror"] = ["telegram", "vk", "ok", "max"]
    data: dict[str, Any] = {
        "database": {"url": f"sqlite+aiosqlite:///{root / 'crosspost.db'}"},
        "telegram": {
            "token": BOT_TOKEN,
            "api_base": tg_base,
            "staff_chat_id": STAFF_CHAT_ID,
            "staff": [STAFF_USER_ID],
            "timezone": "Asia/Vladivostok",
        },
        "vk": {"api_base": vk_base},
        "ok": {"api_base": ok_base},
        "media": {"dir": str(root / "media")},
        "accounts": accounts,
        "sandbox": True,
    }
    if max_base is not None:
        data["max"] = {"api_base": max_base, "token": MAX_TOKEN, "poll_timeout_seconds": 5}
    return data


def seed_max(mx: MaxEmulator) -> None:
    """A MAX bot that is an admin of each account's MAX channel."""
    mx.add_bot(MAX_TOKEN, name="Пресс-служба (песочница)")
    for a in ACCOUNTS.values():
        mx.add_channel(a["max_chat"], a["title"], participants_count=800)
        mx.add_bot_to(a["max_chat"], MAX_TOKEN)


def seed(tg: TelegramEmulator, vk: VkEmulator, ok: OkEmulator) -> None:
    tg.add_group(STAFF_CHAT_ID, "Пресс-служба (песочница)")
    tg.add_user(STAFF_USER_ID, "Пресс-секретарь")
    ok.add_app(OK_APP_KEY, OK_APP_SECRET)
    for name, a in ACCOUNTS.items():
        tg.add_channel(a["channel"], a["title"], a["username"], members=1200)
        vk.add_group(
            a["vk_group"],
            a["title"],
            members_count=3400,
            community_token=f"vk1.a.sandbox-community-{name}",
            user_token=f"vk1.a.sandbox-user-{name}",
            user_id=5000 + a["vk_group"],
        )
        ok.add_token(f"sandbox-ok-token-{name}")
        ok.add_group(a["ok_group"], a["title"], members=2100)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {_toml_value(v)}" for k, v in value.items()) + " }"
    escaped = str(value).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def write_toml(data: dict[str, Any], path: Path) -> None:
    lines = ["# Written by `crosspost run --sandbox` for this run; the ports change each run.", ""]
    for key, value in data.items():
        if key == "accounts":
            for name, account in value.items():
                lines.append(f"[accounts.{name}]")
                lines += [f"{k} = {_toml_value(v)}" for k, v in account.items()]
                lines.append("")
        elif isinstance(value, dict):
            lines.append(f"[{key}]")
            lines += [f"{k} = {_toml_value(v)}" for k, v in value.items()]
            lines.append("")
        else:
            lines.insert(2, f"{key} = {_toml_value(value)}")
    path.write_text("\n".join(lines), encoding="utf-8")


def _prepare_dir(root: Path) -> Path:
    """A fresh database and media store each run: the emulators start empty too, and an old
    database would take their message ids for posts it has already mirrored."""
    root.mkdir(parents=True, exist_ok=True)
    for name in ("crosspost.db", "crosspost.db-wal", "crosspost.db-shm"):
        (root / name).unlink(missing_ok=True)
    shutil.rmtree(root / "media", ignore_errors=True)
    return root.resolve()


async def run_sandbox(console: Console, *, root: Path = SANDBOX_DIR, demo: bool = True) -> None:
    from crosspost.app import build_app, run_service

    root = await asyncio.to_thread(_prepare_dir, root)
    tg, vk, ok = TelegramEmulator(token=BOT_TOKEN), VkEmulator(), OkEmulator()
    mx = MaxEmulator()
    seed(tg, vk, ok)
    tg_base, vk_base, ok_base = await tg.start(), await vk.start(), await ok.start()
    max_base = await mx.start()
    seed_max(mx)
    data = sandbox_config(tg_base, vk_base, ok_base, root, max_base)
    settings: Settings = parse_settings(data, env={})
    write_toml(data, root / "crosspost.toml")
    console.print(
        "[bold]crosspost sandbox[/bold]: emulated Telegram, VK, OK and MAX on 127.0.0.1 — "
        "nothing real is touched.\n"
        f"  Telegram Bot API {tg_base}\n  VK API {vk_base}\n  OK API {ok_base}\n"
        f"  MAX Bot API {max_base}\n"
        f"  database, media and the log (crosspost.log) in {root}/; "
        f"config written to {root / 'crosspost.toml'}\n"
        f"  queue a post from another terminal: .venv/bin/crosspost post -c "
        f"{root / 'crosspost.toml'} -t 'Текст'\n  Ctrl-C stops."
    )
    app = await build_app(settings, sinks=[ConsoleSink(console)])
    stop = asyncio.Event()
    service = asyncio.create_task(run_service(app, stop=stop))
    try:
        if demo:
            await asyncio.sleep(0.5)
            adm = ACCOUNTS["administration"]
            console.print(
                f"\nDemo: a post with a photo appears in the channel «{adm['title']}»; "
                "watch it go to VK, OK and MAX:"
            )
            tg.post_to_channel(
                adm["channel"], photo=tiny_png(), caption=DEMO_TEXT, file_name="subbotnik.png"
            )
            await _show_report(tg, console)
        await service
    finally:
        if not service.done():
            stop.set()
            with contextlib.suppress(Exception):
                await service
        await app.close()
        await tg.stop()
        await vk.stop()
        await ok.stop()
        await mx.stop()


async def _show_report(tg: TelegramEmulator, console: Console) -> None:
    """Print the staff-chat report once the demo post's deliveries have settled."""
    for _ in range(100):
        await asyncio.sleep(0.2)
        texts = [m.get("text", "") for m in tg.messages(STAFF_CHAT_ID).values()]
        if texts and all("⏳" not in t and "🔁" not in t for t in texts):
            console.print("\nReport in the staff chat:")
            for text in texts:
                console.print(f"[cyan]{text}[/cyan]", highlight=False)
            return
