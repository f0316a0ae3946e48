"""The `crosspost` command line. Exit codes: 0 ok, 2 bad usage or config, 1 runtime failure."""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import os
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, TypeVar

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table
from sqlalchemy.exc import OperationalError

from crosspost import __version__
from crosspost.commands import event as event_commands
from crosspost.commands import max as max_commands
from crosspost.commands import recurring as recurring_commands
from crosspost.commands import stats as stats_commands
from crosspost.config import HttpConfig, Settings, load_settings, secret_values
from crosspost.dates import DateParseError, NeedsTime, parse_when
from crosspost.db import sqlite_path
from crosspost.errors import ConfigError, UsageError
from crosspost.logs import LogFormat
from crosspost.logs import setup_logging as configure_logging
from crosspost.models import (
    OPEN,
    Content,
    DeliveryStatus,
    MediaItem,
    NewPublication,
    Platform,
    PublicationSource,
    Target,
)
from crosspost.richtext import RichText
from crosspost.service import PublicationService

T = TypeVar("T")

DEFAULT_CONFIG = Path("crosspost.toml")
NOW_ENV = "CROSSPOST_NOW"
ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config", "-c", help="Config file (default: $CROSSPOST_CONFIG or ./crosspost.toml)."
    ),
]
VerboseOption = Annotated[
    bool, typer.Option("--verbose", "-v", help="Log debug detail (overrides logging.level).")
]


class LogFormatChoice(StrEnum):
    TEXT = "text"
    JSON = "json"


LogFormatOption = Annotated[
    LogFormatChoice | None,
    typer.Option(
        "--log-format",
        help="text (one line per event) or json (one object per line); overrides logging.format.",
    ),
]
# `post --dry-run` shows this many words of the text.
DRY_RUN_WORDS = 12
# Queue ids are SQLite/PostgreSQL signed 64-bit integers.
MAX_ID = 2**63 - 1
DeliveryId = Annotated[int, typer.Argument(help="The delivery id (see `queue list`).")]

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Write a post once in Telegram; publish it on every official account.",
)
queue_app = typer.Typer(no_args_is_help=True, help="Look at and act on the publication queue.")
app.add_typer(queue_app, name="queue")
# Feature command groups (each module owns its group; see crosspost/commands/).
# -- stats (issue 10) --
app.add_typer(stats_commands.app, name="stats")
# -- event, recurring (issue 11) --
app.add_typer(event_commands.app, name="event")
app.add_typer(recurring_commands.app, name="recurring")
# -- max (issue 14) --
app.add_typer(max_commands.app, name="max")
# -- end of feature command groups --

out = Console()
err = Console(stderr=True)


class Exit(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def config_path(config: Path | None) -> Path:
    if config is not None:
        return config
    env = os.environ.get("CROSSPOST_CONFIG")
    return Path(env) if env else DEFAULT_CONFIG


def settings_from(
    config: Path | None, *, verbose: bool = False, log_format: LogFormatChoice | None = None
) -> Settings:
    """Load the config, then log as it says (level, format) with its secrets redacted."""
    settings = load_settings(config_path(config))
    setup_logging(settings, verbose=verbose, log_format=log_format)
    return settings


def setup_logging(
    settings: Settings | None = None,
    *,
    verbose: bool = False,
    log_format: LogFormatChoice | None = None,
    log_file: Path | None = None,
) -> None:
    """Level and format from the config unless -v / --log-format say otherwise; with `log_file`
    (the sandbox) INFO goes there and the screen shows only warnings."""
    fmt: LogFormat = settings.logging.format if settings else "text"
    if log_format is not None:
        fmt = "json" if log_format is LogFormatChoice.JSON else "text"
    level = "debug" if verbose else (settings.logging.level if settings else "info")
    configure_logging(
        level,
        fmt,
        secrets=secret_values(settings) if settings is not None else (),
        log_file=None if verbose else log_file,
    )


def _show_version(value: bool) -> None:
    if value:
        typer.echo(f"crosspost {__version__} (Python {sys.version.split()[0]})")
        raise typer.Exit()


@app.callback()
def _options(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            "-V",
            callback=_show_version,
            is_eager=True,
            help="Print the version and exit.",
        ),
    ] = False,
) -> None:
    """Write a post once in Telegram; publish it on every official account."""


