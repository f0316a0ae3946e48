"""Chaos run: posts in the Telegram emulator's channels, mirrored by a real `crosspost run`
subprocess to the VK and OK emulators while the emulators inject faults and the process is
SIGKILLed at random moments and restarted. Then it checks what the platforms ended up with.

    python -m benchmarks.chaos                 # 500 posts, 20 kills; prints the table
    python -m benchmarks.chaos --save          # ... and writes benchmarks/results/chaos.txt
    python -m benchmarks.chaos --posts 40 --kills 4 --seed 7

Exit code 0 when every guarantee held, 1 otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import random
import re
import sqlite3
import struct
import tempfile
import time
import zlib
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from benchmarks.queue import machine_line
from crosspost import texts
from crosspost.config import load_settings
from crosspost.emulators.faults import FaultKind, FaultPlan
from crosspost.emulators.stack import CrosspostProcess, EmulatorStack
from crosspost.sandbox import ACCOUNTS, STAFF_CHAT_ID

RESULTS = Path(__file__).parent / "results" / "chaos.txt"
MARKER = re.compile(r"\[chaos (\d+)\]")
WRITE_HELD = re.compile(r"write transaction held (\d+(?:\.\d+)?) ?ms")
ACTIVE = ("pending", "sending", "uncertain", "reconciling")
STATUS_MARKS = {
    "published": (texts.REPORT_PUBLISHED,),
    "failed": (texts.REPORT_FAILED,),
    "cancelled": (texts.REPORT_CANCELLED,),
    "held": (texts.REPORT_HELD,),
    "uncertain": (texts.REPORT_UNCERTAIN,),
    "reconciling": (texts.REPORT_UNCERTAIN,),
    "pending": (
        texts.REPORT_PENDING,
        texts.REPORT_RETRYING,
        texts.REPORT_SCHEDULED,
        texts.REPORT_PAUSED,
    ),
    "sending": (texts.REPORT_PENDING, texts.REPORT_PAUSED),
}
# Platform faults (VK and OK): 10 % 5xx, 5 % hangs past the client timeout, 3 % rate-limit
# answers, 2 % lost replies (the post is made, the answer never arrives).
PLATFORM_PLAN = FaultPlan(
    server_error=0.10, hang=0.05, rate_limit=0.03, lost_reply=0.02, hang_seconds=3.0
)
# Telegram (files, staff reports): no hangs — the config has no Telegram timeout key.
TELEGRAM_PLAN = FaultPlan(server_error=0.10, hang=0.0, rate_limit=0.03, lost_reply=0.02)
POLLING_PLAN = FaultPlan(server_error=0.02, hang=0.0, rate_limit=0.01, lost_reply=0.01)
# The adapters' timeouts, kept below the hang, so a hang is a timeout to the client.
CLIENT_TIMEOUT_SECONDS = 2.0


@dataclass(frozen=True)
class PostSpec:
    index: int
    account: str
    kind: str  # text | photo | album
    caption: str | None
    photos: tuple[bytes, ...] = ()

    @property
    def shas(self) -> list[str]:
        return [hashlib.sha256(p).hexdigest() for p in self.photos]


@dataclass
class ChaosResult:
    posts: int = 0
    kills: int = 0
    faults: Counter[str] = field(default_factory=Counter)
    lost_replies_publish: int = 0
    duplicated: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    misplaced: list[str] = field(default_factory=list)
    bytes_bad: list[str] = field(default_factory=list)
    integrity: str = ""
    stale_reports: list[str] = field(default_factory=list)
    statuses: Counter[str] = field(default_factory=Counter)
    in_flight: int = 0
    held: int = 0
    resolved_automatically: int = 0
    settled: bool = False
    settle_seconds: float | None = None
    total_seconds: float = 0.0
    longest_write_ms: float | None = None
    writes_over_limit: int = 0
    log_counts: Counter[str] = field(default_factory=Counter)
    log_samples: dict[str, str] = field(default_factory=dict)
    publications: int = 0
    inbox: Counter[str] = field(default_factory=Counter)
    exit_code: int | None = None

    @property
    def held_share(self) -> float:
        return self.held / self.in_flight if self.in_flight else 0.0

    def failures(self, *, max_write_ms: float | None = None) -> list[str]:
        """Every broken guarantee, one line each (empty: all held)."""
        out = []
        if self.duplicated:
            out.append(f"duplicated: {len(self.duplicated)} ({', '.join(self.duplicated[:5])})")
        if self.missing:
            out.append(f"missing: {len(self.missing)} ({', '.join(self.missing[:5])})")
        if self.misplaced:
            out.append(f"on the wrong account: {len(self.misplaced)}")
        if self.bytes_bad:
            out.append(f"photo bytes differ: {len(self.bytes_bad)} ({self.bytes_bad[0]})")
        if self.integrity != "ok":
            out.append(f"integrity_check: {self.integrity}")
        if self.stale_reports:
            out.append(f"stale staff reports: {len(self.stale_reports)} ({self.stale_reports[0]})")
        if not self.settled:
            active = {s: n for s, n in self.statuses.items() if s in ACTIVE}
            if self.inbox.get("pending"):
                active["inbox pending"] = self.inbox["pending"]
            out.append(f"did not settle: {active or 'deliveries still changing'}")
        if self.held > max(0, int(0.02 * self.in_flight)):
            out.append(f"handed to staff: {self.held} of {self.in_flight} in flight (> 2 %)")
        longest = self.longest_write_ms
        if max_write_ms is not None and longest is not None and longest > max_write_ms:
            out.append(f"write transaction held {longest:.0f} ms (> {max_write_ms:.0f})")
        return out


def random_png(rng: random.Random, size: int) -> bytes:
    """A valid PNG of random pixels: every photo's bytes are unique and incompressible."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    raw = b"".join(b"\x00" + rng.randbytes(size * 3) for _ in range(size))
    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw, 1))
        + chunk(b"IEND", b"")
    )


