"""Database faults for tests: writes that fail as on a read-only file or a full disk."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

_WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE")


class FailingWrites:
    """While `failing`, every write statement on the engine fails with SQLite's own error."""

    def __init__(self, message: str = "attempt to write a readonly database") -> None:
        self.message = message
        self.failing = False
        self.refused = 0

    def __call__(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if self.failing and statement.lstrip().upper().startswith(_WRITES):
            self.refused += 1
            raise sqlite3.OperationalError(self.message)


@contextmanager
def failing_writes(engine: AsyncEngine, message: str | None = None) -> Iterator[FailingWrites]:
    fault = FailingWrites(message) if message else FailingWrites()
    fault.failing = True
    event.listen(engine.sync_engine, "before_cursor_execute", fault)
    try:
        yield fault
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", fault)
