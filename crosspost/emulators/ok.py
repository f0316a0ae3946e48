"""An OK API emulator: `fb.do` for the methods crosspost uses, plus the upload hosts it hands out.

It follows OK's documented behaviour (platforms.md §3): errors come with HTTP 200 as
`{"error_data": null, "error_code": N, "error_msg": "NAME : text"}`, the signature is checked
strictly (a wrong one is 104), required parameters are enforced, and uploads keep their bytes.
Tests and the sandbox seed it with add_app / add_token / add_group and read `topics`, `photos`,
`videos` and `calls`. `fail_next` injects OK errors, HTTP statuses and hangs.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import json
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import BodyPartReader, web

ALL_PERMISSIONS = frozenset(
    {"VALUABLE_ACCESS", "LONG_ACCESS_TOKEN", "GROUP_CONTENT", "PHOTO_CONTENT", "VIDEO_CONTENT"}
)
COUNTER_TYPES = frozenset(
    {
        "themes",
        "photo_albums",
        "members",
        "videos",
        "links",
        "presents",
        "moderators",
        "join_requests",
        "black_list",
        "maybe",
        "photos",
    }
)
ERROR_NAMES: Mapping[int, str] = {
    1: "UNKNOWN",
    2: "SERVICE",
    3: "METHOD",
    4: "REQUEST",
    7: "ACTION_BLOCKED",
    8: "FLOOD_BLOCKED",
    9: "IP_BLOCKED",
    10: "PERMISSION_DENIED",
    11: "LIMIT_REACHED",
    31: "NETWORK_TIMEOUT",
    50: "NOT_ADMIN",
    100: "PARAM",
    101: "PARAM_API_KEY",
    102: "PARAM_SESSION_EXPIRED",
    103: "PARAM_SESSION_KEY",
    104: "PARAM_SIGNATURE",
    160: "PARAM_GROUP_ID",
    200: "PARAM_PERMISSION",
    210: "APP_DISABLED",
    300: "NOT_FOUND",
    454: "CENSOR_MATCH",
    500: "PHOTO_SIZE_LIMIT_EXCEEDED",
    600: "MEDIA_TOPIC_TOO_MANY_MEDIA",
    601: "MEDIA_TOPIC_TEXT_TOO_LONG",
    607: "MEDIA_TOPIC_LINK_BAD_FORMAT",
    5000: "INVALID_RESPONSE",
    9999: "SYSTEM",
}
# video.get statuses: a topic may show a video only once it is OK (platforms.md §6).
VIDEO_UPLOADING = "UPLOADING"
VIDEO_PROCESSING = "PROCESSING"
VIDEO_READY = "OK"
VIDEO_MIN_SIZE = 16 * 1024
VIDEO_MAX_SIZE = 1024 * 1024 * 1024
FIRST_TOPIC_ID = 70102413183763


class OkApiError(Exception):
    def __init__(self, code: int, text: str = "") -> None:
        super().__init__(code, text)
        self.code = code
        self.text = text

    def body(self) -> dict[str, Any]:
        name = ERROR_NAMES.get(self.code, "UNKNOWN")
        message = f"{name} : {self.text}" if self.text else name
        return {"error_data": None, "error_code": self.code, "error_msg": message}


@dataclass
class OkApp:
    application_key: str
    application_secret_key: str


@dataclass
class OkToken:
    access_token: str
    session_secret_key: str | None = None
    expired: bool = False
    uid: str = "574829000001"
    permissions: set[str] = field(default_factory=lambda: set(ALL_PERMISSIONS))
    touches: int = 0


@dataclass
class OkGroup:
    gid: str
    name: str
    members: int


@dataclass
class OkTopic:
    topic_id: str
    gid: str
    attachment: dict[str, Any]
    attachment_raw: str
    created_at: datetime
    deleted: bool = False
    views: int = 0  # statistics (issue 10)

    @property
    def media(self) -> list[dict[str, Any]]:
        media = self.attachment.get("media")
        return media if isinstance(media, list) else []

    @property
    def text(self) -> str:
        return "\n".join(
            str(block.get("text", "")) for block in self.media if block.get("type") == "text"
        )

    def blocks(self, kind: str) -> list[dict[str, Any]]:
        return [block for block in self.media if block.get("type") == kind]


@dataclass
class UploadedPhoto:
    photo_id: str
    gid: str | None
    token: str
    data: bytes = b""
    file_name: str = ""
    content_type: str = ""
    field_name: str = ""
    uploaded: bool = False


@dataclass
class UploadedVideo:
    video_id: str
    gid: str | None
    file_name: str
    declared_size: int
    data: bytes = b""
    uploaded: bool = False
    finished: bool = False
    title: str = ""
    size: int = 0
    sha256: str = ""
    field_name: str = ""
    # When video.update finished the upload; processing runs from then.
    finished_at: datetime | None = None


@dataclass
class Fault:
    """What the next matching request gets. `after_effect` lets the call take effect first
    (a topic is created, then the answer is lost or replaced)."""

    method: str | None = None
    error_code: int | None = None
    error_text: str = ""
    http_status: int | None = None
    hang: bool = False
    after_effect: bool = False


@dataclass(frozen=True)
class RecordedCall:
    method: str
    params: Mapping[str, str]


def _md5(value: str) -> str:
    return hashlib.md5(value.encode("utf-8"), usedforsecurity=False).hexdigest().lower()


class OkEmulator:
    """OK's fb.do and upload hosts on 127.0.0.1. State is plain dicts that tests may read."""

    def __init__(
        self,
        *,
        text_limit: int = 20_000,
        max_media_per_topic: int = 80,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        keep_bytes: bool = True,
        video_processing: timedelta = timedelta(0),
    ) -> None:
        self.text_limit = text_limit
        self.max_media_per_topic = max_media_per_topic
        self._now = now
        # False: uploads are hashed as they stream in and not kept (large-file benchmarks).
        self.keep_bytes = keep_bytes
        # How long a video stays PROCESSING after video.update; hold_processing keeps every
        # video processing until it is cleared.
        self.video_processing = video_processing
        self.hold_processing = False
        # Video ids OK fails to process (video.get answers ERROR).
        self.broken_videos: set[str] = set()
        self.app = web.Application(client_max_size=VIDEO_MAX_SIZE + 1024 * 1024)
        self.app.router.add_route("*", "/fb.do", self._handle_api)
        self.app.router.add_post("/upload/photo/{upload_id}", self._handle_photo_upload)
        self.app.router.add_post("/upload/video/{video_id}", self._handle_video_upload)
        self._runner: web.AppRunner | None = None
        self.base_url = ""
        self._release = asyncio.Event()
        self.reset()

    # -- lifecycle ------------------------------------------------------------------------

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Serve on host:port (0 = any free port); returns the api_base for `ok.api_base`."""
        self._release = asyncio.Event()
        self._runner = web.AppRunner(self.app, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        bound_port = self._runner.addresses[0][1]
        self.base_url = f"http://{host}:{bound_port}"
        return f"{self.base_url}/fb.do"

    async def stop(self) -> None:
        self._release.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def reset(self) -> None:
        """Forget everything: apps, tokens, groups, topics, uploads, faults and calls."""
        self._release.set()
        self._release = asyncio.Event()
        self.apps: dict[str, OkApp] = {}
        self.tokens: dict[str, OkToken] = {}
        self.groups: dict[str, OkGroup] = {}
        self.topics: dict[str, OkTopic] = {}
        self.photos: dict[str, UploadedPhoto] = {}
        self.videos: dict[str, UploadedVideo] = {}
        self.calls: list[RecordedCall] = []
        self.uploads: list[str] = []
        # Topics that showed a video which was not ready yet: a broken post on the real site.
        self.unready_video_topics: list[str] = []
        self._unready_in_post: list[str] = []
        self._photo_uploads: dict[str, list[str]] = {}
        self._faults: list[Fault] = []
        self._topic_ids = itertools.count(FIRST_TOPIC_ID)
        self._video_ids = itertools.count(5_000_000_000)
        self.hanging = 0

    def release_hangs(self) -> None:
        """Let every hanging request finish (its client has usually given up by then)."""
        self._release.set()
        self._release = asyncio.Event()

    # -- seeding --------------------------------------------------------------------------

    def add_app(self, application_key: str, application_secret_key: str) -> OkApp:
        app = OkApp(application_key, application_secret_key)
        self.apps[application_key] = app
        return app

    def add_token(
        self,
        access_token: str,
        session_secret_key: str | None = None,
        expired: bool = False,
        *,
        uid: str = "574829000001",
        permissions: frozenset[str] | set[str] = ALL_PERMISSIONS,
    ) -> OkToken:
        token = OkToken(
            access_token=access_token,
            session_secret_key=session_secret_key,
            expired=expired,
            uid=uid,
            permissions=set(permissions),
        )
        self.tokens[access_token] = token
        return token

    def expire_token(self, access_token: str, expired: bool = True) -> None:
        self.tokens[access_token].expired = expired

    def add_group(self, gid: str, name: str = "Group", members: int = 0) -> OkGroup:
        group = OkGroup(str(gid), name, members)
        self.groups[group.gid] = group
        return group

    # -- statistics (issue 10): seed what group.getCounters and mediatopic.getByIds answer --

    def set_members(self, gid: str, members: int) -> None:
        self.groups[str(gid)].members = members

    def set_views(self, topic_id: str, views: int) -> None:
        self.topics[topic_id].views = views

    def add_topic(self, gid: str, text: str, *, created_at: datetime | None = None) -> OkTopic:
        """A topic someone else posted (for reconcile tests)."""
        attachment = {"media": [{"type": "text", "text": text}]}
        return self._create_topic(
            gid, attachment, json.dumps(attachment, ensure_ascii=False), created_at
        )

    def fail_next(
        self,
        method: str | None = None,
        *,
        error_code: int | None = None,
        error_text: str = "",
        http_status: int | None = None,
        hang: bool = False,
        after_effect: bool = False,
        times: int = 1,
    ) -> None:
        """Queue a fault for the next request to `method` (None: any request). Upload hosts
        count as methods "upload.photo" and "upload.video"."""
        if error_code is None and http_status is None and not hang:
            raise ValueError("fail_next needs error_code, http_status or hang")
        fault = Fault(method, error_code, error_text, http_status, hang, after_effect)
        self._faults.extend([fault] * times)

    # -- reading --------------------------------------------------------------------------

    def group_topics(self, gid: str) -> list[OkTopic]:
        return [t for t in self.topics.values() if t.gid == str(gid) and not t.deleted]

    def topic_photos(self, topic: OkTopic) -> list[UploadedPhoto]:
        """The uploaded photos a topic shows, in order."""
        by_token = {photo.token: photo for photo in self.photos.values()}
        return [
            by_token[item["id"]]
            for block in topic.blocks("photo")
            for item in block.get("list", [])
            if item.get("id") in by_token
        ]

    def topic_videos(self, topic: OkTopic) -> list[UploadedVideo]:
        return [
            self.videos[str(item.get("id"))]
            for block in topic.blocks("movie")
            for item in block.get("list", [])
            if str(item.get("id")) in self.videos
        ]

    def calls_to(self, method: str) -> list[RecordedCall]:
        return [call for call in self.calls if call.method == method]

    # -- fb.do ----------------------------------------------------------------------------

    async def _handle_api(self, request: web.Request) -> web.StreamResponse:
        params: dict[str, str] = dict(request.query)
        if request.method == "POST":
            form = await request.post()
            params.update({k: v for k, v in form.items() if isinstance(v, str)})
        method = params.get("method", "")
        self.calls.append(
            RecordedCall(
                method, {k: v for k, v in params.items() if k not in ("access_token", "sig")}
            )
        )
        fault = self._take_fault(method)
        try:
            if fault is not None and not fault.after_effect:
                return await self._apply_fault(fault)
            token = self._authenticate(method, params)
            result = self._dispatch(method, params, token)
        except OkApiError as exc:
            return web.json_response(exc.body())
        if fault is not None:
            return await self._apply_fault(fault)
        return web.json_response(result, dumps=lambda v: json.dumps(v, ensure_ascii=False))

    def _take_fault(self, method: str) -> Fault | None:
        for index, fault in enumerate(self._faults):
            if fault.method is None or fault.method == method:
                return self._faults.pop(index)
        return None

    async def _apply_fault(self, fault: Fault) -> web.StreamResponse:
        if fault.hang:
            self.hanging += 1
            try:
                await self._release.wait()
            finally:
                self.hanging -= 1
            return web.Response(status=503)
        if fault.http_status is not None:
            return web.Response(status=fault.http_status, text="Service Unavailable")
        assert fault.error_code is not None  # noqa: S101 - fail_next guarantees it
        return web.json_response(OkApiError(fault.error_code, fault.error_text).body())

    def _authenticate(self, method: str, params: Mapping[str, str]) -> OkToken:
        if not method:
            raise OkApiError(3, "Method is not specified")
        app = self.apps.get(params.get("application_key", ""))
        if app is None:
            raise OkApiError(101, "Application not exist")
        sig = params.get("sig")
        if not sig:
            raise OkApiError(104, "No signature specified")
        access_token = params.get("access_token")
        known = self.tokens.get(access_token or "")
        if known is not None and known.session_secret_key:
            secret = known.session_secret_key
        elif access_token:
            secret = _md5(access_token + app.application_secret_key)
        else:
            secret = app.application_secret_key
        signed = "".join(
            f"{k}={params[k]}"
            for k in sorted(params)
            if k not in ("sig", "access_token", "session_key")
        )
        if sig.lower() != _md5(signed + secret):
            raise OkApiError(104, "Invalid signature")
        if not access_token:
            raise OkApiError(103, "Session key is required")
        if known is None or known.expired:
            raise OkApiError(102, "Session expired")
        return known

    def _dispatch(self, method: str, params: Mapping[str, str], token: OkToken) -> Any:
        handlers: dict[str, Callable[[Mapping[str, str], OkToken], Any]] = {
            "mediatopic.post": self._mediatopic_post,
            "mediatopic.getByIds": self._mediatopic_get_by_ids,
            "mediatopic.deleteTopic": self._mediatopic_delete,
            "group.getStatTopics": self._group_get_stat_topics,
            "group.getCounters": self._group_get_counters,
            "photosV2.getUploadUrl": self._photos_get_upload_url,
            "video.getUploadUrl": self._video_get_upload_url,
            "video.update": self._video_update,
            "video.get": self._video_get,
            "users.getCurrentUser": self._users_get_current_user,
            "users.hasAppPermission": self._users_has_app_permission,
            "auth.touchSession": self._auth_touch_session,
        }
        handler = handlers.get(method)
        if handler is None:
            raise OkApiError(3, f"Method {method} not found")
        return handler(params, token)

    # -- methods --------------------------------------------------------------------------

    def _mediatopic_post(self, params: Mapping[str, str], token: OkToken) -> str:
        self._unready_in_post = []
        raw = _required(params, "attachment")
        gid = params.get("gid")
        if gid is not None:
            if params.get("type") not in ("GROUP_THEME", "GROUP_THEME_PROMO"):
                raise OkApiError(100, "type must be GROUP_THEME or GROUP_THEME_PROMO with gid")
            _need(token, "GROUP_CONTENT")
            self._group(gid)
        try:
            attachment = json.loads(raw)
        except ValueError:
            raise OkApiError(100, "Invalid parameter attachment") from None
        media = attachment.get("media") if isinstance(attachment, dict) else None
        if not isinstance(media, list) or not media:
            raise OkApiError(100, "attachment.media is empty")
        items = 0
        text_length = 0
        for block in media:
            if not isinstance(block, dict):
                raise OkApiError(100, "Invalid media block")
            kind = block.get("type")
            if kind == "text":
                text_length += len(str(block.get("text", "")))
            elif kind == "photo":
                items += self._check_photo_block(block, gid)
            elif kind == "movie":
                items += self._check_movie_block(block)
            elif kind == "link":
                url = str(block.get("url", ""))
                if not url.startswith(("http://", "https://")):
                    raise OkApiError(607, "Bad link")
            else:
                raise OkApiError(100, f"Unsupported media type {kind}")
        if text_length > self.text_limit:
            raise OkApiError(601, "Text is too long")
        if items > self.max_media_per_topic:
            raise OkApiError(600, "Too many media")
        topic = self._create_topic(gid or f"user:{token.uid}", attachment, raw, None)
        if self._unready_in_post:
            self.unready_video_topics.append(topic.topic_id)
        return topic.topic_id

    def _check_photo_block(self, block: Mapping[str, Any], gid: str | None) -> int:
        items = block.get("list")
        if not isinstance(items, list) or not items:
            raise OkApiError(100, "Photo list is empty")
        tokens = {photo.token: photo for photo in self.photos.values()}
        for item in items:
            has_id, has_photo_id = "id" in item, "photoId" in item
            if has_id == has_photo_id:
                raise OkApiError(100, "BAD id")
            if has_id:
                photo = tokens.get(str(item["id"]))
                if photo is None or not photo.uploaded or photo.gid != gid:
                    raise OkApiError(100, "Invalid photo token")
        return len(items)

    def _check_movie_block(self, block: Mapping[str, Any]) -> int:
        items = block.get("list")
        if not isinstance(items, list) or not items:
            raise OkApiError(100, "Movie list is empty")
        for item in items:
            video = self.videos.get(str(item.get("id")))
            if video is None or not video.uploaded:
                raise OkApiError(100, "Invalid movie id")
            if self.video_status(video) != VIDEO_READY:
                self._unready_in_post.append(video.video_id)
        return len(items)

    def _create_topic(
        self,
        gid: str,
        attachment: dict[str, Any],
        raw: str,
        created_at: datetime | None,
    ) -> OkTopic:
        topic = OkTopic(
            topic_id=str(next(self._topic_ids)),
            gid=str(gid),
            attachment=attachment,
            attachment_raw=raw,
            created_at=created_at or self._now(),
        )
        self.topics[topic.topic_id] = topic
        return topic

    def _mediatopic_get_by_ids(self, params: Mapping[str, str], token: OkToken) -> Any:
        ids = [i for i in _required(params, "topic_ids").split(",") if i]
        limit_raw = params.get("media_limit")
        if len(ids) > 1 and limit_raw is None:
            raise OkApiError(100, "Missing required parameter media_limit")
        limit = int(limit_raw) if limit_raw and limit_raw.isdigit() else None
        if limit is not None and not 1 <= limit <= 3:
            raise OkApiError(100, "Invalid parameter media_limit")
        found = []
        for topic_id in ids:
            topic = self.topics.get(topic_id)
            if topic is None or topic.deleted:
                continue
            found.append(
                {
                    "id": topic.topic_id,
                    "created_ms": int(topic.created_at.timestamp() * 1000),
                    "owner_ref": f"group:{topic.gid}",
                    "media": topic.media[:limit] if limit else topic.media,
                    **_topic_stats(topic, params),
                }
            )
        return {"media_topics": found}

    def _mediatopic_delete(self, params: Mapping[str, str], token: OkToken) -> Any:
        topic_id = params.get("topic_id") or params.get("delete_id")
        if not topic_id:
            raise OkApiError(100, "Missing required parameter topic_id")
        topic = self.topics.get(topic_id)
        if topic is None or topic.deleted:
            raise OkApiError(300, "Topic not found")
        if topic.gid in self.groups:
            _need(token, "GROUP_CONTENT")
        topic.deleted = True
        return {"success": True}

    def _group_get_stat_topics(self, params: Mapping[str, str], token: OkToken) -> Any:
        gid = _required(params, "gid")
        fields = {f.strip().lower() for f in _required(params, "fields").split(",")}
        _need(token, "GROUP_CONTENT")
        self._group(gid)
        start = _int_param(params, "start_time")
        end = _int_param(params, "end_time")
        count = _int_param(params, "count") or 20
        rows = []
        for topic in sorted(self.group_topics(gid), key=lambda t: t.created_at, reverse=True):
            created_ms = int(topic.created_at.timestamp() * 1000)
            if (start is not None and created_ms < start) or (
                end is not None and created_ms > end
            ):
                continue
            row: dict[str, Any] = {"id": topic.topic_id}
            if "created_ms" in fields:
                row["created_ms"] = created_ms
            rows.append(row)
        return {"topics": rows[:count], "has_more": len(rows) > count}

    def _group_get_counters(self, params: Mapping[str, str], token: OkToken) -> Any:
        gid = _required(params, "group_id")
        types = [t for t in _required(params, "counterTypes").split(",") if t]
        if not types or any(t not in COUNTER_TYPES for t in types):
            raise OkApiError(
                100, f"Invalid parameter counterTypes value  : [{params['counterTypes']}]"
            )
        group = self._group(gid)
        counters: dict[str, str] = {}
        for kind in types:
            if kind == "members":
                counters["members"] = str(group.members)  # OK sends numbers as strings
            elif kind == "themes":
                counters["themes"] = str(len(self.group_topics(gid)))
            else:
                counters[kind] = "0"
        return {"counters": counters}

    def _photos_get_upload_url(self, params: Mapping[str, str], token: OkToken) -> Any:
        _need(token, "PHOTO_CONTENT")
        gid = params.get("gid")
        if gid is not None:
            self._group(gid)
        count = _int_param(params, "count") or 1
        if not 1 <= count <= 100:
            raise OkApiError(100, "Invalid parameter count")
        upload_id = secrets.token_hex(8)
        photo_ids = []
        for _ in range(count):
            photo_id = secrets.token_urlsafe(24)
            self.photos[photo_id] = UploadedPhoto(
                photo_id=photo_id, gid=gid, token=secrets.token_urlsafe(32)
            )
            photo_ids.append(photo_id)
        self._photo_uploads[upload_id] = photo_ids
        ttl_ms = 86_400_000
        return {
            "upload_url": f"{self.base_url}/upload/photo/{upload_id}",
            "photo_ids": photo_ids,
            "expires_ms": int(self._now().timestamp() * 1000) + ttl_ms,
            "ttl_ms": ttl_ms,
        }

    def _video_get_upload_url(self, params: Mapping[str, str], token: OkToken) -> Any:
        _need(token, "VIDEO_CONTENT")
        file_name = _required(params, "file_name")
        size = _int_param(params, "file_size") or 0
        if size and not VIDEO_MIN_SIZE <= size <= VIDEO_MAX_SIZE:
            raise OkApiError(100, "Invalid parameter file_size")
        gid = params.get("gid")
        if gid is not None:
            self._group(gid)
        video_id = str(next(self._video_ids))
        self.videos[video_id] = UploadedVideo(video_id, gid, file_name, size)
        return {
            "video_id": int(video_id),
            "upload_url": f"{self.base_url}/upload/video/{video_id}",
        }

    def _video_update(self, params: Mapping[str, str], token: OkToken) -> Any:
        _need(token, "VIDEO_CONTENT")
        video = self.videos.get(_required(params, "vid"))
        if video is None:
            raise OkApiError(300, "Video not found")
        title = params.get("title", "")
        if len(title) > 1000:
            raise OkApiError(100, "Invalid parameter title")
        video.title = title
        if video.uploaded and not video.finished:
            video.finished = True
            video.finished_at = self._now()
            if video.gid is not None:
                # Uploaded with gid, OK puts the video in the group's feed by itself: a topic
                # posted for it afterwards shows the video twice (platforms.md §6).
                attachment = {"media": [{"type": "movie", "list": [{"id": video.video_id}]}]}
                self._create_topic(video.gid, attachment, json.dumps(attachment), None)
        return None

    def video_status(self, video: UploadedVideo) -> str:
        if not video.finished or video.finished_at is None:
            return VIDEO_UPLOADING
        if video.video_id in self.broken_videos:
            return "ERROR"
        if self.hold_processing or self._now() < video.finished_at + self.video_processing:
            return VIDEO_PROCESSING
        return VIDEO_READY

    def _video_get(self, params: Mapping[str, str], token: OkToken) -> Any:
        _need(token, "VIDEO_CONTENT")
        ids = [i.strip() for i in _required(params, "vids").split(",") if i.strip()]
        videos = []
        for video_id in ids:
            video = self.videos.get(video_id)
            if video is None:
                continue
            videos.append(
                {
                    "id": int(video.video_id),
                    "title": video.title,
                    "status": self.video_status(video),
                }
            )
        return {"videos": videos}

    def _users_get_current_user(self, params: Mapping[str, str], token: OkToken) -> Any:
        return {"uid": token.uid, "name": "Emulated administrator"}

    def _users_has_app_permission(self, params: Mapping[str, str], token: OkToken) -> Any:
        return _required(params, "ext_perm") in token.permissions

    def _auth_touch_session(self, params: Mapping[str, str], token: OkToken) -> Any:
        token.touches += 1
        return {"success": True}

    def _group(self, gid: str) -> OkGroup:
        group = self.groups.get(str(gid))
        if group is None:
            raise OkApiError(160, f"Invalid group id {gid}")
        return group

    # -- upload hosts ---------------------------------------------------------------------

    async def _handle_photo_upload(self, request: web.Request) -> web.StreamResponse:
        self.uploads.append("upload.photo")
        fault = self._take_fault("upload.photo")
        if fault is not None:
            return await self._apply_fault(fault)
        photo_ids = self._photo_uploads.get(request.match_info["upload_id"])
        if photo_ids is None:
            return web.json_response(OkApiError(100, "Unknown upload").body())
        parts = await _file_parts(request)
        if not parts or len(parts) > len(photo_ids):
            return web.json_response(OkApiError(100, "Wrong number of photos").body())
        answer: dict[str, dict[str, str]] = {}
        for index, (name, file_name, content_type, data) in enumerate(parts):
            photo = self.photos[photo_ids[index]]
            if not data:
                return web.json_response(OkApiError(500, "Empty photo").body())
            photo.data, photo.file_name, photo.content_type = data, file_name, content_type
            photo.field_name, photo.uploaded = name, True
            answer[photo.photo_id] = {"token": photo.token}
        return web.json_response({"photos": answer})

    async def _handle_video_upload(self, request: web.Request) -> web.StreamResponse:
        self.uploads.append("upload.video")
        fault = self._take_fault("upload.video")
        if fault is not None:
            return await self._apply_fault(fault)
        video = self.videos.get(request.match_info["video_id"])
        if video is None:
            return web.Response(status=404)
        if not request.content_type.startswith("multipart/"):
            return web.Response(status=400, text="multipart upload expected")
        reader = await request.multipart()
        received = 0
        while (part := await reader.next()) is not None:
            if not isinstance(part, BodyPartReader):
                continue
            if part.name != "file":
                # apiok.ru's upload takes the video in the field `file`.
                return web.Response(status=400, text=f"unexpected field {part.name!r}")
            digest = hashlib.sha256()
            chunks: list[bytes] = []
            size = 0
            while chunk := await part.read_chunk(256 * 1024):
                digest.update(chunk)
                size += len(chunk)
                if self.keep_bytes:
                    chunks.append(chunk)
            video.data = b"".join(chunks)
            video.size, video.sha256, video.field_name = size, digest.hexdigest(), part.name
            received += 1
        if received != 1:
            return web.Response(status=400, text="one file per request")
        video.uploaded = True
        return web.Response(status=200)


async def _file_parts(request: web.Request) -> list[tuple[str, str, str, bytes]]:
    parts: list[tuple[str, str, str, bytes]] = []
    reader = await request.multipart()
    while True:
        part = await reader.next()
        if part is None:
            break
        if not isinstance(part, BodyPartReader):
            continue
        data = await part.read()
        parts.append(
            (
                part.name or "",
                part.filename or "",
                part.headers.get("Content-Type", ""),
                bytes(data),
            )
        )
    return parts


def _required(params: Mapping[str, str], name: str) -> str:
    value = params.get(name)
    if value is None or value == "":
        raise OkApiError(100, f"Missing required parameter {name}")
    return value


def _int_param(params: Mapping[str, str], name: str) -> int | None:
    value = params.get(name)
    if value is None or value == "":
        return None
    with contextlib.suppress(ValueError):
        return int(value)
    raise OkApiError(100, f"Invalid parameter {name}")


def _need(token: OkToken, permission: str) -> None:
    if permission not in token.permissions:
        raise OkApiError(10, f"Permission {permission} is not granted")


# -- statistics (issue 10) ------------------------------------------------------------------------


def _topic_stats(topic: OkTopic, params: Mapping[str, str]) -> dict[str, Any]:
    """Counters of a topic when `fields` asks for them (media_topic.* or the field by name).
    The name views_count is our reading of OK's MediaTopic (unconfirmed on a real app)."""
    fields = {f.strip().lower() for f in params.get("fields", "").split(",")}
    if fields & {"media_topic.*", "media_topic.views_count"}:
        return {"views_count": topic.views}
    return {}
