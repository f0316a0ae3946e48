"""The emulator against the real aiogram client: the Bot API behaviour the project relies on."""

from __future__ import annotations

import asyncio
import json

import pytest
from aiogram import Bot
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramConflictError,
    TelegramForbiddenError,
    TelegramUnauthorizedError,
)
from aiogram.methods import GetMe
from aiogram.types import (
    BufferedInputFile,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputMediaDocument,
    InputMediaPhoto,
    MessageEntity,
)
from aiohttp import ClientSession

from crosspost.emulators.telegram import TelegramEmulator, parse_html, parse_markdown_v2

from .conftest import CHANNEL_ID, STAFF_ID, make_bot


def photo_file(n: int = 1) -> BufferedInputFile:
    return BufferedInputFile(b"\xff\xd8" + bytes([n]) * 300, f"p{n}.jpg")


async def test_get_updates_returns_as_soon_as_an_update_arrives(
    tg_emulator: TelegramEmulator, tg_bot: Bot
) -> None:
    loop = asyncio.get_running_loop()
    started = loop.time()
    poll = asyncio.create_task(tg_bot.get_updates(timeout=30, request_timeout=40))
    await tg_emulator.wait_for_request("getUpdates")

    post = tg_emulator.post_to_channel(CHANNEL_ID, text="Новость")
    async with asyncio.timeout(5):
        updates = await poll

    assert loop.time() - started < 2
    assert [u.channel_post.message_id for u in updates if u.channel_post] == [post["message_id"]]


async def test_offset_confirms_updates(tg_emulator: TelegramEmulator, tg_bot: Bot) -> None:
    tg_emulator.post_to_channel(CHANNEL_ID, text="one")
    tg_emulator.post_to_channel(CHANNEL_ID, text="two")

    first = await tg_bot.get_updates()
    again = await tg_bot.get_updates()
    after = await tg_bot.get_updates(offset=first[-1].update_id + 1)

    assert [u.update_id for u in first] == [u.update_id for u in again]
    assert len(first) == 2
    assert after == []
    assert tg_emulator.pending_updates() == []


async def test_allowed_updates_filters_what_is_kept(
    tg_emulator: TelegramEmulator, tg_bot: Bot
) -> None:
    await tg_bot.get_updates(allowed_updates=["channel_post"])
    tg_emulator.send_private(STAFF_ID, text="привет")
    tg_emulator.post_to_channel(CHANNEL_ID, text="пост")

    updates = await tg_bot.get_updates()

    assert [u.event_type for u in updates] == ["channel_post"]


async def test_second_poller_terminates_the_first(
    tg_emulator: TelegramEmulator, tg_bot: Bot
) -> None:
    first = asyncio.create_task(tg_bot.get_updates(timeout=30, request_timeout=40))
    await tg_emulator.wait_for_request("getUpdates")

    second = await tg_bot.get_updates(timeout=0)

    with pytest.raises(TelegramConflictError, match="terminated by other getUpdates"):
        async with asyncio.timeout(5):
            await first
    assert second == []


async def test_get_updates_conflicts_with_a_webhook(
    tg_emulator: TelegramEmulator, tg_bot: Bot
) -> None:
    await tg_bot.set_webhook("http://127.0.0.1:9/hook", secret_token="s3cret")
    try:
        with pytest.raises(TelegramConflictError, match="webhook is active"):
            await tg_bot.get_updates()
        info = await tg_bot.get_webhook_info()
        assert info.url == "http://127.0.0.1:9/hook"
    finally:
        await tg_bot.delete_webhook()


async def test_unknown_token_and_method(tg_emulator: TelegramEmulator) -> None:
    bot = make_bot(tg_emulator.api_base, "999:WRONG")
    try:
        with pytest.raises(TelegramUnauthorizedError):
            await bot.get_me()
    finally:
        await bot.session.close()
    async with (
        ClientSession() as http,
        http.post(f"{tg_emulator.api_base}/bot{tg_emulator.token}/sendTelepathy") as response,
    ):
        body = await response.json()
    assert response.status == 404
    assert body == {"ok": False, "error_code": 404, "description": "Not Found: method not found"}
    assert GetMe.__api_method__ == "getMe"


