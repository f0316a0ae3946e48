from __future__ import annotations

import asyncio
import json
import socket
from datetime import UTC, datetime, timedelta

import pytest

from adapters.ok import OK_CAPABILITIES, OkPublisher
from crosspost.emulators.ok import OkEmulator
from crosspost.errors import (
    AuthError,
    NeedsAttentionError,
    OutcomeUnknownError,
    TransientError,
    UnsupportedError,
)
from crosspost.models import (
    Content,
    DeliveryRef,
    MediaKind,
    Notice,
    Platform,
    ReconcileOutcome,
    RemotePost,
)
from crosspost.publishing import Publisher, Throttle
from crosspost.richtext import RichText, Span, SpanKind
from tests.adapters.ok.conftest import ACCOUNT, GID, TOKEN, MediaFactory, PublisherFactory

LINK = "https://spassk-dalny.ru/news/1"


def delivery(attempt_at: datetime | None = None) -> DeliveryRef:
    return DeliveryRef(
        delivery_id=7,
        publication_id=3,
        account=ACCOUNT,
        platform=Platform.OK,
        idempotency_key="3:administration:ok",
        last_attempt_at=attempt_at,
    )


def linked_text() -> RichText:
    text = "Приём граждан в пятницу. Подробности на сайте."
    start = text.index("на сайте")
    return RichText(
        text=text,
        spans=(Span(kind=SpanKind.LINK, start=start, end=start + len("на сайте"), url=LINK),),
    )


class CountingThrottle:
    def __init__(self) -> None:
        self.entered: list[tuple[str, str]] = []

    def __call__(self, kind: str, token: str) -> Throttle:
        outer = self

        class _Throttle:
            async def __aenter__(self) -> None:
                outer.entered.append((kind, token))

            async def __aexit__(self, *exc_info: object) -> None:
                return None

        return _Throttle()


async def test_is_a_publisher(make_publisher: PublisherFactory) -> None:
    publisher = make_publisher()
    assert isinstance(publisher, Publisher)
    assert publisher.platform is Platform.OK
    assert publisher.capabilities == OK_CAPABILITIES
    assert publisher.capabilities.can_edit is False
    assert publisher.capabilities.can_delete is True


async def test_publish_text_ten_photos_link_and_video_bytes_intact(
    ok_emulator: OkEmulator, make_publisher: PublisherFactory, make_media: MediaFactory
) -> None:
    throttle = CountingThrottle()
    publisher = make_publisher(throttle=throttle)
    photos = [make_media(size=3000 + i) for i in range(10)]
    video = make_media(MediaKind.VIDEO, size=40_000, mime_type="video/mp4", file_name="clip.mp4")
    content = Content(text=linked_text(), media=(*photos, video))

    result = await publisher.publish(delivery(), content)

    topic = ok_emulator.topics[result.remote.remote_id]
    assert topic.gid == GID
    assert result.remote.url == f"https://ok.ru/group/{GID}/topic/{topic.topic_id}"
    assert result.notices == ()
    assert topic.text == f"Приём граждан в пятницу. Подробности на сайте ({LINK})."
    assert [b["url"] for b in topic.blocks("link")] == [LINK]
    assert topic.attachment["onBehalfOfGroup"] == "true"
    shown = ok_emulator.topic_photos(topic)
    assert [p.data for p in shown] == [p.path.read_bytes() for p in photos]
    assert [p.field_name for p in shown] == [f"pic{i}" for i in range(1, 11)]
    [uploaded_video] = ok_emulator.topic_videos(topic)
    assert uploaded_video.data == video.path.read_bytes()
    assert uploaded_video.finished
    assert uploaded_video.title == "Приём граждан в пятницу. Подробности на сайте (" + LINK + ")."
    # The attachment OK got is exactly the string that was signed (the emulator checked it).
    assert json.loads(topic.attachment_raw) == topic.attachment
    # Every API call and every upload waited for the token's throttle.
    assert len(throttle.entered) == len(ok_emulator.calls) + len(ok_emulator.uploads)
    assert set(throttle.entered) == {("ok", TOKEN)}


