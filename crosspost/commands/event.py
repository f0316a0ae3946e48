"""`crosspost event`: Event announcements with reminders."""

from __future__ import annotations

import typer

app = typer.Typer(no_args_is_help=True, help="Event announcements with reminders.")