def make_posts(count: int, rng: random.Random) -> list[PostSpec]:
    accounts = list(ACCOUNTS)
    posts = []
    for i in range(count):
        account = accounts[i % len(accounts)] if i < 2 else rng.choice(accounts)
        roll = rng.random()
        text = f"[chaos {i}] Новость {i}: {rng.choice(SENTENCES)}"
        if roll < 0.45:
            posts.append(PostSpec(i, account, "text", text))
        elif roll < 0.75:
            caption = None if rng.random() < 0.1 else text
            photo = random_png(rng, rng.choice((16, 32, 48)))
            posts.append(PostSpec(i, account, "photo", caption, (photo,)))
        else:
            photos = tuple(random_png(rng, rng.choice((16, 32))) for _ in range(rng.randint(2, 4)))
            posts.append(PostSpec(i, account, "album", text, photos))
    return posts


SENTENCES = (
    "в субботу на площади Ленина пройдёт субботник.",
    "график приёма граждан на декабрь.",
    "плановое отключение воды на улице Советской.",
    "итоги заседания думы городского округа.",
    "открыта запись в кружки Дома культуры.",
)


def post_to_channel(stack: EmulatorStack, spec: PostSpec) -> None:
    channel = ACCOUNTS[spec.account]["channel"]
    if spec.kind == "text":
        stack.tg.post_to_channel(channel, text=spec.caption)
    elif spec.kind == "photo":
        stack.tg.post_to_channel(
            channel, photo=spec.photos[0], caption=spec.caption, file_name=f"p{spec.index}.png"
        )
    else:
        group = f"1{spec.index:012d}"
        for n, photo in enumerate(spec.photos):
            stack.tg.post_to_channel(
                channel,
                photo=photo,
                caption=spec.caption if n == 0 else None,
                media_group_id=group,
                file_name=f"a{spec.index}_{n}.png",
            )


# --- reading the database (read-only, short connections: the process under test writes) ---


