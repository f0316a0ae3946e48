"""Publishing to one OK.ru group: mediatopic.post with text, photos, videos and a link block."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import Enum
from typing import ClassVar

from adapters.ok.client import Json, OkClient, token_lapses_at
from crosspost.errors import (
    AuthError,
    NeedsAttentionError,
    OutcomeUnknownError,
    PermanentError,
    PublishError,
    Reason,
    TransientError,
    UnsupportedError,
)
from crosspost.models import (
    Content,
    DeliveryRef,
    MediaItem,
    MediaKind,
    Notice,
    Platform,
    PublishResult,
    ReconcileOutcome,
    ReconcileResult,
    RemotePost,
)
from crosspost.publishing import Capabilities, CheckLine, MemoryUploadMemo, UploadMemo
from crosspost.richtext import RichText, SpanKind, render_plain

logger = logging.getLogger(__name__)

# OK documents no text limit, only error 601; Telegram posts stay far below this.
OK_TEXT_LIMIT = 10_000
# After a 601 the text is cut to this and posted once more (platforms.md §3.5).
FALLBACK_TEXT_LIMIT = 3_000
OK_VIDEO_MIN_SIZE = 16 * 1024
OK_VIDEO_MAX_SIZE = 1024 * 1024 * 1024
PHOTO_KINDS = frozenset({MediaKind.PHOTO})
VIDEO_KINDS = frozenset({MediaKind.VIDEO, MediaKind.ANIMATION})
# Permissions a group publisher needs; none is self-service (api-support@ok.ru).
REQUIRED_PERMISSIONS = (
    "VALUABLE_ACCESS",
    "LONG_ACCESS_TOKEN",
    "GROUP_CONTENT",
    "PHOTO_CONTENT",
    "VIDEO_CONTENT",
)
# Reconcile looks this far before the attempt started, for clock skew between us and OK.
RECONCILE_SLACK = timedelta(minutes=2)
# "Not there" is said only this long after the attempt started: a request OK was still
# working on when our answer was lost has made its topic by then.
RECONCILE_SETTLE = timedelta(seconds=10)
RECONCILE_MAX_TOPICS = 100
# mediatopic.getByIds answers at most this many media blocks per topic.
MEDIA_LIMIT = 3
# A video is posted only once video.get says it is ready. While OK processes it the attempt
# ends with a short TransientError (the adapter never sleeps); the uploaded video is
# remembered, so the next attempt checks it again instead of uploading it once more.
VIDEO_CHECK_INTERVAL = timedelta(seconds=5)
VIDEO_READY_BOUND = timedelta(seconds=60)
VIDEO_LATE_CHECK_INTERVAL = timedelta(seconds=30)
VIDEO_READY = "OK"
VIDEO_BUSY = frozenset({"UPLOADING", "PROCESSING", "CONVERTING", "ON_MODERATION"})
# How long an uploaded photo's token is reused by later attempts. OK documents no lifetime
# for it (its upload URL lives a day); a token OK no longer takes is uploaded again anyway.
PHOTO_TOKEN_TTL = timedelta(hours=6)
# mediatopic.post's answer to a photo token it does not know (PARAM, "Invalid photo token").
BAD_PARAM = "100"

OK_CAPABILITIES = Capabilities(
    max_text_length=OK_TEXT_LIMIT,
    max_caption_length=OK_TEXT_LIMIT,
    max_media_per_post=10,
    max_file_size=OK_VIDEO_MAX_SIZE,
    media_kinds=PHOTO_KINDS | VIDEO_KINDS,
    # mediatopic.edit is absent from OK's published method list (see docs/ok.md).
    can_edit=False,
    can_delete=True,
)


def topic_url(group_id: str, topic_id: str) -> str:
    return f"https://ok.ru/group/{group_id}/topic/{topic_id}"


IsTaken = Callable[[str], Awaitable[bool]]


async def _nothing_taken(remote_id: str) -> bool:
    return False


@dataclass(frozen=True, kw_only=True)
class _UploadedVideo:
    video_id: str
    uploaded_at: datetime


@dataclass(frozen=True, kw_only=True)
class _Prepared:
    text: str
    link: str | None
    photos: tuple[MediaItem, ...]
    videos: tuple[MediaItem, ...]
    notices: tuple[Notice, ...]


class OkPublisher:
    """One account's OK group. Implements crosspost.publishing.Publisher."""

    platform: ClassVar[Platform] = Platform.OK

    def __init__(
        self,
        *,
        account: str,
        group_id: str,
        client: OkClient,
        capabilities: Capabilities = OK_CAPABILITIES,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        is_taken: IsTaken | None = None,
        memo: UploadMemo | None = None,
    ) -> None:
        self.account = account
        self.group_id = group_id
        self.client = client
        self.capabilities = capabilities
        self._now = now
        # Whether a topic id is already recorded for another delivery of this account.
        self.is_taken: IsTaken = is_taken or _nothing_taken
        # Photo tokens and videos already uploaded for a delivery, kept between its attempts.
        self.memo: UploadMemo = memo or MemoryUploadMemo()

    # -- publishing ---------------------------------------------------------------------------

    async def publish(self, delivery: DeliveryRef, content: Content) -> PublishResult:
        """Upload the media, then post the topic once. Raises TransientError (nothing posted),
        OutcomeUnknownError (mediatopic.post sent, no answer), PermanentError."""
        prepared = self._prepare(content, self.capabilities.max_text_length)
        memo = await self.memo.recall(delivery.delivery_id, self._now())
        # Videos first: while OK processes them the attempt ends before photos are uploaded.
        video_ids = await self._ready_videos(delivery, prepared, memo)
        tokens, reused = await self._upload_photos(delivery, prepared.photos, memo)
        blocks = self._blocks(prepared, tokens, video_ids)
        notices = list(prepared.notices)
        try:
            try:
                topic_id = await self._post(prepared.text, blocks)
            except PermanentError as exc:
                if not (reused and exc.code == BAD_PARAM):
                    raise
                # A remembered token OK no longer takes: nothing was posted, so upload the
                # photos once more and post again.
                logger.info(
                    "OK refused remembered photo tokens delivery=%s account=%s platform=ok: "
                    "uploading again",
                    delivery.delivery_id,
                    self.account,
                )
                keys = [_photo_key(i, p) for i, p in enumerate(prepared.photos)]
                await self.memo.forget(
                    delivery.delivery_id, [*keys, *(_photo_id_key(k) for k in keys)]
                )
                tokens, _ = await self._upload_photos(delivery, prepared.photos, {})
                blocks = self._blocks(prepared, tokens, video_ids)
                topic_id = await self._post(prepared.text, blocks)
        except PermanentError as exc:
            if exc.reason is not Reason.TOO_LONG or len(prepared.text) <= FALLBACK_TEXT_LIMIT:
                raise
            # 601 means nothing was posted, so one shorter attempt cannot duplicate the topic.
            logger.warning(
                "OK text too long delivery=%s account=%s platform=ok: cutting to %d",
                delivery.delivery_id,
                self.account,
                FALLBACK_TEXT_LIMIT,
            )
            shorter = self._prepare(content, FALLBACK_TEXT_LIMIT)
            topic_id = await self._post(shorter.text, blocks)
            if Notice.TEXT_TRUNCATED not in notices:
                notices.append(Notice.TEXT_TRUNCATED)
        logger.info(
            "OK topic posted delivery=%s account=%s platform=ok topic=%s",
            delivery.delivery_id,
            self.account,
            topic_id,
        )
        await self.memo.forget(delivery.delivery_id)
        return PublishResult(remote=self._remote(topic_id), notices=tuple(notices))

    @staticmethod
    def _blocks(
        prepared: _Prepared, tokens: Sequence[str], video_ids: Sequence[str]
    ) -> list[dict[str, Json]]:
        blocks: list[dict[str, Json]] = []
        if tokens:
            blocks.append({"type": "photo", "list": [{"id": token} for token in tokens]})
        for video_id in video_ids:
            blocks.append({"type": "movie", "list": [{"id": video_id}]})
        if prepared.link:
            blocks.append({"type": "link", "url": prepared.link})
        return blocks

    async def _post(self, text: str, media_blocks: Sequence[dict[str, Json]]) -> str:
        blocks: list[Json] = []
        if text:
            blocks.append({"type": "text", "text": text})
        blocks.extend(media_blocks)
        if not blocks:
            raise PermanentError(
                "nothing to post: no text and no media OK can take",
                platform=Platform.OK,
                account=self.account,
                reason=Reason.MEDIA_REJECTED,
            )
        # Serialised once: the same string is signed and sent (a re-encoding would give 104).
        attachment = json.dumps(
            {"media": blocks, "onBehalfOfGroup": "true", "disableComments": "false"},
            ensure_ascii=False,
            separators=(",", ":"),
        )
        result = await self.client.call(
            "mediatopic.post",
            {"type": "GROUP_THEME", "gid": self.group_id, "attachment": attachment},
            idempotent=False,
        )
        topic_id = _as_id(result)
        if topic_id == "0":
            # apiok.ru: an application not approved for posting gets 0 and no topic.
            raise NeedsAttentionError(
                "OK mediatopic.post answered topic id 0: the application may not post",
                platform=Platform.OK,
                account=self.account,
                reason=Reason.NO_RIGHTS,
            )
        if topic_id is None:
            # OK answered but named no topic: it may or may not exist, like a lost answer.
            raise OutcomeUnknownError(
                "OK mediatopic.post answered without a topic id",
                platform=Platform.OK,
                account=self.account,
            )
        return topic_id

    def _prepare(self, content: Content, limit: int) -> _Prepared:
        notices: list[Notice] = []
        photos = tuple(m for m in content.media if not m.missing and m.kind in PHOTO_KINDS)
        videos = tuple(m for m in content.media if not m.missing and m.kind in VIDEO_KINDS)
        if any(not m.missing and m.kind not in PHOTO_KINDS | VIDEO_KINDS for m in content.media):
            notices.append(Notice.MEDIA_DROPPED)
        missing = any(m.missing for m in content.media)
        suffix = ""
        if missing:
            notices.append(Notice.MEDIA_AS_LINK)
            if content.original_url and content.original_url not in content.text.text:
                suffix = f"\n\n{content.original_url}"
        rendered = render_plain(
            content.text, limit=max(limit - len(suffix), 1), more_url=content.original_url
        )
        if rendered.truncated:
            notices.append(Notice.TEXT_TRUNCATED)
        text = (rendered.text.strip() + suffix).strip()
        link = _main_link(content.text)
        if link is None and missing and content.original_url:
            link = content.original_url
        return _Prepared(
            text=text, link=link, photos=photos, videos=videos, notices=tuple(notices)
        )

    async def _upload_photos(
        self, delivery: DeliveryRef, photos: Sequence[MediaItem], memo: Mapping[str, str]
    ) -> tuple[list[str], bool]:
        """Upload tokens of the photos, in order, and whether any came from the memo: only
        the photos without a remembered token are uploaded (in one request)."""
        keys = [_photo_key(index, photo) for index, photo in enumerate(photos)]
        missing = [(k, p) for k, p in zip(keys, photos, strict=True) if k not in memo]
        fresh: dict[str, str] = {}
        if missing:
            answer = _as_dict(
                await self.client.call(
                    "photosV2.getUploadUrl", {"gid": self.group_id, "count": str(len(missing))}
                )
            )
            upload_url = answer.get("upload_url")
            photo_ids = answer.get("photo_ids")
            if not isinstance(upload_url, str) or not isinstance(photo_ids, list):
                raise self._bad_answer("photosV2.getUploadUrl")
            if len(photo_ids) != len(missing):
                raise self._bad_answer("photosV2.getUploadUrl")
            uploaded = _as_dict(
                await self.client.upload_photos(upload_url, [p for _, p in missing])
            )
            by_id = _as_dict(uploaded.get("photos"))
            ids: dict[str, str] = {}
            for photo_id, (key, photo) in zip(photo_ids, missing, strict=True):
                token = _as_dict(by_id.get(str(photo_id))).get("token")
                if not isinstance(token, str) or not token:
                    raise PermanentError(
                        f"OK did not take the photo {photo.file_name!r}",
                        platform=Platform.OK,
                        account=self.account,
                        reason=Reason.MEDIA_REJECTED,
                    )
                fresh[key] = token
                ids[_photo_id_key(key)] = str(photo_id)
            # The photo ids (kept as long as the tokens) let reconcile know these very photos
            # in a topic read back, whichever of the two OK shows there.
            await self.memo.remember(
                delivery.delivery_id, fresh | ids, expires_at=self._now() + PHOTO_TOKEN_TTL
            )
        tokens = [fresh.get(key) or memo[key] for key in keys]
        return tokens, len(fresh) < len(keys)

    async def _ready_videos(
        self, delivery: DeliveryRef, prepared: _Prepared, memo: Mapping[str, str]
    ) -> list[str]:
        """The ids of the post's videos, uploaded (once per delivery) and ready to show.

        Raises TransientError with a short retry_after while OK still processes one, so no
        topic ever shows a broken video; PermanentError when OK failed to process it.
        """
        uploaded: list[_UploadedVideo] = []
        keys = [_video_key(index, video) for index, video in enumerate(prepared.videos)]
        for key, video in zip(keys, prepared.videos, strict=True):
            known = _parse_video(memo.get(key))
            if known is None:
                known = _UploadedVideo(
                    video_id=await self._upload_video(video, prepared.text),
                    uploaded_at=self._now(),
                )
                await self.memo.remember(delivery.delivery_id, {key: _format_video(known)})
            uploaded.append(known)
        if not uploaded:
            return []
        statuses = await self._video_statuses([v.video_id for v in uploaded])
        busy = [v for v in uploaded if statuses.get(v.video_id) != VIDEO_READY]
        failed = [v for v in busy if statuses.get(v.video_id) not in VIDEO_BUSY]
        if failed:
            await self.memo.forget(delivery.delivery_id, keys)
            status = statuses.get(failed[0].video_id, "missing")
            raise PermanentError(
                f"OK could not process the video {failed[0].video_id} (status {status})",
                platform=Platform.OK,
                account=self.account,
                reason=Reason.MEDIA_REJECTED,
            )
        if busy:
            waited = self._now() - min(v.uploaded_at for v in busy)
            late = waited >= VIDEO_READY_BOUND
            logger.info(
                "OK video still processing delivery=%s account=%s platform=ok video=%s "
                "waited=%.0fs",
                delivery.delivery_id,
                self.account,
                busy[0].video_id,
                waited.total_seconds(),
            )
            raise TransientError(
                f"OK is still processing the video {busy[0].video_id}",
                retry_after=VIDEO_LATE_CHECK_INTERVAL if late else VIDEO_CHECK_INTERVAL,
                platform=Platform.OK,
                account=self.account,
                reason=Reason.PLATFORM_DOWN,
            )
        return [v.video_id for v in uploaded]

    async def _video_statuses(self, video_ids: Sequence[str]) -> dict[str, str]:
        answer = _as_dict(
            await self.client.call(
                "video.get", {"vids": ",".join(video_ids), "fields": "video.id,video.status"}
            )
        )
        statuses: dict[str, str] = {}
        videos = answer.get("videos")
        for raw in videos if isinstance(videos, list) else []:
            video = _as_dict(raw)
            video_id = _as_id(video.get("id"))
            status = video.get("status")
            if video_id is not None and isinstance(status, str):
                statuses[video_id] = status.upper()
        return statuses

    async def _upload_video(self, video: MediaItem, text: str) -> str:
        if video.size > OK_VIDEO_MAX_SIZE:
            raise PermanentError(
                f"video {video.file_name!r} is larger than OK's 1 GB",
                platform=Platform.OK,
                account=self.account,
                reason=Reason.FILE_TOO_BIG,
            )
        # 0 is OK's "size not known yet"; it also keeps tiny clips inside the documented range.
        size = video.size if video.size >= OK_VIDEO_MIN_SIZE else 0
        # No gid: with it OK posts the video to the group's feed by itself, and the topic
        # posted next would show it a second time (platforms.md §6).
        answer = _as_dict(
            await self.client.call(
                "video.getUploadUrl", {"file_name": video.file_name, "file_size": str(size)}
            )
        )
        upload_url = answer.get("upload_url")
        video_id = _as_id(answer.get("video_id"))
        if not isinstance(upload_url, str) or video_id is None:
            raise self._bad_answer("video.getUploadUrl")
        await self.client.upload_video(upload_url, video)
        # video.update finishes the upload and accepts the terms (apiok.ru video.update).
        await self.client.call(
            "video.update", {"vid": video_id, "title": _video_title(text, video)}
        )
        return video_id

    # -- edit, delete -------------------------------------------------------------------------

    async def edit(self, remote: RemotePost, content: Content) -> PublishResult:
        """OK publishes no method to edit a group topic: always raises UnsupportedError."""
        raise UnsupportedError(
            "OK has no documented way to edit a group topic",
            platform=Platform.OK,
            account=self.account,
        )

    async def delete(self, remote: RemotePost) -> None:
        """mediatopic.deleteTopic; a topic that is already gone counts as deleted.
        Raises UnsupportedError if OK no longer knows the method."""
        try:
            result = await self.client.call(
                "mediatopic.deleteTopic", {"gid": self.group_id, "topic_id": remote.remote_id}
            )
        except PermanentError as exc:
            if exc.reason is Reason.NOT_FOUND:
                return
            if exc.code == "3":
                raise UnsupportedError(
                    "OK does not offer mediatopic.deleteTopic to this application",
                    platform=Platform.OK,
                    account=self.account,
                    code=exc.code,
                ) from exc
            raise
        if result is False or (isinstance(result, dict) and result.get("success") is False):
            raise PermanentError(
                "OK refused to delete the topic",
                platform=Platform.OK,
                account=self.account,
                reason=Reason.NO_RIGHTS,
            )

    # -- reconcile ----------------------------------------------------------------------------

    async def reconcile(self, delivery: DeliveryRef, content: Content) -> ReconcileResult:
        """Is the uncertain delivery's topic in the group? OK has no idempotency key, so the
        group's topics since the attempt are read (group.getStatTopics, then
        mediatopic.getByIds) and matched by what identifies this post (see _identify).

        A complete read with no such topic is NOT_FOUND; a unique identified topic is FOUND;
        anything else CANNOT_TELL. Raises TransientError when OK could not be read, or when
        the attempt is too recent to say "not there" yet.
        """
        started = delivery.last_attempt_at
        if started is None:
            return _cannot_tell("the attempt time is unknown")
        since = started - RECONCILE_SLACK
        try:
            candidates, complete = await self._topics_since(since)
            topics = await self._topics_media([topic_id for topic_id, _ in candidates])
        except (TransientError, AuthError):
            raise
        except PublishError as exc:
            return _cannot_tell(f"cannot list the group's topics: {exc.message} [{exc.code}]")
        expected = await self._expected(delivery, content)
        matches: list[str] = []
        unidentified = 0
        for topic_id, _created in candidates:
            media = topics.get(topic_id)
            if media is None or await self.is_taken(topic_id):
                continue
            verdict = _identify(media, expected)
            if verdict is _Verdict.SAME:
                matches.append(topic_id)
            elif verdict is _Verdict.LOOKS_SAME:
                unidentified += 1
        if len(matches) == 1 and not unidentified:
            await self.memo.forget(delivery.delivery_id)
            return ReconcileResult(outcome=ReconcileOutcome.FOUND, remote=self._remote(matches[0]))
        if matches or unidentified:
            return _cannot_tell(
                f"{len(matches) + unidentified} topic(s) since the attempt look like this post"
            )
        if any(topic_id not in topics for topic_id, _ in candidates):
            return _cannot_tell("some topics since the attempt could not be read")
        if not complete:
            return _cannot_tell(f"more than {RECONCILE_MAX_TOPICS} topics since the attempt")
        settle_at = started + RECONCILE_SETTLE
        if self._now() < settle_at:
            raise TransientError(
                "OK topic not listed yet; looking again before saying it is not there",
                retry_after=settle_at - self._now(),
                platform=Platform.OK,
                account=self.account,
                reason=Reason.OUTCOME_UNKNOWN,
            )
        return ReconcileResult(
            outcome=ReconcileOutcome.NOT_FOUND,
            detail=f"{len(candidates)} topic(s) since the attempt, none is this post",
        )

    async def _expected(self, delivery: DeliveryRef, content: Content) -> _Expected:
        prepared = self._prepare(content, self.capabilities.max_text_length)
        texts = {_normalise(prepared.text)}
        if len(prepared.text) > FALLBACK_TEXT_LIMIT:
            texts.add(_normalise(self._prepare(content, FALLBACK_TEXT_LIMIT).text))
        memo = await self.memo.recall(delivery.delivery_id, self._now())
        known = [
            _parse_video(memo.get(_video_key(index, video)))
            for index, video in enumerate(prepared.videos)
        ]
        video_ids = (
            tuple(v.video_id for v in known if v is not None)
            if all(v is not None for v in known)
            else None
        )
        photo_keys = [_photo_key(i, photo) for i, photo in enumerate(prepared.photos)]
        photo_ids: tuple[frozenset[str], ...] | None = None
        if photo_keys and all(key in memo for key in photo_keys):
            photo_ids = tuple(
                frozenset(v for v in (memo[key], memo.get(_photo_id_key(key))) if v)
                for key in photo_keys
            )
        return _Expected(
            texts=frozenset(texts),
            photos=len(prepared.photos),
            photo_ids=photo_ids,
            videos=len(prepared.videos),
            video_ids=video_ids,
            link=prepared.link,
        )

    async def _topics_since(self, since: datetime) -> tuple[list[tuple[str, datetime]], bool]:
        """The group's topics created since `since`, and whether that list is complete."""
        answer = _as_dict(
            await self.client.call(
                "group.getStatTopics",
                {
                    "gid": self.group_id,
                    "start_time": str(_ms(since)),
                    "end_time": str(_ms(self._now() + RECONCILE_SLACK)),
                    "count": str(RECONCILE_MAX_TOPICS),
                    "fields": "id,created_ms",
                },
            )
        )
        found: list[tuple[str, datetime]] = []
        topics = answer.get("topics")
        complete = isinstance(topics, list) and answer.get("has_more") in (False, None, "false")
        for raw in topics if isinstance(topics, list) else []:
            topic = _as_dict(raw)
            topic_id = _as_id(topic.get("id"))
            created = topic.get("created_ms")
            if topic_id is None or not isinstance(created, int | str):
                complete = False
                continue
            created_at = datetime.fromtimestamp(int(created) / 1000, UTC)
            if created_at >= since:
                found.append((topic_id, created_at))
        return found, complete

    async def _topics_media(self, topic_ids: Sequence[str]) -> dict[str, list[Mapping[str, Json]]]:
        if not topic_ids:
            return {}
        answer = _as_dict(
            await self.client.call(
                "mediatopic.getByIds",
                {
                    "topic_ids": ",".join(topic_ids),
                    "media_limit": str(MEDIA_LIMIT),
                    "fields": "media_topic.*",
                },
            )
        )
        found: dict[str, list[Mapping[str, Json]]] = {}
        topics = answer.get("media_topics")
        for raw in topics if isinstance(topics, list) else []:
            topic = _as_dict(raw)
            topic_id = _as_id(topic.get("id"))
            media = topic.get("media")
            if topic_id is not None and isinstance(media, list):
                found[topic_id] = [_as_dict(block) for block in media]
        return found

    # -- account ------------------------------------------------------------------------------

    async def subscriber_count(self) -> int:
        """Group members, from group.getCounters(counterTypes=members)."""
        answer = _as_dict(
            await self.client.call(
                "group.getCounters", {"group_id": self.group_id, "counterTypes": "members"}
            )
        )
        counters = _as_dict(answer.get("counters")) or answer
        members = counters.get("members")
        if isinstance(members, int) and not isinstance(members, bool):
            return members
        if isinstance(members, str) and members.isdigit():
            return int(members)
        raise self._bad_answer("group.getCounters")

    async def post_views(self, remote_ids: Sequence[str]) -> dict[str, int]:
        """Views of the group's topics (mediatopic.getByIds), for the statistics' reach.
        The field name views_count is unconfirmed on a real app."""
        if not remote_ids:
            return {}
        answer = _as_dict(
            await self.client.call(
                "mediatopic.getByIds",
                {"topic_ids": ",".join(remote_ids), "media_limit": "1", "fields": "media_topic.*"},
            )
        )
        views: dict[str, int] = {}
        topics = answer.get("media_topics")
        for raw in topics if isinstance(topics, list) else []:
            topic = _as_dict(raw)
            topic_id = _as_id(topic.get("id"))
            count = topic.get("views_count")
            if isinstance(count, str) and count.isdigit():
                count = int(count)  # OK writes many numbers as strings
            if topic_id is not None and isinstance(count, int) and not isinstance(count, bool):
                views[topic_id] = count
        return views

    async def touch_session(self) -> None:
        """Extend the long token to 30 days from now (auth.touchSession): the daily keep-alive.
        Raises AuthError when the token is already expired or revoked."""
        await self.client.call("auth.touchSession")

    @property
    def last_success_at(self) -> datetime | None:
        """When an API call with this token last succeeded (each success extends it)."""
        return self.client.last_success_at

    @property
    def token_lapses_at(self) -> datetime | None:
        """The earliest moment the token can lapse, judged from this process's calls only."""
        last = self.client.last_success_at
        return None if last is None else token_lapses_at(last)

    async def check(self) -> list[CheckLine]:
        """Token, permissions and group, as CheckLines (codes ok.*; detail in English)."""
        try:
            me = _as_dict(await self.client.call("users.getCurrentUser", {"fields": "uid,name"}))
        except PublishError as exc:
            return [_token_problem(exc)]
        lines = [CheckLine(ok=True, code="ok.token.ok", detail=f"token of user {me.get('uid')}")]
        missing: list[str] = []
        for permission in REQUIRED_PERMISSIONS:
            try:
                granted = await self.client.call(
                    "users.hasAppPermission", {"ext_perm": permission}
                )
            except PublishError as exc:
                lines.append(_check_failed("ok.permission.unknown", permission, exc))
                continue
            if granted is not True and granted != "true":
                missing.append(permission)
        lines.extend(
            CheckLine(
                ok=False,
                code="ok.permission.missing",
                detail=f"{name} not granted: ask api-support@ok.ru",
            )
            for name in missing
        )
        if not missing:
            lines.append(CheckLine(ok=True, code="ok.permission.ok", detail="all permissions"))
        try:
            members = await self.subscriber_count()
        except PublishError as exc:
            code = {
                Reason.CONFIG: "ok.group.not_found",
                Reason.NOT_FOUND: "ok.group.not_found",
                Reason.NO_RIGHTS: "ok.group.no_rights",
            }.get(exc.reason, "ok.group.error")
            lines.append(_check_failed(code, f"group {self.group_id}", exc))
        else:
            lines.append(
                CheckLine(
                    ok=True, code="ok.group.ok", detail=f"group {self.group_id}: {members} members"
                )
            )
        return lines

    # -- helpers ------------------------------------------------------------------------------

    def _remote(self, topic_id: str) -> RemotePost:
        return RemotePost(
            platform=Platform.OK,
            account=self.account,
            remote_id=topic_id,
            url=topic_url(self.group_id, topic_id),
        )

    def _bad_answer(self, method: str) -> PublishError:
        return TransientError(
            f"OK {method}: unexpected answer",
            platform=Platform.OK,
            account=self.account,
            reason=Reason.PLATFORM_DOWN,
        )