def run_async(make: Callable[[], Awaitable[T]]) -> T:
    """Run a coroutine; turn the package's expected failures into one line and an exit code."""
    try:
        return asyncio.run(make())  # type: ignore[arg-type]
    except (ConfigError, UsageError) as exc:
        for line in str(exc).splitlines():
            typer.echo(f"error: {line}", err=True)
        raise typer.Exit(2) from None
    except Exit as exc:
        typer.echo(exc.message, err=True)
        raise typer.Exit(exc.code) from None
    except OperationalError as exc:
        typer.echo(
            f"error: the database cannot be opened or written: {exc.orig} "
            "(check [database].url and the folder's permissions)",
            err=True,
        )
        raise typer.Exit(2) from None


def local(dt: datetime, settings: Settings) -> str:
    return dt.astimezone(settings.tz).strftime("%Y-%m-%d %H:%M")


def parse_at(value: str | None, settings: Settings, now: datetime) -> datetime:
    """`--at PHRASE` as staff type it in the bot («завтра в 9», «15.12 10:00», «через 2 часа»)
    or "YYYY-MM-DD HH:MM[:SS]", in the configured zone → aware UTC; None means now.

    Raises UsageError (one line) for an unclear, past or date-only phrase."""
    if value is None:
        return now
    try:
        parsed = parse_when(value, now=now, tz=settings.tz)
    except DateParseError as exc:
        raise UsageError(f"--at {exc} ({settings.telegram.timezone})") from None
    if isinstance(parsed, NeedsTime):
        raise UsageError(
            f"--at {value!r} is a date ({parsed.day.isoformat()}) without a time: "
            f"add one, e.g. '{value.strip()} в 10:00'"
        )
    return parsed.at


def cli_now() -> datetime:
    """The clock of commands that read times. CROSSPOST_NOW (ISO 8601 with an offset) fixes
    it, for tests and rehearsals of `post --dry-run`."""
    fixed = os.environ.get(NOW_ENV)
    if not fixed:
        return datetime.now(UTC)
    try:
        at = datetime.fromisoformat(fixed)
    except ValueError:
        at = None
    if at is None or at.tzinfo is None:
        raise UsageError(f"{NOW_ENV}={fixed!r} is not an ISO 8601 time with an offset")
    return at.astimezone(UTC)


# -- run, migrate, check ----------------------------------------------------------------------


@app.command()
def run(
    config: ConfigOption = None,
    sandbox: Annotated[
        bool, typer.Option("--sandbox", help="Run against the built-in local platform emulators.")
    ] = False,
    verbose: VerboseOption = False,
    log_format: LogFormatOption = None,
    http_listen: Annotated[
        str | None,
        typer.Option(
            "--http-listen",
            metavar="HOST:PORT",
            help="Serve /healthz and /metrics here instead of [http] listen (one port per "
            "process when several run on one machine).",
        ),
    ] = None,
) -> None:
    """Run the service: the queue drain loop, periodic jobs, the Telegram bot and mirror.

    Without a config file (and with --sandbox) it runs against local emulators of Telegram, VK
    and OK, so nothing real is touched."""
    path = config_path(config)
    if sandbox or (config is None and not path.exists()):
        from crosspost.sandbox import SANDBOX_DIR, run_sandbox

        setup_logging(
            verbose=verbose, log_format=log_format, log_file=SANDBOX_DIR / "crosspost.log"
        )
        if not sandbox:
            err.print(f"No config file at {path}: starting in sandbox mode (local emulators).")
        run_async(lambda: run_sandbox(out))
        return

    async def main() -> None:
        from crosspost.app import RunLock, build_app, run_service
        from crosspost.monitor import Metrics, start_monitor

        settings = settings_from(path, verbose=verbose, log_format=log_format)
        if http_listen is not None:
            settings = settings.model_copy(update={"http": http_listen_config(http_listen)})
        lock = RunLock.acquire(settings.database.url)
        try:
            metrics = Metrics()
            app_ = await build_app(settings, sinks=[metrics], config_path=path.resolve())
            try:
                monitor = await start_monitor(app_, metrics)
                try:
                    await run_service(app_)
                finally:
                    if monitor is not None:
                        await monitor.stop()
            finally:
                await app_.close()
        finally:
            if lock is not None:
                lock.release()

    run_async(main)


def http_listen_config(value: str) -> HttpConfig:
    try:
        return HttpConfig(listen=value)
    except ValidationError:
        raise UsageError(
            f"--http-listen {value!r}: give HOST:PORT, for example 127.0.0.1:9101"
        ) from None


@app.command()
def migrate(config: ConfigOption = None) -> None:
    """Create or upgrade the database schema (also done at every start)."""

    async def main() -> None:
        from crosspost.db import create_engine
        from crosspost.db import migrate as do_migrate

        settings = settings_from(config)
        engine = create_engine(settings.database.url)
        try:
            await do_migrate(engine)
        finally:
            await engine.dispose()
        out.print(f"Database is up to date: {settings.database.url}")

    run_async(main)


