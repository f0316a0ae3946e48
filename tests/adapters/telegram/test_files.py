from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiogram import Bot

from adapters.telegram.files import CLOUD_DOWNLOAD_LIMIT, FETCHED_DIR, display_name, fetch_file
from crosspost.emulators.telegram import TelegramEmulator
from crosspost.errors import PermanentError, TransientError
from crosspost.models import MediaKind

from .conftest import make_bot


def names(folder: Path) -> list[str]:
    """The stored files (the index of fetched file ids aside)."""
    return sorted(p.name for p in folder.iterdir() if p.name != FETCHED_DIR)


async def test_small_file_is_streamed_into_the_store_by_hash(
    tg_emulator: TelegramEmulator, tg_bot: Bot, tmp_path: Path
) -> None:
    data = b"%PDF-1.7 " + bytes(range(256)) * 3000
    file_id, _ = tg_emulator.add_file(data, file_name="../../etc/passwd", kind="document")
    store = tmp_path / "media"

    item = await fetch_file(
        tg_bot,
        file_id=file_id,
        file_size=len(data),
        file_name="../../etc/passwd",
        mime_type="application/pdf",
        kind=MediaKind.DOCUMENT,
        store_dir=store,
        is_local=False,
    )

    digest = hashlib.sha256(data).hexdigest()
    assert item.path == store / digest
    assert item.path.read_bytes() == data
    assert (item.sha256, item.size, item.missing) == (digest, len(data), False)
    assert item.file_name == "passwd"
    assert item.mime_type == "application/pdf"
    assert item.telegram_file_id == file_id
    assert len(tg_emulator.requests("getFile")) == 1
    assert names(store) == [digest]


async def test_same_content_is_stored_once(
    tg_emulator: TelegramEmulator, tg_bot: Bot, tmp_path: Path
) -> None:
    data = b"\xff\xd8same photo" * 500
    first_id, _ = tg_emulator.add_file(data, kind="photo")
    second_id, _ = tg_emulator.add_file(data, kind="photo")

    items = [
        await fetch_file(
            tg_bot,
            file_id=file_id,
            file_size=None,
            file_name=None,
            mime_type=None,
            kind=MediaKind.PHOTO,
            store_dir=tmp_path,
            is_local=False,
        )
        for file_id in (first_id, second_id)
    ]

    assert items[0].path == items[1].path
    assert items[0].file_name == "photo.jpg"
    assert len(names(tmp_path)) == 1


async def test_known_big_file_is_missing_without_any_call(
    tg_emulator: TelegramEmulator, tg_bot: Bot, tmp_path: Path
) -> None:
    item = await fetch_file(
        tg_bot,
        file_id="BAACbig",
        file_size=CLOUD_DOWNLOAD_LIMIT + 1,
        file_name="session.mp4",
        mime_type="video/mp4",
        kind=MediaKind.VIDEO,
        store_dir=tmp_path,
        is_local=False,
    )

    assert item.missing
    assert item.size == CLOUD_DOWNLOAD_LIMIT + 1
    assert not item.path.exists()
    assert tg_emulator.requests() == []


async def test_file_too_big_answer_gives_a_missing_item(
    tg_emulator: TelegramEmulator, tg_bot: Bot, tmp_path: Path
) -> None:
    # The real bytes exceed the cloud limit; the size is not known beforehand.
    data = b"v" * (CLOUD_DOWNLOAD_LIMIT + 1024)
    file_id, _ = tg_emulator.add_file(data, file_name="long.mp4", kind="video")

    item = await fetch_file(
        tg_bot,
        file_id=file_id,
        file_size=None,
        file_name="long.mp4",
        mime_type=None,
        kind=MediaKind.VIDEO,
        store_dir=tmp_path,
        is_local=False,
    )

    assert item.missing
    assert item.mime_type == "video/mp4"
    assert len(tg_emulator.requests("getFile")) == 1
    assert names(tmp_path) == []


@pytest.fixture
async def local_server(tmp_path: Path) -> AsyncIterator[TelegramEmulator]:
    emulator = TelegramEmulator(local_dir=tmp_path / "server")
    await emulator.start()
    yield emulator
    await emulator.stop()