def _token_problem(exc: PublishError) -> CheckLine:
    if isinstance(exc, AuthError):
        code = {
            Reason.SESSION_EXPIRED: "ok.token.expired",
            Reason.CONFIG: "ok.app.invalid",
        }.get(exc.reason, "ok.token.invalid")
    elif exc.code == "104":
        code = "ok.signature.invalid"
    elif isinstance(exc, NeedsAttentionError) and exc.reason is Reason.NO_RIGHTS:
        code = "ok.permission.missing"
    elif isinstance(exc, NeedsAttentionError):
        code = "ok.app.blocked"
    elif isinstance(exc, TransientError):
        code = "ok.api.unreachable"
    else:
        code = "ok.token.invalid"
    return _check_failed(code, "users.getCurrentUser", exc)


def _check_failed(code: str, what: str, exc: PublishError) -> CheckLine:
    return CheckLine(ok=False, code=code, detail=f"{what}: {exc.message} [{exc.code or '-'}]")


def _photo_key(index: int, photo: MediaItem) -> str:
    return f"photo:{index}:{photo.sha256}"


def _photo_id_key(photo_key: str) -> str:
    return f"id:{photo_key}"


def _video_key(index: int, video: MediaItem) -> str:
    return f"video:{index}:{video.sha256}"