@pytest.mark.parametrize(
    ("kwargs", "description"),
    [
        ({"chat_id": CHANNEL_ID, "text": ""}, "Bad Request: message text is empty"),
        ({"chat_id": -100777, "text": "x"}, "Bad Request: chat not found"),
        ({"chat_id": "@nobody", "text": "x"}, "Bad Request: chat not found"),
        ({"chat_id": CHANNEL_ID, "text": "x" * 4097}, "Bad Request: message is too long"),
        (
            {"chat_id": CHANNEL_ID, "text": "<foo>x</foo>", "parse_mode": "HTML"},
            'Bad Request: can\'t parse entities: Unsupported start tag "foo" at byte offset 0',
        ),
        (
            {"chat_id": CHANNEL_ID, "text": "<b>x</i>", "parse_mode": "HTML"},
            "Bad Request: can't parse entities: Unmatched end tag at byte offset 4, "
            'expected "</b>", found "</i>"',
        ),
        (
            {"chat_id": CHANNEL_ID, "text": "a < b", "parse_mode": "HTML"},
            'Bad Request: can\'t parse entities: Unsupported start tag "" at byte offset 2',
        ),
        (
            {"chat_id": CHANNEL_ID, "text": "1.5", "parse_mode": "MarkdownV2"},
            "Bad Request: can't parse entities: Character '.' is reserved and must be "
            "escaped with the preceding '\\'",
        ),
    ],
)
async def test_strict_send_message(
    tg_emulator: TelegramEmulator, tg_bot: Bot, kwargs: dict[str, object], description: str
) -> None:
    with pytest.raises(TelegramBadRequest) as caught:
        await tg_bot.send_message(**kwargs)  # type: ignore[arg-type]

    assert caught.value.message == description
    assert tg_emulator.sent() == []


async def test_long_html_counts_visible_text_only(
    tg_emulator: TelegramEmulator, tg_bot: Bot
) -> None:
    text = "<b>" + "я" * 4096 + "</b>"

    message = await tg_bot.send_message(CHANNEL_ID, text, parse_mode="HTML")

    assert message.text == "я" * 4096


async def test_caption_limit(tg_emulator: TelegramEmulator, tg_bot: Bot) -> None:
    with pytest.raises(TelegramBadRequest, match="message caption is too long"):
        await tg_bot.send_photo(CHANNEL_ID, photo_file(), caption="я" * 1025)


async def test_entities_are_ignored_when_parse_mode_is_set(
    tg_emulator: TelegramEmulator, tg_bot: Bot
) -> None:
    bold = MessageEntity(type="bold", offset=0, length=5)

    with_mode = await tg_bot.send_message(
        CHANNEL_ID, "Hello <i>world</i>", entities=[bold], parse_mode="HTML"
    )
    without = await tg_bot.send_message(CHANNEL_ID, "Hello world", entities=[bold])

    assert [(e.type, e.offset) for e in with_mode.entities or []] == [("italic", 6)]
    assert [(e.type, e.offset) for e in without.entities or []] == [("bold", 0)]


def test_html_parser_utf16_offsets_and_nesting() -> None:
    text, entities = parse_html(
        '😀 <b>жир <i>курсив</i></b> <a href="https://x.ru/?a=1&amp;b=2">ссылка</a> '
        '<pre><code class="language-python">x = 1</code></pre> &lt;&gt;&amp;&quot;'
        " <tg-spoiler>s</tg-spoiler> <blockquote expandable>q</blockquote>"
    )

    assert text == '😀 жир курсив ссылка x = 1 <>&" s q'
    assert {"type": "bold", "offset": 3, "length": 10} in entities
    assert {"type": "italic", "offset": 7, "length": 6} in entities
    assert {"type": "text_link", "offset": 14, "length": 6, "url": "https://x.ru/?a=1&b=2"} in (
        entities
    )
    assert {"type": "pre", "offset": 21, "length": 5, "language": "python"} in entities
    assert {"type": "spoiler", "offset": 32, "length": 1} in entities
    assert {"type": "expandable_blockquote", "offset": 34, "length": 1} in entities


