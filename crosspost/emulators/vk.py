"""A VK API emulator: the methods crosspost uses, VK's token rules, uploads, guid, rate limits.

Speaks HTTP like api.vk.ru: `POST /method/<name>` with a form body (or query string), answers
HTTP 200 with `{"response": ...}` or `{"error": {"error_code", "error_msg", "request_params"}}`.
Upload servers live at the `upload_url`s it hands out and check the multipart field names.

Tests and the sandbox seed state with `add_group` / `add_user_token` / `add_community_token`,
read it from `groups`, `wall(...)`, `media(...)` and `calls`, and inject faults with `fail_next`.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import json
import secrets
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from aiohttp import BodyPartReader, web

API_VERSION = "5.199"
# VK documents guid as "to avoid duplication"; the one-hour window is folklore we adopt.
GUID_WINDOW_SECONDS = 3600.0
MAX_WALL_ATTACHMENTS = 10
# VK counts requests per token in a sliding second (3 for a user token, 20 for a community).
RATE_WINDOW_SECONDS = 1.0

# Scope bits of user tokens (dev.vk.com/reference/access-rights).
USER_SCOPE_BITS: Mapping[str, int] = {
    "photos": 4,
    "video": 16,
    "wall": 8192,
    "offline": 65536,
    "docs": 131072,
    "groups": 262144,
}
# Rights of community tokens.
COMMUNITY_SCOPE_BITS: Mapping[str, int] = {
    "stories": 1,
    "photos": 4,
    "app_widget": 64,
    "messages": 4096,
    "docs": 131072,
    "manage": 262144,
}
DEFAULT_USER_SCOPES = frozenset({"wall", "photos", "video", "docs", "groups", "offline"})
DEFAULT_COMMUNITY_SCOPES = frozenset({"docs", "manage", "photos"})

ERROR_MESSAGES: Mapping[int, str] = {
    1: "Unknown error occurred",
    3: "Unknown method passed",
    5: "User authorization failed: invalid access_token (4).",
    6: "Too many requests per second",
    8: "Invalid request: v is required",
    9: "Flood control",
    10: "Internal server error",
    14: "Captcha needed",
    15: "Access denied",
    17: "Validation required",
    22: "Upload error",
    27: "Group authorization failed: method is unavailable with group auth.",
    100: "One of the parameters specified was missing or invalid",
    210: "Access to wall's post denied",
    214: "Access to adding post denied",
    222: "Hyperlinks are forbidden",
    1051: "This method is not available for this profile type",
}


class TokenKind(StrEnum):
    USER = "user"
    COMMUNITY = "community"
    VK_ID = "vk_id"  # vk2.a.* tokens: VK answers 1051 to wall methods


@dataclass
class EmuToken:
    kind: TokenKind
    user_id: int = 0  # user tokens
    group_id: int = 0  # community tokens
    scopes: frozenset[str] = frozenset()
    revoked: bool = False


@dataclass
class EmuGroup:
    group_id: int
    name: str
    members_count: int
    screen_name: str = ""
    admins: set[int] = field(default_factory=set)


@dataclass
class EmuMedia:
    kind: str  # photo, video, doc
    owner_id: int
    media_id: int
    file_name: str
    field_name: str
    size: int
    sha256: str
    data: bytes | None  # None when the emulator keeps digests only
    title: str = ""
    uploaded_with: str = field(default="", repr=False)  # the token that got the server

    @property
    def attachment(self) -> str:
        return f"{self.kind}{self.owner_id}_{self.media_id}"


@dataclass
class EmuPost:
    post_id: int
    owner_id: int
    from_id: int
    date: int
    text: str
    attachments: list[str]
    guid: str | None
    created_by: int
    deleted: bool = False
    edited: int | None = None
    views: int = 0  # statistics (issue 10): wall.getById answers {"views": {"count": N}}


@dataclass
class RecordedCall:
    method: str
    params: dict[str, str]  # without access_token
    token_kind: TokenKind | None


@dataclass
class Fault:
    """One injected failure. `method` None matches any API method (uploads: "upload")."""

    method: str | None
    error: int | None = None
    status: int | None = None
    hang: bool = False
    drop: bool = False
    after: bool = False  # perform the method first, then fail (the answer is lost)


@dataclass
class _Ticket:
    kind: str
    group_id: int
    token: str
    video: EmuMedia | None = None


class VkApiError(Exception):
    def __init__(self, code: int, message: str | None = None, **extra: str) -> None:
        super().__init__(code)
        self.code = code
        self.message = message or ERROR_MESSAGES.get(code, "Error")
        self.extra = extra


Handler = Callable[[dict[str, str], str, EmuToken], Awaitable[object]]


class VkEmulator:
    """The VK API as crosspost uses it. See the module docstring."""

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.time,
        user_rate: float = 3.0,
        community_rate: float = 20.0,
        keep_bytes: bool = True,
        community_can_read_wall: bool = False,
        hang_seconds: float = 120.0,
    ) -> None:
        self.clock = clock
        self.user_rate = user_rate
        self.community_rate = community_rate
        self.keep_bytes = keep_bytes
        # dev.vk.com lists user and service tokens for wall.get; community tokens unverified.
        self.community_can_read_wall = community_can_read_wall
        self.hang_seconds = hang_seconds
        self.app = web.Application(client_max_size=0)
        self.app.router.add_route("*", "/method/{name}", self._method)
        self.app.router.add_post("/upload/{kind}/{ticket}", self._upload)
        self._runner: web.AppRunner | None = None
        self._base = ""
        self._release = asyncio.Event()
        self.hanging = asyncio.Event()  # set when a request starts hanging
        self._handlers: dict[str, Handler] = {
            "wall.post": self._wall_post,
            "wall.edit": self._wall_edit,
            "wall.delete": self._wall_delete,
            "wall.get": self._wall_get,
            "wall.getById": self._wall_get_by_id,
            "photos.getWallUploadServer": self._photos_get_wall_upload_server,
            "photos.saveWallPhoto": self._photos_save_wall_photo,
            "video.save": self._video_save,
            "docs.getWallUploadServer": self._docs_get_wall_upload_server,
            "docs.save": self._docs_save,
            "groups.getById": self._groups_get_by_id,
            "groups.getTokenPermissions": self._groups_get_token_permissions,
            "account.getAppPermissions": self._account_get_app_permissions,
            "users.get": self._users_get,
        }
        self.reset()

    # --- lifecycle ---------------------------------------------------------------------

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Serve on host:port (0 = any free port); returns the api_base for the config."""
        self._release = asyncio.Event()
        self.hanging = asyncio.Event()
        self._runner = web.AppRunner(self.app, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        real_port = self._runner.addresses[0][1]
        self._base = f"http://{host}:{real_port}"
        return f"{self._base}/method"

    async def stop(self) -> None:
        self._release.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def release_hangs(self) -> None:
        self._release.set()

    def reset(self) -> None:
        """Forget every group, token, post, upload, fault and recorded call."""
        if hasattr(self, "_release"):
            self._release.set()  # let any hanging request finish before state is replaced
        self.groups: dict[int, EmuGroup] = {}
        self.tokens: dict[str, EmuToken] = {}
        self.posts: dict[int, dict[int, EmuPost]] = {}  # owner_id -> post_id -> post
        self.media_by_attachment: dict[str, EmuMedia] = {}
        self.calls: list[RecordedCall] = []
        self.uploads: list[EmuMedia] = []
        self.faults: list[Fault] = []
        self._tickets: dict[str, _Ticket] = {}
        self._pending_files: dict[str, EmuMedia] = {}
        self._windows: dict[str, deque[float]] = {}
        # Requests VK refused with error 6 (too many per second), per token kind.
        self.rate_violations: dict[TokenKind, int] = {}
        self._ids = itertools.count(1)
        self._release = asyncio.Event()

    # --- seeding and reading state -----------------------------------------------------

    def add_group(
        self,
        group_id: int,
        name: str = "",
        members_count: int = 0,
        *,
        community_token: str | None = None,
        user_token: str | None = None,
        community_scopes: frozenset[str] = DEFAULT_COMMUNITY_SCOPES,
        user_scopes: frozenset[str] = DEFAULT_USER_SCOPES,
        user_id: int = 1000,
    ) -> EmuGroup:
        """Add a community; optionally a community token and an admin's user token for it."""
        group = EmuGroup(
            group_id=group_id,
            name=name or f"club{group_id}",
            members_count=members_count,
            screen_name=f"club{group_id}",
        )
        self.groups[group_id] = group
        self.posts.setdefault(-group_id, {})
        if community_token is not None:
            self.add_community_token(community_token, group_id, scopes=community_scopes)
        if user_token is not None:
            self.add_user_token(user_token, user_id=user_id, scopes=user_scopes, admin_of=group_id)
        return group

    def add_user_token(
        self,
        token: str,
        *,
        user_id: int = 1000,
        scopes: frozenset[str] = DEFAULT_USER_SCOPES,
        admin_of: int | None = None,
        vk_id: bool = False,
    ) -> None:
        kind = TokenKind.VK_ID if vk_id else TokenKind.USER
        self.tokens[token] = EmuToken(kind=kind, user_id=user_id, scopes=scopes)
        if admin_of is not None:
            self.groups[admin_of].admins.add(user_id)

    def add_community_token(
        self, token: str, group_id: int, *, scopes: frozenset[str] = DEFAULT_COMMUNITY_SCOPES
    ) -> None:
        self.tokens[token] = EmuToken(kind=TokenKind.COMMUNITY, group_id=group_id, scopes=scopes)

    def revoke(self, token: str) -> None:
        self.tokens[token].revoked = True

    def wall(self, group_id: int, *, include_deleted: bool = False) -> list[EmuPost]:
        """The community's posts, oldest first."""
        posts = self.posts.get(-group_id, {}).values()
        return [p for p in posts if include_deleted or not p.deleted]

    def media(self, attachment: str) -> EmuMedia:
        """The uploaded file behind an attachment string such as "photo-1_2"."""
        return self.media_by_attachment[attachment]

    # -- statistics (issue 10): seed what groups.getById and wall.getById answer --

    def set_members(self, group_id: int, members_count: int) -> None:
        self.groups[group_id].members_count = members_count

    def set_views(self, group_id: int, post_id: int, views: int) -> None:
        self.posts[-group_id][post_id].views = views

    def add_post(self, group_id: int, text: str, *, date: int | None = None) -> EmuPost:
        """Put a post on a wall directly (as if staff wrote it by hand)."""
        return self._create_post(
            -group_id, text, [], None, from_id=-group_id, created_by=0, date=date
        )

    def fail_next(
        self,
        method: str | None = None,
        *,
        error: int | None = None,
        status: int | None = None,
        hang: bool = False,
        drop: bool = False,
        after: bool = False,
        times: int = 1,
    ) -> None:
        """Make the next `times` calls of `method` (None: any; "upload": an upload) fail.

        error: answer this VK error code; status: answer this HTTP status; hang: never answer
        (until stop() or release_hangs()); drop: close the connection without an answer.
        after=True performs the method first, so the effect exists but the answer is lost.
        """
        if sum((error is not None, status is not None, hang, drop)) != 1:
            raise ValueError("give exactly one of error, status, hang, drop")
        for _ in range(times):
            self.faults.append(
                Fault(method=method, error=error, status=status, hang=hang, drop=drop, after=after)
            )

    # --- HTTP --------------------------------------------------------------------------

    async def _method(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        params: dict[str, str] = dict(request.query)
        if request.method == "POST" and request.can_read_body:
            form = await request.post()
            params.update({k: v for k, v in form.items() if isinstance(v, str)})
        token_value = params.pop("access_token", "")
        auth = request.headers.get("Authorization", "")
        if not token_value and auth.startswith("Bearer "):
            token_value = auth.removeprefix("Bearer ").strip()
        token = self.tokens.get(token_value)
        self.calls.append(
            RecordedCall(
                method=name, params=dict(params), token_kind=token.kind if token else None
            )
        )
        fault = self._take_fault(name)
        if fault is not None and not fault.after:
            return await self._apply_fault(request, fault, name, params)
        try:
            response = await self._dispatch(name, params, token_value, token)
        except VkApiError as exc:
            return self._error(exc, name, params)
        if fault is not None:
            return await self._apply_fault(request, fault, name, params)
        return web.json_response({"response": response})

    async def _dispatch(
        self, name: str, params: dict[str, str], token_value: str, token: EmuToken | None
    ) -> object:
        handler = self._handlers.get(name)
        if handler is None:
            raise VkApiError(3)
        version = params.get("v")
        if not version:
            raise VkApiError(8, "Invalid request: v (version) is required")
        try:
            major, minor = (int(x) for x in version.split(".")[:2])
        except ValueError:
            raise VkApiError(8, "Invalid request: v (version) is invalid") from None
        if (major, minor) < (5, 0):
            raise VkApiError(8, "Invalid request: versions below 5.0 are no longer supported")
        if not token_value:
            raise VkApiError(5, "User authorization failed: no access_token passed.")
        if token is None or token.revoked:
            raise VkApiError(5)
        self._rate_limit(token_value, token)
        return await handler(params, token_value, token)

    def _rate_limit(self, token_value: str, token: EmuToken) -> None:
        rate = self.community_rate if token.kind is TokenKind.COMMUNITY else self.user_rate
        now = self.clock()
        window = self._windows.setdefault(token_value, deque())
        while window and window[0] <= now - RATE_WINDOW_SECONDS:
            window.popleft()
        if len(window) >= rate:
            self.rate_violations[token.kind] = self.rate_violations.get(token.kind, 0) + 1
            raise VkApiError(6)
        window.append(now)

    def _take_fault(self, name: str) -> Fault | None:
        for i, fault in enumerate(self.faults):
            if fault.method is None or fault.method == name:
                return self.faults.pop(i)
        return None

    async def _apply_fault(
        self, request: web.Request, fault: Fault, name: str, params: dict[str, str]
    ) -> web.StreamResponse:
        if fault.error is not None:
            return self._error(VkApiError(fault.error), name, params)
        if fault.status is not None:
            return web.Response(status=fault.status, text="<html>Bad Gateway</html>")
        if fault.hang:
            self.hanging.set()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.hang_seconds):
                    await self._release.wait()
            return web.Response(status=504)
        transport = request.transport
        if transport is not None:
            transport.abort()
        return web.Response(status=500)

    def _error(self, exc: VkApiError, name: str, params: dict[str, str]) -> web.Response:
        request_params = [{"key": "method", "value": name}] + [
            {"key": k, "value": v} for k, v in params.items()
        ]
        error: dict[str, object] = {
            "error_code": exc.code,
            "error_msg": exc.message,
            "request_params": request_params,
        }
        if exc.code == 14:
            sid = secrets.token_hex(6)
            error["captcha_sid"] = sid
            error["captcha_img"] = f"{self._base}/captcha.php?sid={sid}"
        if exc.code == 17:
            error["redirect_uri"] = f"{self._base}/validate"
        error.update(exc.extra)
        return web.json_response({"error": error})

    # --- rules -------------------------------------------------------------------------

    @staticmethod
    def _require(params: Mapping[str, str], *names: str) -> list[str]:
        values = []
        for name in names:
            value = params.get(name, "")
            if value == "":
                raise VkApiError(100, f"{ERROR_MESSAGES[100]}: {name} is missing or invalid")
            values.append(value)
        return values

    @staticmethod
    def _int(value: str, name: str) -> int:
        try:
            return int(value)
        except ValueError:
            raise VkApiError(100, f"{ERROR_MESSAGES[100]}: {name} not integer") from None

    def _group(self, group_id: int) -> EmuGroup:
        group = self.groups.get(group_id)
        if group is None:
            raise VkApiError(100, f"{ERROR_MESSAGES[100]}: group_id is undefined")
        return group

    @staticmethod
    def _user_only(token: EmuToken) -> None:
        if token.kind is TokenKind.COMMUNITY:
            raise VkApiError(27)

    @staticmethod
    def _scope(token: EmuToken, scope: str) -> None:
        if scope not in token.scopes:
            raise VkApiError(15, f"Access denied: no access to call this method ({scope})")

    def _can_manage(self, token: EmuToken, group_id: int, *, user_scope: str) -> None:
        """User tokens: scope + admin of the group. Community tokens: their own group."""
        if token.kind is TokenKind.COMMUNITY:
            if token.group_id != group_id:
                raise VkApiError(15, "Access denied: wrong community")
            return
        self._scope(token, user_scope)
        if token.user_id not in self._group(group_id).admins:
            raise VkApiError(15, "Access denied: you are not an administrator of this community")

    def _wall_owner(self, params: Mapping[str, str]) -> int:
        (owner_raw,) = self._require(params, "owner_id")
        owner_id = self._int(owner_raw, "owner_id")
        if owner_id >= 0:
            raise VkApiError(15, "Access denied: only community walls are emulated")
        self._group(-owner_id)
        return owner_id

    def _check_attachments(self, raw: str) -> list[str]:
        items = [a.strip() for a in raw.split(",") if a.strip()]
        links = [a for a in items if a.startswith(("http://", "https://"))]
        media = [a for a in items if a not in links]
        if len(links) > 1:
            raise VkApiError(100, f"{ERROR_MESSAGES[100]}: attachments: more than one link")
        if len(media) > MAX_WALL_ATTACHMENTS:
            raise VkApiError(100, f"{ERROR_MESSAGES[100]}: attachments: too many")
        for att in media:
            base = "_".join(att.split("_")[:2])
            if base not in self.media_by_attachment:
                raise VkApiError(100, f"{ERROR_MESSAGES[100]}: attachments: {att} not found")
        return items

    def _create_post(
        self,
        owner_id: int,
        text: str,
        attachments: list[str],
        guid: str | None,
        *,
        from_id: int,
        created_by: int,
        date: int | None = None,
    ) -> EmuPost:
        wall = self.posts.setdefault(owner_id, {})
        post_id = max(wall, default=0) + 1
        post = EmuPost(
            post_id=post_id,
            owner_id=owner_id,
            from_id=from_id,
            date=int(self.clock()) if date is None else date,
            text=text,
            attachments=attachments,
            guid=guid,
            created_by=created_by,
        )
        wall[post_id] = post
        return post

    def _find_post(self, owner_id: int, post_id_raw: str) -> EmuPost:
        post = self.posts.get(owner_id, {}).get(self._int(post_id_raw, "post_id"))
        if post is None or post.deleted:
            raise VkApiError(100, f"{ERROR_MESSAGES[100]}: post_id is invalid")
        return post

    def _post_json(self, post: EmuPost) -> dict[str, object]:
        attachments: list[dict[str, object]] = []
        for att in post.attachments:
            if att.startswith(("http://", "https://")):
                attachments.append({"type": "link", "link": {"url": att, "title": att}})
                continue
            media = self.media_by_attachment.get("_".join(att.split("_")[:2]))
            if media is None:
                continue
            attachments.append(
                {
                    "type": media.kind,
                    media.kind: {
                        "id": media.media_id,
                        "owner_id": media.owner_id,
                        "title": media.title,
                    },
                }
            )
        result: dict[str, object] = {
            "id": post.post_id,
            "owner_id": post.owner_id,
            "from_id": post.from_id,
            "created_by": post.created_by,
            "date": post.date,
            "text": post.text,
            "post_type": "post",
            "attachments": attachments,
        }
        if post.edited is not None:
            result["edited"] = post.edited
        result["views"] = {"count": post.views}  # statistics (issue 10)
        return result

    # --- methods -----------------------------------------------------------------------

    async def _wall_post(self, params: dict[str, str], _: str, token: EmuToken) -> object:
        owner_id = self._wall_owner(params)
        if token.kind is TokenKind.VK_ID:
            raise VkApiError(1051)
        self._can_manage(token, -owner_id, user_scope="wall")
        if params.get("from_group") != "1":
            raise VkApiError(15, "Access denied: community tokens post only with from_group=1")
        message = params.get("message", "")
        attachments = self._check_attachments(params.get("attachments", ""))
        if not message and not attachments:
            raise VkApiError(100, f"{ERROR_MESSAGES[100]}: message is empty or invalid")
        guid = params.get("guid") or None
        if guid is not None:
            now = self.clock()
            for post in self.posts[owner_id].values():
                if (
                    post.guid == guid
                    and not post.deleted
                    and now - post.date < GUID_WINDOW_SECONDS
                ):
                    return {"post_id": post.post_id}
        post = self._create_post(
            owner_id,
            message,
            attachments,
            guid,
            from_id=owner_id,
            created_by=token.user_id,
        )
        return {"post_id": post.post_id}

    async def _wall_edit(self, params: dict[str, str], _: str, token: EmuToken) -> object:
        owner_id = self._wall_owner(params)
        if token.kind is TokenKind.VK_ID:
            raise VkApiError(1051)
        self._user_only(token)
        self._can_manage(token, -owner_id, user_scope="wall")
        (post_id,) = self._require(params, "post_id")
        post = self._find_post(owner_id, post_id)
        message = params.get("message", "")
        attachments = self._check_attachments(params.get("attachments", ""))
        if not message and not attachments:
            raise VkApiError(100, f"{ERROR_MESSAGES[100]}: message is empty or invalid")
        # wall.edit replaces the post: attachments not passed again are removed.
        post.text = message
        post.attachments = attachments
        post.edited = int(self.clock())
        return {"post_id": post.post_id}

    async def _wall_delete(self, params: dict[str, str], _: str, token: EmuToken) -> object:
        owner_id = self._wall_owner(params)
        self._user_only(token)
        self._can_manage(token, -owner_id, user_scope="wall")
        (post_id,) = self._require(params, "post_id")
        self._find_post(owner_id, post_id).deleted = True
        return 1

    async def _wall_get(self, params: dict[str, str], _: str, token: EmuToken) -> object:
        if token.kind is TokenKind.COMMUNITY and not self.community_can_read_wall:
            raise VkApiError(27)
        owner_id = self._wall_owner(params)
        count = min(self._int(params.get("count", "20"), "count"), 100)
        offset = self._int(params.get("offset", "0"), "offset")
        posts = [p for p in self.posts[owner_id].values() if not p.deleted]
        if params.get("filter") == "owner":
            posts = [p for p in posts if p.from_id == owner_id]
        posts.sort(key=lambda p: p.post_id, reverse=True)
        return {
            "count": len(posts),
            "items": [self._post_json(p) for p in posts[offset : offset + count]],
        }

    async def _wall_get_by_id(self, params: dict[str, str], _: str, token: EmuToken) -> object:
        self._user_only(token)
        (posts_raw,) = self._require(params, "posts")
        items = []
        for ref in posts_raw.split(","):
            owner_raw, _sep, post_raw = ref.strip().partition("_")
            owner_id = self._int(owner_raw, "posts")
            post = self.posts.get(owner_id, {}).get(self._int(post_raw or "x", "posts"))
            if post is not None and not post.deleted:
                items.append(self._post_json(post))
        return {"items": items}

    def _ticket(self, kind: str, group_id: int, token: str, video: EmuMedia | None = None) -> str:
        ticket = secrets.token_hex(8)
        self._tickets[ticket] = _Ticket(kind=kind, group_id=group_id, token=token, video=video)
        return f"{self._base}/upload/{kind}/{ticket}"

    async def _photos_get_wall_upload_server(
        self, params: dict[str, str], token_value: str, token: EmuToken
    ) -> object:
        self._user_only(token)
        (gid,) = self._require(params, "group_id")
        group_id = self._int(gid, "group_id")
        self._can_manage(token, group_id, user_scope="photos")
        return {
            "upload_url": self._ticket("photo", group_id, token_value),
            "album_id": -14,
            "user_id": token.user_id,
        }

    async def _photos_save_wall_photo(
        self, params: dict[str, str], token_value: str, token: EmuToken
    ) -> object:
        self._user_only(token)
        gid, _server, photo, hash_ = self._require(params, "group_id", "server", "photo", "hash")
        group_id = self._int(gid, "group_id")
        self._can_manage(token, group_id, user_scope="photos")
        try:
            parsed = json.loads(photo)
            key = parsed[0]["key"]
        except (ValueError, KeyError, IndexError, TypeError):
            raise VkApiError(100, f"{ERROR_MESSAGES[100]}: photo is undefined") from None
        media = self._pending_files.pop(key, None)
        if media is None or hash_ != hashlib.md5(key.encode()).hexdigest():  # noqa: S324
            raise VkApiError(100, f"{ERROR_MESSAGES[100]}: photo is undefined")
        media.owner_id = -group_id
        media.media_id = next(self._ids)
        self.media_by_attachment[media.attachment] = media
        return [
            {
                "id": media.media_id,
                "owner_id": media.owner_id,
                "album_id": -14,
                "date": int(self.clock()),
                "sizes": [],
                "text": "",
            }
        ]

    async def _video_save(
        self, params: dict[str, str], token_value: str, token: EmuToken
    ) -> object:
        self._user_only(token)
        (gid,) = self._require(params, "group_id")
        group_id = self._int(gid, "group_id")
        self._can_manage(token, group_id, user_scope="video")
        name = params.get("name", "")
        if len(name) > 128:
            raise VkApiError(100, f"{ERROR_MESSAGES[100]}: name is too long")
        video = EmuMedia(
            kind="video",
            owner_id=-group_id,
            media_id=next(self._ids),
            file_name="",
            field_name="",
            size=0,
            sha256="",
            data=None,
            title=name,
        )
        access_key = secrets.token_hex(8)
        return {
            "upload_url": self._ticket("video", group_id, token_value, video),
            "video_id": video.media_id,
            "owner_id": video.owner_id,
            "title": name,
            "description": params.get("description", ""),
            "access_key": access_key,
        }

    async def _docs_get_wall_upload_server(
        self, params: dict[str, str], token_value: str, token: EmuToken
    ) -> object:
        (gid,) = self._require(params, "group_id")
        group_id = self._int(gid, "group_id")
        self._can_manage(token, group_id, user_scope="docs")
        if token.kind is TokenKind.COMMUNITY:
            self._scope(token, "docs")
        return {"upload_url": self._ticket("doc", group_id, token_value)}

    async def _docs_save(
        self, params: dict[str, str], token_value: str, token: EmuToken
    ) -> object:
        (file_key,) = self._require(params, "file")
        media = self._pending_files.get(file_key)
        if media is None or media.kind != "doc":
            raise VkApiError(100, f"{ERROR_MESSAGES[100]}: file is undefined")
        if media.uploaded_with != token_value:
            raise VkApiError(15, "Access denied: the file was uploaded with another token")
        del self._pending_files[file_key]
        media.media_id = next(self._ids)
        media.title = params.get("title") or media.file_name
        self.media_by_attachment[media.attachment] = media
        ext = media.file_name.rpartition(".")[2] if "." in media.file_name else ""
        return {
            "type": "doc",
            "doc": {
                "id": media.media_id,
                "owner_id": media.owner_id,
                "title": media.title,
                "size": media.size,
                "ext": ext,
                "url": f"{self._base}/doc{media.owner_id}_{media.media_id}",
                "date": int(self.clock()),
                "type": 8,
            },
        }

    async def _groups_get_by_id(self, params: dict[str, str], _: str, token: EmuToken) -> object:
        raw = params.get("group_id") or params.get("group_ids")
        if not raw:
            if token.kind is not TokenKind.COMMUNITY:
                raise VkApiError(100, f"{ERROR_MESSAGES[100]}: group_ids is undefined")
            raw = str(token.group_id)
        fields = set(params.get("fields", "").split(","))
        groups = []
        for part in raw.split(","):
            group = self._group(self._int(part.strip(), "group_id"))
            item: dict[str, object] = {
                "id": group.group_id,
                "name": group.name,
                "screen_name": group.screen_name,
                "is_closed": 0,
                "type": "page",
            }
            if token.kind is not TokenKind.COMMUNITY:
                admin = token.user_id in group.admins
                item["is_admin"] = int(admin)
                if admin:
                    item["admin_level"] = 3
            if "members_count" in fields:
                item["members_count"] = group.members_count
            groups.append(item)
        return {"groups": groups, "profiles": []}

    async def _groups_get_token_permissions(
        self, params: dict[str, str], _: str, token: EmuToken
    ) -> object:
        if token.kind is not TokenKind.COMMUNITY:
            raise VkApiError(15, "Access denied: available only for community tokens")
        names = sorted(n for n in token.scopes if n in COMMUNITY_SCOPE_BITS)
        return {
            "mask": sum(COMMUNITY_SCOPE_BITS[n] for n in names),
            "permissions": [{"name": n, "setting": COMMUNITY_SCOPE_BITS[n]} for n in names],
        }

    async def _account_get_app_permissions(
        self, params: dict[str, str], _: str, token: EmuToken
    ) -> object:
        self._user_only(token)
        (user_id,) = self._require(params, "user_id")
        if self._int(user_id, "user_id") != token.user_id:
            raise VkApiError(15, "Access denied: another user's settings")
        return sum(USER_SCOPE_BITS.get(scope, 0) for scope in token.scopes)

    async def _users_get(self, params: dict[str, str], _: str, token: EmuToken) -> object:
        if params.get("user_ids"):
            raise VkApiError(100, f"{ERROR_MESSAGES[100]}: only the token's own user is emulated")
        if token.kind is TokenKind.COMMUNITY:
            return []
        return [
            {
                "id": token.user_id,
                "first_name": "Админ",
                "last_name": f"Номер{token.user_id}",
                "can_access_closed": True,
                "is_closed": False,
            }
        ]

    # --- upload servers ----------------------------------------------------------------

    async def _upload(self, request: web.Request) -> web.StreamResponse:
        kind = request.match_info["kind"]
        ticket = self._tickets.get(request.match_info["ticket"])
        self.calls.append(RecordedCall(method=f"upload.{kind}", params={}, token_kind=None))
        fault = self._take_fault("upload")
        if fault is not None:
            return await self._apply_fault(request, fault, "upload", {})
        if ticket is None or ticket.kind != kind:
            return web.json_response({"error": "invalid upload url"})
        expected = {"photo": ("photo", "file0"), "video": ("video_file",), "doc": ("file",)}[kind]
        media: EmuMedia | None = None
        if request.content_type == "multipart/form-data":
            reader = await request.multipart()
            async for part in reader:
                if not isinstance(part, BodyPartReader) or part.name not in expected:
                    continue
                media = await self._read_part(kind, part)
        if media is None:
            # VK's answers for a missing or misnamed file field.
            if kind == "photo":
                return web.json_response({"server": 1, "photo": "[]", "hash": ""})
            return web.json_response({"error": f"no file in field {expected[0]!r}"})
        self.uploads.append(media)
        if kind == "photo":
            key = secrets.token_hex(8)
            self._pending_files[key] = media
            return web.json_response(
                {
                    "server": 1,
                    "photo": json.dumps([{"key": key, "photo": media.sha256[:10]}]),
                    "hash": hashlib.md5(key.encode()).hexdigest(),  # noqa: S324
                }
            )
        if kind == "video":
            video = ticket.video
            if video is None:
                return web.json_response({"error": "invalid upload url"})
            video.file_name, video.field_name = media.file_name, media.field_name
            video.size, video.sha256, video.data = media.size, media.sha256, media.data
            self.media_by_attachment[video.attachment] = video
            del self._tickets[request.match_info["ticket"]]
            return web.json_response(
                {
                    "video_hash": video.sha256[:16],
                    "size": video.size,
                    "owner_id": video.owner_id,
                    "video_id": video.media_id,
                }
            )
        key = secrets.token_hex(12)
        media.owner_id = -ticket.group_id
        media.uploaded_with = ticket.token
        self._pending_files[key] = media
        return web.json_response({"file": key})

    async def _read_part(self, kind: str, part: BodyPartReader) -> EmuMedia:
        digest = hashlib.sha256()
        size = 0
        chunks: list[bytes] = []
        while chunk := await part.read_chunk(64 * 1024):
            digest.update(chunk)
            size += len(chunk)
            if self.keep_bytes:
                chunks.append(chunk)
        return EmuMedia(
            kind=kind,
            owner_id=0,
            media_id=0,
            file_name=part.filename or "",
            field_name=part.name or "",
            size=size,
            sha256=digest.hexdigest(),
            data=b"".join(chunks) if self.keep_bytes else None,
        )
