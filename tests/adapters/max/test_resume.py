"""Issue 9: a MAX post split in parts is published only when every part is out; a retry or
reconcile sends only what is missing, never the first part again. Upload tokens are reused
between attempts and uploaded again when MAX no longer takes them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from crosspost.emulators.max import MaxEmulator
from crosspost.errors import OutcomeUnknownError, TransientError
from crosspost.models import Content, DeliveryRef, MediaItem, Notice, Platform, ReconcileOutcome
from crosspost.richtext import RichText
from tests.adapters.max.conftest import CHAT_ID, MediaFactory, PublisherFactory


def ref() -> DeliveryRef:
    return DeliveryRef(
        delivery_id=21,
        publication_id=21,
        account="administration",
        platform=Platform.MAX,
        idempotency_key="key-21",
        last_attempt_at=datetime.now(UTC),
    )


def album(*photos: MediaItem) -> Content:
    return Content(text=RichText.plain("Фотоотчёт"), media=photos)


def fail_second_part(
    monkeypatch: pytest.MonkeyPatch, publisher: Any, error: Exception, *, after: bool = False
) -> None:
    """The first send of a part without text (the second message) fails; after=True: it is
    made first and its answer is lost."""
    real = publisher.client.send
    failed = False

    async def send(chat_id: int, body: dict[str, Any]) -> Any:
        nonlocal failed
        if "text" not in body and not failed:
            failed = True
            if after:
                await real(chat_id, body)
            raise error
        return await real(chat_id, body)

    monkeypatch.setattr(publisher.client, "send", send)


async def test_a_failed_second_part_is_sent_alone_by_the_retry(
    max_emulator: MaxEmulator,
    make_publisher: PublisherFactory,
    make_media: MediaFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    photos = tuple(make_media() for _ in range(12))
    publisher = make_publisher()
    fail_second_part(monkeypatch, publisher, TransientError("MAX 429", platform=Platform.MAX))
    with pytest.raises(TransientError):
        await publisher.publish(ref(), album(*photos))
    [first] = max_emulator.bot_messages(CHAT_ID)
    uploads = len(max_emulator.calls_to("POST /uploads"))
    result = await publisher.publish(ref(), album(*photos))
    messages = max_emulator.bot_messages(CHAT_ID)
    assert messages[0].mid == first.mid
    assert [len(m.attachments) for m in messages] == [10, 2]
    assert result.remote.remote_id == first.mid
    assert result.remote.parts == (messages[1].mid,)
    assert Notice.MEDIA_SPLIT in result.notices
    assert len(max_emulator.calls_to("POST /uploads")) == uploads  # nothing uploaded again
    got = [max_emulator.attachment_bytes(a) for m in messages for a in m.attachments]
    assert got == [p.path.read_bytes() for p in photos]


@pytest.mark.parametrize("made", [True, False], ids=["second part made", "not made"])
async def test_reconcile_finds_the_second_part_by_its_tokens_or_sends_only_it(
    made: bool,
    max_emulator: MaxEmulator,
    make_publisher: PublisherFactory,
    make_media: MediaFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    photos = tuple(make_media() for _ in range(11))
    publisher = make_publisher()
    fail_second_part(
        monkeypatch,
        publisher,
        OutcomeUnknownError("MAX: no answer", platform=Platform.MAX),
        after=made,
    )
    with pytest.raises(OutcomeUnknownError):
        await publisher.publish(ref(), album(*photos))
    result = await publisher.reconcile(ref(), album(*photos))
    messages = max_emulator.bot_messages(CHAT_ID)
    if made:
        assert result.outcome is ReconcileOutcome.FOUND
        assert result.remote is not None
        assert result.remote.remote_id == messages[0].mid
        assert result.remote.parts == (messages[1].mid,)
        return
    assert result.outcome is ReconcileOutcome.NOT_FOUND
    again = await publisher.publish(ref(), album(*photos))
    first, second = max_emulator.bot_messages(CHAT_ID)
    assert first.mid == messages[0].mid
    assert again.remote.parts == (second.mid,)
    assert len(second.attachments) == 1


async def test_tokens_max_no_longer_takes_are_uploaded_again(
    max_emulator: MaxEmulator, make_publisher: PublisherFactory, make_media: MediaFactory
) -> None:
    photos = tuple(make_media() for _ in range(2))
    publisher = make_publisher()
    max_emulator.fail_next("POST /messages", status=429, code="too.many.requests")
    with pytest.raises(TransientError):
        await publisher.publish(ref(), album(*photos))
    uploads = len(max_emulator.calls_to("POST /uploads"))
    for upload in max_emulator.uploads.values():
        upload.token = f"expired-{upload.token}"
    await publisher.publish(ref(), album(*photos))
    assert len(max_emulator.calls_to("POST /uploads")) == uploads + 2
    [message] = max_emulator.bot_messages(CHAT_ID)
    got = [max_emulator.attachment_bytes(a) for a in message.attachments]
    assert got == [p.path.read_bytes() for p in photos]


async def test_a_message_without_text_is_known_only_by_its_own_upload_tokens(
    max_emulator: MaxEmulator,
    make_publisher: PublisherFactory,
    make_media: MediaFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    publisher = make_publisher()
    other = make_publisher()
    await other.publish(
        DeliveryRef(
            delivery_id=22,
            publication_id=22,
            account="administration",
            platform=Platform.MAX,
            idempotency_key="key-22",
        ),
        Content(text=RichText.plain(""), media=(make_media(),)),
    )
    ours = Content(text=RichText.plain(""), media=(make_media(),))
    real = publisher.client.send

    async def lost(chat_id: int, body: dict[str, Any]) -> Any:
        await real(chat_id, body)
        raise OutcomeUnknownError("MAX: no answer", platform=Platform.MAX)

    monkeypatch.setattr(publisher.client, "send", lost)
    with pytest.raises(OutcomeUnknownError):
        await publisher.publish(ref(), ours)
    _theirs, mine = max_emulator.bot_messages(CHAT_ID)
    result = await publisher.reconcile(ref(), ours)
    assert result.outcome is ReconcileOutcome.FOUND
    assert result.remote is not None
    assert result.remote.remote_id == mine.mid
    # The same count of attachments alone (nothing remembered) identifies nothing.
    blind = await make_publisher().reconcile(ref(), ours)
    assert blind.outcome is ReconcileOutcome.CANNOT_TELL


async def test_a_split_post_whose_first_answer_was_lost_sends_only_the_rest(
    max_emulator: MaxEmulator,
    make_publisher: PublisherFactory,
    make_media: MediaFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    photos = tuple(make_media() for _ in range(12))
    publisher = make_publisher()
    real = publisher.client.send
    lost = False

    async def first_lost(chat_id: int, body: dict[str, Any]) -> Any:
        nonlocal lost
        if not lost and "text" in body:
            lost = True
            await real(chat_id, body)
            raise OutcomeUnknownError("MAX: no answer", platform=Platform.MAX)
        return await real(chat_id, body)

    monkeypatch.setattr(publisher.client, "send", first_lost)
    with pytest.raises(OutcomeUnknownError):
        await publisher.publish(ref(), album(*photos))
    [first] = max_emulator.bot_messages(CHAT_ID)
    result = await publisher.reconcile(ref(), album(*photos))
    assert result.outcome is ReconcileOutcome.NOT_FOUND
    again = await publisher.publish(ref(), album(*photos))
    messages = max_emulator.bot_messages(CHAT_ID)
    assert [m.mid for m in messages][:1] == [first.mid]
    assert [len(m.attachments) for m in messages] == [10, 2]
    assert again.remote.remote_id == first.mid
    assert again.remote.parts == (messages[1].mid,)
