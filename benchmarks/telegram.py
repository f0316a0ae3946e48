"""Telegram mirror latency: a channel post leaving the Bot API emulator → the publish call on the
fake VK/OK publishers, for text posts and 10-photo albums. Run: `python -m benchmarks.telegram`.

The pieces are the production ones: `TelegramEmulator`, the bot from `create_bot`, the
dispatcher from `build_dispatcher` long-polled by aiogram, `PublicationService`, and
`Drainer.run()` with the staff-chat reporter as its event sink; only the VK and OK publishers
are `FakePublisher`s.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

from aiogram import Bot, Dispatcher
from rich.console import Console
from rich.table import Table
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from adapters.telegram.session import create_bot
from benchmarks.queue import machine_line, ms, percentile
from crosspost.config import Settings, parse_settings
from crosspost.db import create_engine, create_sessionmaker, migrate
from crosspost.emulators.telegram import TelegramEmulator
from crosspost.events import DeliveryEvent, EventSink, FanOutSink, LogSink
from crosspost.models import DeliveryRef, NewPublication, Platform
from crosspost.publishing import FakePublisher
from crosspost.queue import EnqueueResult
from crosspost.service import PublicationService
from scheduler.drain import Drainer
from staffbot.dispatcher import build_dispatcher
from staffbot.intake import TelegramIntake
from staffbot.mirror import ALBUM_DEBOUNCE, ChannelMirror, PostPart
from staffbot.reports import TelegramReporter

RESULTS = Path(__file__).resolve().parent / "results" / "telegram.txt"
TEXT_GOAL = 0.100  # seconds, p99 of a text post
ALBUM_SIZE = 10
# Untimed posts first: first-use costs (SQL compilation, lazy imports, connection pool).
WARMUP_TEXTS = 3
WARMUP_ALBUMS = 1
SAMPLE_TIMEOUT = 30.0  # seconds one post may take before the run is declared broken

ADM_CHANNEL = -1001111111111
HEAD_CHANNEL = -1002222222222
STAFF_CHAT = -1009999999999
STAFF_USER = 500001
CHANNELS = (ADM_CHANNEL, HEAD_CHANNEL)
ACCOUNT_OF = {ADM_CHANNEL: "administration", HEAD_CHANNEL: "head"}
ACCOUNTS = tuple(ACCOUNT_OF.values())
MIRRORED = (Platform.VK, Platform.OK)

TEXT = (
    "Администрация городского округа Спасск-Дальний сообщает: в пятницу с 10:00 до 12:00 "
    "в кабинете 12 проходит приём граждан по вопросам благоустройства дворов. "
    "Подробности на сайте и по телефону 8 (42352) 2-00-00. #СпасскДальний"
)
ENTITIES: list[dict[str, Any]] = [
    {"type": "bold", "offset": 0, "length": 54},
    {"type": "text_link", "offset": TEXT.index("сайте"), "length": 5, "url": "https://spasskd.ru"},
    {"type": "hashtag", "offset": len(TEXT) - 14, "length": 14},
]
CAPTION = "Субботник в парке Победы: спасибо всем, кто пришёл! #СпасскДальний"


# -- results ----------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Row:
    section: str
    figure: str
    p50: str
    p99: str
    worst: str
    goal: str = ""
    met: bool | None = None
    note: str = ""


def spread(
    section: str,
    figure: str,
    values: Sequence[float],
    *,
    goal: float | None = None,
    note: str = "",
) -> Row:
    p99 = percentile(values, 99)
    return Row(
        section=section,
        figure=figure,
        p50=ms(percentile(values, 50)),
        p99=ms(p99),
        worst=ms(max(values)),
        goal=f"p99 <= {goal * 1000:.0f} ms" if goal is not None else "",
        met=None if goal is None else p99 <= goal,
        note=note,
    )


def table(rows: list[Row]) -> Table:
    out = Table(
        title="crosspost Telegram mirror latency (update leaves the emulator → publish call)",
        title_justify="left",
    )
    for name in ("", "figure", "p50", "p99", "max", "goal", "met", "note"):
        out.add_column(name, justify="right" if name in {"p50", "p99", "max"} else "left")
    for r in rows:
        met = "" if r.met is None else ("yes" if r.met else "NO")
        out.add_row(r.section, r.figure, r.p50, r.p99, r.worst, r.goal, met, r.note)
    return out


# -- instruments ------------------------------------------------------------------------------


class Probe:
    """`FakePublisher.on_publish`: the perf_counter time of every publish call."""

    def __init__(self) -> None:
        self.calls: list[tuple[float, DeliveryRef]] = []
        self._changed = asyncio.Event()

    def __call__(self, ref: DeliveryRef) -> None:
        self.calls.append((time.perf_counter(), ref))
        self._changed.set()

    async def wait(self, count: int) -> None:
        while len(self.calls) < count:
            self._changed.clear()
            await self._changed.wait()


class SettledSink:
    """Counts delivery events once the real sinks (log, staff-chat report) are done with them."""

    def __init__(self, inner: EventSink) -> None:
        self.inner = inner
        self.count = 0
        self._changed = asyncio.Event()

    async def delivery_event(self, event: DeliveryEvent) -> None:
        await self.inner.delivery_event(event)
        self.count += 1
        self._changed.set()

    async def wait(self, count: int) -> None:
        while self.count < count:
            self._changed.clear()
            await self._changed.wait()


@dataclass(frozen=True)
class SubmitCall:
    started: float
    returned: float
    publication_id: int


class TimedService(PublicationService):
    """The real service; `submit` also notes when it was called and when it returned."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.submits: list[SubmitCall] = []

    async def submit(self, new: NewPublication, *, actor: str) -> EnqueueResult:
        started = time.perf_counter()
        result = await super().submit(new, actor=actor)
        self.submits.append(SubmitCall(started, time.perf_counter(), result.publication_id))
        return result


