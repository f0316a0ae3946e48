"""A small async VK API client: form POSTs, timeouts, streaming uploads, typed answers.

No retries and no sleeps: errors become the core error tree (see errors.py) and the scheduler
decides what happens next. Tokens travel only in the request body and never reach a message
or a log line.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import aiohttp
from pydantic import SecretStr

from adapters.vk.errors import classify, scrub, transport_error
from crosspost.errors import OutcomeUnknownError, PermanentError, PublishError, Reason
from crosspost.models import MediaItem, Platform
from crosspost.publishing import ThrottleFactory

logger = logging.getLogger(__name__)

# Connecting should be quick; reading may legitimately wait for VK to process an upload.
CONNECT_TIMEOUT_SECONDS = 10.0
# An upload that sends slower than this is treated as stalled (bounds the whole upload).
MIN_UPLOAD_BYTES_PER_SECOND = 64 * 1024


class VkTokenKind(StrEnum):
    """The kind of token; the value is the rate-limit key of the config."""

    USER = "vk_user"
    COMMUNITY = "vk_community"


@dataclass(frozen=True)
class VkToken:
    kind: VkTokenKind
    secret: SecretStr

    @property
    def value(self) -> str:
        return self.secret.get_secret_value()


@dataclass(frozen=True, kw_only=True)
class VkWallPost:
    post_id: int
    owner_id: int
    from_id: int
    date: datetime
    text: str
    attachments: tuple[str, ...]  # "photo-1_2", "doc-1_3", or an external link URL


@dataclass(frozen=True, kw_only=True)
class VkGroup:
    group_id: int
    name: str
    members_count: int | None
    is_admin: bool | None  # only answered for user tokens


@dataclass(frozen=True, kw_only=True)
class VkTokenPermissions:
    mask: int
    names: frozenset[str]


@dataclass(frozen=True, kw_only=True)
class VkPhotoUpload:
    server: int
    photo: str
    hash: str


@dataclass(frozen=True, kw_only=True)
class VkVideoSlot:
    upload_url: str
    attachment: str


Params = Mapping[str, str | int]


class VkClient:
    """One VK API endpoint (`api_base` like https://api.vk.ru/method) for one account."""

    def __init__(
        self,
        *,
        http: aiohttp.ClientSession,
        api_base: str,
        api_version: str,
        timeout_seconds: float,
        throttle: ThrottleFactory,
        account: str | None = None,
    ) -> None:
        self._http = http
        self._base = api_base.rstrip("/")
        self._version = api_version
        self._timeout = aiohttp.ClientTimeout(
            total=None,
            connect=min(CONNECT_TIMEOUT_SECONDS, timeout_seconds),
            sock_connect=min(CONNECT_TIMEOUT_SECONDS, timeout_seconds),
            sock_read=timeout_seconds,
        )
        self._timeout_seconds = timeout_seconds
        self._throttle = throttle
        self._account = account

    async def call(
        self, method: str, params: Params, token: VkToken, *, unsafe: bool = False
    ) -> object:
        """Call an API method; returns the `response` value.

        `unsafe` marks a call that must not be repeated blindly (wall.post): a failure after
        the request left raises OutcomeUnknownError instead of TransientError.
        Raises the errors of errors.classify / errors.transport_error.
        """
        form: dict[str, str] = {k: str(v) for k, v in params.items()}
        form["v"] = self._version
        form["access_token"] = token.value
        url = f"{self._base}/{method}"
        async with self._throttle(token.kind.value, token.value):
            body = await self._post(method, url, form, unsafe=unsafe, secrets=(token.value,))
        if not isinstance(body, dict):
            raise self._transport("answer is not a JSON object", method, unsafe, sent=True)
        error = body.get("error")
        if isinstance(error, dict):
            code = error.get("error_code")
            msg = error.get("error_msg")
            message = scrub(msg if isinstance(msg, str) else "", (token.value,))
            logger.info("vk method=%s account=%s error_code=%s", method, self._account, code)
            raise classify(
                code if isinstance(code, int) else -1,
                message,
                method=method,
                account=self._account,
            )
        if "response" not in body:
            raise self._transport("answer has no response", method, unsafe, sent=True)
        logger.debug("vk method=%s account=%s ok", method, self._account)
        return body["response"]

    async def upload(
        self, url: str, field: str, item: MediaItem, token: VkToken
    ) -> dict[str, object]:
        """POST one file, streamed from disk, to an upload server VK handed out.

        Uploads happen before wall.post, so every failure here is safe to retry.
        """
        what = f"upload {field}"
        fileobj = await asyncio.to_thread(item.path.open, "rb")
        try:
            form = aiohttp.FormData()
            form.add_field(field, fileobj, filename=item.file_name, content_type=item.mime_type)
            # The upload server is not the API: VK's 3 requests per second count API methods,
            # so an upload takes no slot of the token's limiter (a photo costs two calls).
            body = await self._post(
                what,
                url,
                form,
                unsafe=False,
                secrets=(token.value,),
                total=self._timeout_seconds + item.size / MIN_UPLOAD_BYTES_PER_SECOND,
            )
        finally:
            await asyncio.to_thread(fileobj.close)
        if not isinstance(body, dict):
            raise self._transport("upload answer is not a JSON object", what, False, sent=True)
        return body

    async def _post(
        self,
        method: str,
        url: str,
        data: dict[str, str] | aiohttp.FormData,
        *,
        unsafe: bool,
        secrets: tuple[str, ...],
        total: float | None = None,
    ) -> Any:
        timeout = self._timeout
        if total is not None:
            timeout = aiohttp.ClientTimeout(
                total=total,
                connect=timeout.connect,
                sock_connect=timeout.sock_connect,
                sock_read=timeout.sock_read,
            )
        try:
            async with self._http.post(url, data=data, timeout=timeout) as resp:
                if resp.status != 200:
                    logger.warning(
                        "vk method=%s account=%s http_status=%s",
                        method,
                        self._account,
                        resp.status,
                    )
                    raise self._transport(f"HTTP {resp.status}", method, unsafe, sent=True)
                text = await resp.text()
        except (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError) as exc:
            logger.warning("vk method=%s account=%s connect failed", method, self._account)
            raise self._transport("network: cannot connect", method, unsafe, sent=False) from exc
        except (aiohttp.ClientError, TimeoutError) as exc:
            # Once the connection is up the request may have reached VK: treat it as sent.
            logger.warning(
                "vk method=%s account=%s network failure %s",
                method,
                self._account,
                type(exc).__name__,
            )
            detail = scrub(type(exc).__name__, secrets)
            raise self._transport(f"network: {detail}", method, unsafe, sent=True) from exc
        try:
            return json.loads(text)
        except ValueError as exc:
            raise self._transport("answer is not JSON", method, unsafe, sent=True) from exc

    def _transport(self, what: str, method: str, unsafe: bool, *, sent: bool) -> PublishError:
        return transport_error(
            what, method=method, account=self._account, request_sent=sent, unsafe=unsafe
        )

    def _shape(self, method: str, unsafe: bool = False) -> PublishError:
        if unsafe:
            return OutcomeUnknownError(
                f"VK {method}: unexpected answer shape; the post may exist",
                platform=Platform.VK,
                account=self._account,
            )
        return PermanentError(
            f"VK {method}: unexpected answer shape",
            platform=Platform.VK,
            account=self._account,
            reason=Reason.UNKNOWN,
        )

    # --- typed methods -------------------------------------------------------------------

    async def wall_post(
        self,
        token: VkToken,
        *,
        owner_id: int,
        message: str,
        attachments: tuple[str, ...],
        guid: str,
    ) -> int:
        params: dict[str, str | int] = {"owner_id": owner_id, "from_group": 1, "guid": guid}
        if message:
            params["message"] = message
        if attachments:
            params["attachments"] = ",".join(attachments)
        response = await self.call("wall.post", params, token, unsafe=True)
        post_id = _get_int(response, "post_id")
        if post_id is None:
            raise self._shape("wall.post", unsafe=True)
        return post_id

    async def wall_edit(
        self,
        token: VkToken,
        *,
        owner_id: int,
        post_id: int,
        message: str,
        attachments: tuple[str, ...],
    ) -> None:
        params: dict[str, str | int] = {"owner_id": owner_id, "post_id": post_id}
        params["message"] = message
        if attachments:
            params["attachments"] = ",".join(attachments)
        await self.call("wall.edit", params, token)

    async def wall_delete(self, token: VkToken, *, owner_id: int, post_id: int) -> None:
        await self.call("wall.delete", {"owner_id": owner_id, "post_id": post_id}, token)

    async def wall_get(
        self, token: VkToken, *, owner_id: int, count: int = 100
    ) -> tuple[int, list[VkWallPost]]:
        """The wall's newest posts by the owner: (total count, posts newest first)."""
        response = await self.call(
            "wall.get", {"owner_id": owner_id, "count": count, "filter": "owner"}, token
        )
        total = _get_int(response, "count")
        items = _get(response, "items")
        if total is None or not isinstance(items, list):
            raise self._shape("wall.get")
        return total, [self._wall_post(item, "wall.get") for item in items]

    async def wall_get_by_id(
        self, token: VkToken, *, owner_id: int, post_id: int
    ) -> VkWallPost | None:
        response = await self.call("wall.getById", {"posts": f"{owner_id}_{post_id}"}, token)
        items = response if isinstance(response, list) else _get(response, "items", [])
        if not isinstance(items, list):
            raise self._shape("wall.getById")
        return self._wall_post(items[0], "wall.getById") if items else None

    # -- statistics (issue 10) --

    async def wall_views(
        self, token: VkToken, *, owner_id: int, post_ids: Sequence[int]
    ) -> dict[int, int]:
        """post id → views, from wall.getById (posts gone from the wall are left out)."""
        refs = ",".join(f"{owner_id}_{post_id}" for post_id in post_ids)
        response = await self.call("wall.getById", {"posts": refs}, token)
        items = response if isinstance(response, list) else _get(response, "items", [])
        if not isinstance(items, list):
            raise self._shape("wall.getById")
        views: dict[int, int] = {}
        for item in items:
            post_id = _get_int(item, "id")
            count = _get_int(_get(item, "views"), "count")
            if post_id is not None and count is not None:
                views[post_id] = count
        return views

    async def photos_get_wall_upload_server(self, token: VkToken, *, group_id: int) -> str:
        response = await self.call("photos.getWallUploadServer", {"group_id": group_id}, token)
        return self._upload_url(response, "photos.getWallUploadServer")

    async def photos_save_wall_photo(
        self, token: VkToken, *, group_id: int, upload: VkPhotoUpload
    ) -> str:
        response = await self.call(
            "photos.saveWallPhoto",
            {
                "group_id": group_id,
                "server": upload.server,
                "photo": upload.photo,
                "hash": upload.hash,
            },
            token,
        )
        if not isinstance(response, list) or not response:
            raise self._shape("photos.saveWallPhoto")
        return self._attachment("photo", response[0], "photos.saveWallPhoto")

    async def video_save(
        self, token: VkToken, *, group_id: int, name: str, description: str = ""
    ) -> VkVideoSlot:
        params: dict[str, str | int] = {"group_id": group_id, "name": name[:128], "wallpost": 0}
        if description:
            params["description"] = description[:5000]
        response = await self.call("video.save", params, token)
        url = _get(response, "upload_url")
        owner_id = _get_int(response, "owner_id")
        video_id = _get_int(response, "video_id")
        if not isinstance(url, str) or owner_id is None or video_id is None:
            raise self._shape("video.save")
        return VkVideoSlot(upload_url=url, attachment=f"video{owner_id}_{video_id}")

    async def docs_get_wall_upload_server(self, token: VkToken, *, group_id: int) -> str:
        response = await self.call("docs.getWallUploadServer", {"group_id": group_id}, token)
        return self._upload_url(response, "docs.getWallUploadServer")

    async def docs_save(self, token: VkToken, *, file: str, title: str) -> str:
        response = await self.call("docs.save", {"file": file, "title": title}, token)
        doc = _get(response, "doc")
        if doc is None and isinstance(response, list) and response:
            doc = response[0]  # answers before 5.87 were a bare list
        return self._attachment("doc", doc, "docs.save")

    async def groups_get_by_id(
        self, token: VkToken, *, group_id: int, fields: str = "members_count"
    ) -> VkGroup:
        response = await self.call(
            "groups.getById", {"group_id": group_id, "fields": fields}, token
        )
        # 5.199 answers {"groups": [...], "profiles": []}; older versions a bare list.
        groups = response if isinstance(response, list) else _get(response, "groups")
        if not isinstance(groups, list) or not groups or not isinstance(groups[0], dict):
            raise self._shape("groups.getById")
        group: dict[str, object] = groups[0]
        gid = group.get("id")
        name = group.get("name")
        members = group.get("members_count")
        admin = group.get("is_admin")
        return VkGroup(
            group_id=gid if isinstance(gid, int) else group_id,
            name=name if isinstance(name, str) else "",
            members_count=members if isinstance(members, int) else None,
            is_admin=bool(admin) if isinstance(admin, int) else None,
        )

    async def groups_get_token_permissions(self, token: VkToken) -> VkTokenPermissions:
        response = await self.call("groups.getTokenPermissions", {}, token)
        mask = _get_int(response, "mask")
        perms = _get(response, "permissions", [])
        if mask is None or not isinstance(perms, list):
            raise self._shape("groups.getTokenPermissions")
        names = frozenset(
            p["name"] for p in perms if isinstance(p, dict) and isinstance(p.get("name"), str)
        )
        return VkTokenPermissions(mask=mask, names=names)

    async def users_get_self(self, token: VkToken) -> int:
        """The id of the user a user token belongs to (users.get without ids)."""
        response = await self.call("users.get", {}, token)
        user_id = _get_int(response[0], "id") if isinstance(response, list) and response else None
        if user_id is None:
            raise self._shape("users.get")
        return user_id

    async def account_get_app_permissions(self, token: VkToken, *, user_id: int) -> int:
        """The user token's rights as a bit mask (photos=4, video=16, wall=8192, ...)."""
        response = await self.call("account.getAppPermissions", {"user_id": user_id}, token)
        if not isinstance(response, int):
            raise self._shape("account.getAppPermissions")
        return response

    # --- shapes ----------------------------------------------------------------------------

    def _upload_url(self, response: object, method: str) -> str:
        url = _get(response, "upload_url")
        if not isinstance(url, str) or not url:
            raise self._shape(method)
        return url

    def _attachment(self, kind: str, obj: object, method: str) -> str:
        owner_id = _get_int(obj, "owner_id")
        media_id = _get_int(obj, "id")
        if owner_id is None or media_id is None:
            raise self._shape(method)
        return f"{kind}{owner_id}_{media_id}"

    def _wall_post(self, item: object, method: str) -> VkWallPost:
        post_id = _get_int(item, "id")
        owner_id = _get_int(item, "owner_id")
        date = _get_int(item, "date")
        if post_id is None or owner_id is None or date is None:
            raise self._shape(method)
        from_id = _get_int(item, "from_id")
        text = _get(item, "text", "")
        return VkWallPost(
            post_id=post_id,
            owner_id=owner_id,
            from_id=owner_id if from_id is None else from_id,
            date=datetime.fromtimestamp(date, UTC),
            text=text if isinstance(text, str) else "",
            attachments=_attachments(_get(item, "attachments", [])),
        )


def _get(obj: object, key: str, default: object = None) -> object:
    if isinstance(obj, dict):
        return obj.get(key, default)
    return default


def _get_int(obj: object, key: str) -> int | None:
    value = _get(obj, key)
    # VK sometimes sends ids as strings in old answers.
    if isinstance(value, str) and value.lstrip("-").isdigit():
        return int(value)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _attachments(raw: object) -> tuple[str, ...]:
    """Wall attachment objects back to the strings wall.edit takes."""
    if not isinstance(raw, list):
        return ()
    out: list[str] = []
    for att in raw:
        kind = _get(att, "type")
        if not isinstance(kind, str):
            continue
        obj = _get(att, kind)
        if kind == "link":
            url = _get(obj, "url")
            if isinstance(url, str):
                out.append(url)
            continue
        owner_id = _get_int(obj, "owner_id")
        media_id = _get_int(obj, "id")
        if owner_id is None or media_id is None:
            continue
        key = _get(obj, "access_key")
        suffix = f"_{key}" if isinstance(key, str) and key else ""
        out.append(f"{kind}{owner_id}_{media_id}{suffix}")
    return tuple(out)


def parse_photo_upload(body: Mapping[str, object]) -> VkPhotoUpload | None:
    """The photo upload server's answer; None when it rejected the file (`"photo": "[]"`)."""
    server = _get_int(body, "server")
    photo = body.get("photo")
    hash_ = body.get("hash")
    if server is None or not isinstance(photo, str) or not isinstance(hash_, str):
        return None
    if photo.strip() in ("", "[]"):
        return None
    return VkPhotoUpload(server=server, photo=photo, hash=hash_)


def upload_error(body: Mapping[str, object]) -> str | None:
    """The `error` of an upload server's answer, if it has one."""
    error = body.get("error")
    if error is None:
        return None
    return error if isinstance(error, str) else json.dumps(error)[:200]


__all__ = [
    "VkClient",
    "VkGroup",
    "VkPhotoUpload",
    "VkToken",
    "VkTokenKind",
    "VkTokenPermissions",
    "VkVideoSlot",
    "VkWallPost",
    "parse_photo_upload",
    "upload_error",
]
