from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crosspost.errors import UsageError
from crosspost.media import DbUploadMemo, MediaStore, safe_display_name
from crosspost.models import Content, MediaKind, NewPublication, Platform, RemotePost
from crosspost.queue import DeliveryRepository
from tests.conftest import PublicationFactory


@pytest.mark.parametrize(
    ("raw", "safe"),
    [
        ("../../etc/passwd", "passwd"),
        ("C:\\Windows\\system32\\evil.exe", "evil.exe"),
        (".hidden", "hidden"),
        ("афиша\x00.jpg", "афиша.jpg"),
        ("", "file"),
        (None, "file"),
    ],
)
def test_outside_names_never_become_paths(raw: str | None, safe: str) -> None:
    assert safe_display_name(raw) == safe


async def test_put_file_hashes_dedupes_and_limits(tmp_path: Path) -> None:
    store = MediaStore(tmp_path / "media", max_file_size=1024)
    src = tmp_path / "фото.png"
    src.write_bytes(b"\x89PNG" + b"x" * 100)
    first = await store.put_file(src)
    second = await store.put_file(src)
    assert first.path == second.path
    assert first.path.read_bytes() == src.read_bytes()
    assert first.kind is MediaKind.PHOTO
    assert first.file_name == "фото.png"
    assert first.path.is_relative_to(tmp_path / "media")
    big = tmp_path / "big.mp4"
    big.write_bytes(b"0" * 2048)
    with pytest.raises(UsageError, match="larger than the limit"):
        await store.put_file(big)
    assert [p.name for p in (tmp_path / "media").rglob("*") if p.is_file()] == [first.path.name]


async def test_cleanup_removes_files_only_after_every_delivery_settled(
    tmp_path: Path,
    sessionmaker: async_sessionmaker[AsyncSession],
    publication_factory: PublicationFactory,
    now: datetime,
) -> None:
    store = MediaStore(tmp_path / "media", max_file_size=1 << 20)
    src = tmp_path / "a.jpg"
    src.write_bytes(b"\xff\xd8" + b"1" * 50)
    item = await store.put_file(src)
    base = publication_factory(
        targets=(("administration", Platform.VK), ("administration", Platform.OK))
    )
    new = NewPublication(
        content=Content(text=base.content.text, media=(item,)),
        targets=base.targets,
        publish_at=now,
        source=base.source,
        author=base.author,
    )
    async with sessionmaker() as s, s.begin():
        await DeliveryRepository(s).enqueue(new, now)
    async with sessionmaker() as s, s.begin():
        vk, ok = await DeliveryRepository(s).claim_due(now, timedelta(minutes=5), 10)
        await DeliveryRepository(s).mark_published(
            vk.delivery_id,
            RemotePost(platform=Platform.VK, account="administration", remote_id="1"),
            now,
        )
    later = now + timedelta(days=2)
    assert await store.cleanup(sessionmaker, settled_before=later, now=later) == 0
    assert item.path.exists()  # OK is still sending
    async with sessionmaker() as s, s.begin():
        await DeliveryRepository(s).mark_failed(ok.delivery_id, "x", "unknown", now)
    assert await store.cleanup(sessionmaker, settled_before=now, now=later) == 0  # too fresh
    assert await store.cleanup(sessionmaker, settled_before=later, now=later) == 1
    assert not item.path.exists()


async def test_upload_memo_survives_a_restart_expires_and_is_pruned(
    tmp_path: Path,
    sessionmaker: async_sessionmaker[AsyncSession],
    publication_factory: PublicationFactory,
    now: datetime,
) -> None:
    async with sessionmaker() as s, s.begin():
        await DeliveryRepository(s).enqueue(publication_factory(), now)
    async with sessionmaker() as s:
        [delivery] = await DeliveryRepository(s).claim_due(now, timedelta(minutes=5), 10)
    memo = DbUploadMemo(sessionmaker)
    did = delivery.delivery_id
    await memo.remember(did, {"up:0:photo:aa": "photo-1_1", "up:1:photo:bb": "photo-1_2"})
    await memo.remember(did, {"token:0": "t0"}, expires_at=now + timedelta(hours=1))
    await memo.remember(did, {"up:1:photo:bb": "photo-1_3"})  # replaced, not doubled
    restarted = DbUploadMemo(sessionmaker)
    assert await restarted.recall(did, now) == {
        "up:0:photo:aa": "photo-1_1",
        "up:1:photo:bb": "photo-1_3",
        "token:0": "t0",
    }
    assert "token:0" not in await restarted.recall(did, now + timedelta(hours=2))
    await restarted.forget(did, ["up:0:photo:aa"])
    assert set(await restarted.recall(did, now)) == {"up:1:photo:bb", "token:0"}
    await restarted.forget(did)
    assert await restarted.recall(did, now) == {}
    await memo.remember(did, {"post:1": "7"})
    store = MediaStore(tmp_path / "media", max_file_size=1024)
    later = datetime.now(UTC) + timedelta(days=2)
    await store.cleanup(sessionmaker, settled_before=later, now=later)
    assert await memo.recall(did, now) == {}  # pruned with the media
