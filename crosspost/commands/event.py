"""`crosspost event`: event announcements with reminders that move with the event."""

from __future__ import annotations

import contextlib
import getpass
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from crosspost.config import Settings
from crosspost.errors import UsageError
from crosspost.models import Platform
from crosspost.planning.events import EventPlanner, Planned, PostStatus
from crosspost.service import EditResult

app = typer.Typer(no_args_is_help=True, help="Event announcements with reminders.")

ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config", "-c", help="Config file (default: $CROSSPOST_CONFIG or ./crosspost.toml)."
    ),
]
TIME_HELP = 'Local time "YYYY-MM-DD HH:MM[:SS]" (telegram.timezone).'


def parse_local(value: str, option: str, settings: Settings) -> datetime:
    """A local "YYYY-MM-DD HH:MM[:SS]" → aware UTC (past times allowed). Raises UsageError."""
    for fmt in ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M"):
        try:
            naive = datetime.strptime(value.strip(), fmt)  # noqa: DTZ007 - zone attached below
        except ValueError:
            continue
        return naive.replace(tzinfo=settings.tz).astimezone(UTC)
    raise UsageError(f'{option} {value!r} is not a time: use "YYYY-MM-DD HH:MM" (local time)')


def _actor() -> str:
    return f"cli:{getpass.getuser()}"


@contextlib.asynccontextmanager
async def open_planner(settings: Settings) -> AsyncIterator[EventPlanner]:
    """The planner over the queue. Publishers are built only so that edits of a published
    announcement are queued for the platforms that can edit; the running service sends them."""
    import aiohttp

    from adapters.telegram.session import create_bot
    from crosspost.app import build_publishers
    from crosspost.cli import open_service
    from crosspost.publishing import no_throttle

    async with open_service(settings) as service, aiohttp.ClientSession() as http:
        bot = create_bot(settings.telegram)
        try:
            service.publishers = build_publishers(
                settings, http=http, bot=bot, throttle=no_throttle
            )
            planner = EventPlanner(settings=settings, service=service)
            if settings.feeds.dir is not None:
                from crosspost.planning.feeds import FeedWriter

                writer = FeedWriter(
                    settings=settings,
                    sessionmaker=service.sessionmaker,
                    events=planner,
                    clock=service.clock,
                )
                planner.on_change = writer.write_all_quietly
            yield planner
        finally:
            await bot.session.close()


def _local(at: datetime, settings: Settings) -> str:
    return at.astimezone(settings.tz).strftime("%Y-%m-%d %H:%M")


def _skipped_lines(planned: Planned, settings: Settings) -> list[str]:
    if not planned.skipped:
        return []
    times = ", ".join(_local(at, settings) for at in planned.skipped)
    return [f"Skipped reminders (their time has passed): {times}"]


def _edit_lines(result: EditResult | None) -> list[str]:
    if result is None:
        return []
    if not result.changed:
        return ["Announcement: nothing to change."]
    lines = ["Announcement updated: published copies will be edited by the running service."]
    for copy in result.copies:
        lines.append(
            f"Announcement on {copy.remote.account}/{copy.remote.platform} cannot be edited "
            f"there; edit it by hand: {copy.remote.url or copy.remote.remote_id}"
        )
    return lines


@app.command("add")
def add(
    title: Annotated[str, typer.Option("--title", help="What the event is called.")],
    at: Annotated[str, typer.Option("--at", help="When it starts. " + TIME_HELP)],
    place: Annotated[str, typer.Option("--place", help="Where it happens.")],
    text: Annotated[str, typer.Option("--text", help="The announcement text.")],
    account: Annotated[
        list[str], typer.Option("--account", "-a", help="Account name (repeatable).")
    ],
    config: ConfigOption = None,
    platform: Annotated[
        list[Platform] | None,
        typer.Option("--platform", "-p", help="Platform (repeatable; default: all it has)."),
    ] = None,
    photo: Annotated[Path | None, typer.Option("--photo", help="A photo for the posts.")] = None,
    announce_at: Annotated[
        str | None, typer.Option("--announce-at", help="Announce later; default now. " + TIME_HELP)
    ] = None,
    remind: Annotated[
        list[str] | None,
        typer.Option("--remind", help="A reminder time (repeatable; default: [events]). "),
    ] = None,
) -> None:
    """Queue the announcement (now unless --announce-at) and the reminders; prints the event
    id as the last number on the last line."""
    from crosspost.cli import out, run_async, settings_from
    from crosspost.media import MediaStore
    from crosspost.planning.events import NewEvent

    async def main() -> None:
        settings = settings_from(config)
        now = datetime.now(UTC)
        starts_at = parse_local(at, "--at", settings)
        announce = parse_local(announce_at, "--announce-at", settings) if announce_at else None
        if announce is not None and announce < now:
            raise UsageError(f"--announce-at {announce_at!r} is in the past")
        reminders = tuple(parse_local(r, "--remind", settings) for r in remind) if remind else None
        if photo is not None and not photo.is_file():
            raise UsageError(f"--photo {photo} does not exist or is not a file")
        platforms = platform or sorted(
            {p for a in account if a in settings.accounts for p in settings.accounts[a].platforms}
        )
        if not title.strip() or not place.strip():
            raise UsageError("--title and --place must not be empty")
        async with open_planner(settings) as planner:
            item = None
            if photo is not None:
                store = MediaStore(
                    settings.media.dir, max_file_size=settings.media.max_file_mb * 1024 * 1024
                )
                item = await store.put_file(photo)
            planned = await planner.create(
                NewEvent(
                    title=title,
                    place=place,
                    text=text,
                    starts_at=starts_at,
                    accounts=tuple(account),
                    platforms=tuple(platforms),
                    photo=item,
                    announce_at=announce,
                    reminders=reminders,
                ),
                actor=_actor(),
            )
        event = planned.event
        zone = settings.telegram.timezone
        lines = [f"Event «{event.title}» at {_local(event.starts_at, settings)} ({zone})"]
        for post in event.posts:
            if post.status is PostStatus.QUEUED:
                lines.append(
                    f"  {post.kind} at {_local(post.due_at, settings)}: "
                    f"publication {post.publication_id}"
                )
        lines.extend(_skipped_lines(planned, settings))
        lines.append(f"Event id: {event.event_id}")
        out.print("\n".join(lines), markup=False, highlight=False)

    run_async(main)


