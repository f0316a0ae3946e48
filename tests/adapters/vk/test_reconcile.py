"""Reconciling an uncertain VK delivery: the guid inside its hour, the wall after it."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest

from crosspost.emulators.vk import VkEmulator
from crosspost.errors import OutcomeUnknownError
from crosspost.models import Content, DeliveryRef, MediaKind, ReconcileOutcome
from crosspost.richtext import RichText

from .conftest import GROUP_ID, DeliveryFactory, FakeClock, MediaFactory, PublisherFactory

AFTER_GUID_WINDOW = timedelta(minutes=55).total_seconds()


def text(value: str, *media: object) -> Content:
    return Content(text=RichText.plain(value), media=media)  # type: ignore[arg-type]


def wall_posts(emu: VkEmulator) -> int:
    return sum(1 for c in emu.calls if c.method == "wall.post")


async def lost_answer(
    emu: VkEmulator, publisher_factory: PublisherFactory, delivery: DeliveryRef, content: Content
) -> None:
    """wall.post takes effect and its answer never comes."""
    emu.fail_next("wall.post", drop=True, after=True)
    with pytest.raises(OutcomeUnknownError):
        await publisher_factory().publish(delivery, content)


async def never_made(
    emu: VkEmulator, publisher_factory: PublisherFactory, delivery: DeliveryRef, content: Content
) -> None:
    """wall.post dropped before VK acted on it."""
    emu.fail_next("wall.post", drop=True)
    with pytest.raises(OutcomeUnknownError):
        await publisher_factory().publish(delivery, content)


# --- inside the guid window ---------------------------------------------------------------


async def test_inside_the_window_a_resend_with_the_same_guid_finds_the_post(
    emu: VkEmulator,
    make_publisher: PublisherFactory,
    make_delivery: DeliveryFactory,
    make_media: MediaFactory,
) -> None:
    delivery = make_delivery()
    content = text("", make_media(), make_media())
    publisher = make_publisher()
    emu.fail_next("wall.post", drop=True, after=True)
    with pytest.raises(OutcomeUnknownError):
        await publisher.publish(delivery, content)
    [post] = emu.wall(GROUP_ID)
    uploads = len(emu.uploads)
    result = await publisher.reconcile(delivery, content)
    assert result.outcome is ReconcileOutcome.FOUND
    assert result.remote is not None
    assert result.remote.remote_id == str(post.post_id)
    assert len(emu.wall(GROUP_ID)) == 1
    # The same guid went out again, and the photos were not uploaded twice.
    guids = [c.params.get("guid") for c in emu.calls if c.method == "wall.post"]
    assert guids == [delivery.idempotency_key] * 2
    assert len(emu.uploads) == uploads


async def test_inside_the_window_a_post_that_never_happened_is_made_once(
    emu: VkEmulator, make_publisher: PublisherFactory, make_delivery: DeliveryFactory
) -> None:
    delivery = make_delivery()
    await never_made(emu, make_publisher, delivery, text("Не дошло"))
    assert emu.wall(GROUP_ID) == []
    # A new process (the old one was killed): nothing remembered, still exactly one post.
    result = await make_publisher().reconcile(delivery, text("Не дошло"))
    assert result.outcome is ReconcileOutcome.FOUND
    assert [p.text for p in emu.wall(GROUP_ID)] == ["Не дошло"]


async def test_the_window_counts_from_the_first_attempt(
    emu: VkEmulator,
    make_publisher: PublisherFactory,
    make_delivery: DeliveryFactory,
    clock: FakeClock,
) -> None:
    first = clock.now()
    clock.advance(AFTER_GUID_WINDOW)
    delivery = dataclasses.replace(
        make_delivery(), attempts=3, first_attempt_at=first, last_attempt_at=clock.now()
    )
    result = await make_publisher().reconcile(delivery, text("Повтор"))
    assert result.outcome is ReconcileOutcome.NOT_FOUND
    assert wall_posts(emu) == 0


async def test_several_attempts_and_no_first_attempt_time_read_the_wall(
    emu: VkEmulator, make_publisher: PublisherFactory, make_delivery: DeliveryFactory
) -> None:
    delivery = dataclasses.replace(make_delivery(), attempts=2)
    emu.add_post(GROUP_ID, "Объявление")
    result = await make_publisher().reconcile(delivery, text("Объявление"))
    assert result.outcome is ReconcileOutcome.FOUND
    assert wall_posts(emu) == 0


# --- after the window: the wall -------------------------------------------------------------


async def test_after_the_window_the_post_is_found_on_the_wall_without_posting(
    emu: VkEmulator,
    make_publisher: PublisherFactory,
    make_delivery: DeliveryFactory,
    clock: FakeClock,
) -> None:
    delivery = make_delivery()
    await lost_answer(emu, make_publisher, delivery, text("Важное объявление"))
    [post] = emu.wall(GROUP_ID)
    clock.advance(AFTER_GUID_WINDOW)
    result = await make_publisher().reconcile(delivery, text("Важное объявление"))
    assert result.outcome is ReconcileOutcome.FOUND
    assert result.remote is not None
    assert result.remote.remote_id == str(post.post_id)
    assert wall_posts(emu) == 1


async def test_after_the_window_a_post_that_never_happened_is_not_found(
    emu: VkEmulator,
    make_publisher: PublisherFactory,
    make_delivery: DeliveryFactory,
    clock: FakeClock,
) -> None:
    delivery = make_delivery()
    emu.add_post(GROUP_ID, "Другой пост")
    await never_made(emu, make_publisher, delivery, text("Не дошло"))
    clock.advance(AFTER_GUID_WINDOW)
    result = await make_publisher().reconcile(delivery, text("Не дошло"))
    assert result.outcome is ReconcileOutcome.NOT_FOUND
    assert [p.text for p in emu.wall(GROUP_ID)] == ["Другой пост"]


async def test_a_caption_less_post_is_never_matched_by_its_attachment_count(
    emu: VkEmulator,
    make_publisher: PublisherFactory,
    make_delivery: DeliveryFactory,
    make_media: MediaFactory,
    clock: FakeClock,
) -> None:
    # Another publication's two photos, posted without text, in the same minutes.
    other = make_delivery()
    await make_publisher().publish(other, text("", make_media(), make_media()))
    mine = make_delivery()
    content = text("", make_media(), make_media())
    await never_made(emu, make_publisher, mine, content)
    clock.advance(AFTER_GUID_WINDOW)
    # A fresh process knows nothing of its uploads: the look-alike must not be adopted.
    result = await make_publisher().reconcile(mine, content)
    assert result.outcome is ReconcileOutcome.CANNOT_TELL
    assert len(emu.wall(GROUP_ID)) == 1


async def test_a_caption_less_post_is_matched_by_the_media_this_process_uploaded(
    emu: VkEmulator,
    make_publisher: PublisherFactory,
    make_delivery: DeliveryFactory,
    make_media: MediaFactory,
    clock: FakeClock,
) -> None:
    await make_publisher().publish(make_delivery(), text("", make_media(), make_media()))
    publisher = make_publisher()
    mine, lost = make_delivery(), make_delivery()
    content = text("", make_media(), make_media())
    emu.fail_next("wall.post", drop=True)
    with pytest.raises(OutcomeUnknownError):
        await publisher.publish(mine, content)
    lost_content = text("", make_media(MediaKind.PHOTO), make_media(MediaKind.PHOTO))
    emu.fail_next("wall.post", drop=True, after=True)
    with pytest.raises(OutcomeUnknownError):
        await publisher.publish(lost, lost_content)
    clock.advance(AFTER_GUID_WINDOW)
    assert (await publisher.reconcile(mine, content)).outcome is ReconcileOutcome.NOT_FOUND
    found = await publisher.reconcile(lost, lost_content)
    assert found.outcome is ReconcileOutcome.FOUND
    assert found.remote is not None
    assert found.remote.remote_id == str(emu.wall(GROUP_ID)[-1].post_id)


async def test_posts_recorded_for_other_deliveries_are_never_adopted(
    emu: VkEmulator,
    make_publisher: PublisherFactory,
    make_delivery: DeliveryFactory,
    clock: FakeClock,
) -> None:
    # A weekly reminder with the same text, published for another delivery.
    other = await make_publisher().publish(make_delivery(), text("Напоминание"))
    delivery = make_delivery()
    await never_made(emu, make_publisher, delivery, text("Напоминание"))
    clock.advance(AFTER_GUID_WINDOW)
    publisher = make_publisher()
    ambiguous = await publisher.reconcile(delivery, text("Напоминание"))
    # Without the repository's word the look-alike would be adopted.
    assert ambiguous.outcome is ReconcileOutcome.FOUND
    taken = {other.remote.remote_id}

    async def is_taken(remote_id: str) -> bool:
        return remote_id in taken

    publisher.is_taken = is_taken
    result = await publisher.reconcile(delivery, text("Напоминание"))
    assert result.outcome is ReconcileOutcome.NOT_FOUND


async def test_two_untaken_look_alikes_cannot_tell(
    emu: VkEmulator,
    make_publisher: PublisherFactory,
    make_delivery: DeliveryFactory,
    clock: FakeClock,
) -> None:
    emu.add_post(GROUP_ID, "Дубль")
    emu.add_post(GROUP_ID, "Дубль")
    clock.advance(1)
    delivery = make_delivery()
    clock.advance(AFTER_GUID_WINDOW)
    result = await make_publisher().reconcile(delivery, text("Дубль"))
    assert result.outcome is ReconcileOutcome.CANNOT_TELL


async def test_the_same_text_long_before_the_attempt_is_not_the_post(
    emu: VkEmulator,
    make_publisher: PublisherFactory,
    make_delivery: DeliveryFactory,
    clock: FakeClock,
) -> None:
    emu.add_post(GROUP_ID, "Еженедельное напоминание", date=int(clock()) - 7 * 24 * 3600)
    delivery = make_delivery()
    clock.advance(AFTER_GUID_WINDOW)
    result = await make_publisher().reconcile(delivery, text("Еженедельное напоминание"))
    assert result.outcome is ReconcileOutcome.NOT_FOUND


async def test_a_wall_that_moved_on_too_far_cannot_tell(
    emu: VkEmulator,
    make_publisher: PublisherFactory,
    make_delivery: DeliveryFactory,
    clock: FakeClock,
) -> None:
    delivery = make_delivery()
    for n in range(101):
        emu.add_post(GROUP_ID, f"Пост {n}")
    clock.advance(AFTER_GUID_WINDOW)
    result = await make_publisher().reconcile(delivery, text("Потерянный"))
    assert result.outcome is ReconcileOutcome.CANNOT_TELL


async def test_community_token_after_the_window_cannot_tell(
    emu: VkEmulator,
    make_publisher: PublisherFactory,
    make_delivery: DeliveryFactory,
    clock: FakeClock,
) -> None:
    delivery = make_delivery()
    clock.advance(AFTER_GUID_WINDOW)
    result = await make_publisher(user=None).reconcile(delivery, text("Давно"))
    assert result.outcome is ReconcileOutcome.CANNOT_TELL
    assert emu.wall(GROUP_ID) == []


async def test_community_token_inside_the_window_repeats_the_guid(
    emu: VkEmulator, make_publisher: PublisherFactory, make_delivery: DeliveryFactory
) -> None:
    delivery = make_delivery()
    await lost_answer(emu, lambda: make_publisher(user=None), delivery, text("Только текст"))
    [post] = emu.wall(GROUP_ID)
    result = await make_publisher(user=None).reconcile(delivery, text("Только текст"))
    assert result.outcome is ReconcileOutcome.FOUND
    assert result.remote is not None
    assert result.remote.remote_id == str(post.post_id)
    assert len(emu.wall(GROUP_ID)) == 1
