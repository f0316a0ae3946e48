from __future__ import annotations

from datetime import UTC, datetime, timedelta

import aiohttp
import pytest

from adapters.max.publisher import MAX_TEXT_LENGTH, render_max_html
from crosspost.emulators.max import MaxEmulator
from crosspost.errors import (
    AuthError,
    NeedsAttentionError,
    OutcomeUnknownError,
    PermanentError,
    TransientError,
)
from crosspost.models import (
    Content,
    DeliveryRef,
    MediaKind,
    Notice,
    Platform,
    ReconcileOutcome,
)
from crosspost.richtext import RichText, Span, SpanKind
from tests.adapters.max.conftest import CHAT_ID, TOKEN, MediaFactory, PublisherFactory


def ref(delivery_id: int = 1, *, started: datetime | None = None) -> DeliveryRef:
    return DeliveryRef(
        delivery_id=delivery_id,
        publication_id=delivery_id,
        account="administration",
        platform=Platform.MAX,
        idempotency_key=f"key-{delivery_id}",
        last_attempt_at=started,
    )


def text(value: str, *spans: Span) -> Content:
    return Content(text=RichText(text=value, spans=spans))


async def test_text_with_formatting_goes_out_as_html(
    max_emulator: MaxEmulator, make_publisher: PublisherFactory
) -> None:
    publisher = make_publisher()
    content = text(
        "Важно: приём граждан в пятницу. Подробнее",
        Span(kind=SpanKind.BOLD, start=0, end=5),
        Span(kind=SpanKind.SPOILER, start=7, end=12),
        Span(kind=SpanKind.LINK, start=32, end=41, url="https://spassk-d.ru/news/1"),
    )
    result = await publisher.publish(ref(), content)
    [message] = max_emulator.bot_messages(CHAT_ID)
    assert result.remote.remote_id == message.mid
    assert result.remote.url == message.url
    assert message.format == "html"
    assert message.raw_text == (
        '<b>Важно</b>: приём граждан в пятницу. <a href="https://spassk-d.ru/news/1">Подробнее</a>'
    )
    assert message.text == "Важно: приём граждан в пятницу. Подробнее"
    assert message.notify is True
    [call] = max_emulator.calls_to("POST /messages")
    assert call.authorization == TOKEN
    assert call.query == {"chat_id": str(CHAT_ID)}


async def test_long_text_is_cut_with_a_link_within_4000(
    max_emulator: MaxEmulator, make_publisher: PublisherFactory
) -> None:
    body = "Очень длинное сообщение & <важно>. " * 200
    content = Content(
        text=RichText(text=body, spans=(Span(kind=SpanKind.BOLD, start=0, end=len(body)),)),
        original_url="https://t.me/spassk_adm/10",
    )
    result = await make_publisher().publish(ref(), content)
    [message] = max_emulator.bot_messages(CHAT_ID)
    assert len(message.raw_text) <= MAX_TEXT_LENGTH
    assert "https://t.me/spassk_adm/10" in message.text
    assert Notice.TEXT_TRUNCATED in result.notices


def test_render_keeps_markup_within_the_limit() -> None:
    body = "<&>" * 3000
    html, truncated = render_max_html(RichText.plain(body), limit=4000)
    assert truncated
    assert len(html) <= 4000


async def test_album_keeps_the_photo_bytes_in_one_message(
    max_emulator: MaxEmulator, make_publisher: PublisherFactory, make_media: MediaFactory
) -> None:
    photos = tuple(make_media(data=bytes([n]) * (1000 + n)) for n in range(3))
    content = Content(text=RichText.plain("Субботник"), media=photos)
    result = await make_publisher().publish(ref(), content)
    [message] = max_emulator.bot_messages(CHAT_ID)
    assert result.remote.parts == ()
    assert [a["type"] for a in message.attachments] == ["image"] * 3
    got = [max_emulator.attachment_bytes(a) for a in message.attachments]
    assert got == [p.path.read_bytes() for p in photos]
    uploads = max_emulator.calls_to("POST /upload")
    assert len(uploads) == 3
    assert all(call.authorization is None for call in uploads)


async def test_more_than_ten_photos_split_into_parts(
    max_emulator: MaxEmulator, make_publisher: PublisherFactory, make_media: MediaFactory
) -> None:
    photos = tuple(make_media() for _ in range(12))
    result = await make_publisher().publish(
        ref(), Content(text=RichText.plain("Фото"), media=photos)
    )
    messages = max_emulator.bot_messages(CHAT_ID)
    assert [len(m.attachments) for m in messages] == [10, 2]
    assert messages[0].text == "Фото"
    assert messages[1].text == ""
    assert result.remote.parts == (messages[1].mid,)
    assert Notice.MEDIA_SPLIT in result.notices


