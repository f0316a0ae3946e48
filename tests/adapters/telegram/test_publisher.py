from __future__ import annotations

from datetime import timedelta

import pytest
from aiogram import Bot

from adapters.telegram import create_publisher
from adapters.telegram.publisher import TelegramPublisher, album_groups, channel_post_url
from crosspost.config import parse_settings
from crosspost.emulators.telegram import TelegramEmulator
from crosspost.errors import (
    AuthError,
    NeedsAttentionError,
    OutcomeUnknownError,
    PermanentError,
    Reason,
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
)
from crosspost.publishing import Publisher, no_throttle
from crosspost.richtext import RichText, Span, SpanKind

from .conftest import CHANNEL_ID, CHANNEL_USERNAME, MediaFactory, RecordingThrottle, make_bot

DELIVERY = DeliveryRef(
    delivery_id=7,
    publication_id=3,
    account="administration",
    platform=Platform.TELEGRAM,
    idempotency_key="3:administration:telegram",
)


def rich(text: str, *spans: Span) -> RichText:
    return RichText(text=text, spans=spans)


HELLO = "Приём граждан 😀 в пятницу, подробности на сайте"
LINK_START = HELLO.index("на сайте")


def bold_hello() -> RichText:
    return rich(
        HELLO,
        Span(kind=SpanKind.BOLD, start=0, end=13),
        Span(kind=SpanKind.LINK, start=LINK_START, end=len(HELLO), url="https://spassk-d.ru"),
    )


