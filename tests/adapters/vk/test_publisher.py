from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest

from crosspost.emulators.vk import VkEmulator
from crosspost.errors import (
    PermanentError,
    Reason,
    TransientError,
    UnsupportedError,
)
from crosspost.models import (
    Content,
    MediaKind,
    Notice,
    Platform,
)
from crosspost.publishing import Publisher
from crosspost.richtext import RichText, Span, SpanKind

from .conftest import (
    COMMUNITY,
    GROUP_ID,
    USER,
    DeliveryFactory,
    FakeClock,
    MediaFactory,
    PublisherFactory,
)

ORIGINAL = "https://t.me/spassk_adm/42"


def text(value: str, **kw: object) -> Content:
    return Content(text=RichText.plain(value), original_url=ORIGINAL, **kw)  # type: ignore[arg-type]


async def test_is_a_publisher(emu: VkEmulator, make_publisher: PublisherFactory) -> None:
    publisher = make_publisher()
    assert isinstance(publisher, Publisher)
    assert publisher.platform is Platform.VK
    assert publisher.capabilities.can_edit
    community_only = make_publisher(user=None)
    assert not community_only.capabilities.can_edit
    assert MediaKind.PHOTO not in community_only.capabilities.media_kinds


async def test_publish_text_with_link_and_hashtag(
    emu: VkEmulator, make_publisher: PublisherFactory, make_delivery: DeliveryFactory
) -> None:
    body = "Приём граждан в пятницу. Подробнее на сайте #Спасск"
    rt = RichText(
        text=body,
        spans=(
            Span(
                kind=SpanKind.LINK,
                start=body.index("Подробнее"),
                end=body.index(" #"),
                url="https://spassk-dalny.ru",
            ),
            Span(kind=SpanKind.HASHTAG, start=body.index("#"), end=len(body)),
        ),
    )
    delivery = make_delivery()
    result = await make_publisher().publish(delivery, Content(text=rt))
    [post] = emu.wall(GROUP_ID)
    assert post.text == (
        "Приём граждан в пятницу. Подробнее на сайте (https://spassk-dalny.ru) #Спасск"
    )
    assert post.owner_id == -GROUP_ID
    assert post.from_id == -GROUP_ID
    assert post.guid == delivery.idempotency_key
    assert result.remote.remote_id == str(post.post_id)
    assert result.remote.url == f"https://vk.com/wall-{GROUP_ID}_{post.post_id}"
    assert result.notices == ()
    wall_post = next(c for c in emu.calls if c.method == "wall.post")
    assert wall_post.params["from_group"] == "1"
    assert wall_post.params["owner_id"] == str(-GROUP_ID)


async def test_photos_video_and_document_arrive_intact(
    emu: VkEmulator,
    make_publisher: PublisherFactory,
    make_delivery: DeliveryFactory,
    make_media: MediaFactory,
) -> None:
    photo1, photo2 = make_media(MediaKind.PHOTO), make_media(MediaKind.PHOTO, size=70_000)
    video = make_media(MediaKind.VIDEO, size=300_000)
    doc = make_media(MediaKind.DOCUMENT, name="Постановление №1.pdf")
    content = text("С фотографиями", media=(photo1, video, photo2, doc))
    await make_publisher().publish(make_delivery(), content)
    [post] = emu.wall(GROUP_ID)
    assert post.text == "С фотографиями"
    kinds = [emu.media(a).kind for a in post.attachments]
    assert kinds == ["photo", "video", "photo", "doc"]
    for attachment, item in zip(post.attachments, content.media, strict=True):
        stored = emu.media(attachment)
        assert stored.data == item.path.read_bytes()
        assert stored.size == item.size
        assert stored.owner_id == -GROUP_ID
    fields = {emu.media(a).kind: emu.media(a).field_name for a in post.attachments}
    assert fields == {"photo": "photo", "video": "video_file", "doc": "file"}
    assert emu.media(post.attachments[3]).title == "Постановление №1.pdf"


async def test_community_token_only_posts_text_and_link_and_tells_once(
    emu: VkEmulator,
    make_publisher: PublisherFactory,
    make_delivery: DeliveryFactory,
    make_media: MediaFactory,
) -> None:
    publisher = make_publisher(user=None)
    content = text("Субботник", media=(make_media(), make_media(MediaKind.VIDEO)))
    first = await publisher.publish(make_delivery(), content)
    second = await publisher.publish(make_delivery(), content)
    posts = emu.wall(GROUP_ID)
    assert [p.text for p in posts] == [f"Субботник\n\n{ORIGINAL}"] * 2
    assert all(p.attachments == [] for p in posts)
    assert Notice.MEDIA_AS_LINK in first.notices
    assert Notice.VK_PHOTOS_NEED_USER_TOKEN in first.notices
    assert Notice.MEDIA_AS_LINK in second.notices
    assert Notice.VK_PHOTOS_NEED_USER_TOKEN not in second.notices
    # It never asked for a photo upload server, so VK never answered error 27.
    assert not any(c.method.startswith(("photos.", "video.")) for c in emu.calls)
    assert all(c.token_kind == "community" for c in emu.calls)


