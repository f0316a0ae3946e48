"""`crosspost stats`: Subscriber statistics and the yearly report."""

from __future__ import annotations

import typer

app = typer.Typer(no_args_is_help=True, help="Subscriber statistics and the yearly report.")
