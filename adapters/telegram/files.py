"""Fetching a file from Telegram into the media store, once, streamed and hashed.

Files are stored under their SHA-256; the name Telegram reports is only ever shown and used
as an upload name, never as a path.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import mimetypes
import os
import re
import secrets
import unicodedata
from collections.abc import AsyncGenerator
from pathlib import Path
from typing import BinaryIO

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError
from aiohttp import ClientError

from adapters.telegram.errors import FILE_TOO_BIG, classify, describes
from crosspost.errors import PermanentError, Reason, TransientError
from crosspost.models import MediaItem, MediaKind, Platform

logger = logging.getLogger(__name__)

# The cloud Bot API's getFile limit (platforms.md §1.4); a local server has none.
CLOUD_DOWNLOAD_LIMIT = 20 * 1024 * 1024
CHUNK_SIZE = 256 * 1024
DOWNLOAD_TIMEOUT_SECONDS = 600
MAX_NAME_LENGTH = 120

_DEFAULT_MIME: dict[MediaKind, str] = {
    MediaKind.PHOTO: "image/jpeg",
    MediaKind.VIDEO: "video/mp4",
    MediaKind.ANIMATION: "video/mp4",
    MediaKind.DOCUMENT: "application/octet-stream",
    MediaKind.AUDIO: "audio/mpeg",
}
_UNSAFE_NAME_CHARS = re.compile(r'[\x00-\x1f\x7f<>:"/\\|?*]')


def display_name(file_name: str | None, kind: MediaKind, mime_type: str) -> str:
    """A bare, harmless file name for display and uploads (never a path)."""
    name = unicodedata.normalize("NFC", file_name or "")
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = _UNSAFE_NAME_CHARS.sub("_", name).strip().lstrip(".").strip()
    if len(name) > MAX_NAME_LENGTH:
        stem, dot, ext = name.rpartition(".")
        if dot and 0 < len(ext) <= 10:
            name = stem[: MAX_NAME_LENGTH - len(ext) - 1] + "." + ext
        else:
            name = name[:MAX_NAME_LENGTH]
    if not name:
        ext = mimetypes.guess_extension(mime_type) or ""
        name = f"{kind}{'.jpg' if ext == '.jpe' else ext}"
    return name


async def fetch_file(
    bot: Bot,
    *,
    file_id: str,
    file_size: int | None,
    file_name: str | None,
    mime_type: str | None,
    kind: MediaKind,
    store_dir: Path,
    is_local: bool,
) -> MediaItem:
    """Download a Telegram file into `store_dir` and describe it as a MediaItem.

    Calls getFile once and streams the content to disk while hashing it; a file already in
    the store (same SHA-256) is kept as is. With the cloud API a file over 20 MB cannot be
    downloaded: the result then has `missing=True` and stands for a link to the original.
    With a local Bot API server (`is_local`) the file is copied from the server's disk.

    Raises TransientError (network, 5xx, 429) or PermanentError/NeedsAttentionError.
    """
    mime = mime_type or mimetypes.guess_type(file_name or "")[0] or _DEFAULT_MIME[kind]
    name = display_name(file_name, kind, mime)
    if not is_local and file_size is not None and file_size > CLOUD_DOWNLOAD_LIMIT:
        return _missing(kind, name, mime, file_size, file_id, store_dir)
    # Fetched before (an album whose other file failed, a retry after a restart): no getFile.
    fetched = await asyncio.to_thread(_recall_fetched, store_dir, file_id)
    if fetched is not None:
        digest, size = fetched
        return MediaItem(
            kind=kind,
            path=store_dir / digest,
            file_name=name,
            mime_type=mime,
            size=size,
            sha256=digest,
            telegram_file_id=file_id,
        )
    try:
        remote = await bot.get_file(file_id)
    except TelegramAPIError as exc:
        if not is_local and describes(exc, FILE_TOO_BIG):
            return _missing(kind, name, mime, file_size or 0, file_id, store_dir)
        error = classify(exc, sending=False) or PermanentError(
            f"getFile: {exc.message}", platform=Platform.TELEGRAM, reason=Reason.BAD_REQUEST
        )
        raise error from exc
    if remote.file_path is None:
        return _missing(kind, name, mime, remote.file_size or file_size or 0, file_id, store_dir)
    await asyncio.to_thread(store_dir.mkdir, parents=True, exist_ok=True)
    part = store_dir / f".part-{secrets.token_hex(8)}"
    try:
        if is_local:
            local = Path(bot.session.api.wrap_local_file.to_local(remote.file_path))
            digest, size = await _store(_read_disk(local), part)
        else:
            url = bot.session.api.file_url(bot.token, remote.file_path)
            chunks = bot.session.stream_content(
                url, timeout=DOWNLOAD_TIMEOUT_SECONDS, chunk_size=CHUNK_SIZE
            )
            digest, size = await _store(chunks, part)
    except (ClientError, TimeoutError) as exc:
        await asyncio.to_thread(_unlink, part)
        # The exception text may carry the download URL, which holds the token.
        raise TransientError(
            f"file download failed: {type(exc).__name__}",
            platform=Platform.TELEGRAM,
            reason=Reason.NETWORK,
        ) from None
    except OSError as exc:
        await asyncio.to_thread(_unlink, part)
        raise PermanentError(
            f"file cannot be stored or read: {exc.strerror}",
            platform=Platform.TELEGRAM,
            reason=Reason.MEDIA_REJECTED,
        ) from None
    except BaseException:
        await asyncio.to_thread(_unlink, part)
        raise
    final = store_dir / digest
    await asyncio.to_thread(_settle, part, final)
    await asyncio.to_thread(_remember_fetched, store_dir, file_id, digest, size)
    logger.info("fetched telegram file kind=%s size=%s sha256=%s", kind, size, digest[:12])
    return MediaItem(
        kind=kind,
        path=final,
        file_name=name,
        mime_type=mime,
        size=size,
        sha256=digest,
        telegram_file_id=file_id,
    )


def _missing(
    kind: MediaKind, name: str, mime: str, size: int, file_id: str, store_dir: Path
) -> MediaItem:
    # Nothing is written: the path names no file, the item stands for a link to the original.
    return MediaItem(
        kind=kind,
        path=store_dir / ".missing",
        file_name=name,
        mime_type=mime,
        size=size,
        sha256="",
        telegram_file_id=file_id,
        missing=True,
    )


async def _read_disk(path: Path) -> AsyncGenerator[bytes, None]:
    handle: BinaryIO = await asyncio.to_thread(path.open, "rb")
    try:
        while chunk := await asyncio.to_thread(handle.read, CHUNK_SIZE):
            yield chunk
    finally:
        await asyncio.to_thread(handle.close)


async def _store(chunks: AsyncGenerator[bytes, None], part: Path) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    handle: BinaryIO = await asyncio.to_thread(part.open, "wb")
    try:
        async with contextlib.aclosing(chunks):
            async for chunk in chunks:
                digest.update(chunk)
                size += len(chunk)
                await asyncio.to_thread(handle.write, chunk)
    finally:
        await asyncio.to_thread(handle.close)
    return digest.hexdigest(), size


def _settle(part: Path, final: Path) -> None:
    if final.exists():
        part.unlink()  # the same content is already stored
    else:
        os.replace(part, final)


# The store's index of files fetched: one small file per Telegram file id (named by the id's
# hash, never by the id itself), holding the content's SHA-256 and size.
FETCHED_DIR = ".fetched"


def _fetched_path(store_dir: Path, file_id: str) -> Path:
    return store_dir / FETCHED_DIR / hashlib.sha256(file_id.encode()).hexdigest()


def _recall_fetched(store_dir: Path, file_id: str) -> tuple[str, int] | None:
    try:
        digest, size_text = _fetched_path(store_dir, file_id).read_text().split()
        size = int(size_text)
        if not re.fullmatch(r"[0-9a-f]{64}", digest):
            return None
        # The file may have been cleaned up since: then it is fetched again.
        if (store_dir / digest).stat().st_size != size:
            return None
    except (OSError, ValueError):
        return None
    return digest, size


def _remember_fetched(store_dir: Path, file_id: str, digest: str, size: int) -> None:
    path = _fetched_path(store_dir, file_id)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        part = path.with_name(f".part-{secrets.token_hex(8)}")
        part.write_text(f"{digest} {size}\n")
        os.replace(part, path)
    except OSError as exc:
        # Only a cache: the next fetch of this file downloads it again.
        logger.warning("cannot index fetched file sha256=%s: %s", digest[:12], exc.strerror)


def _unlink(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