@app.command()
def check(config: ConfigOption = None) -> None:
    """Check the config and every account's tokens; resume accounts paused for a bad token."""

    async def main() -> None:
        from crosspost.app import build_app

        settings = settings_from(config)
        app_ = await build_app(settings)
        try:
            results = await app_.check()
        finally:
            await app_.close()
        table = Table("account", "platform", "", "finding")
        failed = False
        for (account, platform), lines in results.items():
            for line in lines:
                failed = failed or not line.ok
                mark = "[green]ok[/green]" if line.ok else "[red]FAIL[/red]"
                table.add_row(account, str(platform), mark, f"{line.code}: {line.detail}")
        out.print(table)
        if failed:
            raise Exit(1, "Some checks failed: fix the tokens above and run `crosspost check`.")
        out.print("All checks passed.")

    run_async(main)


# -- post ---------------------------------------------------------------------------------------


@app.command()
def post(
    config: ConfigOption = None,
    account: Annotated[
        list[str] | None,
        typer.Option("--account", "-a", help="Account name (repeatable; default: all)."),
    ] = None,
    platform: Annotated[
        list[Platform] | None,
        typer.Option(
            "--platform", "-p", help="Platform (repeatable; default: all the account has)."
        ),
    ] = None,
    text: Annotated[str | None, typer.Option("--text", "-t", help="The post text.")] = None,
    text_file: Annotated[
        Path | None, typer.Option("--text-file", help="Read the text from a UTF-8 file.")
    ] = None,
    media: Annotated[
        list[Path] | None,
        typer.Option("--media", "-m", help="A photo, video or document (repeatable)."),
    ] = None,
    at: Annotated[
        str | None,
        typer.Option(
            "--at",
            help="Local time (telegram.timezone) as typed in the bot: «15.12 10:00», "
            "«завтра в 9», «в пятницу в 11», «через 2 часа», or YYYY-MM-DD HH:MM; "
            "default now.",
        ),
    ] = None,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run",
            help="Write nothing; print what would be queued, the time last (ISO 8601).",
        ),
    ] = False,
) -> None:
    """Put a post in the queue for the chosen accounts and platforms."""

    async def main() -> None:
        from crosspost.media import MediaStore
        from crosspost.routing import chosen_targets

        settings = settings_from(config)
        now = cli_now()
        if text is not None and text_file is not None:
            raise UsageError("give --text or --text-file, not both")
        body = text or ""
        if text_file is not None:
            try:
                body = text_file.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                raise UsageError(
                    f"--text-file {text_file}: cannot read it as UTF-8 ({exc})"
                ) from None
        media_paths = media or []
        if not body.strip() and not media_paths:
            raise UsageError("nothing to publish: give --text, --text-file or --media")
        for path in media_paths:
            if not path.is_file():
                raise UsageError(f"media file {path} does not exist or is not a file")
        accounts = account or list(settings.accounts)
        for name in accounts:
            if name not in settings.accounts:
                known = ", ".join(settings.accounts)
                raise UsageError(f"unknown account {name!r} (known: {known})")
        platforms = platform or sorted(
            {p for a in accounts if a in settings.accounts for p in settings.accounts[a].platforms}
        )
        targets = chosen_targets(settings, accounts, platforms)
        publish_at = parse_at(at, settings, now)
        if dry_run:
            _print_dry_run(settings, targets, body, media_paths, publish_at, now=at is None)
            return
        store = MediaStore(
            settings.media.dir, max_file_size=settings.media.max_file_mb * 1024 * 1024
        )
        async with open_service(settings) as service:
            items: list[MediaItem] = [await store.put_file(p) for p in media_paths]
            new = NewPublication(
                content=Content(text=RichText.plain(body), media=tuple(items)),
                targets=targets,
                publish_at=publish_at,
                source=PublicationSource.CLI,
                author=f"cli:{getpass.getuser()}",
            )
            result = await service.submit(new, actor=new.author)
        where = ", ".join(f"{t.account}/{t.platform}" for t in targets)
        out.print(
            f"Queued publication {result.publication_id} for {local(publish_at, settings)} "
            f"({settings.telegram.timezone}) to {where}; deliveries {list(result.delivery_ids)}"
        )

    run_async(main)


