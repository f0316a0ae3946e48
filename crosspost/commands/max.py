"""`crosspost max`: MAX channels."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from adapters.max.client import JsonObject
    from crosspost.config import Settings

app = typer.Typer(no_args_is_help=True, help="MAX channels.")


@app.command()
def link(
    config: Annotated[
        str | None,
        typer.Option(
            "--config", "-c", help="Config file (default: $CROSSPOST_CONFIG or ./crosspost.toml)."
        ),
    ] = None,
    wait_minutes: Annotated[
        int, typer.Option("--wait", min=1, max=120, help="Give up after this many minutes.")
    ] = 10,
) -> None:
    """Wait until the bot is added to a MAX channel; print its chat_id and title for the config.

    MAX has no list of a bot's chats any more: the id comes only with the `bot_added` update.
    Run this before starting the service (it confirms the updates it reads), then add the bot
    to the channel as an administrator (write, edit, delete). With [max.webhook] MAX posts the
    update to the running service instead: this reads it from the service's database (a bot
    added up to an hour before counts too).
    """
    from pathlib import Path

    import aiohttp

    from adapters.max import create_client
    from adapters.max.listener import wait_for_bot_added
    from crosspost.cli import Exit, out, run_async, settings_from
    from crosspost.errors import ConfigError, PublishError
    from crosspost.publishing import no_throttle

    async def main() -> None:
        settings = settings_from(Path(config) if config else None)
        if settings.max is None:
            raise ConfigError("there is no [max] table in the config: add api_base and token")
        async with aiohttp.ClientSession() as http:
            client = create_client(settings, http=http, throttle=no_throttle)
            try:
                me = await client.me()
                out.print(
                    f"Bot {me.get('name')} (@{me.get('username')}) is ready. Add it to the MAX "
                    "channel as an administrator (write, edit, delete); waiting "
                    f"{wait_minutes} min…"
                )
                if settings.max.webhook is None:
                    update = await wait_for_bot_added(
                        client,
                        hold_seconds=settings.max.poll_timeout_seconds,
                        deadline=timedelta(minutes=wait_minutes),
                    )
                else:
                    update = await _bot_added_by_webhook(settings, wait_minutes)
                if update is None:
                    raise Exit(1, "No bot_added update came: add the bot and run again.")
                chat_id = update.get("chat_id")
                if not isinstance(chat_id, int):
                    raise Exit(1, "MAX sent a bot_added update without a chat_id.")
                chat = await client.chat(chat_id)
            except PublishError as exc:
                raise Exit(1, f"MAX: {exc}") from None
        title = chat.get("title")
        account = settings.account_by_max_chat(chat_id)
        out.print(f"chat_id = {chat_id}")
        out.print(f"title = {title}")
        out.print(f"type = {chat.get('type')}, participants = {chat.get('participants_count')}")
        if account is not None:
            out.print(f"Already in the config as account {account!r}.")
        else:
            out.print(f"Put into the account's table: max_chat_id = {chat_id}")

    run_async(main)


async def _bot_added_by_webhook(settings: Settings, wait_minutes: int) -> JsonObject | None:
    """The newest `bot_added` the running service stored from the webhook (long polling does
    not work while MAX has a webhook subscription)."""
    from datetime import UTC, datetime

    from adapters.max.listener import bot_added_from_inbox
    from crosspost.cli import out
    from crosspost.db import create_engine, create_sessionmaker
    from crosspost.inbox import Inbox

    out.print("The webhook is on: the running service receives the update; reading it from there.")
    engine = create_engine(settings.database.url)
    try:
        inbox = Inbox(create_sessionmaker(engine))
        return await bot_added_from_inbox(
            inbox,
            since=datetime.now(UTC) - timedelta(hours=1),
            deadline=timedelta(minutes=wait_minutes),
        )
    finally:
        await engine.dispose()
