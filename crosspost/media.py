"""The media store: files kept on disk under their content hash, streamed in and out."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import mimetypes
import os
import re
import tempfile
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import delete, or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crosspost.db import DeliveryUploadRow, write_session
from crosspost.errors import UsageError
from crosspost.models import MediaItem, MediaKind
from crosspost.queue import DeliveryRepository

logger = logging.getLogger(__name__)

CHUNK = 1024 * 1024


def safe_display_name(name: str | None, default: str = "file") -> str:
    """A file name from outside, reduced to something safe to show and to send as a name.
    It is never used as a path."""
    base = re.split(r"[\\/]", name or "")[-1]
    base = re.sub(r"[\x00-\x1f\x7f]", "", base).strip().lstrip(".")
    return base[:128] or default


def guess_kind(file_name: str, mime_type: str | None = None) -> MediaKind:
    mime = mime_type or mimetypes.guess_type(file_name)[0] or ""
    if mime == "image/gif":
        return MediaKind.ANIMATION
    if mime.startswith("image/"):
        return MediaKind.PHOTO
    if mime.startswith("video/"):
        return MediaKind.VIDEO
    if mime.startswith("audio/"):
        return MediaKind.AUDIO
    return MediaKind.DOCUMENT


class MediaStore:
    def __init__(self, root: Path, *, max_file_size: int) -> None:
        self.root = root
        self.max_file_size = max_file_size

    def path_for(self, sha256: str) -> Path:
        if not re.fullmatch(r"[0-9a-f]{64}", sha256):
            raise ValueError("not a sha256 hex digest")
        return self.root / sha256[:2] / sha256

    def _copy_in(self, source: Path) -> tuple[Path, str, int]:
        if not source.is_file():
            raise UsageError(f"media file {source} does not exist or is not a file")
        self.root.mkdir(parents=True, exist_ok=True)
        digest = hashlib.sha256()
        size = 0
        fd, tmp_name = tempfile.mkstemp(dir=self.root, prefix=".incoming-")
        try:
            with os.fdopen(fd, "wb") as out, source.open("rb") as src:
                while chunk := src.read(CHUNK):
                    size += len(chunk)
                    if size > self.max_file_size:
                        raise UsageError(
                            f"file {source.name} is larger than the limit of "
                            f"{self.max_file_size // (1024 * 1024)} MB"
                        )
                    digest.update(chunk)
                    out.write(chunk)
            sha = digest.hexdigest()
            final = self.path_for(sha)
            final.parent.mkdir(parents=True, exist_ok=True)
            os.replace(tmp_name, final)
            return final, sha, size
        except BaseException:
            Path(tmp_name).unlink(missing_ok=True)
            raise

    async def put_file(
        self, source: Path, *, kind: MediaKind | None = None, mime_type: str | None = None
    ) -> MediaItem:
        """Copy a local file into the store (streamed, hashed). Raises UsageError if it is
        missing, not a file, or too big."""
        name = safe_display_name(source.name)
        mime = mime_type or mimetypes.guess_type(name)[0] or "application/octet-stream"
        path, sha, size = await asyncio.to_thread(self._copy_in, source)
        return MediaItem(
            kind=kind or guess_kind(name, mime),
            path=path,
            file_name=name,
            mime_type=mime,
            size=size,
            sha256=sha,
        )

    async def cleanup(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        *,
        settled_before: datetime,
        now: datetime,
    ) -> int:
        """Remove files of publications whose deliveries all settled before `settled_before`,
        unless an unsettled publication still uses the same content."""
        removed = 0
        async with sessionmaker() as session, session.begin():
            repo = DeliveryRepository(session)
            for media_id, path, sha in await repo.settled_media(settled_before):
                if not await repo.media_in_use(sha):
                    file = Path(path)
                    if file.is_relative_to(self.root.resolve()) or file.is_relative_to(self.root):
                        await asyncio.to_thread(file.unlink, True)
                        removed += 1
                await repo.mark_media_removed(media_id, now)
        # What attempts uploaded is reused for a day at most (OK and MAX tokens lapse sooner;
        # a delivery that publishes forgets its own at once).
        async with write_session(sessionmaker, what="prune upload memo") as session:
            await session.execute(
                delete(DeliveryUploadRow).where(DeliveryUploadRow.created_at < settled_before)
            )
        if removed:
            logger.info("media cleanup removed %s files", removed)
        return removed


class DbUploadMemo:
    """The UploadMemo (crosspost.publishing) in the database, so what an attempt uploaded or
    posted survives a restart. Each call is its own short transaction: publishers call it
    between platform requests, never around them."""

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self.sessionmaker = sessionmaker
        # Deliveries this process knows to have entries: forget() writes only for them, so a
        # plain text post costs no extra write transaction.
        self._known: set[int] = set()

    async def recall(self, delivery_id: int, now: datetime) -> dict[str, str]:
        async with self.sessionmaker() as session:
            rows = await session.execute(
                select(DeliveryUploadRow.key, DeliveryUploadRow.value).where(
                    DeliveryUploadRow.delivery_id == delivery_id,
                    or_(
                        DeliveryUploadRow.expires_at.is_(None),
                        DeliveryUploadRow.expires_at > now,
                    ),
                )
            )
            found = {key: value for key, value in rows.all()}
        if found:
            self._known.add(delivery_id)
        return found

    async def remember(
        self,
        delivery_id: int,
        entries: Mapping[str, str],
        *,
        expires_at: datetime | None = None,
    ) -> None:
        if not entries:
            return
        self._known.add(delivery_id)
        now = datetime.now(UTC)
        async with write_session(self.sessionmaker, what="remember uploads") as session:
            await session.execute(
                delete(DeliveryUploadRow).where(
                    DeliveryUploadRow.delivery_id == delivery_id,
                    DeliveryUploadRow.key.in_(list(entries)),
                )
            )
            session.add_all(
                DeliveryUploadRow(
                    delivery_id=delivery_id,
                    key=key,
                    value=value,
                    created_at=now,
                    expires_at=expires_at,
                )
                for key, value in entries.items()
            )

    async def forget(self, delivery_id: int, keys: Iterable[str] | None = None) -> None:
        if delivery_id not in self._known:
            return
        statement = delete(DeliveryUploadRow).where(DeliveryUploadRow.delivery_id == delivery_id)
        if keys is None:
            self._known.discard(delivery_id)
        else:
            statement = statement.where(DeliveryUploadRow.key.in_(list(keys)))
        async with write_session(self.sessionmaker, what="forget uploads") as session:
            await session.execute(statement)
