"""Backup under write load, restore, every row and file there; restore refused while running."""

from __future__ import annotations

import asyncio
import hashlib
import os
import sqlite3
import tarfile
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from crosspost.app import RunLock
from crosspost.backup import make_backup, restore_backup
from crosspost.cli import app
from crosspost.db import create_engine, create_sessionmaker, migrate
from crosspost.errors import UsageError
from crosspost.media import MediaStore
from crosspost.models import Content, NewPublication, Platform, PublicationSource, Target
from crosspost.queue import DeliveryRepository
from crosspost.richtext import RichText

TARGETS = (
    Target(account="adm", platform=Platform.VK),
    Target(account="adm", platform=Platform.OK),
    Target(account="head", platform=Platform.TELEGRAM),
)


def rows(db: Path, table: str) -> set[tuple[object, ...]]:
    with sqlite3.connect(db) as conn:
        return set(conn.execute(f"SELECT * FROM {table}").fetchall())  # noqa: S608


async def write_load(
    db_url: str, media: MediaStore, source: Path, stop: asyncio.Event, started: asyncio.Event
) -> int:
    """Enqueue publications (each with a media file and three deliveries) until stopped."""
    engine = create_engine(db_url)
    sessionmaker = create_sessionmaker(engine)
    written = 0
    try:
        while not stop.is_set() or written < 20:
            await asyncio.to_thread(source.write_bytes, f"photo {written}".encode() * 100)
            item = await media.put_file(source)
            now = datetime.now(UTC)
            async with sessionmaker() as session, session.begin():
                await DeliveryRepository(session).enqueue(
                    NewPublication(
                        content=Content(text=RichText.plain(f"пост {written}"), media=(item,)),
                        targets=TARGETS,
                        publish_at=now,
                        source=PublicationSource.CLI,
                        author="cli:test",
                    ),
                    now,
                )
            written += 1
            if written == 10:
                started.set()
            await asyncio.sleep(0)
    finally:
        await engine.dispose()
    return written


async def test_backup_under_write_load_then_restore_has_every_row_and_file(
    tmp_path: Path,
) -> None:
    state = tmp_path / "state"
    state.mkdir()
    db = state / "crosspost.db"
    url = f"sqlite+aiosqlite:///{db}"
    engine = create_engine(url)
    await migrate(engine)
    await engine.dispose()
    media = MediaStore(state / "media", max_file_size=10**6)
    stop, started = asyncio.Event(), asyncio.Event()
    load = asyncio.create_task(write_load(url, media, tmp_path / "photo.jpg", stop, started))
    # Let some rows exist before the backup starts, then back up while writes go on.
    async with asyncio.timeout(60):
        await started.wait()
    before = rows(db, "publications")
    archive = tmp_path / "backup.tar"
    summary = await asyncio.to_thread(make_backup, db, state / "media", archive)
    stop.set()
    written = await load
    assert written > summary.rows["publications"] >= len(before)  # writes went on around it

    await asyncio.to_thread(check_restore, tmp_path, db, archive, before, summary.rows)


def check_restore(
    tmp_path: Path,
    db: Path,
    archive: Path,
    before: set[tuple[object, ...]],
    counts: dict[str, int],
) -> None:
    # Restore into a fresh place (another server): every row of the snapshot and every file.
    other = tmp_path / "other"
    other.mkdir()
    restored_db = other / "crosspost.db"
    result = restore_backup(archive, restored_db, other / "media")
    assert result.rows == counts
    publications = rows(restored_db, "publications")
    assert before <= publications <= rows(db, "publications")
    deliveries = rows(restored_db, "deliveries")
    assert deliveries <= rows(db, "deliveries")
    # One snapshot: every publication came with all three of its deliveries and its media row.
    assert len(deliveries) == 3 * len(publications)
    with sqlite3.connect(restored_db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        media_rows = conn.execute("SELECT path, sha256 FROM media").fetchall()
    assert len(media_rows) == len(publications)
    for path, sha in media_rows:
        file = Path(path)
        assert file.parent.parent == (other / "media").resolve()
        assert hashlib.sha256(file.read_bytes()).hexdigest() == sha


async def test_restore_refused_while_the_service_runs(tmp_path: Path) -> None:
    db = tmp_path / "crosspost.db"
    engine = create_engine(f"sqlite+aiosqlite:///{db}")
    await migrate(engine)
    await engine.dispose()
    archive = tmp_path / "b.tar"
    make_backup(db, tmp_path / "media", archive)
    before = db.read_bytes()
    lock = RunLock.acquire(f"sqlite+aiosqlite:///{db}")  # what `crosspost run` holds
    try:
        with pytest.raises(UsageError, match="the service is running"):
            restore_backup(archive, db, tmp_path / "media")
    finally:
        assert lock is not None
        lock.release()
    await asyncio.to_thread(check_refused_then_restored, tmp_path, db, archive, before)


def check_refused_then_restored(tmp_path: Path, db: Path, archive: Path, before: bytes) -> None:
    assert db.read_bytes() == before
    restore_backup(archive, db, tmp_path / "media")  # stopped: fine, old one kept aside
    assert list(tmp_path.glob("crosspost.db.before-restore-*"))


def test_not_a_backup_is_refused_and_nothing_changes(tmp_path: Path) -> None:
    bogus = tmp_path / "bogus.tar"
    with tarfile.open(bogus, "w") as tar:
        tar.add(__file__, arcname="x.py")
    db = tmp_path / "crosspost.db"
    db.write_bytes(b"current")
    with pytest.raises(UsageError, match="not a crosspost backup"):
        restore_backup(bogus, db, tmp_path / "media")
    (tmp_path / "plain.txt").write_text("hello", encoding="utf-8")
    with pytest.raises(UsageError, match="not a crosspost backup"):
        restore_backup(tmp_path / "plain.txt", db, tmp_path / "media")
    assert db.read_bytes() == b"current"
    left = sorted(p.name for p in tmp_path.iterdir() if p.suffix != ".lock")
    assert left == ["bogus.tar", "crosspost.db", "plain.txt"]


CONFIG = """
[database]
url = "sqlite+aiosqlite:///state/crosspost.db"
[telegram]
token = "123456:TEST"
staff_chat_id = -100900
staff = [1]
[media]
dir = "state/media"
[accounts.adm]
title = "Администрация"
telegram_channel_id = -1001
"""


def test_cli_backup_and_restore(tmp_path: Path) -> None:
    (tmp_path / "state").mkdir()
    config = tmp_path / "crosspost.toml"
    config.write_text(CONFIG, encoding="utf-8")
    runner = CliRunner()
    photo = tmp_path / "a.jpg"
    photo.write_bytes(b"\xff\xd8\xff" + b"1" * 50)
    posted = runner.invoke(app, ["post", "-c", str(config), "-t", "текст", "-m", str(photo)])
    assert posted.exit_code == 0, posted.output
    archive = tmp_path / "nightly.tar"
    backed = runner.invoke(app, ["backup", "-c", str(config), str(archive)])
    assert backed.exit_code == 0, backed.output
    assert "1 media files" in backed.output
    assert oct(os.stat(archive).st_mode & 0o777) == "0o600"
    restored = runner.invoke(app, ["restore", "-c", str(config), str(archive)])
    assert restored.exit_code == 0, restored.output
    assert "publications: 1" in restored.output
    missing = runner.invoke(app, ["restore", "-c", str(config), str(tmp_path / "nope.tar")])
    assert missing.exit_code == 2
    assert missing.output.startswith("error: backup file")