def test_markdown_v2_parser() -> None:
    text, entities = parse_markdown_v2(
        r"*жир* _к_ __u__ ~s~ ||sp|| `c` [link](https://x\.ru) 1\.5"
    )

    assert text == "жир к u s sp c link 1.5"
    assert [e["type"] for e in entities] == [
        "bold",
        "italic",
        "underline",
        "strikethrough",
        "spoiler",
        "code",
        "text_link",
    ]
    assert entities[-1]["url"] == "https://x.ru"


async def test_photo_gets_sizes_and_the_file_downloads(
    tg_emulator: TelegramEmulator, tg_bot: Bot
) -> None:
    message = await tg_bot.send_photo(
        CHANNEL_ID, photo_file(7), caption="<b>c</b>", parse_mode="HTML"
    )

    assert message.photo is not None
    largest = max(message.photo, key=lambda p: p.width * p.height)
    assert message.photo[0].file_id != largest.file_id
    remote = await tg_bot.get_file(largest.file_id)
    assert remote.file_path is not None
    data = await tg_bot.download_file(remote.file_path)
    assert data is not None
    assert data.read() == photo_file(7).data
    [sent] = tg_emulator.sent(CHANNEL_ID)
    assert (sent.caption, sent.html) == ("c", "<b>c</b>")


async def test_get_file_over_20_mb_is_refused(tg_emulator: TelegramEmulator, tg_bot: Bot) -> None:
    file_id, _ = tg_emulator.add_file(b"x", size=21 * 1024 * 1024)

    with pytest.raises(TelegramBadRequest, match="Bad Request: file is too big"):
        await tg_bot.get_file(file_id)


async def test_media_group_rules(tg_emulator: TelegramEmulator, tg_bot: Bot) -> None:
    with pytest.raises(TelegramBadRequest, match="Can't use the media of the specified type"):
        await tg_bot.send_media_group(
            CHANNEL_ID,
            [
                InputMediaPhoto(media=photo_file(1)),
                InputMediaDocument(media=BufferedInputFile(b"doc", "a.pdf")),
            ],
        )
    with pytest.raises(TelegramBadRequest, match="at least 2"):
        await tg_bot.send_media_group(CHANNEL_ID, [InputMediaPhoto(media=photo_file(1))])
    with pytest.raises(TelegramBadRequest, match="too many"):
        await tg_bot.send_media_group(
            CHANNEL_ID, [InputMediaPhoto(media=photo_file(i)) for i in range(11)]
        )
    assert tg_emulator.messages(CHANNEL_ID) == {}


async def test_copy_messages_keeps_albums_together(
    tg_emulator: TelegramEmulator, tg_bot: Bot
) -> None:
    target = -1002222222222
    tg_emulator.add_channel(target, "Глава")
    album = [
        tg_emulator.post_to_channel(
            CHANNEL_ID, photo=b"a" * 50, media_group_id="g1", caption="Подпись"
        ),
        tg_emulator.post_to_channel(CHANNEL_ID, photo=b"b" * 50, media_group_id="g1"),
    ]

    ids = await tg_bot.copy_messages(target, CHANNEL_ID, [m["message_id"] for m in album])
    single = await tg_bot.copy_message(target, CHANNEL_ID, album[0]["message_id"])

    copies = tg_emulator.messages(target)
    assert [i.message_id for i in ids] == [1, 2]
    assert copies[1]["media_group_id"] == copies[2]["media_group_id"]
    assert copies[1]["caption"] == "Подпись"
    assert "media_group_id" not in copies[single.message_id]
    with pytest.raises(TelegramBadRequest, match="message to copy not found"):
        await tg_bot.copy_message(target, CHANNEL_ID, 999)


