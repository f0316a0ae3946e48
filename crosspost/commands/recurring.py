"""`crosspost recurring`: posts repeated by a cron line or an RFC 5545 RRULE."""

from __future__ import annotations

import contextlib
import getpass
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer

from crosspost.config import Settings
from crosspost.models import Platform
from crosspost.planning.recurring import RecurringPlanner, Rule

app = typer.Typer(no_args_is_help=True, help="Recurring posts.")

ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config", "-c", help="Config file (default: $CROSSPOST_CONFIG or ./crosspost.toml)."
    ),
]
RULE_HELP = (
    'A 5-field cron line in local time ("0 9 * * 1": Mondays at 09:00) or an RFC 5545 RRULE '
    '("RRULE:FREQ=WEEKLY;BYDAY=MO;BYHOUR=9;BYMINUTE=0").'
)


def _actor() -> str:
    return f"cli:{getpass.getuser()}"


@contextlib.asynccontextmanager
async def open_recurring(settings: Settings) -> AsyncIterator[RecurringPlanner]:
    from crosspost.cli import open_service

    async with open_service(settings) as service:
        yield RecurringPlanner(settings=settings, service=service)


def _local(at: datetime | None, settings: Settings) -> str:
    return "-" if at is None else at.astimezone(settings.tz).strftime("%Y-%m-%d %H:%M")


def _run(
    config: Path | None, action: Callable[[RecurringPlanner, Settings], Awaitable[str]]
) -> None:
    from crosspost.cli import out, run_async, settings_from

    async def main() -> None:
        settings = settings_from(config)
        async with open_recurring(settings) as planner:
            message = await action(planner, settings)
        out.print(message, markup=False, highlight=False)

    run_async(main)


def _describe(rule: Rule, settings: Settings) -> str:
    return (
        f"Recurring post {rule.rule_id} ({rule.kind}: {rule.rule}, {rule.timezone}) "
        f"{'paused' if rule.paused else 'active'}; next run {_local(rule.next_run_at, settings)}"
    )


@app.command("add")
def add(
    account: Annotated[
        list[str], typer.Option("--account", "-a", help="Account name (repeatable).")
    ],
    text: Annotated[str, typer.Option("--text", "-t", help="The post text.")],
    rule: Annotated[str, typer.Option("--rule", help=RULE_HELP)],
    config: ConfigOption = None,
    platform: Annotated[
        list[Platform] | None,
        typer.Option("--platform", "-p", help="Platform (repeatable; default: all it has)."),
    ] = None,
) -> None:
    """Add a recurring post; prints its id as the last number on the last line."""

    async def action(planner: RecurringPlanner, settings: Settings) -> str:
        added = await planner.add(
            rule=rule, text=text, accounts=account, platforms=platform, actor=_actor()
        )
        return f"{_describe(added, settings)}\nRecurring post id: {added.rule_id}"

    _run(config, action)


@app.command("list")
def list_(config: ConfigOption = None) -> None:
    """Every recurring post with its rule, state and next run."""
    from rich.table import Table

    from crosspost.cli import out, run_async, settings_from

    async def main() -> None:
        settings = settings_from(config)
        async with open_recurring(settings) as planner:
            rules = await planner.list()
        if not rules:
            out.print("No recurring posts.")
            return
        table = Table("id", "rule", "kind", "state", "next run (local)", "accounts", "text")
        for r in rules:
            table.add_row(
                str(r.rule_id),
                r.rule,
                str(r.kind),
                "paused" if r.paused else "active",
                _local(r.next_run_at, settings),
                ", ".join(f"{a}" for a in r.accounts) + " / " + ", ".join(r.platforms),
                r.text[:60],
            )
        out.print(table)

    run_async(main)


@app.command("pause")
def pause(rule_id: int, config: ConfigOption = None) -> None:
    """Stop a recurring post until resumed (runs in the pause are not made up)."""

    async def action(planner: RecurringPlanner, settings: Settings) -> str:
        return _describe(await planner.pause(rule_id, actor=_actor()), settings)

    _run(config, action)


@app.command("resume")
def resume(rule_id: int, config: ConfigOption = None) -> None:
    """Resume a paused recurring post from now on."""

    async def action(planner: RecurringPlanner, settings: Settings) -> str:
        return _describe(await planner.resume(rule_id, actor=_actor()), settings)

    _run(config, action)


@app.command("delete")
def delete(rule_id: int, config: ConfigOption = None) -> None:
    """Delete a recurring post (posts already published stay)."""

    async def action(planner: RecurringPlanner, settings: Settings) -> str:
        await planner.delete(rule_id, actor=_actor())
        return f"Recurring post {rule_id} deleted."

    _run(config, action)
