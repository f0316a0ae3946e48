"""The Telegram emulator fixtures of the adapter tests, for the staff bot's flows."""

from __future__ import annotations

from tests.adapters.telegram.conftest import tg_emulator, tg_server

__all__ = ["tg_emulator", "tg_server"]