def _query(db: Path, sql: str) -> list[tuple[Any, ...]]:
    if not db.exists():
        return []
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
    try:
        return conn.execute(sql).fetchall()
    except sqlite3.OperationalError:
        return []  # tables not there yet (migrating)
    finally:
        conn.close()


def delivery_statuses(db: Path) -> Counter[str]:
    return Counter(
        {s: n for s, n in _query(db, "SELECT status, count(*) FROM deliveries GROUP BY status")}
    )


def inbox_statuses(db: Path) -> Counter[str]:
    """The inbound inbox (when the schema has one): pending rows are work not yet done."""
    return Counter(
        {s: n for s, n in _query(db, "SELECT status, count(*) FROM inbox GROUP BY status")}
    )


def db_fingerprint(db: Path) -> tuple[Any, ...]:
    rows = _query(
        db,
        "SELECT (SELECT count(*) FROM publications), "
        "(SELECT group_concat(status || ':' || attempts) FROM deliveries)",
    )
    return rows[0] if rows else ()


# --- what the platforms have ---------------------------------------------------------------


def _identify(text: str, shas: Sequence[str], by_sha: dict[str, int]) -> int | None:
    match = MARKER.search(text)
    if match:
        return int(match.group(1))
    for sha in shas:
        if sha in by_sha:
            return by_sha[sha]
    return None


def remote_posts(stack: EmulatorStack) -> list[tuple[str, str, str, list[str]]]:
    """(account, platform, text, photo sha256s) of every live post on VK and OK."""
    out = []
    for name, account in ACCOUNTS.items():
        for post in stack.vk.wall(account["vk_group"]):
            shas = [
                stack.vk.media(a).sha256
                for a in post.attachments
                if a.startswith("photo") and a in stack.vk.media_by_attachment
            ]
            out.append((name, "vk", post.text, shas))
        for topic in stack.ok.group_topics(account["ok_group"]):
            if topic.deleted:
                continue
            shas = [hashlib.sha256(p.data).hexdigest() for p in stack.ok.topic_photos(topic)]
            out.append((name, "ok", topic.text, shas))
    return out


def check_platforms(stack: EmulatorStack, specs: Sequence[PostSpec], result: ChaosResult) -> None:
    by_sha = {sha: spec.index for spec in specs for sha in spec.shas}
    found: dict[tuple[int, str, str], list[list[str]]] = {}
    for account, platform, text, shas in remote_posts(stack):
        index = _identify(text, shas, by_sha)
        if index is None:
            result.misplaced.append(f"unknown {platform} post in {account}: {text[:40]!r}")
            continue
        found.setdefault((index, account, platform), []).append(shas)
    result.duplicated.clear()
    result.missing.clear()
    result.bytes_bad.clear()
    for spec in specs:
        for platform in ("vk", "ok"):
            copies = found.pop((spec.index, spec.account, platform), [])
            where = f"#{spec.index} {spec.kind} {spec.account}/{platform}"
            if not copies:
                result.missing.append(where)
            elif len(copies) > 1:
                result.duplicated.append(f"{where} ×{len(copies)}")
            for shas in copies:
                if sorted(shas) != sorted(spec.shas):
                    result.bytes_bad.append(f"{where}: {len(shas)} of {len(spec.photos)} photos")
    for (index, account, platform), copies in found.items():
        result.misplaced.append(f"#{index} on {account}/{platform} ×{len(copies)}")


def stale_reports(stack: EmulatorStack, db: Path) -> list[str]:
    """Publications whose last staff-chat report does not show their deliveries' statuses."""
    # Reports name accounts by their short label, as the service's own settings give it.
    settings = load_settings(stack.config_path)
    messages = stack.tg.messages(STAFF_CHAT_ID)
    reports = dict(_query(db, "SELECT id, report_message_id FROM publications"))
    stale = []
    rows = _query(
        db, "SELECT publication_id, account, platform, status, remote_url FROM deliveries"
    )
    for pub_id, account, platform, status, url in rows:
        message_id = reports.get(pub_id)
        if message_id is None or message_id not in messages:
            stale.append(f"publication {pub_id}: no report")
            continue
        text = str(messages[message_id].get("text", ""))
        label = settings.account_label(account)
        where = f"{label} · {texts.PLATFORM_NAMES.get(platform, platform)}:"
        shown = any(f"{mark} {where}" in text for mark in STATUS_MARKS.get(status, ()))
        if not shown or (status == "published" and url and url not in text):
            stale.append(f"publication {pub_id} {account}/{platform}: {status} not shown")
    return sorted(set(stale))


