"""`crosspost stats collect|import|report` as a person runs them: exit codes 0, 1 and 2."""

from __future__ import annotations

import asyncio
import csv
import io
import sqlite3
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

from crosspost.cli import app
from crosspost.emulators.ok import OkEmulator
from crosspost.emulators.telegram import TelegramEmulator
from crosspost.emulators.vk import VkEmulator
from crosspost.sandbox import BOT_TOKEN, sandbox_config, write_toml
from tests.stats.conftest import SEED, seed_counts

runner = CliRunner()

GOOD_CSV = """date,account,platform,subscribers
2024-01-01,administration,telegram,7855
2024-01-01,administration,vk,4236
2024-01-01,administration,ok,2357
2024-01-01,head,telegram,2542
2024-01-01,head,vk,7521
2024-01-01,head,ok,914
"""


@dataclass
class Emulators:
    tg: TelegramEmulator
    vk: VkEmulator
    ok: OkEmulator
    config: Path
    db: Path


@pytest.fixture
def emulators(tmp_path: Path) -> Iterator[Emulators]:
    """The emulators on a loop of their own thread: the CLI runs its own asyncio.run."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()

    def run(coro: object) -> object:
        return asyncio.run_coroutine_threadsafe(coro, loop).result(timeout=30)  # type: ignore[arg-type]

    tg, vk, ok = TelegramEmulator(token=BOT_TOKEN), VkEmulator(), OkEmulator()
    seed_counts(tg, vk, ok)
    bases = [run(e.start()) for e in (tg, vk, ok)]
    data = sandbox_config(*(str(b) for b in bases), tmp_path)  # type: ignore[call-arg]
    data.pop("sandbox")
    config = tmp_path / "crosspost.toml"
    write_toml(data, config)
    try:
        yield Emulators(tg=tg, vk=vk, ok=ok, config=config, db=tmp_path / "crosspost.db")
    finally:
        for e in (tg, vk, ok):
            run(e.stop())
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()


def snapshots(db: Path) -> list[tuple[str, str, str, int | None, str | None]]:
    with sqlite3.connect(db) as conn:
        return list(
            conn.execute(
                "select day, account, platform, subscribers, error_reason "
                "from subscriber_snapshots order by account, platform, day"
            )
        )


def test_collect_prints_and_stores_the_table(emulators: Emulators) -> None:
    result = runner.invoke(app, ["stats", "collect", "-c", str(emulators.config)])
    assert result.exit_code == 0, result.output
    assert "7855" in result.output
    assert "Одноклассники" in result.output
    assert sorted((a, p, n) for _, a, p, n, _ in snapshots(emulators.db)) == sorted(
        (a, p, n) for (a, p), n in SEED.items()
    )


def test_collect_exits_1_when_a_platform_fails(emulators: Emulators) -> None:
    emulators.ok.expire_token("sandbox-ok-token-head")
    result = runner.invoke(app, ["stats", "collect", "-c", str(emulators.config)])
    assert result.exit_code == 1, result.output
    rows = snapshots(emulators.db)
    assert len([r for r in rows if r[3] is not None]) == 5
    assert [r[1:3] for r in rows if r[4] is not None] == [("head", "ok")]


def test_collect_with_a_bad_collect_time_exits_2(emulators: Emulators) -> None:
    text = emulators.config.read_text(encoding="utf-8")
    emulators.config.write_text(text + '\n[stats]\ncollect_at = "25:00"\n', encoding="utf-8")
    result = runner.invoke(app, ["stats", "collect", "-c", str(emulators.config)])
    assert result.exit_code == 2
    assert "stats.collect_at" in result.output
    assert not emulators.db.exists()


def test_import_then_report_in_every_format(emulators: Emulators, tmp_path: Path) -> None:
    past = tmp_path / "past.csv"
    past.write_text(
        GOOD_CSV + "".join(f"2023-01-01,{a},{p},{n // 2}\n" for (a, p), n in SEED.items()),
        encoding="utf-8",
    )
    result = runner.invoke(app, ["stats", "import", str(past), "-c", str(emulators.config)])
    assert result.exit_code == 0, result.output
    assert "Imported 12" in result.output

    config = ["-c", str(emulators.config), "--on", "2024-01-01"]
    text = runner.invoke(app, ["stats", "report", *config])
    assert text.exit_code == 0, text.output
    assert "Telegram — 7855, ВКонтакте — 4236, Одноклассники — 2357" in text.output

    md = runner.invoke(app, ["stats", "report", *config, "--format", "md"])
    assert md.exit_code == 0
    assert "| Глава городского округа Спасск-Дальний | Одноклассники | 914 | 457 |" in md.output

    out = tmp_path / "report.csv"
    csv_run = runner.invoke(app, ["stats", "report", *config, "-f", "csv", "--out", str(out)])
    assert csv_run.exit_code == 0, csv_run.output
    rows = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8"))))
    assert [r["subscribers"] for r in rows if r["account"] == "total"] == ["25425"]

    png = tmp_path / "chart.png"
    chart = runner.invoke(app, ["stats", "report", *config, "-f", "png", "-o", str(png)])
    assert chart.exit_code == 0, chart.output
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_import_refuses_a_bad_row_and_writes_nothing(emulators: Emulators, tmp_path: Path) -> None:
    past = tmp_path / "past.csv"
    past.write_text(
        GOOD_CSV + "2024-01-01,mayor,vk,10\n2023-13-01,head,vk,5\n2023-01-01,head,vk,-3\n",
        encoding="utf-8",
    )
    result = runner.invoke(app, ["stats", "import", str(past), "-c", str(emulators.config)])
    assert result.exit_code == 2
    assert "row 8: unknown account 'mayor'" in result.output
    assert "row 9: date '2023-13-01' is not YYYY-MM-DD" in result.output
    assert "row 10: subscribers '-3' is not a whole number" in result.output
    assert "nothing was imported" in result.output
    assert not emulators.db.exists() or snapshots(emulators.db) == []


def test_report_refuses_bad_dates(emulators: Emulators) -> None:
    config = ["-c", str(emulators.config)]
    bad = runner.invoke(app, ["stats", "report", *config, "--on", "1 января"])
    assert bad.exit_code == 2
    assert "is not a date" in bad.output
    later = runner.invoke(
        app, ["stats", "report", *config, "--on", "2024-01-01", "--compare", "2024-02-01"]
    )
    assert later.exit_code == 2
    assert "must be before" in later.output