@app.command("list")
def list_(
    config: ConfigOption = None,
    all_: Annotated[bool, typer.Option("--all", help="Include past events.")] = False,
) -> None:
    """Upcoming events (cancelled ones marked) with their announcement and reminders."""
    from rich.table import Table

    from crosspost.cli import out, run_async, settings_from

    async def main() -> None:
        settings = settings_from(config)
        async with open_planner(settings) as planner:
            since = datetime(1970, 1, 1, tzinfo=UTC) if all_ else None
            events = await planner.upcoming(since=since)
        if not events:
            out.print("No upcoming events.")
            return
        table = Table("id", "starts (local)", "title", "place", "status", "posts")
        for e in events:
            posts = ", ".join(f"{p.kind} {_local(p.due_at, settings)} {p.status}" for p in e.posts)
            table.add_row(
                str(e.event_id),
                _local(e.starts_at, settings),
                e.title,
                e.place,
                str(e.status),
                posts,
            )
        out.print(table)

    run_async(main)


@app.command("move")
def move(
    event_id: int,
    at: Annotated[str, typer.Option("--at", help="The new start. " + TIME_HELP)],
    config: ConfigOption = None,
    notice: Annotated[
        bool, typer.Option("--notice", help="Also post a «перенос» notice now.")
    ] = False,
    edit_announcement: Annotated[
        bool,
        typer.Option(
            "--edit-announcement/--keep-announcement",
            help="Edit the published announcement in place with the new time.",
        ),
    ] = True,
) -> None:
    """Move the event; its pending reminders move by the same amount."""
    from crosspost.cli import out, run_async, settings_from

    async def main() -> None:
        settings = settings_from(config)
        starts_at = parse_local(at, "--at", settings)
        async with open_planner(settings) as planner:
            planned = await planner.move(event_id, starts_at, actor=_actor())
            lines = [
                f"Event {event_id} moved to {_local(starts_at, settings)}; "
                f"{planned.shifted} reminder(s) moved with it."
            ]
            lines.extend(_skipped_lines(planned, settings))
            if planned.announcement_published and edit_announcement:
                edited = await planner.edit_announcement(event_id, actor=_actor())
                lines.extend(_edit_lines(edited))
            if notice:
                pub = await planner.post_notice(event_id, actor=_actor())
                lines.append(f"«Перенос» notice queued: publication {pub}.")
            elif planned.announcement_published:
                lines.append(
                    f"The announcement was already published: post a «перенос» notice with "
                    f"`crosspost event notice {event_id}`."
                )
        out.print("\n".join(lines), markup=False, highlight=False)

    run_async(main)


@app.command("cancel")
def cancel(
    event_id: int,
    config: ConfigOption = None,
    notice: Annotated[
        bool, typer.Option("--notice", help="Also post an «отменено» notice now.")
    ] = False,
    edit_announcement: Annotated[
        bool,
        typer.Option(
            "--edit-announcement/--keep-announcement",
            help="Mark the published announcement ОТМЕНЕНО in place.",
        ),
    ] = True,
) -> None:
    """Cancel the event and whatever of it is not yet sent."""
    from crosspost.cli import out, run_async, settings_from

    async def main() -> None:
        settings = settings_from(config)
        async with open_planner(settings) as planner:
            planned = await planner.cancel(event_id, actor=_actor())
            lines = [
                f"Event {event_id} cancelled; {planned.cancelled} post(s) taken off the queue."
            ]
            if planned.announcement_published and edit_announcement:
                edited = await planner.edit_announcement(event_id, actor=_actor())
                lines.extend(_edit_lines(edited))
            if notice:
                pub = await planner.post_notice(event_id, actor=_actor())
                lines.append(f"«Отменено» notice queued: publication {pub}.")
            elif planned.announcement_published:
                lines.append(
                    f"The announcement was already published: post an «отменено» notice with "
                    f"`crosspost event notice {event_id}`."
                )
        out.print("\n".join(lines), markup=False, highlight=False)

    run_async(main)


@app.command("notice")
def notice_(event_id: int, config: ConfigOption = None) -> None:
    """Post the «перенос» (after a move) or «отменено» (after a cancel) notice now."""
    from crosspost.cli import out, run_async, settings_from

    async def main() -> None:
        settings = settings_from(config)
        async with open_planner(settings) as planner:
            pub = await planner.post_notice(event_id, actor=_actor())
        out.print(f"Notice queued: publication {pub}.")

    run_async(main)