async def test_local_server_files_are_read_from_disk_without_limit(
    local_server: TelegramEmulator, tmp_path: Path
) -> None:
    data = bytes(range(251)) * (CLOUD_DOWNLOAD_LIMIT // 251 + 4000)
    file_id, _ = local_server.add_file(data, file_name="big.mp4", kind="video")
    bot = make_bot(local_server.api_base, local_server.token, is_local=True)
    try:
        item = await fetch_file(
            bot,
            file_id=file_id,
            file_size=len(data),
            file_name="big.mp4",
            mime_type="video/mp4",
            kind=MediaKind.VIDEO,
            store_dir=tmp_path / "media",
            is_local=True,
        )
    finally:
        await bot.session.close()

    assert len(data) > CLOUD_DOWNLOAD_LIMIT
    assert not item.missing
    assert item.sha256 == hashlib.sha256(data).hexdigest()
    assert item.path.read_bytes() == data
    [request] = local_server.requests("getFile")
    assert request["params"]["file_id"] == file_id


async def test_download_failure_is_transient_and_hides_the_token(
    tg_emulator: TelegramEmulator, tg_bot: Bot, tmp_path: Path
) -> None:
    file_id, _ = tg_emulator.add_file(b"photo" * 10, kind="photo")
    tg_emulator.fail_next("file", error_code=502, description="Bad Gateway")

    with pytest.raises(TransientError) as caught:
        await fetch_file(
            tg_bot,
            file_id=file_id,
            file_size=None,
            file_name=None,
            mime_type=None,
            kind=MediaKind.PHOTO,
            store_dir=tmp_path,
            is_local=False,
        )

    # The download URL holds the token: neither the message nor a chained cause may carry it.
    assert tg_emulator.token not in str(caught.value)
    assert caught.value.__cause__ is None
    assert caught.value.__suppress_context__
    assert names(tmp_path) == []


async def test_unknown_file_id_is_permanent(
    tg_emulator: TelegramEmulator, tg_bot: Bot, tmp_path: Path
) -> None:
    with pytest.raises(PermanentError, match="wrong file_id"):
        await fetch_file(
            tg_bot,
            file_id="AgACnope",
            file_size=None,
            file_name=None,
            mime_type=None,
            kind=MediaKind.PHOTO,
            store_dir=tmp_path,
            is_local=False,
        )


def test_display_names_are_bare_and_harmless() -> None:
    assert display_name("..\\..\\boot.ini", MediaKind.DOCUMENT, "text/plain") == "boot.ini"
    assert display_name(".hidden", MediaKind.DOCUMENT, "text/plain") == "hidden"
    assert display_name("a\x00b<c>.txt", MediaKind.DOCUMENT, "text/plain") == "a_b_c_.txt"
    assert display_name(None, MediaKind.VIDEO, "video/mp4") == "video.mp4"
    long = "я" * 300 + ".docx"
    assert display_name(long, MediaKind.DOCUMENT, "x/y").endswith(".docx")
    assert len(display_name(long, MediaKind.DOCUMENT, "x/y")) <= 120


async def test_a_file_fetched_before_is_not_fetched_again(
    tg_emulator: TelegramEmulator, tg_bot: Bot, tmp_path: Path
) -> None:
    """An album retried after one of its files failed (or after a restart) asks Telegram
    only for the files it does not have yet."""
    data = b"\x89PNG album item" * 300
    file_id, _ = tg_emulator.add_file(data, kind="photo")
    store = tmp_path / "media"

    async def fetch() -> Path:
        item = await fetch_file(
            tg_bot,
            file_id=file_id,
            file_size=len(data),
            file_name=None,
            mime_type=None,
            kind=MediaKind.PHOTO,
            store_dir=store,
            is_local=False,
        )
        assert item.path.read_bytes() == data
        assert item.sha256 == hashlib.sha256(data).hexdigest()
        return item.path

    path = await fetch()
    await fetch()
    assert len(tg_emulator.requests("getFile")) == 1
    # The index names no file id: only hashes.
    assert all(file_id not in p.name for p in (store / FETCHED_DIR).iterdir())
    path.unlink()  # cleaned up since: fetched again
    await fetch()
    assert len(tg_emulator.requests("getFile")) == 2