def scan_log(log: Path, result: ChaosResult, max_write_ms: float) -> None:
    if not log.exists():
        return
    longest = None
    patterns = {
        "database is locked": "database is locked",
        "Traceback": "tracebacks",
        "is not handled": "updates not handled",
        " ERROR ": "ERROR lines",
    }
    with log.open(encoding="utf-8", errors="replace") as lines:
        for line in lines:
            for needle, name in patterns.items():
                if needle in line:
                    result.log_counts[name] += 1
                    result.log_samples.setdefault(name, line.strip()[:200])
            match = WRITE_HELD.search(line)
            if match:
                held = float(match.group(1))
                longest = held if longest is None else max(longest, held)
                if held > max_write_ms:
                    result.writes_over_limit += 1
    result.longest_write_ms = longest


# --- the run -------------------------------------------------------------------------------


async def run_chaos(
    *,
    posts: int,
    kills: int,
    seed: int,
    root: Path,
    post_rate: float = 2.0,
    settle_timeout: float = 600.0,
    quiet_seconds: float = 10.0,
    plan: FaultPlan = PLATFORM_PLAN,
    telegram_plan: FaultPlan = TELEGRAM_PLAN,
    polling_plan: FaultPlan = POLLING_PLAN,
    max_write_ms: float = 250.0,
    progress: Console | None = None,
) -> ChaosResult:
    """Run the whole scenario in `root` and return what it found."""
    say = progress.print if progress is not None else (lambda *_a, **_k: None)
    rng = random.Random(seed)
    specs = make_posts(posts, rng)
    result = ChaosResult(posts=posts)
    stack = EmulatorStack(
        root=root,
        seed=seed,
        plan=plan,
        telegram_plan=telegram_plan,
        polling_plan=polling_plan,
    )
    config = await stack.start(
        vk={"timeout_seconds": CLIENT_TIMEOUT_SECONDS},
        ok={"timeout_seconds": CLIENT_TIMEOUT_SECONDS},
        scheduler={"base_delay_seconds": 1.0, "max_delay_seconds": 8.0, "max_attempts": 40},
    )
    log = root / "crosspost.log"
    proc = CrosspostProcess(
        config=config, log_path=log, env={"CROSSPOST_MAX_WRITE_MS": str(int(max_write_ms))}
    )
    started = time.monotonic()
    try:
        await proc.start()
        posting_seconds = posts / post_rate
        poster = asyncio.create_task(_post_all(stack, specs, post_rate))
        mean_gap = posting_seconds / max(1, kills)
        last_restart = time.monotonic()
        for k in range(kills):
            # A random moment after the service is up: a kill during start-up only tests
            # the import, and on a loaded machine start-up can outlast the whole gap.
            if not await proc.wait_ready():
                say(f"  start #{proc.starts} not ready (exit code {proc.returncode})")
            await asyncio.sleep(rng.uniform(0.2, max(0.4, 2 * mean_gap - 0.2)))
            result.in_flight += len(_query(stack.db_path, _IN_FLIGHT))
            await proc.kill()
            say(f"kill {k + 1}/{kills} at {time.monotonic() - started:.1f} s")
            await asyncio.sleep(rng.uniform(0.0, 0.5))
            await proc.start()
            last_restart = time.monotonic()
        await poster
        say(f"all {posts} posts in the channels at {time.monotonic() - started:.1f} s")
        await _settle(stack, specs, result, last_restart, settle_timeout, quiet_seconds, say)
        result.exit_code = await proc.terminate()
    finally:
        if proc.running:
            await proc.kill()
        stack.set_faults(False)
        result.kills = proc.kills
        result.total_seconds = time.monotonic() - started
        for (_, kind), n in stack.log.by_kind.items():
            result.faults[kind] += n
        result.lost_replies_publish = sum(
            n
            for (_, kind, method), n in stack.log.by_method.items()
            if kind == FaultKind.LOST_REPLY and method in ("wall.post", "mediatopic.post")
        )
        await stack.stop()
    check_platforms(stack, specs, result)
    result.statuses = delivery_statuses(stack.db_path)
    result.held = result.statuses.get("held", 0)
    result.inbox = inbox_statuses(stack.db_path)
    result.publications = _query(stack.db_path, "SELECT count(*) FROM publications")[0][0]
    result.stale_reports = stale_reports(stack, stack.db_path)
    rows = _query(stack.db_path, "PRAGMA integrity_check")
    result.integrity = "; ".join(str(r[0]) for r in rows) or "not run"
    # Lost publish replies and sends cut by a kill: each was settled without a person, or held.
    result.in_flight += result.lost_replies_publish + sum(
        n
        for (_, kind, method), n in stack.log.by_method.items()
        if kind == FaultKind.HANG and method in ("wall.post", "mediatopic.post")
    )
    result.resolved_automatically = max(0, result.in_flight - result.held)
    scan_log(log, result, max_write_ms)
    return result