async def test_video_waits_until_processed_then_posts(
    max_emulator: MaxEmulator, make_publisher: PublisherFactory, make_media: MediaFactory
) -> None:
    sleeps: list[float] = []

    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)

    video = make_media(MediaKind.VIDEO, mime_type="video/mp4", file_name="clip.mp4")
    publisher = make_publisher(_sleep=sleep)
    await publisher.publish(ref(), Content(text=RichText.plain("Видео"), media=(video,)))
    [message] = max_emulator.bot_messages(CHAT_ID)
    assert message.attachments[0]["type"] == "video"
    assert max_emulator.attachment_bytes(message.attachments[0]) == video.path.read_bytes()
    assert sleeps == [1.0, 2.0]  # the emulator refuses a fresh video twice


async def test_media_never_ready_becomes_a_bounded_transient_error(
    max_emulator: MaxEmulator, make_publisher: PublisherFactory, make_media: MediaFactory
) -> None:
    max_emulator.not_ready["video"] = 100
    sleeps: list[float] = []

    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)

    video = make_media(MediaKind.VIDEO, mime_type="video/mp4")
    publisher = make_publisher(_sleep=sleep)
    with pytest.raises(TransientError) as caught:
        await publisher.publish(ref(), Content(text=RichText.plain("x"), media=(video,)))
    assert caught.value.code == "attachment.not.ready"
    assert caught.value.retry_after is not None
    assert len(sleeps) == 5
    assert max_emulator.bot_messages(CHAT_ID) == []


async def test_files_go_alone_and_text_stays_first(
    max_emulator: MaxEmulator, make_publisher: PublisherFactory, make_media: MediaFactory
) -> None:
    photo = make_media()
    doc = make_media(MediaKind.DOCUMENT, mime_type="application/pdf", file_name="приказ.pdf")
    result = await make_publisher().publish(
        ref(), Content(text=RichText.plain("Приказ"), media=(photo, doc))
    )
    first, second = max_emulator.bot_messages(CHAT_ID)
    assert first.text == "Приказ"
    assert [a["type"] for a in first.attachments] == ["image"]
    assert [a["type"] for a in second.attachments] == ["file"]
    assert second.attachments[0]["filename"] == "приказ.pdf"
    assert result.remote.parts == (second.mid,)


async def test_edit_keeps_media_unless_it_changed(
    max_emulator: MaxEmulator, make_publisher: PublisherFactory, make_media: MediaFactory
) -> None:
    publisher = make_publisher()
    photo = make_media()
    result = await publisher.publish(ref(), Content(text=RichText.plain("Было"), media=(photo,)))
    await publisher.edit(result.remote, Content(text=RichText.plain("Стало"), media=(photo,)))
    [message] = max_emulator.bot_messages(CHAT_ID)
    assert message.text == "Стало"
    assert len(message.attachments) == 1
    [put] = max_emulator.calls_to("PUT /messages")
    assert put.body["attachments"] is None
    # A fresh publisher (after a restart) keeps the media too.
    await make_publisher().edit(
        result.remote, Content(text=RichText.plain("Снова"), media=(photo,))
    )
    assert max_emulator.bot_messages(CHAT_ID)[0].attachments == message.attachments
    other = make_media()
    await publisher.edit(result.remote, Content(text=RichText.plain("Фото"), media=(other,)))
    [message] = max_emulator.bot_messages(CHAT_ID)
    assert max_emulator.attachment_bytes(message.attachments[0]) == other.path.read_bytes()


async def test_delete_removes_every_part_and_tolerates_gone(
    max_emulator: MaxEmulator, make_publisher: PublisherFactory, make_media: MediaFactory
) -> None:
    publisher = make_publisher()
    doc = make_media(MediaKind.DOCUMENT, mime_type="application/pdf")
    result = await publisher.publish(
        ref(), Content(text=RichText.plain("x"), media=(make_media(), doc))
    )
    await publisher.delete(result.remote)
    assert max_emulator.bot_messages(CHAT_ID) == []
    await publisher.delete(result.remote)  # already gone: fine


async def test_rate_limit_is_a_wait_not_a_failure(
    max_emulator: MaxEmulator, make_publisher: PublisherFactory
) -> None:
    publisher = make_publisher()
    await publisher.publish(ref(1), text("один"))
    await publisher.publish(ref(2), text("два"))
    with pytest.raises(TransientError) as caught:
        await publisher.publish(ref(3), text("три"))
    assert caught.value.rate_limited
    assert caught.value.retry_after is not None
    assert len(max_emulator.bot_messages(CHAT_ID)) == 2


async def test_revoked_token_is_an_auth_error_that_pauses(
    max_emulator: MaxEmulator, make_publisher: PublisherFactory
) -> None:
    publisher = make_publisher(token="revoked-token")
    with pytest.raises(AuthError) as caught:
        await publisher.publish(ref(), text("x"))
    assert caught.value.pause_account
    assert "revoked-token" not in str(caught.value)


async def test_no_rights_in_the_channel(
    max_emulator: MaxEmulator, make_publisher: PublisherFactory
) -> None:
    max_emulator.chats[CHAT_ID].members.clear()
    with pytest.raises(NeedsAttentionError) as caught:
        await make_publisher().publish(ref(), text("x"))
    assert caught.value.code == "chat.denied"
    assert not caught.value.pause_account


