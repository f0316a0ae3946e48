"""`crosspost backup` and `crosspost restore`: the SQLite database (through SQLite's online
backup API, so a running service keeps writing) and the media store, in one tar file."""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import re
import shutil
import sqlite3
import tarfile
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from crosspost import __version__
from crosspost.errors import UsageError

MANIFEST = "crosspost-backup.json"
DATABASE_MEMBER = "database/crosspost.db"
MEDIA_PREFIX = "media/"
FORMAT = 1
# Media files are stored as <root>/<first two hex digits>/<sha256> (crosspost.media.MediaStore).
MEDIA_NAME = re.compile(r"[0-9a-f]{2}/[0-9a-f]{64}")
CHUNK = 1024 * 1024


@dataclass(frozen=True, kw_only=True)
class BackupSummary:
    path: Path
    rows: dict[str, int]
    media_files: int
    media_bytes: int
    schema: str | None


def _row_counts(conn: sqlite3.Connection) -> dict[str, int]:
    tables = [
        str(r[0])
        for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
            "ORDER BY name"
        )
    ]
    # Table names come from sqlite_master, not from input.
    return {t: int(conn.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0]) for t in tables}  # noqa: S608


def _schema(conn: sqlite3.Connection) -> str | None:
    with contextlib.suppress(sqlite3.Error):
        row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
        return str(row[0]) if row else None
    return None


def _media_files(root: Path) -> Iterator[tuple[str, Path]]:
    if not root.is_dir():
        return
    for path in sorted(root.glob("??/*")):
        name = path.relative_to(root).as_posix()
        # Half-written uploads (".incoming-*") are not part of any publication yet.
        if MEDIA_NAME.fullmatch(name) and path.is_file():
            yield name, path


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def make_backup(database: Path, media_root: Path, target: Path) -> BackupSummary:
    """Write `target` (a tar file): a consistent copy of the database taken while the service
    may be writing, then every file of the media store. Raises UsageError for bad input."""
    if not database.is_file():
        raise UsageError(f"database {database} does not exist: nothing to back up")
    if target.exists() and target.is_dir():
        raise UsageError(f"backup file {target} is a folder: give a file name")
    if not target.parent.is_dir():
        raise UsageError(f"folder {target.parent} does not exist: create it first")
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".crosspost-backup-") as tmp:
        copy = Path(tmp) / "crosspost.db"
        source = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
        try:
            source.execute("PRAGMA busy_timeout = 5000")
            dest = sqlite3.connect(copy)
            try:
                # pages=-1: the whole database in one step, so the copy is one snapshot even while
                # the service commits (WAL readers do not block writers).
                source.backup(dest, pages=-1)
                dest.execute("PRAGMA journal_mode = DELETE")
                rows = _row_counts(dest)
                schema = _schema(dest)
            finally:
                dest.close()
        finally:
            source.close()
        media = list(_media_files(media_root))
        manifest = {
            "format": FORMAT,
            "crosspost_version": __version__,
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "schema_revision": schema,
            "rows": rows,
            "media": [],
        }
        partial = Path(tmp) / "backup.tar"
        total = 0
        with tarfile.open(partial, "w") as tar:
            tar.add(copy, arcname=DATABASE_MEMBER)
            listed: list[dict[str, object]] = []
            for name, path in media:
                try:
                    info = tar.gettarinfo(path, arcname=MEDIA_PREFIX + name)
                    with path.open("rb") as f:
                        tar.addfile(info, f)
                except FileNotFoundError:
                    continue  # removed by the media clean-up since it was listed
                listed.append({"name": name, "size": info.size})
                total += info.size
            manifest["media"] = listed
            data = json.dumps(manifest, ensure_ascii=False, indent=1).encode()
            info = tarfile.TarInfo(MANIFEST)
            info.size = len(data)
            info.mtime = int(datetime.now(UTC).timestamp())
            tar.addfile(info, io.BytesIO(data))
        os.chmod(partial, 0o600)
        os.replace(partial, target)
    return BackupSummary(
        path=target, rows=rows, media_files=len(listed), media_bytes=total, schema=schema
    )


def _read_manifest(tar: tarfile.TarFile, source: Path) -> dict[str, object]:
    try:
        member = tar.getmember(MANIFEST)
    except KeyError:
        raise UsageError(f"{source} is not a crosspost backup (no {MANIFEST} in it)") from None
    extracted = tar.extractfile(member)
    if extracted is None:
        raise UsageError(f"{source}: {MANIFEST} is not a file")
    manifest = json.loads(extracted.read())
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise UsageError(f"{source}: backup format not understood by crosspost {__version__}")
    return manifest