# -- the system under test --------------------------------------------------------------------


def make_settings(api_base: str, token: str) -> Settings:
    def account(title: str, channel: int, gid: int) -> dict[str, object]:
        return {
            "title": title,
            "telegram_channel_id": channel,
            "mirror": ["vk", "ok"],
            "vk": {"group_id": gid, "community_token": "vk-token"},
            "ok": {
                "group_id": str(gid),
                "application_key": "CBA",
                "application_secret_key": "secret",
                "access_token": "ok-token",
            },
        }

    return parse_settings(
        {
            "telegram": {
                "token": token,
                "api_base": api_base,
                "staff_chat_id": STAFF_CHAT,
                "staff": [STAFF_USER],
                "timezone": "Asia/Vladivostok",
            },
            "accounts": {
                "administration": account("Администрация городского округа", ADM_CHANNEL, 111),
                "head": account("Глава городского округа", HEAD_CHANNEL, 222),
            },
        },
        env={},
    )


@dataclass
class System:
    emulator: TelegramEmulator
    bot: Bot
    dp: Dispatcher
    service: TimedService
    drainer: Drainer
    sink: SettledSink
    fakes: dict[tuple[str, Platform], FakePublisher]
    probe: Probe
    flushes: list[float]
    sessionmaker: async_sessionmaker[AsyncSession]


@contextlib.asynccontextmanager
async def running_system(work: Path, debounce: timedelta) -> AsyncIterator[System]:
    emulator = TelegramEmulator()
    await emulator.start()
    emulator.add_channel(ADM_CHANNEL, "Администрация", "adm_spassk", members=1234)
    emulator.add_channel(HEAD_CHANNEL, "Глава", members=321)
    emulator.add_group(STAFF_CHAT, "Пресс-служба")
    emulator.add_user(STAFF_USER, "Мария", "maria")
    settings = make_settings(emulator.api_base, emulator.token)

    url = f"sqlite+aiosqlite:///{work / 'crosspost.db'}"
    engine = create_engine(url)
    await migrate(engine)
    sessionmaker = create_sessionmaker(engine)

    probe = Probe()
    fakes = {
        (a, p): FakePublisher(platform=p, account=a, on_publish=probe)
        for a in ACCOUNTS
        for p in MIRRORED
    }
    bot = create_bot(settings.telegram)
    drainer = Drainer(sessionmaker=sessionmaker, publishers=fakes)
    service = TimedService(sessionmaker, publishers=fakes, wake=drainer.wake)
    reporter = TelegramReporter(bot=bot, settings=settings, service=service)
    sink = SettledSink(FanOutSink(LogSink(), reporter))
    drainer.sink = sink
    dp = build_dispatcher(
        settings=settings,
        service=service,
        sessionmaker=sessionmaker,
        media_dir=work / "media",
        clock=lambda: datetime.now(UTC),
        reporter=reporter,
        album_debounce=debounce,
    )
    # Note when each album's debounce timer fires (the flush starts).
    flushes: list[float] = []
    albums = cast(ChannelMirror, dp["mirror"]).albums
    flush = albums.on_album

    async def timed_flush(bot: Bot, chat_id: int, group_id: str, parts: list[PostPart]) -> None:
        flushes.append(time.perf_counter())
        await flush(bot, chat_id, group_id, parts)

    albums.on_album = timed_flush

    drain_task = asyncio.create_task(drainer.run())
    # As crosspost.app.run_telegram polls: store in the inbox, then handle from there.
    intake = TelegramIntake(bot=bot, dp=dp, settings=settings, sessionmaker=sessionmaker)
    poll_task = asyncio.create_task(intake.run_polling(polling_timeout=10))
    try:
        await emulator.wait_for_request("getUpdates", timeout=10)
        yield System(
            emulator=emulator,
            bot=bot,
            dp=dp,
            service=service,
            drainer=drainer,
            sink=sink,
            fakes=fakes,
            probe=probe,
            flushes=flushes,
            sessionmaker=sessionmaker,
        )
    finally:
        intake.stop()
        await poll_task
        await drainer.stop()
        await drain_task
        await bot.session.close()
        await emulator.stop()
        await engine.dispose()