def _print_dry_run(
    settings: Settings,
    targets: Sequence[Target],
    body: str,
    media_paths: Sequence[Path],
    publish_at: datetime,
    *,
    now: bool,
) -> None:
    """What `post` would queue; plain echo (no rich markup: the text may hold brackets). The
    last line is only the time, for scripts."""
    words = body.split()
    excerpt = " ".join(words[:DRY_RUN_WORDS]) + (" …" if len(words) > DRY_RUN_WORDS else "")
    local_at = publish_at.astimezone(settings.tz)
    when = "now" if now else local_at.strftime("%Y-%m-%d %H:%M")
    typer.echo("Dry run: nothing is written.")
    typer.echo(f"Would queue to: {', '.join(f'{t.account}/{t.platform}' for t in targets)}")
    typer.echo(f"Text ({len(body)} characters): {excerpt}" if words else "Text: (none)")
    if media_paths:
        typer.echo(f"Media: {', '.join(p.name for p in media_paths)}")
    typer.echo(f"At: {when} ({settings.telegram.timezone})")
    typer.echo(local_at.isoformat(timespec="seconds"))


# -- queue --------------------------------------------------------------------------------------


@queue_app.command("list")
def queue_list(
    config: ConfigOption = None,
    all_: Annotated[
        bool, typer.Option("--all", help="Include published, failed, cancelled.")
    ] = False,
    limit: Annotated[int, typer.Option(min=1, max=10000)] = 100,
) -> None:
    """List deliveries still waiting (or all with --all)."""

    async def main() -> None:
        from crosspost.db import create_engine, create_sessionmaker
        from crosspost.db import migrate as do_migrate
        from crosspost.queue import DeliveryRepository

        settings = settings_from(config)
        if database_missing(settings) is not None:
            out.print("The queue is empty (no database yet).")
            return
        engine = create_engine(settings.database.url)
        try:
            await do_migrate(engine)
            async with create_sessionmaker(engine)() as session:
                rows = await DeliveryRepository(session).list_deliveries(
                    statuses=None if all_ else OPEN, limit=limit
                )
        finally:
            await engine.dispose()
        table = Table(
            "id", "pub", "account", "platform", "status", "due (local)", "tries", "url / error"
        )
        for d in rows:
            table.add_row(
                str(d.delivery_id),
                str(d.publication_id),
                d.account,
                str(d.platform),
                str(d.status),
                local(d.due_at, settings),
                str(d.attempts),
                d.remote_url or d.last_error or "",
            )
        out.print(table if rows else "The queue is empty.")

    run_async(main)


@contextlib.asynccontextmanager
async def open_service(settings: Settings) -> AsyncIterator[PublicationService]:
    """The queue without publishers: for commands that only read or change the queue."""
    from crosspost.db import create_engine, create_sessionmaker
    from crosspost.db import migrate as do_migrate

    path = sqlite_path(settings.database.url)
    if path is not None:
        probe = path if path.exists() else path.parent
        if not os.access(probe, os.W_OK):
            raise UsageError(
                f"database {path} is not writable: check [database].url and the permissions"
            )
    engine = create_engine(settings.database.url)
    try:
        await do_migrate(engine)
        from crosspost.ordering import FirstOrder

        sessionmaker = create_sessionmaker(engine)
        order = FirstOrder(
            settings, sessionmaker, wake=lambda: None, clock=lambda: datetime.now(UTC)
        )
        yield PublicationService(sessionmaker, publishers={}, after_enqueue=order.after_enqueue)
    finally:
        await engine.dispose()


def database_missing(settings: Settings) -> Path | None:
    """The SQLite file when it does not exist yet (nothing was ever queued), else None."""
    path = sqlite_path(settings.database.url)
    return path if path is not None and not path.exists() else None


def _with_service(
    config: Path | None,
    action: Callable[[PublicationService, Settings], Awaitable[str]],
    *,
    delivery_id: int,
) -> None:
    async def main() -> None:
        if not 1 <= delivery_id <= MAX_ID:
            raise UsageError(
                f"delivery id {delivery_id} is out of range: ids run from 1 to {MAX_ID} "
                "(see `crosspost queue list`)"
            )
        settings = settings_from(config)
        missing = database_missing(settings)
        if missing is not None:
            # Looking something up must not create a database.
            raise UsageError(
                f"no delivery {delivery_id}: the database {missing} does not exist yet"
            )
        async with open_service(settings) as service:
            message = await action(service, settings)
        out.print(message)

    run_async(main)