def long_text(chars: int) -> RichText:
    sentence = "Администрация информирует жителей о плановых работах. "
    return RichText.plain((sentence * (chars // len(sentence) + 1))[:chars].strip())


def test_is_a_publisher(tg_publisher: TelegramPublisher) -> None:
    assert isinstance(tg_publisher, Publisher)


async def test_text_goes_as_html_with_parse_mode_stated(
    tg_publisher: TelegramPublisher, tg_emulator: TelegramEmulator, tg_throttle: RecordingThrottle
) -> None:
    result = await tg_publisher.publish(DELIVERY, Content(text=bold_hello()))

    [sent] = tg_emulator.sent(CHANNEL_ID)
    assert sent.method == "sendMessage"
    assert sent.text == bold_hello().text
    types = {(e["type"], e["offset"], e["length"]) for e in sent.entities}
    # UTF-16 offsets: the emoji counts twice.
    assert ("bold", 0, 13) in types
    assert ("text_link", LINK_START + 1, len(HELLO) - LINK_START) in types
    [request] = tg_emulator.requests("sendMessage")
    assert request["params"]["parse_mode"] == "HTML"
    assert result.remote.remote_id == str(sent.message_id)
    assert result.remote.url == f"https://t.me/{CHANNEL_USERNAME}/{sent.message_id}"
    assert result.remote.parts == ()
    assert result.notices == ()
    assert tg_throttle.keys == [("telegram", str(CHANNEL_ID))]


async def test_photo_is_uploaded_from_the_store_with_its_caption(
    tg_publisher: TelegramPublisher, tg_emulator: TelegramEmulator, media_factory: MediaFactory
) -> None:
    photo = media_factory(MediaKind.PHOTO, b"\xff\xd8photo-bytes" * 100)

    result = await tg_publisher.publish(DELIVERY, Content(text=bold_hello(), media=(photo,)))

    [sent] = tg_emulator.sent(CHANNEL_ID)
    assert sent.method == "sendPhoto"
    assert sent.caption == bold_hello().text
    assert sent.media[0].kind == "photo"
    assert sent.media[0].data == photo.path.read_bytes()
    assert sent.html is not None
    assert sent.html.startswith("<b>")
    assert result.remote.remote_id == str(sent.message_id)


async def test_known_file_id_is_sent_without_upload(
    tg_publisher: TelegramPublisher, tg_emulator: TelegramEmulator, media_factory: MediaFactory
) -> None:
    file_id, unique_id = tg_emulator.add_file(b"video" * 100, file_name="clip.mp4", kind="video")
    video = media_factory(MediaKind.VIDEO, b"video" * 100, telegram_file_id=file_id)

    await tg_publisher.publish(DELIVERY, Content(text=RichText.plain("Видео"), media=(video,)))

    [request] = tg_emulator.requests("sendVideo")
    assert request["files"] == {}
    assert request["params"]["video"] == file_id
    [sent] = tg_emulator.sent(CHANNEL_ID)
    assert sent.media[0].file_unique_id == unique_id


async def test_rejected_file_id_falls_back_to_upload(
    tg_publisher: TelegramPublisher, tg_emulator: TelegramEmulator, media_factory: MediaFactory
) -> None:
    photo = media_factory(MediaKind.PHOTO, telegram_file_id="AgACforeign-bot-file-id")

    await tg_publisher.publish(DELIVERY, Content(text=RichText.plain("Фото"), media=(photo,)))

    requests = tg_emulator.requests("sendPhoto")
    assert len(requests) == 2
    assert requests[1]["files"]
    [sent] = tg_emulator.sent(CHANNEL_ID)
    assert sent.media[0].data == photo.path.read_bytes()


async def test_ten_photos_go_as_one_album_with_the_caption_on_the_first(
    tg_publisher: TelegramPublisher, tg_emulator: TelegramEmulator, media_factory: MediaFactory
) -> None:
    photos = tuple(media_factory(MediaKind.PHOTO) for _ in range(10))

    result = await tg_publisher.publish(DELIVERY, Content(text=bold_hello(), media=photos))

    assert len(tg_emulator.requests("sendMediaGroup")) == 1
    sent = tg_emulator.sent(CHANNEL_ID)
    assert len(sent) == 10
    assert len({s.media_group_id for s in sent}) == 1
    assert sent[0].caption == bold_hello().text
    assert all(s.caption is None for s in sent[1:])
    assert [s.media[0].data for s in sent] == [p.path.read_bytes() for p in photos]
    assert result.remote.remote_id == str(sent[0].message_id)
    assert result.remote.parts == tuple(str(s.message_id) for s in sent[1:])
    assert Notice.MEDIA_SPLIT not in result.notices


async def test_more_than_ten_photos_become_two_albums(
    tg_publisher: TelegramPublisher, tg_emulator: TelegramEmulator, media_factory: MediaFactory
) -> None:
    photos = tuple(media_factory(MediaKind.PHOTO) for _ in range(12))

    result = await tg_publisher.publish(DELIVERY, Content(text=bold_hello(), media=photos))

    groups = [r for r in tg_emulator.requests() if r["method"] == "sendMediaGroup"]
    assert len(groups) == 2
    assert len(result.remote.parts) == 11
    assert Notice.MEDIA_SPLIT in result.notices


def test_album_groups_keep_order_and_telegram_rules(media_factory: MediaFactory) -> None:
    p, v, d, a = MediaKind.PHOTO, MediaKind.VIDEO, MediaKind.DOCUMENT, MediaKind.ANIMATION
    items = [media_factory(k) for k in (p, v, d, d, a, p, *(p,) * 11)]

    groups = album_groups(items)

    assert [[m.kind for m in g] for g in groups] == [[p, v], [d, d], [a], [p] * 10, [p, p]]


async def test_long_caption_goes_as_media_then_text(
    tg_publisher: TelegramPublisher, tg_emulator: TelegramEmulator, media_factory: MediaFactory
) -> None:
    photo = media_factory(MediaKind.PHOTO)
    text = long_text(1500)

    result = await tg_publisher.publish(DELIVERY, Content(text=text, media=(photo,)))

    first, second = tg_emulator.sent(CHANNEL_ID)
    assert (first.method, first.caption) == ("sendPhoto", None)
    assert second.method == "sendMessage"
    assert second.text == text.text
    assert result.remote.parts == (str(second.message_id),)
    assert Notice.CAPTION_SPLIT in result.notices


async def test_text_over_4096_is_cut_with_a_link_to_the_original(
    tg_publisher: TelegramPublisher, tg_emulator: TelegramEmulator
) -> None:
    content = Content(text=long_text(6000), original_url="https://t.me/adm_spassk/99")

    result = await tg_publisher.publish(DELIVERY, content)

    [sent] = tg_emulator.sent(CHANNEL_ID)
    assert sent.text is not None
    assert len(sent.text) <= 4096
    assert "https://t.me/adm_spassk/99" in sent.text
    assert Notice.TEXT_TRUNCATED in result.notices


async def test_media_too_big_to_fetch_becomes_a_link(
    tg_publisher: TelegramPublisher, tg_emulator: TelegramEmulator, media_factory: MediaFactory
) -> None:
    video = media_factory(MediaKind.VIDEO, missing=True)
    content = Content(
        text=RichText.plain("Запись заседания"),
        media=(video,),
        original_url="https://t.me/adm_spassk/42",
    )

    result = await tg_publisher.publish(DELIVERY, content)

    [sent] = tg_emulator.sent(CHANNEL_ID)
    assert sent.text == "Запись заседания\n\nhttps://t.me/adm_spassk/42"
    assert Notice.MEDIA_AS_LINK in result.notices


async def test_edit_text_and_not_modified_is_success(
    tg_publisher: TelegramPublisher, tg_emulator: TelegramEmulator
) -> None:
    published = await tg_publisher.publish(DELIVERY, Content(text=RichText.plain("Было")))
    new = Content(text=bold_hello())

    await tg_publisher.edit(published.remote, new)
    await tg_publisher.edit(published.remote, new)

    message_id = int(published.remote.remote_id)
    assert tg_emulator.messages(CHANNEL_ID)[message_id]["text"] == bold_hello().text
    assert len(tg_emulator.requests("editMessageText")) == 2
    assert len([s for s in tg_emulator.sent(CHANNEL_ID) if s.edited]) == 1


async def test_edit_caption_of_a_photo_post(
    tg_publisher: TelegramPublisher, tg_emulator: TelegramEmulator, media_factory: MediaFactory
) -> None:
    content = Content(text=RichText.plain("Было"), media=(media_factory(), media_factory()))
    published = await tg_publisher.publish(DELIVERY, content)

    await tg_publisher.edit(published.remote, Content(text=bold_hello(), media=content.media))

    first = tg_emulator.messages(CHANNEL_ID)[int(published.remote.remote_id)]
    assert first["caption"] == bold_hello().text
    assert tg_emulator.requests("editMessageText") == []


async def test_edit_of_a_split_post_edits_its_text_message(
    tg_publisher: TelegramPublisher, tg_emulator: TelegramEmulator, media_factory: MediaFactory
) -> None:
    content = Content(text=long_text(1500), media=(media_factory(),))
    published = await tg_publisher.publish(DELIVERY, content)

    await tg_publisher.edit(published.remote, Content(text=long_text(1400), media=content.media))

    text_id = int(published.remote.parts[-1])
    assert tg_emulator.messages(CHANNEL_ID)[text_id]["text"] == long_text(1400).text
    assert tg_emulator.requests("editMessageCaption") == []


async def test_edit_of_a_deleted_post_is_not_found(
    tg_publisher: TelegramPublisher, tg_emulator: TelegramEmulator
) -> None:
    published = await tg_publisher.publish(DELIVERY, Content(text=RichText.plain("Было")))
    await tg_publisher.delete(published.remote)

    with pytest.raises(PermanentError) as caught:
        await tg_publisher.edit(published.remote, Content(text=bold_hello()))

    assert caught.value.reason is Reason.NOT_FOUND


async def test_delete_removes_every_part_and_tolerates_repeats(
    tg_publisher: TelegramPublisher, tg_emulator: TelegramEmulator, media_factory: MediaFactory
) -> None:
    content = Content(text=long_text(1500), media=(media_factory(), media_factory()))
    published = await tg_publisher.publish(DELIVERY, content)
    assert len(tg_emulator.messages(CHANNEL_ID)) == 3

    await tg_publisher.delete(published.remote)
    await tg_publisher.delete(published.remote)

    assert tg_emulator.messages(CHANNEL_ID) == {}


async def test_delete_after_48_hours_is_unsupported(
    tg_publisher: TelegramPublisher, tg_emulator: TelegramEmulator
) -> None:
    published = await tg_publisher.publish(DELIVERY, Content(text=RichText.plain("Старое")))
    tg_emulator.advance_clock(48 * 3600 + 1)

    with pytest.raises(UnsupportedError):
        await tg_publisher.delete(published.remote)

    assert int(published.remote.remote_id) in tg_emulator.messages(CHANNEL_ID)


async def test_429_becomes_transient_with_retry_after(
    tg_publisher: TelegramPublisher, tg_emulator: TelegramEmulator
) -> None:
    tg_emulator.fail_next("sendMessage", error_code=429, retry_after=7)

    with pytest.raises(TransientError) as caught:
        await tg_publisher.publish(DELIVERY, Content(text=bold_hello()))

    assert caught.value.retry_after == timedelta(seconds=7)
    assert caught.value.reason is Reason.RATE_LIMITED
    assert caught.value.platform is Platform.TELEGRAM
    assert caught.value.account == "administration"
    assert tg_emulator.messages(CHANNEL_ID) == {}


async def test_server_error_is_transient(
    tg_publisher: TelegramPublisher, tg_emulator: TelegramEmulator
) -> None:
    tg_emulator.fail_next("sendMessage", error_code=502)

    with pytest.raises(TransientError) as caught:
        await tg_publisher.publish(DELIVERY, Content(text=bold_hello()))

    assert caught.value.reason is Reason.PLATFORM_DOWN


async def test_bot_not_admin_needs_attention(
    tg_publisher: TelegramPublisher, tg_emulator: TelegramEmulator
) -> None:
    tg_emulator.set_bot_rights(CHANNEL_ID, is_admin=False)

    with pytest.raises(NeedsAttentionError) as caught:
        await tg_publisher.publish(DELIVERY, Content(text=bold_hello()))

    assert caught.value.reason is Reason.NO_RIGHTS
    assert caught.value.code == "403"
    assert not isinstance(caught.value, AuthError)


async def test_injected_403_needs_attention(
    tg_publisher: TelegramPublisher, tg_emulator: TelegramEmulator
) -> None:
    tg_emulator.fail_next("sendMessage", error_code=403)

    with pytest.raises(NeedsAttentionError) as caught:
        await tg_publisher.publish(DELIVERY, Content(text=bold_hello()))

    assert "bot is not a member of the channel chat" in str(caught.value)


async def test_revoked_token_is_an_auth_error(tg_emulator: TelegramEmulator) -> None:
    bot = make_bot(tg_emulator.api_base, "123456:REVOKED")
    publisher = TelegramPublisher(
        account="administration", chat_id=CHANNEL_ID, bot=bot, throttle=no_throttle
    )
    try:
        with pytest.raises(AuthError) as caught:
            await publisher.publish(DELIVERY, Content(text=bold_hello()))
        lines = await publisher.check()
    finally:
        await bot.session.close()

    assert caught.value.pause_account
    assert "REVOKED" not in str(caught.value)
    assert [(line.ok, line.code) for line in lines] == [(False, "telegram_token_invalid")]


async def test_timeout_during_send_is_outcome_unknown(tg_emulator: TelegramEmulator) -> None:
    bot = make_bot(tg_emulator.api_base, tg_emulator.token, timeout=0.3)
    publisher = TelegramPublisher(
        account="administration", chat_id=CHANNEL_ID, bot=bot, throttle=no_throttle
    )
    tg_emulator.fail_next("sendMessage", delay=3.0)
    try:
        with pytest.raises(OutcomeUnknownError):
            await publisher.publish(DELIVERY, Content(text=bold_hello()))
    finally:
        await bot.session.close()

    # The request did take effect: exactly why the delivery must not be retried blindly.
    assert [s.text for s in tg_emulator.sent(CHANNEL_ID)] == [bold_hello().text]


async def test_failure_after_an_album_removes_the_album_before_retry(
    tg_publisher: TelegramPublisher, tg_emulator: TelegramEmulator, media_factory: MediaFactory
) -> None:
    photos = tuple(media_factory() for _ in range(3))
    tg_emulator.fail_next("sendMessage", error_code=500)

    with pytest.raises(TransientError):
        await tg_publisher.publish(DELIVERY, Content(text=long_text(1500), media=photos))

    assert tg_emulator.messages(CHANNEL_ID) == {}
    assert len(tg_emulator.requests("deleteMessage")) == 3


async def test_timeout_after_an_album_keeps_it_and_reports_unknown(
    tg_emulator: TelegramEmulator, media_factory: MediaFactory
) -> None:
    bot = make_bot(tg_emulator.api_base, tg_emulator.token, timeout=0.3)
    publisher = TelegramPublisher(
        account="administration", chat_id=CHANNEL_ID, bot=bot, throttle=no_throttle
    )
    photos = tuple(media_factory() for _ in range(2))
    tg_emulator.fail_next("sendMessage", delay=3.0)
    try:
        with pytest.raises(OutcomeUnknownError) as caught:
            await publisher.publish(DELIVERY, Content(text=long_text(1500), media=photos))
    finally:
        await bot.session.close()

    assert "were already sent" in str(caught.value)
    assert tg_emulator.requests("deleteMessage") == []


async def test_reconcile_cannot_tell(tg_publisher: TelegramPublisher) -> None:
    result = await tg_publisher.reconcile(DELIVERY, Content(text=bold_hello()))

    assert result.outcome is ReconcileOutcome.CANNOT_TELL


async def test_subscriber_count(tg_publisher: TelegramPublisher) -> None:
    assert await tg_publisher.subscriber_count() == 1234


async def test_check_reports_token_channel_and_rights(
    tg_publisher: TelegramPublisher, tg_emulator: TelegramEmulator
) -> None:
    tg_emulator.set_bot_rights(CHANNEL_ID, can_delete_messages=False)

    lines = {line.code: line.ok for line in await tg_publisher.check()}

    assert lines == {
        "telegram_token_ok": True,
        "telegram_channel_ok": True,
        "telegram_bot_admin": True,
        "telegram_can_post": True,
        "telegram_can_edit": True,
        "telegram_cannot_delete": False,
    }


async def test_reads_take_no_slot_of_the_channels_posting_limit(
    tg_publisher: TelegramPublisher, tg_throttle: RecordingThrottle
) -> None:
    # One post per ~3 s per channel is a limit on messages; check and the statistics only
    # read, and queued behind it `crosspost check` of 1,000 channels took hours.
    await tg_publisher.check()
    await tg_publisher.subscriber_count()

    assert tg_throttle.keys == []


async def test_check_finds_bot_not_admin(
    tg_publisher: TelegramPublisher, tg_emulator: TelegramEmulator
) -> None:
    tg_emulator.set_bot_rights(CHANNEL_ID, is_admin=False)

    lines = await tg_publisher.check()

    assert [(line.ok, line.code) for line in lines][-1] == (False, "telegram_bot_not_admin")


async def test_check_finds_unknown_channel(tg_emulator: TelegramEmulator, tg_bot: Bot) -> None:
    publisher = TelegramPublisher(
        account="head", chat_id=-1009999, bot=tg_bot, throttle=no_throttle
    )

    lines = await publisher.check()

    assert [(line.ok, line.code) for line in lines] == [
        (True, "telegram_token_ok"),
        (False, "telegram_channel_not_found"),
    ]


def test_post_urls() -> None:
    assert channel_post_url(-1001234567890, 5, "adm") == "https://t.me/adm/5"
    assert channel_post_url(-1001234567890, 5, None) == "https://t.me/c/1234567890/5"


def test_create_publisher_from_settings(tg_bot: Bot) -> None:
    settings = parse_settings(
        {
            "telegram": {"token": "1:x", "staff_chat_id": -1, "staff": [1]},
            "accounts": {
                "administration": {
                    "title": "Администрация",
                    "telegram_channel_id": CHANNEL_ID,
                    "telegram_channel_username": CHANNEL_USERNAME,
                },
                "head": {"title": "Глава"},
            },
        },
        env={},
    )

    publisher = create_publisher(
        settings=settings, account="administration", bot=tg_bot, throttle=no_throttle
    )

    assert (publisher.chat_id, publisher.channel_username) == (CHANNEL_ID, CHANNEL_USERNAME)
    with pytest.raises(Exception, match="telegram_channel_id"):
        create_publisher(settings=settings, account="head", bot=tg_bot, throttle=no_throttle)
