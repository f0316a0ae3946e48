"""OK video: uploaded without gid, posted only once video.get says it is ready."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from adapters.ok import OkPublisher
from crosspost.emulators.ok import OkEmulator
from crosspost.errors import PermanentError, TransientError
from crosspost.models import Content, DeliveryRef, MediaItem, MediaKind, Platform
from crosspost.richtext import RichText
from tests.adapters.ok.conftest import ACCOUNT, GID, MediaFactory, PublisherFactory


def delivery(n: int = 1) -> DeliveryRef:
    return DeliveryRef(
        delivery_id=n,
        publication_id=n,
        account=ACCOUNT,
        platform=Platform.OK,
        idempotency_key=f"{n}:administration:ok",
    )


def clip(make_media: MediaFactory) -> MediaItem:
    return make_media(MediaKind.VIDEO, size=40_000, mime_type="video/mp4", file_name="clip.mp4")


async def test_video_is_uploaded_without_gid_and_shows_once_in_the_group(
    ok_emulator: OkEmulator, make_publisher: PublisherFactory, make_media: MediaFactory
) -> None:
    video = clip(make_media)
    result = await make_publisher().publish(
        delivery(), Content(text=RichText.plain("Видео"), media=(video,))
    )
    [call] = ok_emulator.calls_to("video.getUploadUrl")
    assert "gid" not in call.params
    [topic] = ok_emulator.group_topics(GID)
    assert topic.topic_id == result.remote.remote_id
    [shown] = ok_emulator.topic_videos(topic)
    assert shown.field_name == "file"
    assert shown.data == video.path.read_bytes()
    assert ok_emulator.unready_video_topics == []


async def test_the_emulator_puts_a_gid_upload_in_the_feed_by_itself(
    ok_emulator: OkEmulator, make_publisher: PublisherFactory, make_media: MediaFactory
) -> None:
    # The duplicate the issue saw: with gid OK makes its own feed item for the video.
    publisher = make_publisher()
    answer = await publisher.client.call(
        "video.getUploadUrl", {"gid": GID, "file_name": "a.mp4", "file_size": "0"}
    )
    assert isinstance(answer, dict)
    video_id = str(answer["video_id"])
    await publisher.client.upload_video(str(answer["upload_url"]), clip(make_media))
    await publisher.client.call("video.update", {"vid": video_id, "title": "a"})
    assert len(ok_emulator.group_topics(GID)) == 1


async def test_a_processing_video_is_never_posted_and_never_uploaded_twice(
    ok_emulator: OkEmulator, make_publisher: PublisherFactory, make_media: MediaFactory
) -> None:
    ok_emulator.hold_processing = True
    publisher = make_publisher()
    content = Content(text=RichText.plain("Видео с праздника"), media=(clip(make_media),))
    for _ in range(2):
        with pytest.raises(TransientError) as info:
            await publisher.publish(delivery(), content)
        assert info.value.retry_after == timedelta(seconds=5)
        assert not info.value.rate_limited
    assert ok_emulator.group_topics(GID) == []
    assert ok_emulator.uploads.count("upload.video") == 1
    assert len(ok_emulator.calls_to("video.get")) == 2
    ok_emulator.hold_processing = False
    result = await publisher.publish(delivery(), content)
    assert ok_emulator.uploads.count("upload.video") == 1
    [topic] = ok_emulator.group_topics(GID)
    assert topic.topic_id == result.remote.remote_id
    assert ok_emulator.unready_video_topics == []


async def test_a_video_processing_past_the_bound_is_checked_less_often(
    ok_emulator: OkEmulator, make_publisher: PublisherFactory, make_media: MediaFactory
) -> None:
    ok_emulator.hold_processing = True
    now = [datetime.now(UTC)]
    publisher = OkPublisher(
        account=ACCOUNT, group_id=GID, client=make_publisher().client, now=lambda: now[0]
    )
    content = Content(text=RichText.plain("Долгое видео"), media=(clip(make_media),))
    with pytest.raises(TransientError):
        await publisher.publish(delivery(), content)
    now[0] += timedelta(seconds=61)
    with pytest.raises(TransientError) as info:
        await publisher.publish(delivery(), content)
    assert info.value.retry_after == timedelta(seconds=30)
    assert ok_emulator.group_topics(GID) == []


async def test_a_video_ok_cannot_process_fails_the_post(
    ok_emulator: OkEmulator, make_publisher: PublisherFactory, make_media: MediaFactory
) -> None:
    ok_emulator.hold_processing = True
    publisher = make_publisher()
    content = Content(text=RichText.plain("Битое видео"), media=(clip(make_media),))
    with pytest.raises(TransientError):
        await publisher.publish(delivery(), content)
    ok_emulator.broken_videos.update(ok_emulator.videos)
    with pytest.raises(PermanentError):
        await publisher.publish(delivery(), content)
    assert ok_emulator.group_topics(GID) == []