async def test_edit_rules(tg_emulator: TelegramEmulator, tg_bot: Bot) -> None:
    message = await tg_bot.send_message(CHANNEL_ID, "текст")
    photo = await tg_bot.send_photo(CHANNEL_ID, photo_file())

    with pytest.raises(TelegramBadRequest, match="message is not modified"):
        await tg_bot.edit_message_text(
            chat_id=CHANNEL_ID, message_id=message.message_id, text="текст"
        )
    with pytest.raises(TelegramBadRequest, match="there is no text in the message to edit"):
        await tg_bot.edit_message_text(chat_id=CHANNEL_ID, message_id=photo.message_id, text="x")
    with pytest.raises(TelegramBadRequest, match="message to edit not found"):
        await tg_bot.edit_message_text(chat_id=CHANNEL_ID, message_id=999, text="x")
    edited = await tg_bot.edit_message_caption(
        chat_id=CHANNEL_ID, message_id=photo.message_id, caption="подпись"
    )

    assert not isinstance(edited, bool)
    assert edited.caption == "подпись"
    assert edited.edit_date is not None


async def test_delete_rules(tg_emulator: TelegramEmulator, tg_bot: Bot) -> None:
    message = await tg_bot.send_message(CHANNEL_ID, "x")
    old = await tg_bot.send_message(CHANNEL_ID, "old")
    tg_emulator.advance_clock(47 * 3600)
    fresh = await tg_bot.send_message(CHANNEL_ID, "fresh")
    tg_emulator.advance_clock(2 * 3600)

    with pytest.raises(TelegramBadRequest, match="message can't be deleted"):
        await tg_bot.delete_message(CHANNEL_ID, old.message_id)
    assert await tg_bot.delete_message(CHANNEL_ID, fresh.message_id)
    with pytest.raises(TelegramBadRequest, match="message to delete not found"):
        await tg_bot.delete_message(CHANNEL_ID, fresh.message_id)
    assert message.message_id in tg_emulator.messages(CHANNEL_ID)
    deletes = [s for s in tg_emulator.sent(CHANNEL_ID) if s.method == "deleteMessage"]
    assert [d.message_id for d in deletes] == [fresh.message_id]


async def test_bot_without_rights(tg_emulator: TelegramEmulator, tg_bot: Bot) -> None:
    tg_emulator.add_channel(-100333, "Чужой", bot_is_admin=False)

    with pytest.raises(TelegramForbiddenError, match="bot is not a member of the channel chat"):
        await tg_bot.send_message(-100333, "x")
    tg_emulator.post_to_channel(-100333, text="not seen")
    assert tg_emulator.pending_updates() == []


async def test_channel_post_edit_without_change_is_still_delivered(
    tg_emulator: TelegramEmulator, tg_bot: Bot
) -> None:
    post = tg_emulator.post_to_channel(
        CHANNEL_ID, text="Жирный", entities=[{"type": "bold", "offset": 0, "length": 6}]
    )
    tg_emulator.edit_channel_post(
        CHANNEL_ID,
        post["message_id"],
        text="Жирный",
        entities=[{"type": "bold", "offset": 0, "length": 6}],
    )

    updates = await tg_bot.get_updates()

    assert [u.event_type for u in updates] == ["channel_post", "edited_channel_post"]
    edited = updates[1].edited_channel_post
    assert edited is not None
    assert edited.text == "Жирный"
    assert edited.edit_date is not None


async def test_album_items_arrive_as_separate_updates(
    tg_emulator: TelegramEmulator, tg_bot: Bot
) -> None:
    for n in range(3):
        tg_emulator.post_to_channel(
            CHANNEL_ID,
            photo=bytes([n]) * 100,
            media_group_id="album-1",
            caption="Подпись" if n == 0 else None,
        )

    updates = await tg_bot.get_updates()

    posts = [u.channel_post for u in updates if u.channel_post]
    assert len(posts) == 3
    assert {p.media_group_id for p in posts} == {"album-1"}
    assert [p.caption for p in posts] == ["Подпись", None, None]


