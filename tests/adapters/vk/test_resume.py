"""Issue 9: what an attempt already did is kept for the next one. A retry uploads only the
media still missing; a post split in two is published only when both parts are out, and a
retry or reconcile never posts the first part again."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crosspost.emulators.vk import VkEmulator
from crosspost.errors import OutcomeUnknownError, PublishError, TransientError
from crosspost.media import DbUploadMemo
from crosspost.models import Content, MediaItem, Notice, Platform, ReconcileOutcome
from crosspost.publishing import MemoryUploadMemo
from crosspost.queue import DeliveryRepository
from crosspost.richtext import RichText
from tests.conftest import PublicationFactory

from .conftest import GROUP_ID, DeliveryFactory, FakeClock, MediaFactory, PublisherFactory

AFTER_GUID_WINDOW = timedelta(minutes=55).total_seconds()


def content(*media: MediaItem) -> Content:
    return Content(text=RichText.plain("Фотоотчёт"), media=media)


def fail_call(
    monkeypatch: pytest.MonkeyPatch,
    target: object,
    name: str,
    *,
    on_call: int,
    error: PublishError,
    after: bool = False,
) -> None:
    """The emulator fails "the next call of a method"; this fails its n-th call (after=True:
    the call is made first, and its answer is lost)."""
    real: Callable[..., Awaitable[Any]] = getattr(target, name)
    calls = 0

    async def flaky(*args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == on_call:
            if after:
                await real(*args, **kwargs)
            raise error
        return await real(*args, **kwargs)

    monkeypatch.setattr(target, name, flaky)


def count(emu: VkEmulator, method: str) -> int:
    return sum(1 for call in emu.calls if call.method == method)


async def test_a_retry_uploads_only_the_photos_still_missing(
    emu: VkEmulator,
    make_publisher: PublisherFactory,
    make_delivery: DeliveryFactory,
    make_media: MediaFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    photos = tuple(make_media(size=100) for _ in range(4))
    publisher = make_publisher()
    delivery = make_delivery()
    fail_call(
        monkeypatch,
        publisher._client,
        "photos_save_wall_photo",
        on_call=3,
        error=TransientError("VK HTTP 502", platform=Platform.VK),
    )
    with pytest.raises(TransientError):
        await publisher.publish(delivery, content(*photos))
    assert emu.wall(GROUP_ID) == []
    saved_before = count(emu, "photos.saveWallPhoto")
    emu.fail_next("wall.post", error=6)
    with pytest.raises(TransientError):
        await publisher.publish(delivery, content(*photos))
    # Only the third and fourth photo were uploaded again; the failed post uploaded nothing
    # the next attempt has to repeat.
    assert count(emu, "photos.saveWallPhoto") - saved_before == 2
    saved_before = count(emu, "photos.saveWallPhoto")
    await publisher.publish(delivery, content(*photos))
    assert count(emu, "photos.saveWallPhoto") == saved_before
    [post] = emu.wall(GROUP_ID)
    assert [emu.media(a).sha256 for a in post.attachments] == [p.sha256 for p in photos]


async def test_the_memo_outlives_the_publisher(
    emu: VkEmulator,
    make_publisher: PublisherFactory,
    make_delivery: DeliveryFactory,
    make_media: MediaFactory,
) -> None:
    """A restart builds new publishers: with the same (database) memo nothing is redone."""
    photos = tuple(make_media(size=100) for _ in range(2))
    memo = MemoryUploadMemo()
    first = make_publisher()
    first.memo = memo
    delivery = make_delivery()
    emu.fail_next("wall.post", error=6)
    with pytest.raises(TransientError):
        await first.publish(delivery, content(*photos))
    uploads = count(emu, "upload.photo")
    second = make_publisher()
    second.memo = memo
    await second.publish(delivery, content(*photos))
    assert count(emu, "upload.photo") == uploads
    assert len(emu.wall(GROUP_ID)) == 1
    assert memo.entries == {}  # forgotten once published


async def test_a_follow_up_that_fails_keeps_the_delivery_unpublished_then_resumes(
    emu: VkEmulator,
    make_publisher: PublisherFactory,
    make_delivery: DeliveryFactory,
    make_media: MediaFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    photos = tuple(make_media(size=100) for _ in range(12))
    publisher = make_publisher()
    delivery = make_delivery()
    fail_call(
        monkeypatch,
        publisher._client,
        "wall_post",
        on_call=2,
        error=TransientError("VK HTTP 503", platform=Platform.VK),
    )
    with pytest.raises(TransientError):
        await publisher.publish(delivery, content(*photos))
    [main] = emu.wall(GROUP_ID)
    assert len(main.attachments) == 10
    uploads = count(emu, "upload.photo")
    result = await publisher.publish(delivery, content(*photos))
    first, second = emu.wall(GROUP_ID)
    assert first.post_id == main.post_id
    assert result.remote.remote_id == str(main.post_id)
    assert result.remote.parts == (str(second.post_id),)
    assert len(second.attachments) == 2
    assert Notice.MEDIA_SPLIT in result.notices
    assert count(emu, "upload.photo") == uploads
    # wall.post: the main post, the failed follow-up, the follow-up; never the main again.
    assert count(emu, "wall.post") == 2


@pytest.mark.parametrize("made", [True, False], ids=["follow-up made", "follow-up not made"])
async def test_reconcile_after_the_guid_window_looks_only_for_the_missing_follow_up(
    made: bool,
    emu: VkEmulator,
    make_publisher: PublisherFactory,
    make_delivery: DeliveryFactory,
    make_media: MediaFactory,
    clock: FakeClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    photos = tuple(make_media(size=100) for _ in range(11))
    publisher = make_publisher()
    delivery = make_delivery()
    fail_call(
        monkeypatch,
        publisher._client,
        "wall_post",
        on_call=2,
        error=OutcomeUnknownError("VK wall.post: no answer", platform=Platform.VK),
        after=made,
    )
    with pytest.raises(OutcomeUnknownError):
        await publisher.publish(delivery, content(*photos))
    clock.advance(AFTER_GUID_WINDOW)
    posts = emu.wall(GROUP_ID)
    result = await publisher.reconcile(delivery, content(*photos))
    if made:
        main, follow_up = posts
        assert result.outcome is ReconcileOutcome.FOUND
        assert result.remote is not None
        assert result.remote.remote_id == str(main.post_id)
        assert result.remote.parts == (str(follow_up.post_id),)
        return
    [main] = posts
    assert result.outcome is ReconcileOutcome.NOT_FOUND
    # The next attempt sends only the follow-up.
    again = await publisher.publish(delivery, content(*photos))
    first, second = emu.wall(GROUP_ID)
    assert first.post_id == main.post_id
    assert again.remote.parts == (str(second.post_id),)
    assert len(second.attachments) == 1


async def test_a_follow_up_vk_refuses_leaves_the_post_published_with_a_notice(
    emu: VkEmulator,
    make_publisher: PublisherFactory,
    make_delivery: DeliveryFactory,
    make_media: MediaFactory,
) -> None:
    photos = tuple(make_media(size=100) for _ in range(11))
    publisher = make_publisher()
    delivery = make_delivery()
    real = publisher._client.wall_post
    calls = 0

    async def refuse_second(*args: Any, **kwargs: Any) -> int:
        nonlocal calls
        calls += 1
        if calls == 2:
            emu.fail_next("wall.post", error=100)
        return await real(*args, **kwargs)

    publisher._client.wall_post = refuse_second  # type: ignore[method-assign]
    result = await publisher.publish(delivery, content(*photos))
    [main] = emu.wall(GROUP_ID)
    assert result.remote.remote_id == str(main.post_id)
    assert result.remote.parts == ()
    assert Notice.MEDIA_DROPPED in result.notices


async def test_after_a_restart_the_database_memo_spares_the_uploads(
    emu: VkEmulator,
    make_publisher: PublisherFactory,
    make_media: MediaFactory,
    sessionmaker: async_sessionmaker[AsyncSession],
    publication_factory: PublicationFactory,
    now: datetime,
) -> None:
    async with sessionmaker() as s, s.begin():
        await DeliveryRepository(s).enqueue(publication_factory(), now)
    async with sessionmaker() as s:
        [delivery] = await DeliveryRepository(s).claim_due(now, timedelta(minutes=5), 10)
    photos = tuple(make_media(size=100) for _ in range(3))
    before = make_publisher()
    before.memo = DbUploadMemo(sessionmaker)
    emu.fail_next("wall.post", error=6)
    with pytest.raises(TransientError):
        await before.publish(delivery.ref, content(*photos))
    uploads = count(emu, "upload.photo")
    after = make_publisher()  # a new process: nothing in memory
    after.memo = DbUploadMemo(sessionmaker)
    await after.publish(delivery.ref, content(*photos))
    assert count(emu, "upload.photo") == uploads
    [post] = emu.wall(GROUP_ID)
    assert [emu.media(a).sha256 for a in post.attachments] == [p.sha256 for p in photos]
    assert await after.memo.recall(delivery.delivery_id, datetime.now(UTC)) == {}


class CountingThrottle:
    """A ThrottleFactory that lets everything through and counts who asked."""

    def __init__(self) -> None:
        self.entered = 0

    def __call__(self, kind: str, token: str) -> CountingThrottle:
        return self

    async def __aenter__(self) -> None:
        self.entered += 1

    async def __aexit__(self, *exc: object) -> None:
        return None


async def test_uploads_take_no_slot_of_the_api_rate_limit(
    emu: VkEmulator,
    make_publisher: PublisherFactory,
    make_delivery: DeliveryFactory,
    make_media: MediaFactory,
) -> None:
    """VK's 3 requests per second count API methods; the upload server is not the API, so a
    photo costs two slots (getWallUploadServer, saveWallPhoto), not three."""
    throttle = CountingThrottle()
    publisher = make_publisher(throttle=throttle)
    await publisher.publish(make_delivery(), content(*(make_media(size=100) for _ in range(3))))
    api_calls = [c for c in emu.calls if not c.method.startswith("upload.")]
    assert count(emu, "upload.photo") == 3
    assert throttle.entered == len(api_calls) == 7


async def test_a_split_post_whose_main_answer_was_lost_resumes_after_the_guid_window(
    emu: VkEmulator,
    make_publisher: PublisherFactory,
    make_delivery: DeliveryFactory,
    make_media: MediaFactory,
    clock: FakeClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    photos = tuple(make_media(size=100) for _ in range(12))
    publisher = make_publisher()
    delivery = make_delivery()
    fail_call(
        monkeypatch,
        publisher._client,
        "wall_post",
        on_call=1,
        error=OutcomeUnknownError("VK wall.post: no answer", platform=Platform.VK),
        after=True,
    )
    with pytest.raises(OutcomeUnknownError):
        await publisher.publish(delivery, content(*photos))
    clock.advance(AFTER_GUID_WINDOW)
    [main] = emu.wall(GROUP_ID)
    result = await publisher.reconcile(delivery, content(*photos))
    # Not published with half its photos: the follow-up is still to be sent.
    assert result.outcome is ReconcileOutcome.NOT_FOUND
    again = await publisher.publish(delivery, content(*photos))
    first, second = emu.wall(GROUP_ID)
    assert first.post_id == main.post_id == int(again.remote.remote_id)
    assert again.remote.parts == (str(second.post_id),)
    assert len(second.attachments) == 2
