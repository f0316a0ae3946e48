"""Reconciling an uncertain OK delivery by reading the group's topics back."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest

from crosspost.emulators.ok import OkEmulator
from crosspost.errors import OutcomeUnknownError, TransientError
from crosspost.models import Content, DeliveryRef, MediaKind, Platform, ReconcileOutcome
from crosspost.richtext import RichText
from tests.adapters.ok.conftest import ACCOUNT, GID, MediaFactory, PublisherFactory

_keys = iter(range(1, 10_000))


def delivery(attempt_at: datetime | None = None) -> DeliveryRef:
    n = next(_keys)
    return DeliveryRef(
        delivery_id=n,
        publication_id=n,
        account=ACCOUNT,
        platform=Platform.OK,
        idempotency_key=f"{n}:administration:ok",
        attempts=1,
        last_attempt_at=attempt_at or datetime.now(UTC) - timedelta(minutes=1),
    )


def text(value: str, *media: object) -> Content:
    return Content(text=RichText.plain(value), media=media)  # type: ignore[arg-type]


async def never_landed(
    ok: OkEmulator, make_publisher: PublisherFactory, d: DeliveryRef, content: Content
) -> DeliveryRef:
    ok.fail_next("mediatopic.post", http_status=502)
    with pytest.raises(OutcomeUnknownError):
        await make_publisher().publish(d, content)
    return dataclasses.replace(d, last_attempt_at=datetime.now(UTC) - timedelta(minutes=1))


async def test_a_lost_answer_is_found_without_a_second_topic(
    ok_emulator: OkEmulator, make_publisher: PublisherFactory, make_media: MediaFactory
) -> None:
    content = text("Отключение воды 5 декабря", make_media(), make_media())
    d = delivery()
    ok_emulator.fail_next("mediatopic.post", http_status=502, after_effect=True)
    with pytest.raises(OutcomeUnknownError):
        await make_publisher().publish(d, content)
    [topic] = ok_emulator.group_topics(GID)
    result = await make_publisher().reconcile(d, content)
    assert result.outcome is ReconcileOutcome.FOUND
    assert result.remote is not None
    assert result.remote.remote_id == topic.topic_id
    assert len(ok_emulator.group_topics(GID)) == 1


async def test_a_topic_that_never_landed_is_not_found_by_a_complete_read(
    ok_emulator: OkEmulator, make_publisher: PublisherFactory
) -> None:
    # No other topic needs to come after it: the read itself is complete.
    d = await never_landed(ok_emulator, make_publisher, delivery(), text("Не дошло"))
    result = await make_publisher().reconcile(d, text("Не дошло"))
    assert result.outcome is ReconcileOutcome.NOT_FOUND
    assert ok_emulator.group_topics(GID) == []


async def test_not_there_is_said_only_once_the_attempt_has_settled(
    ok_emulator: OkEmulator, make_publisher: PublisherFactory
) -> None:
    just_now = delivery(datetime.now(UTC))
    with pytest.raises(TransientError) as info:
        await make_publisher().reconcile(just_now, text("Только что"))
    assert info.value.retry_after is not None
    assert info.value.retry_after <= timedelta(seconds=10)


async def test_a_topic_recorded_for_another_delivery_is_never_adopted(
    ok_emulator: OkEmulator, make_publisher: PublisherFactory
) -> None:
    other = await make_publisher().publish(delivery(), text("Напоминание о приёме"))
    d = await never_landed(ok_emulator, make_publisher, delivery(), text("Напоминание о приёме"))
    publisher = make_publisher()
    assert (await publisher.reconcile(d, text("Напоминание о приёме"))).outcome is (
        ReconcileOutcome.FOUND
    )

    async def is_taken(topic_id: str) -> bool:
        return topic_id == other.remote.remote_id

    publisher.is_taken = is_taken
    result = await publisher.reconcile(d, text("Напоминание о приёме"))
    assert result.outcome is ReconcileOutcome.NOT_FOUND


async def test_two_look_alikes_cannot_tell(
    ok_emulator: OkEmulator, make_publisher: PublisherFactory
) -> None:
    ok_emulator.add_topic(GID, "Дубль")
    ok_emulator.add_topic(GID, "Дубль")
    result = await make_publisher().reconcile(delivery(), text("Дубль"))
    assert result.outcome is ReconcileOutcome.CANNOT_TELL


async def test_the_same_text_with_other_media_is_another_post(
    ok_emulator: OkEmulator, make_publisher: PublisherFactory, make_media: MediaFactory
) -> None:
    await make_publisher().publish(delivery(), text("Фотоотчёт", make_media()))
    mine = text("Фотоотчёт", make_media(), make_media())
    d = await never_landed(ok_emulator, make_publisher, delivery(), mine)
    result = await make_publisher().reconcile(d, mine)
    assert result.outcome is ReconcileOutcome.NOT_FOUND


async def test_the_same_text_before_the_attempt_is_not_the_post(
    ok_emulator: OkEmulator, make_publisher: PublisherFactory
) -> None:
    ok_emulator.add_topic(GID, "Еженедельно", created_at=datetime.now(UTC) - timedelta(days=7))
    result = await make_publisher().reconcile(delivery(), text("Еженедельно"))
    assert result.outcome is ReconcileOutcome.NOT_FOUND


async def test_caption_less_photos_are_never_matched_by_count(
    ok_emulator: OkEmulator, make_publisher: PublisherFactory, make_media: MediaFactory
) -> None:
    await make_publisher().publish(delivery(), text("", make_media(), make_media()))
    mine = text("", make_media(), make_media())
    d = await never_landed(ok_emulator, make_publisher, delivery(), mine)
    result = await make_publisher().reconcile(d, mine)
    assert result.outcome is ReconcileOutcome.CANNOT_TELL
    assert len(ok_emulator.group_topics(GID)) == 1


async def test_a_caption_less_video_is_matched_by_its_video_id(
    ok_emulator: OkEmulator, make_publisher: PublisherFactory, make_media: MediaFactory
) -> None:
    def clip() -> object:
        return make_media(MediaKind.VIDEO, size=20_000, mime_type="video/mp4")

    await make_publisher().publish(delivery(), text("", clip()))
    publisher = make_publisher()
    lost, missing = delivery(), delivery()
    lost_content, missing_content = text("", clip()), text("", clip())
    ok_emulator.fail_next("mediatopic.post", http_status=502, after_effect=True)
    with pytest.raises(OutcomeUnknownError):
        await publisher.publish(lost, lost_content)
    ok_emulator.fail_next("mediatopic.post", http_status=502)
    with pytest.raises(OutcomeUnknownError):
        await publisher.publish(missing, missing_content)
    found = await publisher.reconcile(lost, lost_content)
    assert found.outcome is ReconcileOutcome.FOUND
    assert found.remote is not None
    assert ok_emulator.topic_videos(ok_emulator.topics[found.remote.remote_id])
    assert (await publisher.reconcile(missing, missing_content)).outcome is (
        ReconcileOutcome.NOT_FOUND
    )


async def test_more_topics_than_one_read_cannot_tell(
    ok_emulator: OkEmulator, make_publisher: PublisherFactory
) -> None:
    for n in range(101):
        ok_emulator.add_topic(GID, f"Новость {n}")
    result = await make_publisher().reconcile(delivery(), text("Потерянная"))
    assert result.outcome is ReconcileOutcome.CANNOT_TELL