async def test_private_messages_buttons_and_answers(
    tg_emulator: TelegramEmulator, tg_bot: Bot
) -> None:
    markup = InlineKeyboardMarkup(
        inline_keyboard=[[InlineKeyboardButton(text="Опубликовать", callback_data="pub:1")]]
    )
    incoming = tg_emulator.send_private(STAFF_ID, text="Пост для всех")
    reply = await tg_bot.send_message(
        STAFF_ID, "Предпросмотр", reply_markup=markup, reply_to_message_id=incoming["message_id"]
    )
    query = tg_emulator.press_button(STAFF_ID, reply.message_id, "pub:1")

    updates = await tg_bot.get_updates()
    await tg_bot.answer_callback_query(query["id"], text="Готово")

    assert [u.event_type for u in updates] == ["message", "callback_query"]
    callback = updates[1].callback_query
    assert callback is not None
    assert callback.data == "pub:1"
    assert callback.from_user.id == STAFF_ID
    assert tg_emulator.callback_answers()[0]["text"] == "Готово"
    [sent] = tg_emulator.sent(STAFF_ID)
    assert sent.reply_markup == json.loads(markup.model_dump_json(exclude_none=True))
    assert sent.message["reply_to_message"]["message_id"] == incoming["message_id"]
    with pytest.raises(TelegramBadRequest, match="query is too old"):
        await tg_bot.answer_callback_query(query["id"])


async def test_callback_data_over_64_bytes_is_refused(
    tg_emulator: TelegramEmulator, tg_bot: Bot
) -> None:
    markup = InlineKeyboardMarkup(
        inline_keyboard=[[InlineKeyboardButton(text="x", callback_data="я" * 33)]]
    )

    with pytest.raises(TelegramBadRequest, match="BUTTON_DATA_INVALID"):
        await tg_bot.send_message(STAFF_ID, "x", reply_markup=markup)


async def test_forwarded_channel_post(tg_emulator: TelegramEmulator) -> None:
    post = tg_emulator.post_to_channel(CHANNEL_ID, text="Оригинал")

    message = tg_emulator.send_private(STAFF_ID, text="Оригинал", forward_from_chat_id=CHANNEL_ID)

    origin = message["forward_origin"]
    assert origin["type"] == "channel"
    assert origin["chat"]["id"] == CHANNEL_ID
    assert origin["message_id"] == post["message_id"]
    assert tg_emulator.pending_updates()[-1]["message"] == message


async def test_fail_next_answers_like_telegram(tg_emulator: TelegramEmulator, tg_bot: Bot) -> None:
    tg_emulator.fail_next("sendMessage", error_code=429, retry_after=3, times=2)

    async with ClientSession() as http:
        for _ in range(2):
            async with http.post(
                f"{tg_emulator.api_base}/bot{tg_emulator.token}/sendMessage",
                data={"chat_id": str(CHANNEL_ID), "text": "x"},
            ) as response:
                assert response.status == 429
                assert await response.json() == {
                    "ok": False,
                    "error_code": 429,
                    "description": "Too Many Requests: retry after 3",
                    "parameters": {"retry_after": 3},
                }
    assert (await tg_bot.send_message(CHANNEL_ID, "x")).text == "x"


async def test_set_my_commands_validates(tg_emulator: TelegramEmulator, tg_bot: Bot) -> None:
    from aiogram.types import BotCommand

    await tg_bot.set_my_commands([BotCommand(command="queue", description="Очередь")])
    with pytest.raises(TelegramBadRequest, match="BOT_COMMAND_INVALID"):
        await tg_bot.set_my_commands([BotCommand(command="Bad-Name", description="x")])

    assert tg_emulator.commands() == [{"command": "queue", "description": "Очередь"}]
    assert [c.command for c in await tg_bot.get_my_commands()] == ["queue"]


async def test_wait_for_sent_wakes_on_send(tg_emulator: TelegramEmulator, tg_bot: Bot) -> None:
    waiter = asyncio.create_task(
        tg_emulator.wait_for_sent(lambda s: s.chat_id == STAFF_ID, count=2)
    )
    await tg_bot.send_message(STAFF_ID, "1")
    await tg_bot.send_message(CHANNEL_ID, "not this")
    await tg_bot.send_message(STAFF_ID, "2")

    async with asyncio.timeout(5):
        sent = await waiter

    assert [s.text for s in sent] == ["1", "2"]
    with pytest.raises(TimeoutError):
        await tg_emulator.wait_for_sent(lambda s: s.text == "never", timeout=0.05)
