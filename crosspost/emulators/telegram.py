"""A local Telegram Bot API server for the sandbox and the tests.

Speaks `POST|GET {base}/bot{token}/{method}` (query string, urlencoded, multipart or JSON
bodies, complex fields as JSON strings, the way aiogram sends them) and
`GET {base}/file/bot{token}/{path}`.
It answers like the real server: `{"ok":false,"error_code":400,"description":"Bad Request: ..."}`
with Telegram's description texts, so the real aiogram client and our error classification run.

Tests drive it through the control methods (post_to_channel, send_private, press_button,
fail_next, sent, wait_for_sent, ...). Everything runs on one event loop; state lives in dicts.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import itertools
import json
import logging
import mimetypes
import re
import secrets
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiogram.types import MessageEntity
from aiogram.utils.text_decorations import html_decoration
from aiohttp import ClientError, ClientSession, ClientTimeout, web

logger = logging.getLogger(__name__)

JsonDict = dict[str, Any]

CLOUD_DOWNLOAD_LIMIT = 20 * 1024 * 1024
CLOUD_UPLOAD_LIMIT = 50 * 1024 * 1024
LOCAL_UPLOAD_LIMIT = 2000 * 1024 * 1024
MAX_TEXT_LENGTH = 4096
MAX_CAPTION_LENGTH = 1024
DELETE_WINDOW_SECONDS = 48 * 3600
LONG_POLL_MAX_TIMEOUT = 50
MAX_CALLBACK_DATA_BYTES = 64

# Sent when allowed_updates is [] or was never set (core.telegram.org/bots/api#getupdates).
_DEFAULT_EXCLUDED_UPDATES = frozenset(
    {"chat_member", "message_reaction", "message_reaction_count"}
)
_UPDATE_TYPES = frozenset(
    {
        "message",
        "edited_message",
        "channel_post",
        "edited_channel_post",
        "business_connection",
        "business_message",
        "edited_business_message",
        "deleted_business_messages",
        "message_reaction",
        "message_reaction_count",
        "inline_query",
        "chosen_inline_result",
        "callback_query",
        "shipping_query",
        "pre_checkout_query",
        "purchased_paid_media",
        "poll",
        "poll_answer",
        "my_chat_member",
        "chat_member",
        "chat_join_request",
        "chat_boost",
        "removed_chat_boost",
    }
)
_NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup are "
    "exactly the same as a current content and reply markup of the message"
)
_CONFLICT_POLL = (
    "Conflict: terminated by other getUpdates request; "
    "make sure that only one bot instance is running"
)
_CONFLICT_WEBHOOK = (
    "Conflict: can't use getUpdates method while webhook is active; "
    "use deleteWebhook to delete the webhook first"
)
_DEFAULT_RIGHTS: Mapping[str, bool] = {
    "can_post_messages": True,
    "can_edit_messages": True,
    "can_delete_messages": True,
}


class ApiError(Exception):
    """An error answer of the Bot API."""

    def __init__(
        self, error_code: int, description: str, parameters: JsonDict | None = None
    ) -> None:
        super().__init__(description)
        self.error_code = error_code
        self.description = description
        self.parameters = parameters


def _bad(description: str) -> ApiError:
    return ApiError(400, f"Bad Request: {description}")


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


@dataclass
class SentMedia:
    kind: str  # photo, video, document, animation
    file_id: str
    file_unique_id: str
    data: bytes
    file_name: str | None = None
    mime_type: str | None = None


@dataclass
class SentMessage:
    """One thing the bot did to a chat: a message sent, copied, edited or deleted."""

    method: str
    chat_id: int
    message_id: int
    text: str | None = None
    html: str | None = None  # text or caption with entities rendered as Telegram HTML
    entities: list[JsonDict] = field(default_factory=list)
    caption: str | None = None
    media: list[SentMedia] = field(default_factory=list)
    reply_markup: JsonDict | None = None
    media_group_id: str | None = None
    deleted: bool = False
    edited: bool = False
    parse_mode: str | None = None
    message: JsonDict = field(default_factory=dict)

    @property
    def kind(self) -> str:
        return self.media[0].kind if self.media else "text"


@dataclass
class _File:
    file_id: str
    file_unique_id: str
    data: bytes
    size: int
    kind: str | None
    file_name: str | None
    mime_type: str | None
    file_path: str
    local_path: Path | None = None


@dataclass
class _Chat:
    info: JsonDict
    bot_is_member: bool = True
    bot_is_admin: bool = True
    rights: dict[str, bool] = field(default_factory=lambda: dict(_DEFAULT_RIGHTS))
    members: int = 0
    blocked: bool = False  # private chats: the user blocked the bot
    next_id: int = 1
    messages: dict[int, JsonDict] = field(default_factory=dict)
    by_bot: set[int] = field(default_factory=set)

    @property
    def id(self) -> int:
        return int(self.info["id"])

    @property
    def type(self) -> str:
        return str(self.info["type"])

    def take_id(self) -> int:
        message_id = self.next_id
        self.next_id += 1
        return message_id


@dataclass
class _Fault:
    error_code: int
    description: str | None
    retry_after: int | None
    delay: float | None
    times: int


@dataclass
class _Upload:
    filename: str | None
    content_type: str | None
    data: bytes


class _Args:
    """Request parameters as Telegram reads them: strings, empty meaning absent."""

    def __init__(self, params: Mapping[str, str], uploads: Mapping[str, _Upload]) -> None:
        self.params = dict(params)
        self.uploads = dict(uploads)

    def arg(self, name: str) -> str | None:
        value = self.params.get(name)
        return value if value else None

    def int_arg(self, name: str, default: int = 0) -> int:
        value = self.params.get(name, "").strip()
        if not value:
            return default
        try:
            return int(value)
        except ValueError:
            # The server parses leniently: garbage reads as 0, which then fails its own check.
            return 0

    def bool_arg(self, name: str) -> bool:
        return self.params.get(name, "").strip().lower() in {"true", "1"}

    def json_arg(self, name: str, what: str) -> Any:
        value = self.arg(name)
        if value is None:
            return None
        try:
            return json.loads(value)
        except ValueError:
            raise _bad(f"can't parse {what} JSON object") from None


class _ParseError(Exception):
    pass


_TAG_NAME = re.compile(r"[A-Za-z][A-Za-z0-9-]*")
_ATTR = re.compile(r"\s*([A-Za-z][A-Za-z0-9_-]*)(?:\s*=\s*(\"[^\"]*\"|'[^']*'|[^\s>]+))?")
_HTML_ENTITY = re.compile(r"&(#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[A-Za-z]+);")
_NAMED_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_HTML_TAGS: Mapping[str, str] = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "tg-spoiler": "spoiler",
    "span": "spoiler",
    "a": "text_link",
    "code": "code",
    "pre": "pre",
    "blockquote": "blockquote",
    "tg-emoji": "custom_emoji",
}


@dataclass
class _OpenTag:
    name: str
    start: int
    attrs: dict[str, str]
    language: str | None = None


def _decode_html_entity(match: re.Match[str]) -> str:
    body = match.group(1)
    if body.startswith(("#x", "#X")):
        code = int(body[2:], 16)
    elif body.startswith("#"):
        code = int(body[1:])
    else:
        return _NAMED_ENTITIES.get(body, match.group(0))
    try:
        return chr(code)
    except (ValueError, OverflowError):
        return match.group(0)


def parse_html(source: str) -> tuple[str, list[JsonDict]]:
    """Telegram's HTML parse mode: visible text and entities (UTF-16 offsets).

    Raises _ParseError with the server's wording for unsupported or unbalanced tags.
    """
    out: list[str] = []
    pos = 0  # UTF-16 length of `out`
    stack: list[_OpenTag] = []
    entities: list[JsonDict] = []
    i = 0
    n = len(source)

    def byte_offset(index: int) -> int:
        return len(source[:index].encode("utf-8"))

    while i < n:
        char = source[i]
        if char == "&":
            match = _HTML_ENTITY.match(source, i)
            if match:
                decoded = _decode_html_entity(match)
                out.append(decoded)
                pos += utf16_len(decoded)
                i = match.end()
                continue
            out.append(char)
            pos += 1
            i += 1
            continue
        if char != "<":
            out.append(char)
            pos += utf16_len(char)
            i += 1
            continue
        offset = byte_offset(i)
        if source.startswith("</", i):
            end = source.find(">", i)
            if end < 0:
                raise _ParseError(f"Unclosed end tag at byte offset {offset}")
            name = source[i + 2 : end].strip().lower()
            if not stack:
                raise _ParseError(f"Unexpected end tag at byte offset {offset}")
            top = stack[-1]
            if name != top.name:
                raise _ParseError(
                    f'Unmatched end tag at byte offset {offset}, expected "</{top.name}>", '
                    f'found "</{name}>"'
                )
            stack.pop()
            _close_tag(top, pos, stack, entities)
            i = end + 1
            continue
        name_match = _TAG_NAME.match(source, i + 1)
        name = name_match.group(0).lower() if name_match else ""
        if name_match is None or name not in _HTML_TAGS:
            raise _ParseError(f'Unsupported start tag "{name}" at byte offset {offset}')
        j = name_match.end()
        attrs: dict[str, str] = {}
        while True:
            while j < n and source[j].isspace():
                j += 1
            if j >= n:
                raise _ParseError(f'Unclosed start tag "{name}" at byte offset {offset}')
            if source[j] == ">":
                j += 1
                break
            if source.startswith("/>", j):
                raise _ParseError(f'Unsupported start tag "{name}" at byte offset {offset}')
            attr = _ATTR.match(source, j)
            if attr is None or attr.end() == j:
                raise _ParseError(f'Unexpected character in tag "{name}" at byte offset {offset}')
            value = attr.group(2) or ""
            if value[:1] in {'"', "'"}:
                value = value[1:-1]
            attrs[attr.group(1).lower()] = _HTML_ENTITY.sub(_decode_html_entity, value)
            j = attr.end()
        if name == "span" and attrs.get("class") != "tg-spoiler":
            raise _ParseError(f'Tag "span" must have class "tg-spoiler" at byte offset {offset}')
        if name == "tg-emoji" and not attrs.get("emoji-id"):
            raise _ParseError(
                f'Tag "tg-emoji" must have attribute "emoji-id" at byte offset {offset}'
            )
        stack.append(_OpenTag(name=name, start=pos, attrs=attrs))
        i = j
    if stack:
        raise _ParseError(f'Can\'t find end tag corresponding to start tag "{stack[-1].name}"')
    entities.sort(key=lambda e: (e["offset"], -e["length"]))
    return "".join(out), entities


def _close_tag(tag: _OpenTag, pos: int, stack: list[_OpenTag], entities: list[JsonDict]) -> None:
    length = pos - tag.start
    kind = _HTML_TAGS[tag.name]
    if tag.name == "code" and stack and stack[-1].name == "pre":
        language = tag.attrs.get("class", "")
        if language.startswith("language-"):
            stack[-1].language = language.removeprefix("language-")
            return
    if length <= 0:
        return
    entity: JsonDict = {"type": kind, "offset": tag.start, "length": length}
    if tag.name == "a":
        href = tag.attrs.get("href", "")
        if not href:
            return
        user = re.fullmatch(r"tg://user\?id=(\d+)", href)
        if user:
            entity = {
                "type": "text_mention",
                "offset": tag.start,
                "length": length,
                "user": {"id": int(user.group(1)), "is_bot": False, "first_name": ""},
            }
        else:
            entity["url"] = href
    elif tag.name == "pre" and tag.language:
        entity["language"] = tag.language
    elif tag.name == "blockquote" and "expandable" in tag.attrs:
        entity["type"] = "expandable_blockquote"
    elif tag.name == "tg-emoji":
        entity["custom_emoji_id"] = tag.attrs["emoji-id"]
    entities.append(entity)


_MD2_RESERVED = set("_*[]()~`>#+-=|{}.!")


def parse_markdown_v2(source: str) -> tuple[str, list[JsonDict]]:
    """MarkdownV2 as the server reads it, for the common entities. Raises _ParseError."""
    out: list[str] = []
    pos = 0
    entities: list[JsonDict] = []
    stack: list[tuple[str, int]] = []  # marker, start position
    link_starts: list[int] = []
    i = 0
    n = len(source)
    markers = ("||", "__", "*", "_", "~")
    kinds = {"||": "spoiler", "__": "underline", "*": "bold", "_": "italic", "~": "strikethrough"}

    def offset(index: int) -> int:
        return len(source[:index].encode("utf-8"))

    while i < n:
        char = source[i]
        if char == "\\" and i + 1 < n:
            out.append(source[i + 1])
            pos += utf16_len(source[i + 1])
            i += 2
            continue
        if source.startswith("```", i):
            end = source.find("```", i + 3)
            if end < 0:
                raise _ParseError(f"Can't find end of Pre entity at byte offset {offset(i)}")
            body = source[i + 3 : end]
            language = None
            if "\n" in body:
                first, rest = body.split("\n", 1)
                if first and " " not in first:
                    language, body = first, rest
            body = re.sub(r"\\(.)", r"\1", body)
            entity: JsonDict = {"type": "pre", "offset": pos, "length": utf16_len(body)}
            if language:
                entity["language"] = language
            if body:
                entities.append(entity)
            out.append(body)
            pos += utf16_len(body)
            i = end + 3
            continue
        if char == "`":
            end = source.find("`", i + 1)
            if end < 0:
                raise _ParseError(f"Can't find end of Code entity at byte offset {offset(i)}")
            body = re.sub(r"\\(.)", r"\1", source[i + 1 : end])
            if body:
                entities.append({"type": "code", "offset": pos, "length": utf16_len(body)})
            out.append(body)
            pos += utf16_len(body)
            i = end + 1
            continue
        if char == "[":
            link_starts.append(pos)
            i += 1
            continue
        if char == "]" and link_starts:
            if not source.startswith("(", i + 1):
                raise _ParseError(f"Can't find end of a URL at byte offset {offset(i)}")
            end = source.find(")", i + 2)
            if end < 0:
                raise _ParseError(f"Can't find end of a URL at byte offset {offset(i)}")
            url = re.sub(r"\\(.)", r"\1", source[i + 2 : end])
            start = link_starts.pop()
            if pos > start:
                entities.append(
                    {"type": "text_link", "offset": start, "length": pos - start, "url": url}
                )
            i = end + 1
            continue
        marker = next((m for m in markers if source.startswith(m, i)), None)
        if marker is not None:
            if stack and stack[-1][0] == marker:
                _, start = stack.pop()
                if pos > start:
                    entities.append(
                        {"type": kinds[marker], "offset": start, "length": pos - start}
                    )
            else:
                stack.append((marker, pos))
            i += len(marker)
            continue
        if char in _MD2_RESERVED:
            raise _ParseError(
                f"Character '{char}' is reserved and must be escaped with the preceding '\\'"
            )
        out.append(char)
        pos += utf16_len(char)
        i += 1
    if stack:
        kind = kinds[stack[-1][0]].capitalize()
        raise _ParseError(f"Can't find end of {kind} entity at byte offset {offset(n)}")
    if link_starts:
        raise _ParseError(f"Can't find end of TextUrl entity at byte offset {offset(n)}")
    entities.sort(key=lambda e: (e["offset"], -e["length"]))
    return "".join(out), entities


def parse_markdown_legacy(source: str) -> tuple[str, list[JsonDict]]:
    """Legacy Markdown: *bold*, _italic_, `code`, ```pre```, [text](url). Raises _ParseError."""
    escaped = re.sub(r"([\[\]()~>#+\-=|{}.!])", r"\\\1", source)
    escaped = escaped.replace("\\[", "[").replace("\\]", "]").replace("\\(", "(")
    escaped = escaped.replace("\\)", ")")
    return parse_markdown_v2(escaped)


def entities_to_html(text: str, entities: Iterable[Mapping[str, Any]]) -> str:
    items = [MessageEntity.model_validate(dict(e)) for e in entities]
    return html_decoration.unparse(text, items)


class TelegramEmulator:
    """The Bot API for one bot, with a control interface for tests and the sandbox.

    `local_dir` switches to local Bot API server mode: getFile returns absolute paths under it
    and there is no download limit. `download_limit` is the cloud getFile limit in bytes.
    """

    def __init__(
        self,
        *,
        token: str = "123456:TEST-TOKEN",  # noqa: S107
        bot_username: str = "crosspost_bot",
        local_dir: Path | None = None,
        download_limit: int = CLOUD_DOWNLOAD_LIMIT,
    ) -> None:
        self.token = token
        self.bot_id = int(token.split(":", 1)[0])
        self.bot_username = bot_username
        self.local_dir = local_dir
        self.download_limit = download_limit
        # Shifts the emulator's clock (message dates, the 48 h delete window).
        self.clock_offset = 0.0
        self.webhook_retry_delay = 0.2
        self.app = web.Application(client_max_size=LOCAL_UPLOAD_LIMIT + 1024 * 1024)
        self.app.router.add_route("*", "/bot{token}/{method}", self._handle_method)
        self.app.router.add_get("/file/bot{token}/{path:.+}", self._handle_file)
        self._runner: web.AppRunner | None = None
        self._closing = asyncio.Event()
        self._webhook_task: asyncio.Task[None] | None = None
        self.api_base = ""
        self._methods: dict[str, Callable[[_Args], Any]] = {
            "getme": self._get_me,
            "logout": self._true,
            "close": self._true,
            "getupdates": self._get_updates,
            "setwebhook": self._set_webhook,
            "deletewebhook": self._delete_webhook,
            "getwebhookinfo": self._get_webhook_info,
            "sendmessage": self._send_message,
            "sendphoto": self._send_photo,
            "sendvideo": self._send_video,
            "senddocument": self._send_document,
            "sendanimation": self._send_animation,
            "sendaudio": self._send_audio,
            "sendmediagroup": self._send_media_group,
            "sendchataction": self._send_chat_action,
            "copymessage": self._copy_message,
            "copymessages": self._copy_messages,
            "forwardmessage": self._forward_message,
            "editmessagetext": self._edit_message_text,
            "editmessagecaption": self._edit_message_caption,
            "editmessagereplymarkup": self._edit_message_reply_markup,
            "deletemessage": self._delete_message,
            "deletemessages": self._delete_messages,
            "getfile": self._get_file,
            "getchat": self._get_chat,
            "getchatmembercount": self._get_chat_member_count,
            "getchatmemberscount": self._get_chat_member_count,
            "getchatmember": self._get_chat_member,
            "getchatadministrators": self._get_chat_administrators,
            "answercallbackquery": self._answer_callback_query,
            "setmycommands": self._set_my_commands,
            "getmycommands": self._get_my_commands,
            "deletemycommands": self._delete_my_commands,
        }
        self.reset()

    # ------------------------------------------------------------------ lifecycle

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Serve on host:port (0 = any free port); returns the api_base for the config."""
        self._closing = asyncio.Event()
        # No access log: the request path holds the bot token, as on the real Bot API.
        self._runner = web.AppRunner(self.app, shutdown_timeout=1.0, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        bound_port = self._runner.addresses[0][1]
        self.api_base = f"http://{host}:{bound_port}"
        self._webhook_task = asyncio.create_task(self._webhook_loop())
        return self.api_base

    async def stop(self) -> None:
        self._closing.set()
        self._notify_updates()
        if self._webhook_task is not None:
            self._webhook_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._webhook_task
            self._webhook_task = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def reset(self) -> None:
        """Forget every chat, user, file, update, request and fault."""
        self._chats: dict[int, _Chat] = {}
        self._users: dict[int, JsonDict] = {}
        self._files: dict[str, _File] = {}
        self._updates: list[JsonDict] = []
        self._update_ids = itertools.count(700_000_001)
        self._allowed_updates: frozenset[str] | None = None
        self._poll_generation = 0
        self._webhook: JsonDict | None = None
        self._webhook_last_error: tuple[int, str] | None = None
        self._sent: list[SentMessage] = []
        self._requests: list[JsonDict] = []
        self._faults: dict[str, list[_Fault]] = {}
        self._callback_queries: dict[str, JsonDict] = {}
        self._callback_answers: list[JsonDict] = []
        self._commands: dict[str, list[JsonDict]] = {}
        self._file_counter = itertools.count(1)
        self._media_groups = itertools.count(13_000_000_000_000_001)
        # Wake whoever waits on the old state (the webhook loop, long polls, test waiters).
        for name in ("_changed", "_updates_changed"):
            old_event: asyncio.Event | None = getattr(self, name, None)
            if old_event is not None:
                old_event.set()
        self._changed = asyncio.Event()
        self._updates_changed = asyncio.Event()

    def now(self) -> int:
        return int(time.time() + self.clock_offset)

    def advance_clock(self, seconds: float) -> None:
        self.clock_offset += seconds

    # ------------------------------------------------------------------ control: setup

    @property
    def bot_user(self) -> JsonDict:
        return {
            "id": self.bot_id,
            "is_bot": True,
            "first_name": "Crosspost",
            "username": self.bot_username,
        }

    def add_channel(
        self,
        chat_id: int,
        title: str,
        username: str | None = None,
        *,
        bot_is_admin: bool = True,
        members: int = 0,
    ) -> None:
        info: JsonDict = {"id": chat_id, "type": "channel", "title": title}
        if username:
            info["username"] = username
        self._chats[chat_id] = _Chat(
            info=info, bot_is_member=bot_is_admin, bot_is_admin=bot_is_admin, members=members
        )

    def add_group(
        self,
        chat_id: int,
        title: str,
        username: str | None = None,
        *,
        bot_is_member: bool = True,
        members: int = 0,
    ) -> None:
        """A supergroup (the staff chat): the bot posts there as a plain member."""
        info: JsonDict = {"id": chat_id, "type": "supergroup", "title": title}
        if username:
            info["username"] = username
        self._chats[chat_id] = _Chat(
            info=info, bot_is_member=bot_is_member, bot_is_admin=False, members=members
        )

    # -- statistics (issue 10): seed the count getChatMemberCount answers --

    def set_members(self, chat_id: int, members: int) -> None:
        self._chats[chat_id].members = members

    def set_bot_rights(
        self, chat_id: int, *, is_admin: bool = True, is_member: bool | None = None, **rights: bool
    ) -> None:
        """Change the bot's standing in a chat (can_post_messages, can_edit_messages, ...)."""
        chat = self._chats[chat_id]
        chat.bot_is_admin = is_admin
        chat.bot_is_member = is_admin if is_member is None else is_member
        chat.rights.update(rights)

    def add_user(
        self,
        user_id: int,
        first_name: str,
        username: str | None = None,
        last_name: str | None = None,
    ) -> None:
        user: JsonDict = {"id": user_id, "is_bot": False, "first_name": first_name}
        if username:
            user["username"] = username
        if last_name:
            user["last_name"] = last_name
        self._users[user_id] = user
        info: JsonDict = {"id": user_id, "type": "private", "first_name": first_name}
        if username:
            info["username"] = username
        if last_name:
            info["last_name"] = last_name
        self._chats[user_id] = _Chat(info=info, bot_is_admin=False)

    def block_bot(self, user_id: int, blocked: bool = True) -> None:
        self._chats[user_id].blocked = blocked

    def add_file(
        self,
        data: bytes,
        *,
        file_name: str | None = None,
        mime_type: str | None = None,
        size: int | None = None,
        kind: str | None = None,
    ) -> tuple[str, str]:
        """Store a file on the "server"; returns (file_id, file_unique_id).

        `size` overrides the reported size, to stand for a big file without its bytes.
        """
        stored = self._store_file(data, kind=kind, file_name=file_name, mime_type=mime_type)
        if size is not None:
            stored.size = size
        return stored.file_id, stored.file_unique_id

    def file_bytes(self, file_id: str) -> bytes:
        return self._files[file_id].data

    # ------------------------------------------------------------------ control: input

    def post_to_channel(
        self,
        chat_id: int,
        *,
        text: str | None = None,
        entities: list[JsonDict] | None = None,
        photo: bytes | None = None,
        video: bytes | None = None,
        document: bytes | None = None,
        animation: bytes | None = None,
        caption: str | None = None,
        caption_entities: list[JsonDict] | None = None,
        media_group_id: str | None = None,
        file_name: str | None = None,
        extra: dict[str, Any] | None = None,
    ) -> JsonDict:
        """A person posts in the channel: queues a channel_post update (if the bot is admin)."""
        chat = self._chats[chat_id]
        message: JsonDict = {
            "message_id": chat.take_id(),
            "sender_chat": dict(chat.info),
            "chat": dict(chat.info),
            "date": self.now(),
        }
        self._fill_content(
            message,
            text=text,
            entities=entities,
            photo=photo,
            video=video,
            document=document,
            animation=animation,
            caption=caption,
            caption_entities=caption_entities,
            file_name=file_name,
        )
        if media_group_id is not None:
            message["media_group_id"] = media_group_id
        if extra:
            message.update(extra)
        chat.messages[message["message_id"]] = message
        if chat.bot_is_admin:
            self._queue_update({"channel_post": message})
        return message

    def edit_channel_post(
        self,
        chat_id: int,
        message_id: int,
        *,
        text: str | None = None,
        entities: list[JsonDict] | None = None,
        caption: str | None = None,
        caption_entities: list[JsonDict] | None = None,
    ) -> JsonDict:
        """A person edits a post; unchanged content still yields an edited_channel_post.

        Like the real server, a person's edit of a post the bot sent is not delivered.
        """
        chat = self._chats[chat_id]
        message = chat.messages[message_id]
        if text is not None:
            message["text"] = text
            _set_or_drop(message, "entities", entities)
        if caption is not None:
            message["caption"] = caption
            _set_or_drop(message, "caption_entities", caption_entities)
        message["edit_date"] = max(self.now(), int(message["date"]) + 1)
        if chat.bot_is_admin and message_id not in chat.by_bot:
            self._queue_update({"edited_channel_post": dict(message)})
        return message

    def send_private(
        self,
        user_id: int,
        *,
        text: str | None = None,
        entities: list[JsonDict] | None = None,
        photo: bytes | None = None,
        caption: str | None = None,
        forward_from_chat_id: int | None = None,
        extra: dict[str, Any] | None = None,
        reply_to_message_id: int | None = None,
        forward_from_message_id: int | None = None,
        caption_entities: list[JsonDict] | None = None,
        video: bytes | None = None,
        document: bytes | None = None,
        file_name: str | None = None,
    ) -> JsonDict:
        """A user writes to the bot (or forwards a channel post): queues a `message` update."""
        if user_id not in self._users:
            self.add_user(user_id, f"User{user_id}")
        chat = self._chats[user_id]
        message: JsonDict = {
            "message_id": chat.take_id(),
            "from": dict(self._users[user_id]),
            "chat": dict(chat.info),
            "date": self.now(),
        }
        self._fill_content(
            message,
            text=text,
            entities=entities,
            photo=photo,
            video=video,
            document=document,
            animation=None,
            caption=caption,
            caption_entities=caption_entities,
            file_name=file_name,
        )
        if forward_from_chat_id is not None:
            source = self._chats[forward_from_chat_id]
            source_id = forward_from_message_id
            if source_id is None:
                source_id = max(source.messages, default=1)
            original = source.messages.get(source_id, {})
            date = int(original.get("date", self.now()))
            message["forward_origin"] = {
                "type": "channel" if source.type == "channel" else "chat",
                "chat": dict(source.info),
                "message_id": source_id,
                "date": date,
            }
            if source.type != "channel":
                message["forward_origin"]["sender_chat"] = message["forward_origin"].pop("chat")
        if reply_to_message_id is not None:
            replied = chat.messages.get(reply_to_message_id)
            if replied is not None:
                message["reply_to_message"] = _without_reply(replied)
        if extra:
            message.update(extra)
        chat.messages[message["message_id"]] = message
        self._queue_update({"message": message})
        return message

    def send_group_message(
        self,
        chat_id: int,
        user_id: int,
        *,
        text: str | None = None,
        entities: list[JsonDict] | None = None,
        reply_to_message_id: int | None = None,
        extra: dict[str, Any] | None = None,
    ) -> JsonDict:
        """A user writes in a group (the staff chat): queues a `message` update."""
        if user_id not in self._users:
            self.add_user(user_id, f"User{user_id}")
        chat = self._chats[chat_id]
        message: JsonDict = {
            "message_id": chat.take_id(),
            "from": dict(self._users[user_id]),
            "chat": dict(chat.info),
            "date": self.now(),
        }
        if text is not None:
            message["text"] = text
            _set_or_drop(message, "entities", entities)
        if reply_to_message_id is not None and reply_to_message_id in chat.messages:
            message["reply_to_message"] = _without_reply(chat.messages[reply_to_message_id])
        if extra:
            message.update(extra)
        chat.messages[message["message_id"]] = message
        if chat.bot_is_member:
            self._queue_update({"message": message})
        return message

    def press_button(
        self, user_id: int, message_id: int, data: str, *, chat_id: int | None = None
    ) -> JsonDict:
        """The user presses an inline button of a bot message: queues a callback_query.

        `data` is taken as given, so tests can forge or replay stale callback data.
        """
        chat = self._chats[user_id if chat_id is None else chat_id]
        message = chat.messages.get(message_id)
        if message is None:
            raise KeyError(f"no message {message_id} in chat {chat.id}")
        if user_id not in self._users:
            self.add_user(user_id, f"User{user_id}")
        query_id = str(secrets.randbits(62))
        query: JsonDict = {
            "id": query_id,
            "from": dict(self._users[user_id]),
            "message": dict(message),
            "chat_instance": str(abs(hash((chat.id, self.bot_id)))),
            "data": data,
        }
        self._callback_queries[query_id] = query
        self._queue_update({"callback_query": query})
        return query

    def inject_update(self, update: dict[str, Any]) -> None:
        """Queue any update as given (polls, stickers, voice, ...); update_id is assigned."""
        self._queue_update(dict(update))

    # ------------------------------------------------------------------ control: output

    def sent(self, chat_id: int | None = None) -> list[SentMessage]:
        return [s for s in self._sent if chat_id is None or s.chat_id == chat_id]

    def messages(self, chat_id: int) -> dict[int, JsonDict]:
        return dict(self._chats[chat_id].messages)

    def callback_answers(self) -> list[JsonDict]:
        return list(self._callback_answers)

    def requests(self, method: str | None = None) -> list[JsonDict]:
        if method is None:
            return list(self._requests)
        return [r for r in self._requests if r["method"].lower() == method.lower()]

    def pending_updates(self) -> list[JsonDict]:
        """Updates not yet confirmed by getUpdates(offset) or delivered to the webhook."""
        return list(self._updates)

    def commands(self, scope: str = "default") -> list[JsonDict]:
        return list(self._commands.get(scope, []))

    @property
    def webhook(self) -> JsonDict | None:
        return dict(self._webhook) if self._webhook else None

    def fail_next(
        self,
        method: str,
        *,
        error_code: int = 429,
        description: str | None = None,
        retry_after: int | None = None,
        delay: float | None = None,
        times: int = 1,
    ) -> None:
        """Make the next `times` calls of `method` ("*" = any) fail or answer slowly.

        `method` "file" targets downloads from the file path (not matched by "*").

        With `delay`, the call is carried out and its answer held back for `delay` seconds
        (a client timeout then meets a request that did take effect). Otherwise the call
        fails with `error_code` and `description` (Telegram's text by default); a 429
        carries parameters.retry_after (default 5).
        """
        fault = _Fault(
            error_code=error_code,
            description=description,
            retry_after=retry_after,
            delay=delay,
            times=times,
        )
        self._faults.setdefault(method.lower(), []).append(fault)

    async def wait_for_sent(
        self,
        predicate: Callable[[SentMessage], bool] | None = None,
        *,
        count: int = 1,
        timeout: float = 5.0,  # noqa: ASYNC109 - part of the test-facing contract
    ) -> list[SentMessage]:
        """Wait until `count` recorded bot actions match; raises TimeoutError."""
        async with asyncio.timeout(timeout):
            while True:
                changed = self._changed
                matching = [s for s in self._sent if predicate is None or predicate(s)]
                if len(matching) >= count:
                    return matching[:count]
                await changed.wait()

    async def wait_for_request(
        self,
        method: str,
        *,
        count: int = 1,
        timeout: float = 5.0,  # noqa: ASYNC109
    ) -> list[JsonDict]:
        """Wait until `count` calls of `method` were received; raises TimeoutError."""
        async with asyncio.timeout(timeout):
            while True:
                changed = self._changed
                matching = self.requests(method)
                if len(matching) >= count:
                    return matching[:count]
                await changed.wait()

    async def deliver_webhook(
        self, url: str, update: dict[str, Any], secret_token: str | None
    ) -> int:
        """POST one update to a webhook the way Telegram does; returns the HTTP status."""
        body = dict(update)
        body.setdefault("update_id", next(self._update_ids))
        headers = {"Content-Type": "application/json"}
        if secret_token is not None:
            headers["X-Telegram-Bot-Api-Secret-Token"] = secret_token
        async with (
            ClientSession(timeout=ClientTimeout(total=30)) as session,
            session.post(url, data=json.dumps(body), headers=headers) as response,
        ):
            await response.read()
            return response.status

    # ------------------------------------------------------------------ internals: state

    def _notify(self) -> None:
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    def _notify_updates(self) -> None:
        changed, self._updates_changed = self._updates_changed, asyncio.Event()
        changed.set()

    def _allowed(self) -> frozenset[str]:
        if self._allowed_updates:
            return self._allowed_updates
        return _UPDATE_TYPES - _DEFAULT_EXCLUDED_UPDATES

    def _queue_update(self, update: JsonDict) -> None:
        kinds = [k for k in update if k != "update_id"]
        if kinds and kinds[0] not in self._allowed():
            return
        update["update_id"] = next(self._update_ids)
        self._updates.append(update)
        self._notify_updates()
        self._notify()

    def _record(self, entry: SentMessage) -> SentMessage:
        self._sent.append(entry)
        self._notify()
        return entry

    def _new_file_id(self, prefix: str) -> str:
        raw = secrets.token_bytes(40)
        return prefix + base64.urlsafe_b64encode(raw).decode().rstrip("=")

    def _store_file(
        self,
        data: bytes,
        *,
        kind: str | None,
        file_name: str | None,
        mime_type: str | None,
    ) -> _File:
        unique = "AQAD" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()[:12]).decode()
        number = next(self._file_counter)
        folder = {"photo": "photos", "video": "videos", "animation": "animations"}.get(
            kind or "", "documents"
        )
        ext = Path(file_name).suffix if file_name else ""
        if not ext:
            ext = {"photo": ".jpg", "video": ".mp4", "animation": ".mp4"}.get(kind or "", "")
        file_path = f"{folder}/file_{number}{ext}"
        if mime_type is None and file_name:
            mime_type = mimetypes.guess_type(file_name)[0]
        stored = _File(
            file_id=self._new_file_id({"photo": "AgAC", "video": "BAAC"}.get(kind or "", "BQAC")),
            file_unique_id=unique,
            data=data,
            size=len(data),
            kind=kind,
            file_name=file_name,
            mime_type=mime_type,
            file_path=file_path,
        )
        if self.local_dir is not None:
            local = self.local_dir / "files" / file_path
            local.parent.mkdir(parents=True, exist_ok=True)
            local.write_bytes(data)
            stored.local_path = local.resolve()
        self._files[stored.file_id] = stored
        return stored

    def _media_json(self, stored: _File, kind: str) -> Any:
        base: JsonDict = {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_size": stored.size,
        }
        if kind == "photo":
            thumb = self._photo_thumb(stored)
            small = {
                "file_id": thumb.file_id,
                "file_unique_id": thumb.file_unique_id,
                "file_size": thumb.size,
            }
            return [
                {**small, "width": 320, "height": 240},
                {**base, "width": 1280, "height": 960},
            ]
        if kind in {"video", "animation"}:
            base.update(width=1280, height=720, duration=1)
        if stored.file_name:
            base["file_name"] = stored.file_name
        if stored.mime_type:
            base["mime_type"] = stored.mime_type
        return base

    def _photo_thumb(self, stored: _File) -> _File:
        # A smaller size with its own ids, so code that takes photo[0] instead of the largest
        # size gets a different file.
        key = "thumb:" + stored.file_id
        existing = self._files.get(key)
        if existing is None:
            existing = _File(
                file_id=self._new_file_id("AgAC"),
                file_unique_id=stored.file_unique_id[:-2] + "th",
                data=stored.data[: max(1, len(stored.data) // 4)],
                size=max(1, len(stored.data) // 4),
                kind="photo",
                file_name=None,
                mime_type="image/jpeg",
                file_path=stored.file_path.replace(".", "_s.", 1),
            )
            self._files[existing.file_id] = existing
            self._files[key] = existing
        return existing

    def _fill_content(
        self,
        message: JsonDict,
        *,
        text: str | None,
        entities: list[JsonDict] | None,
        photo: bytes | None,
        video: bytes | None,
        document: bytes | None,
        animation: bytes | None,
        caption: str | None,
        caption_entities: list[JsonDict] | None,
        file_name: str | None,
    ) -> None:
        if text is not None:
            message["text"] = text
            _set_or_drop(message, "entities", entities)
        for kind, data in (
            ("photo", photo),
            ("video", video),
            ("document", document),
            ("animation", animation),
        ):
            if data is None:
                continue
            name = file_name if kind != "photo" else None
            if kind == "video" and name is None:
                name = "video.mp4"
            stored = self._store_file(data, kind=kind, file_name=name, mime_type=None)
            message[kind] = self._media_json(stored, kind)
            if kind == "animation":
                message["document"] = self._media_json(stored, "document")
        if caption is not None:
            message["caption"] = caption
            _set_or_drop(message, "caption_entities", caption_entities)

    # ------------------------------------------------------------------ internals: HTTP

    async def _handle_method(self, request: web.Request) -> web.StreamResponse:
        method = request.match_info["method"]
        key = method.lower()
        try:
            params, uploads = await self._read_params(request)
        except ApiError as exc:
            return _error_response(exc)
        self._requests.append(
            {
                "method": method,
                "params": dict(params),
                "files": {
                    name: {"filename": u.filename, "size": len(u.data)}
                    for name, u in uploads.items()
                },
                "at": time.time(),
            }
        )
        self._notify()
        if not secrets.compare_digest(request.match_info["token"], self.token):
            return _error_response(ApiError(401, "Unauthorized"))
        fault = self._take_fault(key)
        if fault is not None and fault.delay is None:
            return _error_response(_fault_error(fault))
        handler = self._methods.get(key)
        try:
            if handler is None:
                raise ApiError(404, "Not Found: method not found")
            result = handler(_Args(params, uploads))
            if asyncio.iscoroutine(result):
                result = await result
        except ApiError as exc:
            response = _error_response(exc)
        else:
            response = web.json_response({"ok": True, "result": result})
        if fault is not None and fault.delay is not None:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(fault.delay):
                    await self._closing.wait()
        return response

    async def _read_params(
        self, request: web.Request
    ) -> tuple[dict[str, str], dict[str, _Upload]]:
        params: dict[str, str] = dict(request.query)
        uploads: dict[str, _Upload] = {}
        if request.method != "POST" or not request.body_exists:
            return params, uploads
        if request.content_type == "application/json":
            try:
                body = await request.json()
            except ValueError:
                raise _bad("can't parse JSON encoded request") from None
            if not isinstance(body, dict):
                raise _bad("JSON object expected")
            for name, value in body.items():
                params[name] = _as_param(value)
            return params, uploads
        form = await request.post()
        for name, value in form.items():
            if isinstance(value, web.FileField):
                data = await asyncio.to_thread(value.file.read)
                uploads[name] = _Upload(value.filename, value.content_type, data)
            elif isinstance(value, str):
                params[name] = value
            else:
                params[name] = bytes(value).decode("utf-8", "replace")
        return params, uploads

    async def _handle_file(self, request: web.Request) -> web.StreamResponse:
        if not secrets.compare_digest(request.match_info["token"], self.token):
            return _error_response(ApiError(401, "Unauthorized"))
        fault = self._take_fault("file", wildcard=False)
        if fault is not None and fault.delay is None:
            return _error_response(_fault_error(fault))
        if fault is not None and fault.delay is not None:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(fault.delay):
                    await self._closing.wait()
        path = request.match_info["path"]
        for stored in self._files.values():
            if stored.file_path == path:
                if self.local_dir is None and stored.size > self.download_limit:
                    break
                return web.Response(
                    body=stored.data, content_type=stored.mime_type or "application/octet-stream"
                )
        return _error_response(ApiError(404, "Not Found"))

    def _take_fault(self, key: str, *, wildcard: bool = True) -> _Fault | None:
        for name in (key, "*") if wildcard else (key,):
            queue = self._faults.get(name)
            if queue:
                fault = queue[0]
                fault.times -= 1
                if fault.times <= 0:
                    queue.pop(0)
                return fault
        return None

    # ------------------------------------------------------------------ internals: checks

    def _resolve_chat(self, value: str | None, *, field_name: str = "chat_id") -> _Chat:
        if value is None:
            raise _bad(f"{field_name} is empty")
        value = value.strip()
        chat: _Chat | None = None
        if value.startswith("@"):
            name = value[1:].lower()
            chat = next(
                (
                    c
                    for c in self._chats.values()
                    if str(c.info.get("username", "")).lower() == name
                ),
                None,
            )
        else:
            with contextlib.suppress(ValueError):
                chat = self._chats.get(int(value))
        if chat is None:
            raise _bad("chat not found")
        return chat

    def _writable_chat(self, args: _Args) -> _Chat:
        chat = self._resolve_chat(args.arg("chat_id"))
        self._check_can_write(chat)
        return chat

    def _check_can_write(self, chat: _Chat) -> None:
        if chat.type == "private":
            if chat.blocked:
                raise ApiError(403, "Forbidden: bot was blocked by the user")
            return
        if not chat.bot_is_member:
            kind = "channel" if chat.type == "channel" else "supergroup"
            raise ApiError(403, f"Forbidden: bot is not a member of the {kind} chat")
        if chat.type == "channel" and not (
            chat.bot_is_admin and chat.rights.get("can_post_messages", False)
        ):
            raise _bad("need administrator rights in the channel chat")

    def _formatted(
        self,
        args: _Args,
        text_field: str,
        entities_field: str,
        *,
        limit: int,
        parse_mode: str | None = None,
        text: str | None = None,
        raw_entities: Any = None,
        entities_given: bool = False,
    ) -> tuple[str, list[JsonDict]]:
        if text is None:
            text = args.arg(text_field) or ""
        if parse_mode is None:
            parse_mode = args.arg("parse_mode")
        if not entities_given:
            raw_entities = args.json_arg(entities_field, "entities")
        mode = (parse_mode or "").strip().lower()
        try:
            if mode == "html":
                visible, entities = parse_html(text)
            elif mode == "markdownv2":
                visible, entities = parse_markdown_v2(text)
            elif mode == "markdown":
                visible, entities = parse_markdown_legacy(text)
            elif mode:
                raise _bad("unsupported parse_mode")
            else:
                visible, entities = text, _check_entities(text, raw_entities)
        except _ParseError as exc:
            raise _bad(f"can't parse entities: {exc}") from None
        if utf16_len(visible) > limit:
            what = "message caption" if "caption" in text_field else "message"
            raise _bad(f"{what} is too long")
        return visible, entities

    def _reply_markup(self, args: _Args) -> JsonDict | None:
        markup = args.json_arg("reply_markup", "reply keyboard markup")
        if markup is None:
            return None
        if not isinstance(markup, dict):
            raise _bad("can't parse reply keyboard markup JSON object")
        if "inline_keyboard" in markup:
            rows = markup["inline_keyboard"]
            if not isinstance(rows, list):
                raise _bad(
                    'can\'t parse inline keyboard: field "inline_keyboard" must be an Array'
                )
            for row in rows:
                if not isinstance(row, list):
                    raise _bad("can't parse inline keyboard: expected an Array of buttons")
                for button in row:
                    _check_button(button)
        return markup

    def _reply_to(self, args: _Args, chat: _Chat) -> JsonDict | None:
        target: int | None = None
        params = args.json_arg("reply_parameters", "reply parameters")
        if isinstance(params, dict) and "message_id" in params:
            target = int(params["message_id"])
        elif args.arg("reply_to_message_id"):
            target = args.int_arg("reply_to_message_id")
        if target is None:
            return None
        replied = chat.messages.get(target)
        if replied is None:
            allow = args.bool_arg("allow_sending_without_reply") or (
                isinstance(params, dict) and bool(params.get("allow_sending_without_reply"))
            )
            if allow:
                return None
            raise _bad("message to be replied not found")
        return _without_reply(replied)

    def _input_file(self, args: _Args, name: str, kind: str, *, value: str | None = None) -> _File:
        upload: _Upload | None = None
        if value is None:
            value = args.arg(name)
            if value is None:
                upload = args.uploads.get(name)
                if upload is None:
                    raise _bad(f"there is no {kind} in the request")
        if upload is None and value is not None:
            value = value.strip()
            if value.startswith("attach://"):
                upload = args.uploads.get(value.removeprefix("attach://"))
                if upload is None:
                    raise _bad(f"there is no {kind} in the request")
            elif value in self._files:
                stored = self._files[value]
                if not _kinds_compatible(stored.kind, kind):
                    raise _bad("type of file mismatch")
                return stored
            elif value.startswith(("http://", "https://")):
                raise _bad("failed to get HTTP URL content")
            elif self.local_dir is not None and (value.startswith(("file://", "/"))):
                path = Path(value.removeprefix("file://"))
                if not path.is_file():
                    raise _bad("file not found")
                upload = _Upload(path.name, None, path.read_bytes())
            else:
                raise _bad("wrong file identifier/HTTP URL specified")
        if upload is None:
            raise _bad(f"there is no {kind} in the request")
        if not upload.data:
            raise _bad("file must be non-empty")
        limit = CLOUD_UPLOAD_LIMIT if self.local_dir is None else LOCAL_UPLOAD_LIMIT
        if len(upload.data) > limit:
            raise ApiError(413, "Request Entity Too Large")
        mime = upload.content_type
        if mime in {None, "application/octet-stream"}:
            mime = None
        file_name = upload.filename if kind != "photo" else None
        return self._store_file(upload.data, kind=kind, file_name=file_name, mime_type=mime)

    # ------------------------------------------------------------------ methods

    def _true(self, args: _Args) -> bool:
        return True

    def _get_me(self, args: _Args) -> JsonDict:
        return {
            **self.bot_user,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    async def _get_updates(self, args: _Args) -> list[JsonDict]:
        if self._webhook is not None:
            raise ApiError(409, _CONFLICT_WEBHOOK)
        offset = args.int_arg("offset")
        limit = min(max(args.int_arg("limit", 100), 1), 100)
        timeout = min(max(args.int_arg("timeout"), 0), LONG_POLL_MAX_TIMEOUT)
        allowed = args.json_arg("allowed_updates", "allowed updates")
        if isinstance(allowed, list):
            self._allowed_updates = frozenset(str(a) for a in allowed) & _UPDATE_TYPES
        if offset > 0:
            self._updates = [u for u in self._updates if u["update_id"] >= offset]
        self._poll_generation += 1
        generation = self._poll_generation
        self._notify_updates()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            if generation != self._poll_generation:
                raise ApiError(409, _CONFLICT_POLL)
            ready = self._updates[offset:][:limit] if offset < 0 else self._updates[:limit]
            remaining = deadline - loop.time()
            if ready or remaining <= 0 or self._closing.is_set():
                return [dict(u) for u in ready]
            changed = self._updates_changed
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(remaining):
                    await changed.wait()

    def _set_webhook(self, args: _Args) -> bool:
        url = args.arg("url")
        if url is None:
            return self._delete_webhook(args)
        if not url.startswith(("http://", "https://")):
            raise _bad("invalid webhook URL specified")
        secret = args.arg("secret_token")
        if secret is not None and not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", secret):
            raise _bad("secret token contains unallowed characters")
        allowed = args.json_arg("allowed_updates", "allowed updates")
        if isinstance(allowed, list):
            self._allowed_updates = frozenset(str(a) for a in allowed) & _UPDATE_TYPES
        if args.bool_arg("drop_pending_updates"):
            self._updates.clear()
        self._webhook = {
            "url": url,
            "secret_token": secret,
            "max_connections": args.int_arg("max_connections", 40),
        }
        self._webhook_last_error = None
        self._poll_generation += 1
        self._notify_updates()
        return True

    def _delete_webhook(self, args: _Args) -> bool:
        self._webhook = None
        if args.bool_arg("drop_pending_updates"):
            self._updates.clear()
        self._notify_updates()
        return True

    def _get_webhook_info(self, args: _Args) -> JsonDict:
        info: JsonDict = {
            "url": self._webhook["url"] if self._webhook else "",
            "has_custom_certificate": False,
            "pending_update_count": len(self._updates),
        }
        if self._webhook:
            info["max_connections"] = self._webhook["max_connections"]
            if self._allowed_updates:
                info["allowed_updates"] = sorted(self._allowed_updates)
        if self._webhook_last_error:
            info["last_error_date"], info["last_error_message"] = self._webhook_last_error
        return info

    async def _webhook_loop(self) -> None:
        while not self._closing.is_set():
            changed = self._updates_changed
            webhook = self._webhook
            if webhook is None or not self._updates:
                await changed.wait()
                continue
            update = self._updates[0]
            status = 0
            try:
                status = await self.deliver_webhook(
                    webhook["url"], update, webhook.get("secret_token")
                )
            except (ClientError, OSError, TimeoutError) as exc:
                self._webhook_last_error = (self.now(), f"Connection failed: {type(exc).__name__}")
            if 200 <= status < 300:
                if self._updates and self._updates[0] is update:
                    self._updates.pop(0)
                self._notify()
                continue
            if status:
                self._webhook_last_error = (
                    self.now(),
                    f"Wrong response from the webhook: {status}",
                )
            # Retry later; a new update, a webhook change or stop() wakes the loop earlier.
            wake = self._updates_changed
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.webhook_retry_delay):
                    await wake.wait()

    def _new_message(self, chat: _Chat, args: _Args) -> JsonDict:
        message: JsonDict = {"message_id": chat.take_id(), "date": self.now()}
        if chat.type == "channel":
            message["sender_chat"] = dict(chat.info)
        else:
            message["from"] = dict(self.bot_user)
        message["chat"] = dict(chat.info)
        reply = self._reply_to(args, chat)
        if reply is not None:
            message["reply_to_message"] = reply
        return message

    def _store_sent(self, chat: _Chat, message: JsonDict) -> None:
        chat.messages[message["message_id"]] = message
        chat.by_bot.add(message["message_id"])

    def _entry(
        self,
        method: str,
        chat: _Chat,
        message: JsonDict,
        *,
        parse_mode: str | None = None,
        edited: bool = False,
    ) -> SentMessage:
        text = message.get("text")
        caption = message.get("caption")
        entities = list(message.get("entities" if text is not None else "caption_entities", []))
        visible = text if text is not None else caption
        media: list[SentMedia] = []
        for kind in ("photo", "video", "animation", "document", "audio"):
            if kind not in message or (kind == "document" and "animation" in message):
                continue
            info = message[kind]
            if isinstance(info, list):
                info = max(info, key=lambda p: int(p["width"]) * int(p["height"]))
            stored = self._files.get(str(info["file_id"]))
            media.append(
                SentMedia(
                    kind=kind,
                    file_id=str(info["file_id"]),
                    file_unique_id=str(info["file_unique_id"]),
                    data=stored.data if stored else b"",
                    file_name=info.get("file_name"),
                    mime_type=info.get("mime_type"),
                )
            )
        return SentMessage(
            method=method,
            chat_id=chat.id,
            message_id=int(message["message_id"]),
            text=text,
            html=entities_to_html(visible, entities) if visible is not None else None,
            entities=entities,
            caption=caption,
            media=media,
            reply_markup=message.get("reply_markup"),
            media_group_id=message.get("media_group_id"),
            edited=edited,
            parse_mode=parse_mode,
            message=dict(message),
        )

    def _send_message(self, args: _Args) -> JsonDict:
        chat = self._writable_chat(args)
        if args.arg("text") is None:
            raise _bad("message text is empty")
        text, entities = self._formatted(args, "text", "entities", limit=MAX_TEXT_LENGTH)
        if not text.strip():
            raise _bad("message text is empty")
        markup = self._reply_markup(args)
        message = self._new_message(chat, args)
        message["text"] = text
        _set_or_drop(message, "entities", entities)
        _set_or_drop(message, "reply_markup", markup)
        self._store_sent(chat, message)
        self._record(self._entry("sendMessage", chat, message, parse_mode=args.arg("parse_mode")))
        return message

    def _send_media(self, args: _Args, kind: str, method: str) -> JsonDict:
        chat = self._writable_chat(args)
        stored = self._input_file(args, kind, kind)
        caption, entities = self._formatted(
            args, "caption", "caption_entities", limit=MAX_CAPTION_LENGTH
        )
        markup = self._reply_markup(args)
        message = self._new_message(chat, args)
        message[kind] = self._media_json(stored, kind)
        if kind == "animation":
            message["document"] = self._media_json(stored, "document")
        if caption:
            message["caption"] = caption
            _set_or_drop(message, "caption_entities", entities)
        _set_or_drop(message, "reply_markup", markup)
        self._store_sent(chat, message)
        self._record(self._entry(method, chat, message, parse_mode=args.arg("parse_mode")))
        return message

    def _send_photo(self, args: _Args) -> JsonDict:
        return self._send_media(args, "photo", "sendPhoto")

    def _send_video(self, args: _Args) -> JsonDict:
        return self._send_media(args, "video", "sendVideo")

    def _send_document(self, args: _Args) -> JsonDict:
        return self._send_media(args, "document", "sendDocument")

    def _send_animation(self, args: _Args) -> JsonDict:
        return self._send_media(args, "animation", "sendAnimation")

    def _send_audio(self, args: _Args) -> JsonDict:
        return self._send_media(args, "audio", "sendAudio")

    def _send_chat_action(self, args: _Args) -> bool:
        self._writable_chat(args)
        return True

    def _send_media_group(self, args: _Args) -> list[JsonDict]:
        chat = self._writable_chat(args)
        if args.arg("media") is None:
            raise _bad('parameter "media" is required')
        items = args.json_arg("media", "media")
        if not isinstance(items, list):
            raise _bad("expected an Array of InputMedia")
        if len(items) < 2:
            raise _bad("media group must contain at least 2 items")
        if len(items) > 10:
            raise _bad("too many messages to send as an album")
        kinds = []
        for item in items:
            if not isinstance(item, dict) or not isinstance(item.get("media"), str):
                raise _bad("can't parse InputMedia: media not found")
            kind = item.get("type")
            if kind not in {"photo", "video", "document", "audio"}:
                raise _bad(f'can\'t parse InputMedia: unsupported media type "{kind}"')
            kinds.append(kind)
        families = {k if k in {"document", "audio"} else "visual" for k in kinds}
        if len(families) > 1:
            raise _bad("Can't use the media of the specified type in the album")
        prepared = []
        for item, kind in zip(items, kinds, strict=True):
            stored = self._input_file(args, "media", kind, value=item["media"])
            caption, entities = self._formatted(
                args,
                "caption",
                "caption_entities",
                limit=MAX_CAPTION_LENGTH,
                parse_mode=item.get("parse_mode"),
                text=item.get("caption") or "",
                raw_entities=item.get("caption_entities"),
                entities_given=True,
            )
            prepared.append((kind, stored, caption, entities, item.get("parse_mode")))
        group_id = str(next(self._media_groups))
        messages = []
        for kind, stored, caption, entities, parse_mode in prepared:
            message = self._new_message(chat, args)
            message["media_group_id"] = group_id
            message[kind] = self._media_json(stored, kind)
            if caption:
                message["caption"] = caption
                _set_or_drop(message, "caption_entities", entities)
            self._store_sent(chat, message)
            self._record(self._entry("sendMediaGroup", chat, message, parse_mode=parse_mode))
            messages.append(message)
        return messages

    def _source_message(self, args: _Args, what: str) -> tuple[_Chat, JsonDict]:
        source = self._resolve_chat(args.arg("from_chat_id"), field_name="from_chat_id")
        message = source.messages.get(args.int_arg("message_id"))
        if message is None:
            raise _bad(f"message to {what} not found")
        return source, message

    def _copy_into(
        self,
        chat: _Chat,
        original: JsonDict,
        args: _Args,
        *,
        method: str,
        group_ids: dict[str, str] | None = None,
        caption_override: bool = True,
    ) -> JsonDict:
        message = self._new_message(chat, args)
        for key, value in original.items():
            if key in _COPIED_FIELDS:
                message[key] = value
        if group_ids is not None and "media_group_id" in original:
            old = str(original["media_group_id"])
            message["media_group_id"] = group_ids.setdefault(old, str(next(self._media_groups)))
        if caption_override and "text" not in message and args.arg("caption") is not None:
            caption, entities = self._formatted(
                args, "caption", "caption_entities", limit=MAX_CAPTION_LENGTH
            )
            message["caption"] = caption
            _set_or_drop(message, "caption_entities", entities)
        if args.bool_arg("remove_caption"):
            message.pop("caption", None)
            message.pop("caption_entities", None)
        _set_or_drop(message, "reply_markup", self._reply_markup(args))
        self._store_sent(chat, message)
        self._record(self._entry(method, chat, message))
        return message

    def _copy_message(self, args: _Args) -> JsonDict:
        chat = self._writable_chat(args)
        _, original = self._source_message(args, "copy")
        message = self._copy_into(chat, original, args, method="copyMessage")
        return {"message_id": message["message_id"]}

    def _copy_messages(self, args: _Args) -> list[JsonDict]:
        chat = self._writable_chat(args)
        source = self._resolve_chat(args.arg("from_chat_id"), field_name="from_chat_id")
        ids = args.json_arg("message_ids", "message identifiers")
        if not isinstance(ids, list) or not ids or len(ids) > 100:
            raise _bad("message identifiers are not specified")
        if any(not isinstance(i, int) for i in ids) or ids != sorted(set(ids)):
            raise _bad("message identifiers must be in strictly increasing order")
        group_ids: dict[str, str] = {}
        result = []
        for message_id in ids:
            original = source.messages.get(message_id)
            if original is None:
                continue
            copied = self._copy_into(
                chat,
                original,
                args,
                method="copyMessages",
                group_ids=group_ids,
                caption_override=False,
            )
            result.append({"message_id": copied["message_id"]})
        if not result:
            raise _bad("there are no messages to copy")
        return result

    def _forward_message(self, args: _Args) -> JsonDict:
        chat = self._writable_chat(args)
        source, original = self._source_message(args, "forward")
        message = self._copy_into(
            chat, original, args, method="forwardMessage", caption_override=False
        )
        message["forward_origin"] = {
            "type": "channel",
            "chat": dict(source.info),
            "message_id": original["message_id"],
            "date": original["date"],
        }
        return message

    def _editable(self, args: _Args) -> tuple[_Chat, JsonDict]:
        if args.arg("inline_message_id") is not None:
            raise _bad("message to edit not found")
        chat = self._resolve_chat(args.arg("chat_id"))
        if chat.type != "private" and not chat.bot_is_member:
            kind = "channel" if chat.type == "channel" else "supergroup"
            raise ApiError(403, f"Forbidden: bot is not a member of the {kind} chat")
        message = chat.messages.get(args.int_arg("message_id"))
        if message is None:
            raise _bad("message to edit not found")
        mine = message["message_id"] in chat.by_bot
        if not mine and not (
            chat.type == "channel" and chat.bot_is_admin and chat.rights.get("can_edit_messages")
        ):
            raise _bad("message can't be edited")
        return chat, message

    def _apply_edit(
        self,
        chat: _Chat,
        message: JsonDict,
        changes: JsonDict,
        method: str,
        parse_mode: str | None,
    ) -> JsonDict:
        before = {k: message.get(k) for k in changes}
        if before == {k: (v if v else None) for k, v in changes.items()}:
            raise ApiError(400, _NOT_MODIFIED)
        for key, value in changes.items():
            _set_or_drop(message, key, value)
        message["edit_date"] = self.now()
        self._record(self._entry(method, chat, message, parse_mode=parse_mode, edited=True))
        self._notify()
        return message

    def _edit_message_text(self, args: _Args) -> JsonDict:
        chat, message = self._editable(args)
        if args.arg("text") is None:
            raise _bad("message text is empty")
        if "text" not in message:
            raise _bad("there is no text in the message to edit")
        text, entities = self._formatted(args, "text", "entities", limit=MAX_TEXT_LENGTH)
        if not text.strip():
            raise _bad("message text is empty")
        changes = {"text": text, "entities": entities, "reply_markup": self._reply_markup(args)}
        return self._apply_edit(chat, message, changes, "editMessageText", args.arg("parse_mode"))

    def _edit_message_caption(self, args: _Args) -> JsonDict:
        chat, message = self._editable(args)
        if "text" in message:
            raise _bad("there is no caption in the message to edit")
        caption, entities = self._formatted(
            args, "caption", "caption_entities", limit=MAX_CAPTION_LENGTH
        )
        changes = {
            "caption": caption or None,
            "caption_entities": entities,
            "reply_markup": self._reply_markup(args),
        }
        return self._apply_edit(
            chat, message, changes, "editMessageCaption", args.arg("parse_mode")
        )

    def _edit_message_reply_markup(self, args: _Args) -> JsonDict:
        chat, message = self._editable(args)
        changes = {"reply_markup": self._reply_markup(args)}
        return self._apply_edit(chat, message, changes, "editMessageReplyMarkup", None)

    def _delete_one(self, chat: _Chat, message_id: int) -> None:
        message = chat.messages.get(message_id)
        if message is None:
            raise _bad("message to delete not found")
        mine = message_id in chat.by_bot
        if chat.type == "channel":
            allowed = chat.bot_is_admin and (
                chat.rights.get("can_delete_messages")
                or (mine and chat.rights.get("can_post_messages"))
            )
        elif chat.type == "private":
            allowed = True
        else:
            allowed = mine or chat.bot_is_admin
        too_old = self.now() - int(message["date"]) >= DELETE_WINDOW_SECONDS
        if not allowed or too_old:
            raise _bad("message can't be deleted")
        del chat.messages[message_id]
        for entry in self._sent:
            if entry.chat_id == chat.id and entry.message_id == message_id:
                entry.deleted = True
        self._record(
            SentMessage(
                method="deleteMessage", chat_id=chat.id, message_id=message_id, deleted=True
            )
        )

    def _delete_message(self, args: _Args) -> bool:
        chat = self._resolve_chat(args.arg("chat_id"))
        if chat.type != "private" and not chat.bot_is_member:
            kind = "channel" if chat.type == "channel" else "supergroup"
            raise ApiError(403, f"Forbidden: bot is not a member of the {kind} chat")
        if args.arg("message_id") is None:
            raise _bad("message identifier is not specified")
        self._delete_one(chat, args.int_arg("message_id"))
        return True

    def _delete_messages(self, args: _Args) -> bool:
        chat = self._resolve_chat(args.arg("chat_id"))
        ids = args.json_arg("message_ids", "message identifiers")
        if not isinstance(ids, list) or not ids or len(ids) > 100:
            raise _bad("message identifiers are not specified")
        for message_id in ids:
            with contextlib.suppress(ApiError):
                self._delete_one(chat, int(message_id))
        return True

    def _get_file(self, args: _Args) -> JsonDict:
        file_id = args.arg("file_id")
        if file_id is None:
            raise _bad("file_id not specified")
        stored = self._files.get(file_id.strip())
        if stored is None:
            raise _bad("wrong file_id or the file is temporarily unavailable")
        if self.local_dir is None and stored.size > self.download_limit:
            raise _bad("file is too big")
        result: JsonDict = {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_size": stored.size,
        }
        if self.local_dir is not None and stored.local_path is not None:
            result["file_path"] = str(stored.local_path)
        else:
            result["file_path"] = stored.file_path
        return result

    def _get_chat(self, args: _Args) -> JsonDict:
        chat = self._resolve_chat(args.arg("chat_id"))
        info: JsonDict = {
            **chat.info,
            "accent_color_id": 0,
            "max_reaction_count": 11,
            "accepted_gift_types": {
                "unlimited_gifts": False,
                "limited_gifts": False,
                "unique_gifts": False,
                "premium_subscription": False,
                "gifts_from_channels": False,
            },
        }
        return info

    def _get_chat_member_count(self, args: _Args) -> int:
        chat = self._resolve_chat(args.arg("chat_id"))
        return chat.members

    def _bot_member(self, chat: _Chat) -> JsonDict:
        if chat.bot_is_admin:
            rights = dict.fromkeys(
                (
                    "can_be_edited",
                    "is_anonymous",
                    "can_manage_video_chats",
                    "can_restrict_members",
                    "can_promote_members",
                    "can_change_info",
                    "can_invite_users",
                    "can_post_stories",
                    "can_edit_stories",
                    "can_delete_stories",
                    "can_send_welcome_messages",
                ),
                False,
            )
            rights["can_manage_chat"] = True
            rights["can_delete_messages"] = bool(chat.rights.get("can_delete_messages"))
            if chat.type == "channel":
                rights["can_post_messages"] = bool(chat.rights.get("can_post_messages"))
                rights["can_edit_messages"] = bool(chat.rights.get("can_edit_messages"))
            return {"status": "administrator", "user": self.bot_user, **rights}
        if chat.bot_is_member:
            return {"status": "member", "user": self.bot_user}
        return {"status": "left", "user": self.bot_user}

    def _get_chat_member(self, args: _Args) -> JsonDict:
        chat = self._resolve_chat(args.arg("chat_id"))
        user_id = args.int_arg("user_id")
        if user_id == self.bot_id:
            return self._bot_member(chat)
        user = self._users.get(user_id)
        if user is None:
            raise _bad("user not found")
        if chat.type == "private":
            return {"status": "member", "user": user}
        return {"status": "left", "user": user}

    def _get_chat_administrators(self, args: _Args) -> list[JsonDict]:
        chat = self._resolve_chat(args.arg("chat_id"))
        if chat.type == "private":
            raise _bad("there are no administrators in the private chat")
        if chat.type == "channel" and not chat.bot_is_admin:
            raise _bad("member list is inaccessible")
        owner = {
            "status": "creator",
            "user": {"id": 1, "is_bot": False, "first_name": "Owner"},
            "is_anonymous": False,
        }
        return [owner, self._bot_member(chat)] if chat.bot_is_admin else [owner]

    def _answer_callback_query(self, args: _Args) -> bool:
        query_id = args.arg("callback_query_id")
        if query_id is None or query_id not in self._callback_queries:
            raise _bad("query is too old and response timeout expired or query ID is invalid")
        query = self._callback_queries.pop(query_id)
        text = args.arg("text")
        if text is not None and len(text) > 200:
            raise _bad("MESSAGE_TOO_LONG")
        self._callback_answers.append(
            {
                "callback_query_id": query_id,
                "user_id": query["from"]["id"],
                "data": query.get("data"),
                "text": text,
                "show_alert": args.bool_arg("show_alert"),
                "url": args.arg("url"),
                "cache_time": args.int_arg("cache_time"),
            }
        )
        self._notify()
        return True

    def _scope_key(self, args: _Args) -> str:
        scope = args.json_arg("scope", "bot command scope")
        if scope is None:
            return "default"
        if not isinstance(scope, dict) or "type" not in scope:
            raise _bad('can\'t parse BotCommandScope: field "type" must be of type String')
        suffix = ":".join(str(scope[k]) for k in ("chat_id", "user_id") if k in scope)
        key = str(scope["type"])
        return f"{key}:{suffix}" if suffix else key

    def _set_my_commands(self, args: _Args) -> bool:
        commands = args.json_arg("commands", "bot commands")
        if not isinstance(commands, list):
            raise _bad('parameter "commands" is required')
        if len(commands) > 100:
            raise _bad("too many bot commands specified")
        for command in commands:
            if not isinstance(command, dict):
                raise _bad("can't parse BotCommand: BotCommand must be an Object")
            name = str(command.get("command", "")).removeprefix("/")
            if not re.fullmatch(r"[a-z0-9_]{1,32}", name):
                raise _bad("BOT_COMMAND_INVALID")
            if not 1 <= len(str(command.get("description", "")).strip()) <= 256:
                raise _bad("BOT_COMMAND_DESCRIPTION_INVALID")
        language = args.arg("language_code")
        key = self._scope_key(args) + (f"@{language}" if language else "")
        self._commands[key] = [dict(c) for c in commands]
        return True

    def _get_my_commands(self, args: _Args) -> list[JsonDict]:
        language = args.arg("language_code")
        key = self._scope_key(args) + (f"@{language}" if language else "")
        return list(self._commands.get(key, []))

    def _delete_my_commands(self, args: _Args) -> bool:
        language = args.arg("language_code")
        key = self._scope_key(args) + (f"@{language}" if language else "")
        self._commands.pop(key, None)
        return True


_COPIED_FIELDS = frozenset(
    {
        "text",
        "entities",
        "caption",
        "caption_entities",
        "photo",
        "video",
        "document",
        "animation",
        "audio",
        "voice",
        "video_note",
        "sticker",
        "poll",
        "location",
        "venue",
        "contact",
        "dice",
        "has_media_spoiler",
        "show_caption_above_media",
    }
)


def _set_or_drop(message: JsonDict, key: str, value: Any) -> None:
    if value:
        message[key] = value
    else:
        message.pop(key, None)


def _without_reply(message: JsonDict) -> JsonDict:
    return {k: v for k, v in message.items() if k != "reply_to_message"}


def _kinds_compatible(stored: str | None, wanted: str) -> bool:
    # Videos and animations are documents underneath; the server converts between them.
    return stored is None or stored == wanted or "photo" not in {stored, wanted}


def _check_entities(text: str, raw: Any) -> list[JsonDict]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise _bad("can't parse entities JSON object")
    total = utf16_len(text)
    entities: list[JsonDict] = []
    for item in raw:
        if not isinstance(item, dict):
            raise _bad("can't parse MessageEntity: MessageEntity must be an Object")
        kind = item.get("type")
        offset = item.get("offset")
        length = item.get("length")
        if not isinstance(kind, str) or not isinstance(offset, int) or not isinstance(length, int):
            raise _bad('can\'t parse MessageEntity: field "type" must be of type String')
        if kind == "text_link" and not item.get("url"):
            raise _bad('can\'t parse MessageEntity: field "url" must be of type String')
        # The server clips entities to the text and drops empty ones.
        start = max(0, offset)
        end = min(total, offset + length)
        if end <= start:
            continue
        entities.append({**item, "offset": start, "length": end - start})
    entities.sort(key=lambda e: (e["offset"], -e["length"]))
    return entities


def _check_button(button: Any) -> None:
    if not isinstance(button, dict) or not isinstance(button.get("text"), str):
        raise _bad("can't parse inline keyboard button: InlineKeyboardButton must be an Object")
    actions = set(button) - {"text", "style", "icon_custom_emoji_id"}
    if not actions:
        raise _bad(
            "can't parse inline keyboard button: Text buttons are unallowed in the inline keyboard"
        )
    data = button.get("callback_data")
    if data is not None and (
        not isinstance(data, str) or len(data.encode()) > MAX_CALLBACK_DATA_BYTES
    ):
        raise _bad("BUTTON_DATA_INVALID")
    url = button.get("url")
    if url is not None and not re.match(r"(https?|tg)://\S+", str(url)):
        raise _bad("BUTTON_URL_INVALID")


def _as_param(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value)


def _fault_error(fault: _Fault) -> ApiError:
    code = fault.error_code
    if code == 429:
        retry_after = 5 if fault.retry_after is None else fault.retry_after
        description = fault.description or f"Too Many Requests: retry after {retry_after}"
        return ApiError(429, description, {"retry_after": retry_after})
    defaults = {
        400: "Bad Request: chat not found",
        401: "Unauthorized",
        403: "Forbidden: bot is not a member of the channel chat",
        404: "Not Found",
        409: _CONFLICT_POLL,
        413: "Request Entity Too Large",
        500: "Internal Server Error",
        502: "Bad Gateway",
        503: "Service Unavailable",
    }
    description = fault.description or defaults.get(code, "Internal Server Error")
    return ApiError(code, description)


def _error_response(exc: ApiError) -> web.Response:
    body: JsonDict = {"ok": False, "error_code": exc.error_code, "description": exc.description}
    if exc.parameters:
        body["parameters"] = exc.parameters
    return web.json_response(body, status=exc.error_code)