def restore_backup(
    source: Path, database: Path, media_root: Path, *, now: datetime | None = None
) -> BackupSummary:
    """Put a backup back: the database replaces the current one (kept beside it as
    `*.before-restore-<time>`), media files are added to the store. The service must be stopped.
    Raises UsageError when it runs, or when the file is not a sound crosspost backup."""
    if not source.is_file():
        raise UsageError(f"backup file {source} does not exist")
    if not database.parent.is_dir():
        raise UsageError(f"folder {database.parent} does not exist: create it first")
    from crosspost.app import RunLock

    # Holding the run lock keeps the service from starting halfway through the restore.
    try:
        lock = RunLock.acquire(f"sqlite+aiosqlite:///{database}")
    except UsageError:
        raise UsageError(
            "the service is running on this database: stop it first "
            "(sudo systemctl stop crosspost), then restore"
        ) from None
    try:
        return _restore(source, database, media_root, now=now)
    finally:
        if lock is not None:
            lock.release()


def _restore(
    source: Path, database: Path, media_root: Path, *, now: datetime | None
) -> BackupSummary:
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    try:
        # Closed by the `with tar` below; opened here to turn its errors into one clear line.
        tar = tarfile.open(source, "r")  # noqa: SIM115
    except (tarfile.TarError, OSError) as exc:
        raise UsageError(f"{source} is not a crosspost backup ({exc})") from None
    with tar, tempfile.TemporaryDirectory(dir=database.parent, prefix=".crosspost-restore-") as t:
        tmp = Path(t)
        manifest = _read_manifest(tar, source)
        try:
            member = tar.getmember(DATABASE_MEMBER)
        except KeyError:
            raise UsageError(f"{source} has no database in it") from None
        copy = tmp / "crosspost.db"
        extracted = tar.extractfile(member)
        if extracted is None:
            raise UsageError(f"{source}: the database entry is not a file")
        with copy.open("wb") as out:
            shutil.copyfileobj(extracted, out, CHUNK)
        conn = sqlite3.connect(copy)
        try:
            if conn.execute("PRAGMA integrity_check").fetchone()[0] != "ok":
                raise UsageError(f"{source}: the database in it is damaged")
            rows = _row_counts(conn)
            schema = _schema(conn)
            # Media rows name files by absolute path; point them into this store.
            with contextlib.suppress(sqlite3.OperationalError):  # a database without media
                conn.execute(
                    "UPDATE media SET path = ? || '/' || substr(sha256, 1, 2) || '/' || sha256",
                    (str(media_root.resolve()),),
                )
            conn.commit()
        finally:
            conn.close()
        if rows != manifest.get("rows"):
            raise UsageError(f"{source}: the database does not match its manifest")
        staged: list[tuple[Path, str]] = []
        for member in tar.getmembers():
            if not member.name.startswith(MEDIA_PREFIX):
                continue
            name = member.name.removeprefix(MEDIA_PREFIX)
            if not member.isfile() or not MEDIA_NAME.fullmatch(name):
                raise UsageError(f"{source}: unexpected entry {member.name!r}")
            staged_path = tmp / "media" / name
            staged_path.parent.mkdir(parents=True, exist_ok=True)
            data = tar.extractfile(member)
            assert data is not None  # noqa: S101 - isfile() checked above
            with staged_path.open("wb") as out:
                shutil.copyfileobj(data, out, CHUNK)
            if _sha256(staged_path) != name.split("/")[1]:
                raise UsageError(f"{source}: media file {name} is damaged")
            staged.append((staged_path, name))
        owner = _owner_of(database.parent)
        # Everything checked: now replace. The current database is kept, not deleted.
        for suffix in ("", "-wal", "-shm"):
            current = database.with_name(database.name + suffix)
            if current.exists():
                os.replace(current, current.with_name(f"{current.name}.before-restore-{stamp}"))
        media_bytes = 0
        for staged_path, name in staged:
            final = media_root / name
            final.parent.mkdir(parents=True, exist_ok=True)
            _chown(final.parent, owner)
            media_bytes += staged_path.stat().st_size
            _chown(staged_path, owner)
            os.replace(staged_path, final)
        _chown(media_root, owner)
        _chown(copy, owner)
        os.chmod(copy, 0o640)
        os.replace(copy, database)
    return BackupSummary(
        path=source, rows=rows, media_files=len(staged), media_bytes=media_bytes, schema=schema
    )


def _owner_of(folder: Path) -> tuple[int, int] | None:
    """When root restores, files go to the state folder's owner (the service user)."""
    if os.geteuid() != 0:
        return None
    st = folder.stat()
    return st.st_uid, st.st_gid


def _chown(path: Path, owner: tuple[int, int] | None) -> None:
    if owner is not None and path.exists():
        os.chown(path, *owner)
