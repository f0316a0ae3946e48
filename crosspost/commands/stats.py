"""`crosspost stats`: Subscriber statistics and the yearly report."""

from __future__ import annotations

import sys
from datetime import UTC, date, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from crosspost.errors import UsageError

app = typer.Typer(no_args_is_help=True, help="Subscriber statistics and the yearly report.")

ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config", "-c", help="Config file (default: $CROSSPOST_CONFIG or ./crosspost.toml)."
    ),
]


class ReportFormat(StrEnum):
    TEXT = "text"
    MD = "md"
    CSV = "csv"
    PNG = "png"


def parse_day(value: str, option: str) -> date:
    """YYYY-MM-DD or DD.MM.YYYY. Raises UsageError."""
    for fmt in ("%Y-%m-%d", "%d.%m.%Y"):
        try:
            return datetime.strptime(value.strip(), fmt).date()  # noqa: DTZ007 - a calendar date
        except ValueError:
            continue
    raise UsageError(f"{option} {value!r} is not a date: use YYYY-MM-DD (or DD.MM.YYYY)")


@app.command()
def collect(config: ConfigOption = None) -> None:
    """Read every account's subscribers now, store them as today's figures, print the table.

    Exits 1 if a platform could not be read (the other numbers are stored all the same)."""
    from rich.table import Table

    from crosspost import cli
    from crosspost.stats.render import number, platform_name

    async def main() -> None:
        from crosspost.app import build_app

        settings = cli.settings_from(config)
        app_ = await build_app(settings)
        try:
            result = await app_.collect_stats()
        finally:
            await app_.close()
        table = Table("account", "platform", "subscribers", "problem")
        for reading in result.readings:
            table.add_row(
                reading.account,
                platform_name(reading.platform),
                "" if reading.subscribers is None else number(reading.subscribers),
                "" if reading.ok else f"{reading.reason}: {reading.detail}",
            )
        cli.out.print(table)
        cli.out.print(f"Stored as the figures of {result.day.isoformat()}.")
        if result.failed:
            raise cli.Exit(
                1,
                f"{len(result.failed)} count(s) could not be read (stored as failures, staff "
                "told); the others are stored.",
            )

    cli.run_async(main)


@app.command("import")
def import_(
    file: Annotated[Path, typer.Argument(help="CSV: date,account,platform,subscribers")],
    config: ConfigOption = None,
) -> None:
    """Load past figures from a CSV file (a header row date,account,platform,subscribers).

    Every row is checked first: one bad row refuses the whole file and nothing is written."""
    from crosspost import cli

    async def main() -> None:
        from crosspost.db import write_session
        from crosspost.stats.importer import ImportRefused, parse_csv
        from crosspost.stats.repository import StatsRepository

        settings = cli.settings_from(config)
        try:
            text = file.read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as exc:
            raise UsageError(f"{file}: cannot read it as a UTF-8 CSV file ({exc})") from None
        today = datetime.now(UTC).astimezone(settings.tz).date()
        try:
            rows = parse_csv(text, accounts=settings.accounts.keys(), today=today)
        except ImportRefused as exc:
            raise UsageError(f"{file}:\n{exc}") from None
        now = datetime.now(UTC)
        async with (
            cli.open_service(settings) as service,
            write_session(service.sessionmaker, what="stats import") as session,
        ):
            replaced = await StatsRepository(session).import_rows(rows, now)
        first, last = min(r.day for r in rows), max(r.day for r in rows)
        cli.out.print(
            f"Imported {len(rows)} figure(s) from {first.isoformat()} to {last.isoformat()} "
            f"({replaced} replaced figures of the same day)."
        )

    cli.run_async(main)


@app.command()
def report(
    config: ConfigOption = None,
    on: Annotated[
        str | None, typer.Option("--on", help="Report date, YYYY-MM-DD (default: today).")
    ] = None,
    compare: Annotated[
        str | None,
        typer.Option("--compare", help="Compare with this date (default: a year before --on)."),
    ] = None,
    format_: Annotated[
        ReportFormat, typer.Option("--format", "-f", help="text (Russian prose), md, csv, png.")
    ] = ReportFormat.TEXT,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", "-o", help="Write to this file (png default: subscribers-DATE.png)."
        ),
    ] = None,
) -> None:
    """The subscribers report: each account and platform on --on against --compare, growth,
    totals, then posts per month and reach. Uses the nearest snapshot on or before each date."""
    from crosspost import cli

    async def main() -> None:
        from crosspost.stats.report import build_report, year_before

        settings = cli.settings_from(config)
        on_day = (
            parse_day(on, "--on")
            if on is not None
            else datetime.now(UTC).astimezone(settings.tz).date()
        )
        compare_day = parse_day(compare, "--compare") if compare else year_before(on_day)
        if compare_day >= on_day:
            raise UsageError(
                f"--compare {compare_day.isoformat()} must be before --on {on_day.isoformat()}"
            )
        async with cli.open_service(settings) as service:
            data = await build_report(
                settings=settings,
                sessionmaker=service.sessionmaker,
                on=on_day,
                compare=compare_day,
            )
        if format_ is ReportFormat.PNG:
            from crosspost.stats.chart import render_png

            target = out or Path(f"subscribers-{on_day.isoformat()}.png")
            _write(target, render_png(data))
            cli.out.print(f"Chart written to {target}")
            return
        from crosspost.stats import render

        body = {
            ReportFormat.TEXT: render.render_text,
            ReportFormat.MD: render.render_markdown,
            ReportFormat.CSV: render.render_csv,
        }[format_](data)
        if out is None:
            sys.stdout.write(body)
            sys.stdout.flush()
            return
        _write(out, body.encode("utf-8"))
        cli.out.print(f"Report written to {out}")

    cli.run_async(main)


def _write(path: Path, data: bytes) -> None:
    try:
        path.write_bytes(data)
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror}") from None