# -- measurements -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Sample:
    """One post: perf_counter times of its way through the system."""

    left: float  # the (last) update left the emulator
    publishes: tuple[float, ...]  # the publish calls, in order
    submit: SubmitCall
    flush: float | None = None  # the album's debounce timer fired


async def settle(system: System, calls_before: int, events_before: int) -> None:
    """Both copies published and both settle events through the reporter."""
    async with asyncio.timeout(SAMPLE_TIMEOUT):
        await system.probe.wait(calls_before + len(MIRRORED))
        await system.sink.wait(events_before + len(MIRRORED))


def check_sample(
    system: System, calls_before: int, submits_before: int, channel: int, text: str, media: int
) -> None:
    """The post became exactly one publication, published once per copy, with all its media."""
    refs = [ref for _at, ref in system.probe.calls[calls_before:]]
    account = ACCOUNT_OF[channel]
    if len(refs) != len(MIRRORED) or {r.account for r in refs} != {account}:
        raise RuntimeError(f"unexpected publish calls: {refs}")
    submits = system.service.submits[submits_before:]
    if len(submits) != 1 or {r.publication_id for r in refs} != {submits[0].publication_id}:
        raise RuntimeError("the post did not become exactly one publication")
    fake = system.fakes[(account, refs[0].platform)]
    content = fake.calls[-1].content
    if content is None or content.text.text != text or len(content.media) != media:
        raise RuntimeError(f"expected the text and {media} media items in the published content")


async def text_post(system: System, index: int) -> Sample:
    channel = CHANNELS[index % len(CHANNELS)]
    calls_before = len(system.probe.calls)
    submits_before = len(system.service.submits)
    events_before = system.sink.count
    left = time.perf_counter()
    system.emulator.post_to_channel(channel, text=TEXT, entities=ENTITIES)
    await settle(system, calls_before, events_before)
    check_sample(system, calls_before, submits_before, channel, TEXT, media=0)
    return Sample(
        left=left,
        publishes=tuple(at for at, _ref in system.probe.calls[calls_before:]),
        submit=system.service.submits[-1],
    )


async def album_post(system: System, index: int, photos: list[bytes]) -> Sample:
    channel = CHANNELS[index % len(CHANNELS)]
    calls_before = len(system.probe.calls)
    submits_before = len(system.service.submits)
    flushes_before = len(system.flushes)
    events_before = system.sink.count
    left = 0.0
    for position, photo in enumerate(photos):
        left = time.perf_counter()
        system.emulator.post_to_channel(
            channel,
            photo=photo,
            caption=CAPTION if position == 0 else None,
            media_group_id=f"bench-album-{index}",
        )
    await settle(system, calls_before, events_before)
    check_sample(system, calls_before, submits_before, channel, CAPTION, len(photos))
    if len(system.flushes) != flushes_before + 1:
        raise RuntimeError("the album was not flushed exactly once")
    return Sample(
        left=left,
        publishes=tuple(at for at, _ref in system.probe.calls[calls_before:]),
        submit=system.service.submits[-1],
        flush=system.flushes[-1],
    )


def text_rows(samples: list[Sample]) -> list[Row]:
    n = len(samples)
    first = [s.publishes[0] - s.left for s in samples]
    last = [s.publishes[-1] - s.left for s in samples]
    return [
        spread(
            "text",
            "update → first publish call (VK or OK)",
            first,
            goal=TEXT_GOAL,
            note=f"{n} posts, one at a time, alternating the two channels",
        ),
        spread(
            "text",
            "update → both publish calls (VK and OK)",
            last,
            goal=TEXT_GOAL,
            note="the later of the two copies",
        ),
        spread(
            "text",
            "  of which: update → PublicationService.submit() called",
            [s.submit.started - s.left for s in samples],
            note="long poll answers, aiogram, mirror checks (own post? seen? queued?)",
        ),
        spread(
            "text",
            "  of which: submit() (enqueue, audit, commit, wake)",
            [s.submit.returned - s.submit.started for s in samples],
        ),
        spread(
            "text",
            "  of which: submit() returned → first publish call",
            [s.publishes[0] - s.submit.returned for s in samples],
            note="drainer wakes, claims, loads the content",
        ),
    ]


