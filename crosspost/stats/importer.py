"""`crosspost stats import`: past figures from a CSV file, all rows or none."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, datetime

from crosspost.models import Platform
from crosspost.stats.repository import ImportRow

COLUMNS = ("date", "account", "platform", "subscribers")
PLATFORM_ALIASES = {
    "telegram": "telegram",
    "tg": "telegram",
    "телеграм": "telegram",
    "vk": "vk",
    "vkontakte": "vk",
    "вконтакте": "vk",
    "ok": "ok",
    "odnoklassniki": "ok",
    "одноклассники": "ok",
    "max": "max",
    "макс": "max",
}
MAX_ERRORS_SHOWN = 20


@dataclass(frozen=True, kw_only=True)
class RowError:
    row: int  # line number in the file, the header being 1
    reason: str

    def __str__(self) -> str:
        return f"row {self.row}: {self.reason}"


class ImportRefused(Exception):
    """The file has bad rows; nothing was imported."""

    def __init__(self, errors: list[RowError]) -> None:
        shown = "\n".join(str(e) for e in errors[:MAX_ERRORS_SHOWN])
        more = len(errors) - MAX_ERRORS_SHOWN
        tail = f"\n... and {more} more" if more > 0 else ""
        super().__init__(f"{shown}{tail}\nnothing was imported: fix the rows and run it again")
        self.errors = errors


def _parse_date(value: str) -> date:
    for fmt in ("%Y-%m-%d", "%d.%m.%Y"):
        try:
            return datetime.strptime(value, fmt).date()  # noqa: DTZ007 - a calendar date only
        except ValueError:
            continue
    raise ValueError(f"date {value!r} is not YYYY-MM-DD (or DD.MM.YYYY)")


def _parse_count(value: str) -> int:
    digits = re.sub(r"[\s\u00a0\u202f]", "", value)  # "7 855" as spreadsheets write it
    if not digits.isdigit():
        raise ValueError(f"subscribers {value!r} is not a whole number of 0 or more")
    return int(digits)


def parse_csv(text: str, *, accounts: Collection[str], today: date) -> list[ImportRow]:
    """Rows `date,account,platform,subscribers` (a header row with these names first;
    `,` or `;` between fields). Raises ImportRefused listing every bad row."""
    text = text.removeprefix("\ufeff")
    if not text.strip():
        raise ImportRefused([RowError(row=1, reason="the file is empty")])
    first_line = text.splitlines()[0]
    delimiter = ";" if first_line.count(";") > first_line.count(",") else ","
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    header = [h.strip().lower() for h in next(reader)]
    if tuple(header) != COLUMNS:
        raise ImportRefused(
            [
                RowError(
                    row=1,
                    reason=f"the header must be {','.join(COLUMNS)} (found {','.join(header)})",
                )
            ]
        )
    rows: list[ImportRow] = []
    errors: list[RowError] = []
    seen: dict[tuple[date, str, str], int] = {}
    known = ", ".join(sorted(accounts))
    for fields in reader:
        number = reader.line_num
        if not any(f.strip() for f in fields):
            continue
        if len(fields) != len(COLUMNS):
            errors.append(
                RowError(row=number, reason=f"{len(fields)} fields, expected {len(COLUMNS)}")
            )
            continue
        raw_day, account, raw_platform, raw_count = (f.strip() for f in fields)
        try:
            day = _parse_date(raw_day)
            if day > today:
                raise ValueError(f"date {raw_day} is in the future")
            if account not in accounts:
                raise ValueError(f"unknown account {account!r} (known: {known})")
            platform = PLATFORM_ALIASES.get(raw_platform.lower())
            if platform is None:
                names = ", ".join(str(p) for p in Platform)
                raise ValueError(f"unknown platform {raw_platform!r} (use {names})")
            count = _parse_count(raw_count)
        except ValueError as exc:
            errors.append(RowError(row=number, reason=str(exc)))
            continue
        key = (day, account, platform)
        if key in seen:
            errors.append(
                RowError(
                    row=number, reason=f"repeats row {seen[key]} (same date, account, platform)"
                )
            )
            continue
        seen[key] = number
        rows.append(ImportRow(day=day, account=account, platform=platform, subscribers=count))
    if errors:
        raise ImportRefused(errors)
    if not rows:
        raise ImportRefused([RowError(row=1, reason="no data rows after the header")])
    return rows