async def test_bad_request_is_permanent(
    max_emulator: MaxEmulator, make_publisher: PublisherFactory
) -> None:
    max_emulator.fail_next("POST /messages", status=400, code="proto.payload")
    with pytest.raises(PermanentError):
        await make_publisher().publish(ref(), text("x"))


async def test_server_error_after_send_is_uncertain_and_reconciled(
    max_emulator: MaxEmulator, make_publisher: PublisherFactory
) -> None:
    publisher = make_publisher()
    max_emulator.fail_next("POST /messages", status=502, after_effect=True)
    started = datetime.now(UTC)
    with pytest.raises(OutcomeUnknownError):
        await publisher.publish(ref(), text("Отключение воды 3 декабря"))
    [message] = max_emulator.bot_messages(CHAT_ID)
    found = await publisher.reconcile(ref(started=started), text("Отключение воды 3 декабря"))
    assert found.outcome is ReconcileOutcome.FOUND
    assert found.remote is not None
    assert found.remote.remote_id == message.mid


async def test_hang_is_uncertain_and_reconcile_finds_nothing(
    max_emulator: MaxEmulator, make_publisher: PublisherFactory
) -> None:
    publisher = make_publisher(timeout=0.3)
    max_emulator.fail_next("POST /messages", hang=True)
    started = datetime.now(UTC)
    with pytest.raises(OutcomeUnknownError):
        await publisher.publish(ref(), text("Ничего не ушло"))
    max_emulator.release_hangs()
    result = await publisher.reconcile(ref(started=started), text("Ничего не ушло"))
    assert result.outcome is ReconcileOutcome.NOT_FOUND


async def test_reconcile_never_adopts_a_recorded_message(
    max_emulator: MaxEmulator, make_publisher: PublisherFactory
) -> None:
    publisher = make_publisher()
    first = await publisher.publish(ref(1), text("Одинаковый текст"))
    claimed = {first.remote.remote_id}

    async def is_taken(mid: str) -> bool:
        return mid in claimed

    publisher.is_taken = is_taken
    started = datetime.now(UTC) - timedelta(seconds=1)
    result = await publisher.reconcile(ref(2, started=started), text("Одинаковый текст"))
    assert result.outcome is ReconcileOutcome.NOT_FOUND


async def test_reconcile_ignores_staff_posts_with_the_same_text(
    max_emulator: MaxEmulator, make_publisher: PublisherFactory
) -> None:
    max_emulator.staff_post(CHAT_ID, "Тот же текст")
    result = await make_publisher().reconcile(ref(started=datetime.now(UTC)), text("Тот же текст"))
    assert result.outcome is ReconcileOutcome.NOT_FOUND


async def test_subscriber_count_and_check(
    max_emulator: MaxEmulator, make_publisher: PublisherFactory
) -> None:
    publisher = make_publisher()
    assert await publisher.subscriber_count() == 4321
    lines = await publisher.check()
    assert [line.code for line in lines] == ["max.token.ok", "max.chat.ok", "max.rights.ok"]
    assert all(line.ok for line in lines)


async def test_check_reports_missing_rights_and_bad_token(
    max_emulator: MaxEmulator, make_publisher: PublisherFactory
) -> None:
    max_emulator.chats[CHAT_ID].members[max_emulator.bots[TOKEN].user_id].permissions = ["write"]
    lines = await make_publisher().check()
    assert lines[-1].code == "max.rights.missing"
    assert "edit" in lines[-1].detail
    assert "delete" in lines[-1].detail
    bad = await make_publisher(token="nope").check()
    assert [line.code for line in bad] == ["max.token.invalid"]


async def test_emulator_is_strict_about_auth_and_channels(
    max_emulator: MaxEmulator, http: aiohttp.ClientSession
) -> None:
    base = max_emulator.base_url
    async with http.get(f"{base}/me", headers={"Authorization": f"Bearer {TOKEN}"}) as r:
        assert r.status == 401
        assert (await r.json())["code"] == "verify.token"
    async with http.get(f"{base}/me", params={"access_token": TOKEN}) as r:
        assert r.status == 401
    headers = {"Authorization": TOKEN}
    async with http.post(
        f"{base}/messages",
        params={"chat_id": CHAT_ID},
        json={"text": "x", "notify": False},
        headers=headers,
    ) as r:
        assert r.status == 400
    async with http.post(
        f"{base}/messages",
        params={"chat_id": CHAT_ID},
        json={"text": "я" * 4001},
        headers=headers,
    ) as r:
        assert r.status == 400
    async with http.get(f"{base}/chats", headers=headers) as r:
        assert r.status == 404
    async with http.post(f"{base}/uploads", params={"type": "gif"}, headers=headers) as r:
        assert r.status == 400
    async with http.post(f"{base}/uploads", params={"type": "image"}, headers=headers) as r:
        url = (await r.json())["url"]
    form = aiohttp.FormData()
    form.add_field("file", b"123", filename="a.jpg")
    async with http.post(url, data=form) as r:
        assert r.status == 400  # the field is `data`
    assert max_emulator.bot_messages(CHAT_ID) == []