def _format_video(video: _UploadedVideo) -> str:
    return f"{video.video_id} {video.uploaded_at.isoformat()}"


def _parse_video(value: str | None) -> _UploadedVideo | None:
    if not value or " " not in value:
        return None
    video_id, at = value.split(" ", 1)
    try:
        uploaded_at = datetime.fromisoformat(at)
    except ValueError:
        return None
    if uploaded_at.tzinfo is None:
        return None
    return _UploadedVideo(video_id=video_id, uploaded_at=uploaded_at)


def _cannot_tell(detail: str) -> ReconcileResult:
    return ReconcileResult(outcome=ReconcileOutcome.CANNOT_TELL, detail=detail)


def _main_link(text: RichText) -> str | None:
    urls = {
        span.url
        for span in text.spans
        if span.kind is SpanKind.LINK and span.url and span.url.startswith(("http://", "https://"))
    }
    return urls.pop() if len(urls) == 1 else None


def _video_title(text: str, video: MediaItem) -> str:
    first_line = next((line.strip() for line in text.splitlines() if line.strip()), "")
    return (first_line or video.file_name)[:200]


_SPACES = re.compile(r"\s+")


def _normalise(text: str) -> str:
    return _SPACES.sub(" ", text).strip()


class _Verdict(Enum):
    OTHER = "other"
    LOOKS_SAME = "looks_same"  # same shape, but nothing in it is unique to our post
    SAME = "same"