async def test_community_token_only_still_uploads_documents(
    emu: VkEmulator,
    make_publisher: PublisherFactory,
    make_delivery: DeliveryFactory,
    make_media: MediaFactory,
) -> None:
    doc = make_media(MediaKind.DOCUMENT)
    result = await make_publisher(user=None).publish(make_delivery(), text("Док", media=(doc,)))
    [post] = emu.wall(GROUP_ID)
    assert post.text == "Док"
    assert emu.media(post.attachments[0]).data == doc.path.read_bytes()
    assert result.notices == ()


async def test_missing_media_becomes_a_link(
    emu: VkEmulator,
    make_publisher: PublisherFactory,
    make_delivery: DeliveryFactory,
    make_media: MediaFactory,
) -> None:
    content = text("Большое видео", media=(make_media(MediaKind.VIDEO, missing=True),))
    result = await make_publisher().publish(make_delivery(), content)
    [post] = emu.wall(GROUP_ID)
    assert post.text == f"Большое видео\n\n{ORIGINAL}"
    assert result.notices == (Notice.MEDIA_AS_LINK,)


async def test_more_than_ten_media_go_in_a_second_post(
    emu: VkEmulator,
    make_publisher: PublisherFactory,
    make_delivery: DeliveryFactory,
    make_media: MediaFactory,
) -> None:
    photos = tuple(make_media(size=100) for _ in range(12))
    result = await make_publisher().publish(make_delivery(), text("Фотоотчёт", media=photos))
    first, second = emu.wall(GROUP_ID)
    assert first.text == "Фотоотчёт"
    assert len(first.attachments) == 10
    assert second.text == ""
    assert len(second.attachments) == 2
    assert result.remote.parts == (str(second.post_id),)
    assert Notice.MEDIA_SPLIT in result.notices
    sent = [emu.media(a).sha256 for a in first.attachments + second.attachments]
    assert sent == [p.sha256 for p in photos]


async def test_same_guid_makes_a_retry_safe(
    emu: VkEmulator, make_publisher: PublisherFactory, make_delivery: DeliveryFactory
) -> None:
    delivery = make_delivery()
    publisher = make_publisher()
    first = await publisher.publish(delivery, text("Один раз"))
    again = await publisher.publish(delivery, text("Один раз"))
    assert first.remote == again.remote
    assert len(emu.wall(GROUP_ID)) == 1


async def test_upload_failure_is_transient_and_posts_nothing(
    emu: VkEmulator,
    make_publisher: PublisherFactory,
    make_delivery: DeliveryFactory,
    make_media: MediaFactory,
) -> None:
    emu.fail_next("upload", status=500)
    with pytest.raises(TransientError):
        await make_publisher().publish(
            make_delivery(), text("Фото", media=(make_media(), make_media()))
        )
    assert emu.wall(GROUP_ID) == []
    emu.fail_next("upload", hang=True)
    with pytest.raises(TransientError):
        await make_publisher(timeout=0.3).publish(
            make_delivery(), text("Фото", media=(make_media(),))
        )
    emu.release_hangs()
    assert emu.wall(GROUP_ID) == []


async def test_long_text_is_cut_with_a_link(
    emu: VkEmulator, make_publisher: PublisherFactory, make_delivery: DeliveryFactory
) -> None:
    long = "Очень длинное предложение о городе. " * 1000
    result = await make_publisher().publish(make_delivery(), text(long))
    [post] = emu.wall(GROUP_ID)
    assert len(post.text) <= 16384
    assert ORIGINAL in post.text
    assert Notice.TEXT_TRUNCATED in result.notices


async def test_edit_keeps_attachments(
    emu: VkEmulator,
    make_publisher: PublisherFactory,
    make_delivery: DeliveryFactory,
    make_media: MediaFactory,
) -> None:
    publisher = make_publisher()
    media = (make_media(), make_media(MediaKind.DOCUMENT))
    published = await publisher.publish(make_delivery(), text("Было", media=media))
    before = list(emu.wall(GROUP_ID)[0].attachments)
    await publisher.edit(published.remote, text("Стало", media=media))
    [post] = emu.wall(GROUP_ID)
    assert post.text == "Стало"
    assert post.attachments == before
    assert post.edited is not None