def album_rows(samples: list[Sample], debounce: float, photo_kb: int) -> list[Row]:
    n = len(samples)
    flushed = [s.flush for s in samples if s.flush is not None]
    configured = ms(debounce)
    return [
        Row(
            section="album",
            figure="debounce (configured), after the last item",
            p50=configured,
            p99=configured,
            worst=configured,
            note="ALBUM_DEBOUNCE, production default"
            if debounce == ALBUM_DEBOUNCE.total_seconds()
            else "set with --debounce",
        ),
        spread(
            "album",
            "last item → first publish call, minus the debounce",
            [s.publishes[0] - s.left - debounce for s in samples],
            note=f"{n} albums of {ALBUM_SIZE} photos × {photo_kb} KB, one at a time",
        ),
        spread(
            "album",
            "last item → both publish calls, minus the debounce",
            [s.publishes[-1] - s.left - debounce for s in samples],
        ),
        spread(
            "album",
            "  of which: last item → debounce timer fired, minus the debounce",
            [f - s.left - debounce for f, s in zip(flushed, samples, strict=True)],
            note="long poll, aiogram, item stored, timer lateness",
        ),
        spread(
            "album",
            "  of which: timer fired → submit() called",
            [s.submit.started - f for f, s in zip(flushed, samples, strict=True)],
            note=f"buffered items read, {ALBUM_SIZE} × getFile + download to the media store",
        ),
        spread(
            "album",
            "  of which: submit()",
            [s.submit.returned - s.submit.started for s in samples],
        ),
        spread(
            "album",
            "  of which: submit() returned → first publish call",
            [s.publishes[0] - s.submit.returned for s in samples],
        ),
    ]


def staff_reports(system: System) -> Row:
    """One report message per publication, edited in place (issue point 5), not one per copy."""
    sends = [s for s in system.emulator.sent(STAFF_CHAT) if s.method == "sendMessage"]
    publications = len(system.service.submits)
    return Row(
        section="check",
        figure="staff-chat report messages sent (sendMessage)",
        p50=f"{len(sends)}",
        p99="",
        worst="",
        goal=f"= {publications}",
        met=len(sends) == publications,
        note=f"one per publication, warm-ups included: {publications} publications",
    )


def random_photos(kb: int) -> list[bytes]:
    """Distinct bytes per photo, so each is its own file (fetched and stored once)."""
    return [os.urandom(kb * 1024) for _ in range(ALBUM_SIZE)]


async def run(args: argparse.Namespace, progress: Console) -> list[Row]:
    debounce = timedelta(seconds=args.debounce)
    with tempfile.TemporaryDirectory(prefix="crosspost-bench-tg-") as tmp:
        async with running_system(Path(tmp), debounce) as system:
            progress.log(f"warm-up: {WARMUP_TEXTS} text posts, {WARMUP_ALBUMS} album …")
            for i in range(WARMUP_TEXTS):
                await text_post(system, i)
            for i in range(WARMUP_ALBUMS if args.albums else 0):
                await album_post(system, -1 - i, random_photos(args.photo_kb))
            progress.log(f"{args.texts} text posts …")
            texts_ = [await text_post(system, i) for i in range(args.texts)]
            progress.log(f"{args.albums} albums of {ALBUM_SIZE} photos …")
            albums_: list[Sample] = []
            for i in range(args.albums):
                albums_.append(await album_post(system, i, random_photos(args.photo_kb)))
            check = staff_reports(system)
    rows = text_rows(texts_)
    if albums_:
        rows.extend(album_rows(albums_, debounce.total_seconds(), args.photo_kb))
    rows.append(check)
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.telegram", description=__doc__)
    parser.add_argument("--texts", type=int, default=200, help="text posts to time")
    parser.add_argument("--albums", type=int, default=20, help="10-photo albums to time")
    parser.add_argument("--photo-kb", type=int, default=200, help="size of each album photo")
    parser.add_argument(
        "--debounce",
        type=float,
        default=ALBUM_DEBOUNCE.total_seconds(),
        help="album debounce in seconds (default: the production value)",
    )
    parser.add_argument("--save", action="store_true", help=f"also write {RESULTS}")
    args = parser.parse_args(argv)
    if args.texts < 1:
        parser.error("--texts must be at least 1")
    logging.basicConfig(level=logging.WARNING)
    console = Console(record=True, width=170)
    started = time.perf_counter()
    rows = asyncio.run(run(args, Console(stderr=True)))
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