@dataclass(frozen=True, kw_only=True)
class _Expected:
    texts: frozenset[str]  # normalised; the full text, and the cut one after error 601
    photos: int
    # Per photo, its upload token and photo id, when the attempts' memo still has them.
    photo_ids: tuple[frozenset[str], ...] | None
    videos: int
    video_ids: tuple[str, ...] | None  # known when this process uploaded them
    link: str | None


def _identify(media: Sequence[Mapping[str, Json]], expected: _Expected) -> _Verdict:
    """Compare a topic's media blocks with the post's, block by block in the order publish
    writes them (text, photos, videos, link). The full text must be equal, and so must the
    media: the number of photos, each video and, where known, the very video ids. Without
    text only those video ids, or our own photos' upload tokens or photo ids, identify a
    post: the same counts alone never do.

    mediatopic.getByIds returns at most MEDIA_LIMIT blocks, so later ones are not compared."""
    text = _normalise("\n".join(str(b.get("text", "")) for b in media if b.get("type") == "text"))
    if text not in expected.texts:
        return _Verdict.OTHER
    want: list[tuple[str, object]] = []
    if text:
        want.append(("text", None))
    if expected.photos:
        want.append(("photo", expected.photos))
    for index in range(expected.videos):
        video_id = expected.video_ids[index] if expected.video_ids is not None else None
        want.append(("movie", video_id))
    if expected.link:
        want.append(("link", expected.link))
    if len(media) > len(want) or (len(media) < MEDIA_LIMIT and len(media) != len(want)):
        return _Verdict.OTHER
    identified = bool(text)
    for block, (kind, value) in zip(media, want, strict=False):
        if block.get("type") != kind:
            return _Verdict.OTHER
        items = block.get("list")
        listed = [_as_dict(i) for i in items] if isinstance(items, list) else []
        if kind == "photo" and len(listed) != value:
            return _Verdict.OTHER
        if kind == "photo" and expected.photo_ids is not None:
            shown = [_as_id(item.get("id")) or _as_id(item.get("photoId")) for item in listed]
            # Our own upload tokens or photo ids identify the post; anything else OK may show
            # proves nothing either way, so the count alone decides as before.
            identified |= all(
                i is not None and i in known
                for i, known in zip(shown, expected.photo_ids, strict=False)
            )
        if kind == "movie":
            ids = [_as_id(item.get("id")) for item in listed]
            if len(ids) != 1 or (value is not None and ids[0] != value):
                return _Verdict.OTHER
            identified |= value is not None
        if kind == "link" and block.get("url") != value:
            return _Verdict.OTHER
    return _Verdict.SAME if identified else _Verdict.LOOKS_SAME


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _as_dict(value: Json) -> Mapping[str, Json]:
    return value if isinstance(value, dict) else {}


def _as_id(value: Json) -> str | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str) and value.strip():
        return value.strip()
    return None