@queue_app.command("show")
def queue_show(delivery_id: DeliveryId, config: ConfigOption = None) -> None:
    """Show one delivery with its publication and sibling deliveries."""

    async def action(service: PublicationService, settings: Settings) -> str:
        from crosspost.queue import DeliveryRepository

        async with service.sessionmaker() as session:
            d = await DeliveryRepository(session).get(delivery_id)
        if d is None:
            raise UsageError(f"no delivery {delivery_id}")
        view = await service.view(d.publication_id)
        if view is None:
            raise UsageError(f"no publication {d.publication_id}")
        lines = [
            f"publication {view.info.publication_id} ({view.info.source}, by {view.info.author}, "
            f"version {view.info.version}), due {local(view.info.publish_at, settings)}",
            "text: " + (view.info.text[:500] or "(none)"),
        ]
        for x in view.deliveries:
            mark = "→" if x.delivery_id == delivery_id else " "
            lines.append(
                f"{mark} delivery {x.delivery_id}: {x.account}/{x.platform} {x.status} "
                f"tries={x.attempts} {x.remote_url or ''} {x.last_error or ''}".rstrip()
            )
        return "\n".join(lines)

    _with_service(config, action, delivery_id=delivery_id)


@queue_app.command("cancel")
def queue_cancel(delivery_id: DeliveryId, config: ConfigOption = None) -> None:
    """Cancel a delivery (one being sent is cancelled unless the platform already took it)."""

    async def action(service: PublicationService, settings: Settings) -> str:
        from crosspost.queue import TransitionError

        try:
            d = await service.cancel_delivery(delivery_id, actor=f"cli:{getpass.getuser()}")
        except LookupError:
            raise UsageError(f"no delivery {delivery_id}") from None
        except TransitionError as exc:
            raise UsageError(str(exc)) from None
        if d.status is DeliveryStatus.CANCELLED:
            return f"Delivery {delivery_id} cancelled."
        return f"Delivery {delivery_id} is being sent right now; it will be cancelled if it fails."

    _with_service(config, action, delivery_id=delivery_id)


@queue_app.command("retry")
def queue_retry(delivery_id: DeliveryId, config: ConfigOption = None) -> None:
    """Send a failed or held delivery again now."""

    async def action(service: PublicationService, settings: Settings) -> str:
        from crosspost.queue import TransitionError

        try:
            await service.retry_delivery(delivery_id, actor=f"cli:{getpass.getuser()}")
        except LookupError:
            raise UsageError(f"no delivery {delivery_id}") from None
        except TransitionError as exc:
            raise UsageError(f"{exc} (only failed or held deliveries can be retried)") from None
        return f"Delivery {delivery_id} will be sent again now."

    _with_service(config, action, delivery_id=delivery_id)


# -- backup, restore ----------------------------------------------------------------------------


def _sqlite_file(settings: Settings, what: str) -> Path:
    path = sqlite_path(settings.database.url)
    if path is None:
        raise UsageError(
            f"{what} works on SQLite; for PostgreSQL use pg_dump / pg_restore for the database "
            "and copy the media folder"
        )
    return path


@app.command()
def backup(
    file: Annotated[Path, typer.Argument(help="The backup file to write (a tar archive).")],
    config: ConfigOption = None,
) -> None:
    """Copy the database and the media store into one file; safe while the service runs."""

    async def main() -> None:
        from crosspost.backup import make_backup

        settings = settings_from(config)
        database = _sqlite_file(settings, "backup")
        summary = await asyncio.to_thread(make_backup, database, settings.media.dir, file)
        out.print(
            f"Backup written to {summary.path}: "
            + ", ".join(f"{table}: {n}" for table, n in summary.rows.items() if n)
            + f"; {summary.media_files} media files ({summary.media_bytes / 1e6:.1f} MB); "
            f"schema {summary.schema}",
            soft_wrap=True,
        )

    run_async(main)


@app.command()
def restore(
    file: Annotated[Path, typer.Argument(help="A file written by `crosspost backup`.")],
    config: ConfigOption = None,
) -> None:
    """Put a backup back (stop the service first). The current database is kept beside it as
    *.before-restore-<time>; the next start upgrades an older schema."""

    async def main() -> None:
        from crosspost.backup import restore_backup

        settings = settings_from(config)
        database = _sqlite_file(settings, "restore")
        summary = await asyncio.to_thread(restore_backup, file, database, settings.media.dir)
        out.print(
            f"Restored {database} from {file}: "
            + ", ".join(f"{table}: {n}" for table, n in summary.rows.items() if n)
            + f"; {summary.media_files} media files. Start the service again "
            "(sudo systemctl start crosspost); it upgrades the schema if the backup is older.",
            soft_wrap=True,
        )

    run_async(main)


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)