async def test_missing_media_publishes_the_text_with_a_link_to_the_original(
    ok_emulator: OkEmulator, make_publisher: PublisherFactory, make_media: MediaFactory
) -> None:
    original = "https://t.me/spassk_adm/42"
    huge = make_media(MediaKind.VIDEO, missing=True)
    content = Content(
        text=RichText.plain("Видео с заседания думы"), media=(huge,), original_url=original
    )

    result = await make_publisher().publish(delivery(), content)

    topic = ok_emulator.topics[result.remote.remote_id]
    assert topic.text == f"Видео с заседания думы\n\n{original}"
    assert [b["url"] for b in topic.blocks("link")] == [original]
    assert not ok_emulator.videos
    assert result.notices == (Notice.MEDIA_AS_LINK,)


async def test_documents_are_dropped_with_a_notice(
    ok_emulator: OkEmulator, make_publisher: PublisherFactory, make_media: MediaFactory
) -> None:
    document = make_media(MediaKind.DOCUMENT, mime_type="application/pdf")
    result = await make_publisher().publish(
        delivery(), Content(text=RichText.plain("Постановление"), media=(document,))
    )
    assert Notice.MEDIA_DROPPED in result.notices
    assert ok_emulator.topics[result.remote.remote_id].text == "Постановление"


async def test_text_too_long_is_cut_and_posted_once_more(
    ok_emulator: OkEmulator, make_publisher: PublisherFactory
) -> None:
    ok_emulator.text_limit = 4000
    text = "Длинное предложение о благоустройстве. " * 150
    result = await make_publisher().publish(
        delivery(),
        Content(text=RichText.plain(text), original_url="https://t.me/spassk_adm/43"),
    )
    [topic] = ok_emulator.group_topics(GID)
    assert topic.topic_id == result.remote.remote_id
    assert len(topic.text) <= 3000
    assert topic.text.endswith("Читать полностью: https://t.me/spassk_adm/43")
    assert Notice.TEXT_TRUNCATED in result.notices
    assert len(ok_emulator.calls_to("mediatopic.post")) == 2


async def test_edit_is_unsupported(make_publisher: PublisherFactory) -> None:
    publisher = make_publisher()
    remote = RemotePost(platform=Platform.OK, account=ACCOUNT, remote_id="1")
    with pytest.raises(UnsupportedError):
        await publisher.edit(remote, Content(text=RichText.plain("x")))


async def test_delete_removes_the_topic_and_tolerates_a_second_delete(
    ok_emulator: OkEmulator, make_publisher: PublisherFactory
) -> None:
    publisher = make_publisher()
    result = await publisher.publish(delivery(), Content(text=RichText.plain("Удалим")))
    await publisher.delete(result.remote)
    assert ok_emulator.group_topics(GID) == []
    await publisher.delete(result.remote)


async def test_delete_unknown_to_ok_is_unsupported(
    ok_emulator: OkEmulator, make_publisher: PublisherFactory
) -> None:
    ok_emulator.fail_next("mediatopic.deleteTopic", error_code=3)
    remote = RemotePost(platform=Platform.OK, account=ACCOUNT, remote_id="1")
    with pytest.raises(UnsupportedError):
        await make_publisher().delete(remote)


async def test_timeout_after_the_post_is_uncertain_and_reconciles_without_a_duplicate(
    ok_emulator: OkEmulator, make_publisher: PublisherFactory
) -> None:
    publisher = make_publisher(timeout=0.5)
    content = Content(text=linked_text())
    started = datetime.now(UTC)
    ok_emulator.fail_next("mediatopic.post", hang=True, after_effect=True)

    async with asyncio.timeout(5):
        with pytest.raises(OutcomeUnknownError):
            await publisher.publish(delivery(), content)
        result = await publisher.reconcile(delivery(started), content)

    [topic] = ok_emulator.group_topics(GID)
    assert result.outcome is ReconcileOutcome.FOUND
    assert result.remote is not None
    assert result.remote.remote_id == topic.topic_id


async def test_reconcile_without_statistics_rights_cannot_tell(
    ok_emulator: OkEmulator, make_publisher: PublisherFactory
) -> None:
    ok_emulator.fail_next("group.getStatTopics", error_code=10)
    result = await make_publisher().reconcile(
        delivery(datetime.now(UTC)), Content(text=RichText.plain("x"))
    )
    assert result.outcome is ReconcileOutcome.CANNOT_TELL


async def test_5xx_after_the_post_is_uncertain(
    ok_emulator: OkEmulator, make_publisher: PublisherFactory
) -> None:
    ok_emulator.fail_next("mediatopic.post", http_status=502, after_effect=True)
    with pytest.raises(OutcomeUnknownError):
        await make_publisher().publish(delivery(), Content(text=RichText.plain("x")))
    assert len(ok_emulator.group_topics(GID)) == 1