_IN_FLIGHT = "SELECT id FROM deliveries WHERE status = 'sending'"


async def _post_all(stack: EmulatorStack, specs: Sequence[PostSpec], rate: float) -> None:
    start = time.monotonic()
    for n, spec in enumerate(specs):
        delay = start + n / rate - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        post_to_channel(stack, spec)


async def _settle(
    stack: EmulatorStack,
    specs: Sequence[PostSpec],
    result: ChaosResult,
    last_restart: float,
    limit_seconds: float,
    quiet: float,
    say: Any,
) -> None:
    """Wait until every post is on both targets, nothing is active and the reports are fresh —
    or nothing has changed for `quiet` seconds with nothing active; bounded by `timeout`."""
    deadline = time.monotonic() + limit_seconds
    last_print = 0.0
    fingerprint: tuple[Any, ...] = ()
    unchanged_since = time.monotonic()
    calm_since: float | None = None
    while time.monotonic() < deadline:
        statuses = await asyncio.to_thread(delivery_statuses, stack.db_path)
        inbox = await asyncio.to_thread(inbox_statuses, stack.db_path)
        now_fp = await asyncio.to_thread(db_fingerprint, stack.db_path)
        if now_fp != fingerprint:
            fingerprint, unchanged_since = now_fp, time.monotonic()
        check_platforms(stack, specs, result)
        active = sum(statuses.get(s, 0) for s in ACTIVE) + inbox.get("pending", 0)
        complete = not result.missing and not result.duplicated
        calm = active == 0 and statuses.total() > 0
        if calm and (complete or time.monotonic() - unchanged_since >= quiet):
            stale = await asyncio.to_thread(stale_reports, stack, stack.db_path)
            if not stale or time.monotonic() - unchanged_since >= quiet:
                if calm_since is None:
                    calm_since = time.monotonic()
                result.settled = True
                result.settle_seconds = (
                    min(calm_since, unchanged_since if not complete else calm_since) - last_restart
                )
                return
        else:
            calm_since = None
        if time.monotonic() - last_print > 10:
            last_print = time.monotonic()
            say(
                f"  settling: {dict(statuses)}; inbox {dict(inbox)}; "
                f"missing {len(result.missing)}, "
                f"duplicated {len(result.duplicated)}"
            )
        await asyncio.sleep(0.25)


# --- the table ---------------------------------------------------------------------------


