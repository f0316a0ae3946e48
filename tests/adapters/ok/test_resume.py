"""Issue 9: photo tokens an attempt uploaded are reused by the next one, within their
lifetime; a token OK no longer takes is uploaded again, with no topic posted in between."""

from __future__ import annotations

import dataclasses
import hashlib
from datetime import UTC, datetime, timedelta

import pytest

from adapters.ok.publisher import PHOTO_TOKEN_TTL
from crosspost.emulators.ok import OkEmulator
from crosspost.errors import OutcomeUnknownError, TransientError
from crosspost.models import (
    Content,
    DeliveryRef,
    MediaItem,
    Platform,
    ReconcileOutcome,
    RemotePost,
)
from crosspost.richtext import RichText
from tests.adapters.ok.conftest import ACCOUNT, GID, MediaFactory, PublisherFactory


def delivery() -> DeliveryRef:
    return DeliveryRef(
        delivery_id=11,
        publication_id=5,
        account=ACCOUNT,
        platform=Platform.OK,
        idempotency_key="5:administration:ok",
        last_attempt_at=datetime.now(UTC),
    )


def album(*photos: MediaItem) -> Content:
    return Content(text=RichText.plain("Фотоотчёт"), media=photos)


def topic_shas(ok_emulator: OkEmulator) -> list[str]:
    [topic] = ok_emulator.group_topics(GID)
    return [hashlib.sha256(p.data).hexdigest() for p in ok_emulator.topic_photos(topic)]


async def test_a_retry_after_a_failed_post_uploads_nothing_again(
    ok_emulator: OkEmulator, make_publisher: PublisherFactory, make_media: MediaFactory
) -> None:
    photos = tuple(make_media() for _ in range(4))
    publisher = make_publisher()
    ok_emulator.fail_next("mediatopic.post", error_code=2)
    with pytest.raises(TransientError):
        await publisher.publish(delivery(), album(*photos))
    assert len(ok_emulator.calls_to("photosV2.getUploadUrl")) == 1
    await publisher.publish(delivery(), album(*photos))
    assert len(ok_emulator.calls_to("photosV2.getUploadUrl")) == 1
    assert topic_shas(ok_emulator) == [p.sha256 for p in photos]
    assert await publisher.memo.recall(delivery().delivery_id, datetime.now(UTC)) == {}


async def test_a_token_ok_no_longer_takes_is_uploaded_again(
    ok_emulator: OkEmulator, make_publisher: PublisherFactory, make_media: MediaFactory
) -> None:
    photos = tuple(make_media() for _ in range(2))
    publisher = make_publisher()
    ok_emulator.fail_next("mediatopic.post", error_code=2)
    with pytest.raises(TransientError):
        await publisher.publish(delivery(), album(*photos))
    for photo in ok_emulator.photos.values():
        photo.token = f"expired-{photo.token}"  # OK forgot the tokens it gave
    await publisher.publish(delivery(), album(*photos))
    assert len(ok_emulator.calls_to("photosV2.getUploadUrl")) == 2
    # The refused post made nothing; the second one is the only topic.
    assert topic_shas(ok_emulator) == [p.sha256 for p in photos]


async def test_a_token_past_its_lifetime_is_not_reused(
    ok_emulator: OkEmulator, make_publisher: PublisherFactory, make_media: MediaFactory
) -> None:
    photos = (make_media(),)
    publisher = make_publisher()
    ok_emulator.fail_next("mediatopic.post", error_code=2)
    with pytest.raises(TransientError):
        await publisher.publish(delivery(), album(*photos))
    later = datetime.now(UTC) + PHOTO_TOKEN_TTL
    publisher._now = lambda: later
    await publisher.publish(delivery(), album(*photos))
    assert len(ok_emulator.calls_to("photosV2.getUploadUrl")) == 2
    assert len(ok_emulator.calls_to("mediatopic.post")) == 2
    assert topic_shas(ok_emulator) == [p.sha256 for p in photos]


async def test_a_photo_post_without_text_is_known_by_its_own_photos(
    ok_emulator: OkEmulator, make_publisher: PublisherFactory, make_media: MediaFactory
) -> None:
    """Issue 9: a caption-less photo post whose answer was lost went to staff (the same
    count of photos identifies nothing); the attempt's own upload tokens or photo ids do."""
    publisher = make_publisher()
    someone_elses = Content(text=RichText.plain(""), media=(make_media(),))
    await make_publisher().publish(
        dataclasses.replace(delivery(), delivery_id=99, idempotency_key="other"), someone_elses
    )
    ours = Content(text=RichText.plain(""), media=(make_media(),))
    d = dataclasses.replace(delivery(), last_attempt_at=datetime.now(UTC) - timedelta(minutes=1))
    ok_emulator.fail_next("mediatopic.post", http_status=502, after_effect=True)
    with pytest.raises(OutcomeUnknownError):
        await publisher.publish(d, ours)
    other, mine = ok_emulator.group_topics(GID)
    result = await publisher.reconcile(d, ours)
    assert result.outcome is ReconcileOutcome.CANNOT_TELL  # the other one might be ours
    await make_publisher().delete(
        RemotePost(platform=Platform.OK, account=ACCOUNT, remote_id=other.topic_id)
    )
    result = await publisher.reconcile(d, ours)
    assert result.outcome is ReconcileOutcome.FOUND
    assert result.remote is not None
    assert result.remote.remote_id == mine.topic_id
    # Without the memo (another process, nothing remembered) the count alone decides nothing.
    result = await make_publisher().reconcile(d, ours)
    assert result.outcome is ReconcileOutcome.CANNOT_TELL