async def test_connect_failure_before_sending_is_transient(
    make_publisher: PublisherFactory,
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    publisher = make_publisher(api_base=f"http://127.0.0.1:{port}/fb.do")
    with pytest.raises(TransientError):
        await publisher.publish(delivery(), Content(text=RichText.plain("x")))


async def test_failed_upload_is_transient_and_posts_nothing(
    ok_emulator: OkEmulator, make_publisher: PublisherFactory, make_media: MediaFactory
) -> None:
    ok_emulator.fail_next("upload.photo", http_status=500)
    with pytest.raises(TransientError):
        await make_publisher().publish(
            delivery(), Content(text=RichText.plain("x"), media=(make_media(),))
        )
    assert ok_emulator.group_topics(GID) == []
    assert ok_emulator.calls_to("mediatopic.post") == []


async def test_hanging_upload_is_transient(
    ok_emulator: OkEmulator, make_publisher: PublisherFactory, make_media: MediaFactory
) -> None:
    ok_emulator.fail_next("upload.photo", hang=True)
    async with asyncio.timeout(5):
        with pytest.raises(TransientError):
            await make_publisher(timeout=0.5).publish(
                delivery(), Content(text=RichText.plain("x"), media=(make_media(),))
            )
    assert ok_emulator.group_topics(GID) == []


async def test_expired_session_pauses_until_check_passes(
    ok_emulator: OkEmulator, make_publisher: PublisherFactory
) -> None:
    publisher = make_publisher()
    content = Content(text=RichText.plain("Новость"))
    ok_emulator.expire_token(TOKEN)

    with pytest.raises(AuthError) as caught:
        await publisher.publish(delivery(), content)
    assert caught.value.pause_account is True
    assert caught.value.code == "102"
    lines = await publisher.check()
    assert [(line.ok, line.code) for line in lines] == [(False, "ok.token.expired")]
    with pytest.raises(AuthError):
        await publisher.touch_session()

    ok_emulator.expire_token(TOKEN, expired=False)  # staff renewed the token
    lines = await publisher.check()
    assert all(line.ok for line in lines)
    assert "ok.token.ok" in [line.code for line in lines]
    await publisher.publish(delivery(), content)
    assert len(ok_emulator.group_topics(GID)) == 1


async def test_check_reports_missing_permissions_and_group(
    ok_emulator: OkEmulator, make_publisher: PublisherFactory
) -> None:
    ok_emulator.add_token(TOKEN, permissions={"VALUABLE_ACCESS", "GROUP_CONTENT"})
    ok_emulator.groups.clear()
    lines = await make_publisher().check()
    codes = [(line.code, line.detail.split(" ")[0]) for line in lines if not line.ok]
    assert ("ok.permission.missing", "LONG_ACCESS_TOKEN") in codes
    assert ("ok.permission.missing", "PHOTO_CONTENT") in codes
    assert ("ok.permission.missing", "VIDEO_CONTENT") in codes
    assert ("ok.group.not_found", "group") in codes


async def test_missing_group_content_fails_the_post_with_no_rights(
    ok_emulator: OkEmulator, make_publisher: PublisherFactory
) -> None:
    ok_emulator.add_token(TOKEN, permissions={"VALUABLE_ACCESS"})
    with pytest.raises(NeedsAttentionError) as caught:
        await make_publisher().publish(delivery(), Content(text=RichText.plain("x")))
    assert caught.value.code == "10"


async def test_subscriber_count_and_keep_alive(
    ok_emulator: OkEmulator, make_publisher: PublisherFactory
) -> None:
    publisher: OkPublisher = make_publisher()
    assert publisher.last_success_at is None
    assert await publisher.subscriber_count() == 1234
    await publisher.touch_session()
    assert ok_emulator.tokens[TOKEN].touches == 1
    assert publisher.last_success_at is not None
    assert publisher.token_lapses_at == publisher.last_success_at + timedelta(days=29)
    assert ok_emulator.calls_to("group.getCounters")[0].params["counterTypes"] == "members"


async def test_session_secret_key_from_settings(
    ok_emulator: OkEmulator, make_publisher: PublisherFactory
) -> None:
    ok_emulator.add_token("eternal", session_secret_key="issued-secret")
    publisher = make_publisher(access_token="eternal", session_secret_key="issued-secret")
    assert await publisher.subscriber_count() == 1234