def table(result: ChaosResult, max_write_ms: float) -> Table:
    t = Table(title="crosspost chaos run")
    t.add_column("figure")
    t.add_column("value", justify="right")
    t.add_column("goal")
    faults = ", ".join(f"{k} {n}" for k, n in sorted(result.faults.items())) or "0"
    settle = f"{result.settle_seconds:.1f} s" if result.settle_seconds is not None else "—"
    if not result.settled:
        settle = "did not settle"
    longest = (
        f"{result.longest_write_ms:.0f} ms"
        if result.longest_write_ms is not None
        else "not logged (no instrumentation line)"
    )
    rows = [
        ("posts (text / photo / album)", str(result.posts), ""),
        ("publications in the database", str(result.publications), f"= {result.posts}"),
        ("SIGKILLs, each followed by a restart", str(result.kills), ">= 20"),
        ("faults injected (by kind)", faults, ""),
        ("lost replies on wall.post / mediatopic.post", str(result.lost_replies_publish), ""),
        ("duplicated copies", str(len(result.duplicated)), "0"),
        ("missing copies", str(len(result.missing)), "0"),
        ("photo bytes differing", str(len(result.bytes_bad)), "0"),
        ("integrity_check", result.integrity, "ok"),
        ("stale staff reports", str(len(result.stale_reports)), "0"),
        ("in-flight operations (cut by a kill, lost reply, hang)", str(result.in_flight), ""),
        ("resolved automatically", str(result.resolved_automatically), ""),
        (
            "handed to staff (held)",
            f"{result.held} ({result.held_share:.1%})",
            "<= 2 % of in flight",
        ),
        ("final statuses", ", ".join(f"{k} {n}" for k, n in sorted(result.statuses.items())), ""),
        ("inbox at the end", ", ".join(f"{k} {n}" for k, n in sorted(result.inbox.items())), ""),
        ("time to settle after the last kill", settle, ""),
        ("longest write transaction", longest, f"<= {max_write_ms:.0f} ms"),
        (
            "log: locked / tracebacks / not handled / ERROR",
            " / ".join(
                str(result.log_counts[k])
                for k in ("database is locked", "tracebacks", "updates not handled", "ERROR lines")
            ),
            "0 / 0 / 0",
        ),
        ("wall time", f"{result.total_seconds:.0f} s", ""),
    ]
    for row in rows:
        t.add_row(*row)
    return t


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--posts", type=int, default=500)
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--post-rate", type=float, default=2.0, help="posts per second")
    parser.add_argument("--settle-timeout", type=float, default=900.0)
    parser.add_argument("--max-write-ms", type=float, default=250.0)
    parser.add_argument("--keep", type=Path, help="run in this directory and keep it")
    parser.add_argument("--save", action="store_true", help=f"write {RESULTS}")
    args = parser.parse_args(argv)
    console = Console(stderr=True)

    async def go(root: Path) -> ChaosResult:
        return await run_chaos(
            posts=args.posts,
            kills=args.kills,
            seed=args.seed,
            root=root,
            post_rate=args.post_rate,
            settle_timeout=args.settle_timeout,
            max_write_ms=args.max_write_ms,
            progress=console,
        )

    if args.keep is not None:
        args.keep.mkdir(parents=True, exist_ok=True)
        result = asyncio.run(go(args.keep.resolve()))
    else:
        with tempfile.TemporaryDirectory(prefix="chaos-") as tmp:
            result = asyncio.run(go(Path(tmp)))
    failures = result.failures(max_write_ms=args.max_write_ms)
    out = Console(record=True, width=120)
    out.print(table(result, args.max_write_ms))
    out.print(f"machine: {machine_line()}")
    out.print(f"seed {args.seed}, {args.posts / args.post_rate:.0f} s of posting")
    for name, sample in result.log_samples.items():
        out.print(f"log sample ({name}): {sample}", highlight=False, markup=False)
    if failures:
        out.print("[bold red]broken:[/bold red]")
        for line in failures:
            out.print(f"  - {line}", highlight=False, markup=False)
    else:
        out.print("every guarantee held")
    if args.save:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(out.export_text(), encoding="utf-8")
    return 1 if failures else 0


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        raise SystemExit(main())