async def test_edit_and_delete_with_community_token_are_unsupported(
    emu: VkEmulator, make_publisher: PublisherFactory, make_delivery: DeliveryFactory
) -> None:
    publisher = make_publisher(user=None)
    published = await publisher.publish(make_delivery(), text("Текст"))
    with pytest.raises(UnsupportedError) as info:
        await publisher.edit(published.remote, text("Новый"))
    assert info.value.reason is Reason.WRONG_TOKEN_TYPE
    with pytest.raises(UnsupportedError):
        await publisher.delete(published.remote)
    assert [p.text for p in emu.wall(GROUP_ID)] == ["Текст"]


async def test_delete_removes_post_and_parts_and_is_idempotent(
    emu: VkEmulator,
    make_publisher: PublisherFactory,
    make_delivery: DeliveryFactory,
    make_media: MediaFactory,
) -> None:
    publisher = make_publisher()
    photos = tuple(make_media(size=64) for _ in range(11))
    published = await publisher.publish(make_delivery(), text("Удалить", media=photos))
    assert len(emu.wall(GROUP_ID)) == 2
    await publisher.delete(published.remote)
    assert emu.wall(GROUP_ID) == []
    await publisher.delete(published.remote)
    gone = dataclasses.replace(published.remote, remote_id="9999", parts=())
    await publisher.delete(gone)


async def test_edit_of_a_deleted_post_is_permanent(
    emu: VkEmulator, make_publisher: PublisherFactory, make_delivery: DeliveryFactory
) -> None:
    publisher = make_publisher()
    published = await publisher.publish(make_delivery(), text("Текст"))
    await publisher.delete(published.remote)
    with pytest.raises(PermanentError) as info:
        await publisher.edit(published.remote, text("Новый"))
    assert info.value.reason is Reason.NOT_FOUND


async def test_subscriber_count(emu: VkEmulator, make_publisher: PublisherFactory) -> None:
    assert await make_publisher().subscriber_count() == 1234
    assert await make_publisher(community=None).subscriber_count() == 1234
    call = emu.calls[-1]
    assert call.params["fields"] == "members_count"


async def test_check_with_both_tokens(emu: VkEmulator, make_publisher: PublisherFactory) -> None:
    lines = await make_publisher().check()
    codes = {line.code: line.ok for line in lines}
    assert codes == {"vk.community_token.ok": True, "vk.user_token.ok": True}


async def test_check_with_community_token_only(
    emu: VkEmulator, make_publisher: PublisherFactory
) -> None:
    lines = await make_publisher(user=None).check()
    assert {line.code: line.ok for line in lines} == {
        "vk.community_token.ok": True,
        "vk.user_token.missing": True,
    }


async def test_check_reports_bad_tokens_in_stable_codes(
    emu: VkEmulator, make_publisher: PublisherFactory
) -> None:
    emu.revoke(COMMUNITY)
    emu.add_user_token("weak-user", user_id=7, scopes=frozenset({"wall"}), admin_of=None)
    lines = await make_publisher(user="weak-user").check()
    codes = {line.code: line.ok for line in lines}
    assert codes == {
        "vk.community_token.invalid": False,
        "vk.user_token.scope_missing": False,
        "vk.user_token.not_admin": False,
        "vk.user_token.expires": True,
    }
    scope_line = next(line for line in lines if line.code == "vk.user_token.scope_missing")
    assert "photos" in scope_line.detail
    assert "video" in scope_line.detail
    # A user token in the community slot is the wrong type.
    lines = await make_publisher(community=USER, user=None).check()
    assert lines[0].code == "vk.community_token.wrong_type"


async def test_guid_window_in_emulator_expires(
    emu: VkEmulator,
    make_publisher: PublisherFactory,
    make_delivery: DeliveryFactory,
    clock: FakeClock,
) -> None:
    delivery = make_delivery()
    await make_publisher().publish(delivery, text("Раз"))
    clock.advance(timedelta(hours=2).total_seconds())
    await make_publisher().publish(delivery, text("Раз"))
    assert len(emu.wall(GROUP_ID)) == 2


async def test_vk_id_token_is_refused_with_1051(
    emu: VkEmulator, make_publisher: PublisherFactory, make_delivery: DeliveryFactory
) -> None:
    emu.add_user_token("vk2.a.vkid", user_id=5, admin_of=GROUP_ID, vk_id=True)
    with pytest.raises(PermanentError) as info:
        await make_publisher(user="vk2.a.vkid").publish(make_delivery(), text("Текст"))
    assert info.value.code == "1051"
    assert info.value.reason is Reason.WRONG_TOKEN_TYPE
    assert emu.wall(GROUP_ID) == []
