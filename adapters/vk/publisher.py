"""Publishing to a VK community wall: uploads, wall.post with guid, edit, delete, reconcile."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from adapters.vk.client import (
    VkClient,
    VkToken,
    VkWallPost,
    parse_photo_upload,
    upload_error,
)
from crosspost.errors import (
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
from crosspost.richtext import render_plain

logger = logging.getLogger(__name__)

# VK does not document the wall text limit; 16384 is the figure every client uses (§2.5).
MAX_TEXT_LENGTH = 16384
MAX_MEDIA_PER_POST = 10
MAX_DOCS_PER_POST = 1
MAX_FILE_SIZE = 200 * 1024 * 1024  # documents; photos stop at 50 MB
# VK keeps a wall.post guid for one hour (platforms.md §6); resend only well inside it.
GUID_WINDOW = timedelta(minutes=50)
# Clock skew between us and VK when reading the wall around an attempt.
RECONCILE_SLACK = timedelta(minutes=2)
RECONCILE_LOOKBACK_POSTS = 100

USER_SCOPES = {"wall": 8192, "photos": 4, "video": 16, "docs": 131072, "offline": 65536}
REQUIRED_USER_SCOPES = ("wall", "photos", "video")


class _Upload(StrEnum):
    PHOTO = "photo"
    VIDEO = "video"
    DOC = "doc"


@dataclass
class _Plan:
    uploads: list[tuple[MediaItem, _Upload]] = field(default_factory=list)
    as_link: list[MediaItem] = field(default_factory=list)
    need_user_token: bool = False

    def keys(self) -> list[str]:
        """Memo keys of the uploads: position, kind and content, so a changed post never
        reuses another file's upload."""
        return [
            f"up:{index}:{kind.value}:{item.sha256}"
            for index, (item, kind) in enumerate(self.uploads)
        ]

    def known(self, memo: Mapping[str, str]) -> list[tuple[str, _Upload]] | None:
        """The attachments, if every upload is in the memo."""
        found = [memo.get(key) for key in self.keys()]
        if any(a is None for a in found):
            return None
        return [(a, kind) for a, (_, kind) in zip(found, self.uploads, strict=True) if a]


def _post_key(number: int) -> str:
    return f"post:{number}"


IsTaken = Callable[[str], Awaitable[bool]]


async def _nothing_taken(remote_id: str) -> bool:
    return False


class VkPublisher:
    """One VK community (account) as a Publisher. See docs/vk.md for the two tokens."""

    platform: Platform = Platform.VK

    def __init__(
        self,
        *,
        account: str,
        group_id: int,
        client: VkClient,
        community_token: VkToken | None,
        user_token: VkToken | None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        is_taken: IsTaken | None = None,
        memo: UploadMemo | None = None,
    ) -> None:
        poster = user_token or community_token
        reader = community_token or user_token
        if poster is None or reader is None:
            raise ValueError("a VK publisher needs a community token or a user token")
        # Wall methods use an admin's user token, the documented way; cheap reads use the
        # community token, whose rate limit is higher.
        self._poster = poster
        self._reader = reader
        self.account = account
        self.group_id = group_id
        self._client = client
        self._community = community_token
        self._user = user_token
        self._clock = clock
        # Whether a post id is already recorded for another delivery of this account.
        self.is_taken: IsTaken = is_taken or _nothing_taken
        # Uploads and posts already done for a delivery, kept between its attempts.
        self.memo: UploadMemo = memo or MemoryUploadMemo()
        self._told_about_user_token = False
        media_kinds = {MediaKind.DOCUMENT, MediaKind.ANIMATION}
        if user_token is not None:
            media_kinds |= {MediaKind.PHOTO, MediaKind.VIDEO}
        self.capabilities = Capabilities(
            max_text_length=MAX_TEXT_LENGTH,
            max_caption_length=MAX_TEXT_LENGTH,
            max_media_per_post=MAX_MEDIA_PER_POST,
            max_file_size=MAX_FILE_SIZE,
            media_kinds=frozenset(media_kinds),
            # wall.edit and wall.delete need a user token per VK's schema (§2.2).
            can_edit=user_token is not None,
            can_delete=user_token is not None,
        )

    @property
    def owner_id(self) -> int:
        return -self.group_id

    def url(self, post_id: int | str) -> str:
        return f"https://vk.com/wall-{self.group_id}_{post_id}"

    def _remote(self, post_id: int | str, parts: Sequence[int] = ()) -> RemotePost:
        return RemotePost(
            platform=Platform.VK,
            account=self.account,
            remote_id=str(post_id),
            url=self.url(post_id),
            parts=tuple(str(p) for p in parts),
        )

    # --- publish -------------------------------------------------------------------------

    async def publish(self, delivery: DeliveryRef, content: Content) -> PublishResult:
        """Upload every file first, then wall.post with guid = the idempotency key.

        Media beyond one post (10 items, one document) goes in follow-up posts without text,
        as a person would do it. Uploads and posts already made for the delivery (the memo)
        are reused, so a retry uploads only what is missing and never posts a part twice;
        while a follow-up is not out the delivery is not published (its error is raised).
        Raises TransientError (uploads, connect failures), OutcomeUnknownError (a wall.post
        sent, no answer), PermanentError and subclasses.
        """
        log = (delivery.delivery_id, self.account, Platform.VK)
        plan = self._plan(content)
        notices: list[Notice] = []
        memo = await self.memo.recall(delivery.delivery_id, self._clock())
        attachments = await self._upload_all(delivery, plan, memo)
        text, truncated = self._render(content, plan)
        if truncated:
            notices.append(Notice.TEXT_TRUNCATED)
        notices.extend(self._link_notices(content, plan))
        chunks = _chunk(attachments)
        if not text and not chunks[0]:
            raise PermanentError(
                "VK wall.post: nothing to publish (no text and no media VK can take)",
                platform=Platform.VK,
                account=self.account,
                reason=Reason.MEDIA_REJECTED,
            )
        done = memo.get(_post_key(1))
        if done is not None:
            post_id = int(done)
        else:
            post_id = await self._client.wall_post(
                self._poster,
                owner_id=self.owner_id,
                message=text,
                attachments=chunks[0],
                guid=delivery.idempotency_key,
            )
            logger.info(
                "vk published delivery=%s account=%s platform=%s post_id=%s", *log, post_id
            )
            if len(chunks) > 1:
                await self.memo.remember(delivery.delivery_id, {_post_key(1): str(post_id)})
        # Told once per run, and only with a post that actually went out.
        self._told_about_user_token |= Notice.VK_PHOTOS_NEED_USER_TOKEN in notices
        parts: list[int] = []
        for number, chunk in enumerate(chunks[1:], start=2):
            known = memo.get(_post_key(number))
            if known is not None:
                parts.append(int(known))
                continue
            try:
                part = await self._client.wall_post(
                    self._poster,
                    owner_id=self.owner_id,
                    message="",
                    attachments=chunk,
                    guid=f"{delivery.idempotency_key}:{number}",
                )
            except PublishError as exc:
                if _resumable(exc):
                    # The main post is out (and remembered): the delivery is not published
                    # until the rest is; the next attempt or reconcile sends only the rest.
                    logger.warning(
                        "vk follow-up post %s not out yet delivery=%s account=%s platform=%s: %s",
                        number,
                        *log,
                        exc,
                    )
                    raise
                # Retrying cannot help (VK refused this media): the post stays as it is.
                logger.warning(
                    "vk follow-up post refused delivery=%s account=%s platform=%s: %s",
                    *log,
                    exc,
                )
                notices.append(Notice.MEDIA_DROPPED)
                break
            parts.append(part)
            await self.memo.remember(delivery.delivery_id, {_post_key(number): str(part)})
        if len(chunks) > 1 and parts:
            notices.append(Notice.MEDIA_SPLIT)
        await self.memo.forget(delivery.delivery_id)
        return PublishResult(remote=self._remote(post_id, parts), notices=tuple(notices))

    async def _upload_all(
        self, delivery: DeliveryRef, plan: _Plan, memo: Mapping[str, str]
    ) -> list[tuple[str, _Upload]]:
        """Every file, or an error: a post never goes out with part of its media (§2.8).

        Each upload is remembered as soon as VK saved it (VK media do not expire), so a
        retry uploads only what is missing, and a resend with the same guid uploads nothing.
        """
        attachments: list[tuple[str, _Upload]] = []
        for key, (item, kind) in zip(plan.keys(), plan.uploads, strict=True):
            attachment = memo.get(key)
            if attachment is None:
                attachment = await self._upload(item, kind)
                await self.memo.remember(delivery.delivery_id, {key: attachment})
            attachments.append((attachment, kind))
        return attachments

    def _plan(self, content: Content) -> _Plan:
        plan = _Plan()
        user = self._user is not None
        for item in content.media:
            if item.missing or item.kind is MediaKind.AUDIO:
                plan.as_link.append(item)
            elif item.kind is MediaKind.DOCUMENT or (
                item.kind is MediaKind.ANIMATION and item.mime_type == "image/gif"
            ):
                plan.uploads.append((item, _Upload.DOC))
            elif item.kind is MediaKind.PHOTO and user:
                plan.uploads.append((item, _Upload.PHOTO))
            elif item.kind in (MediaKind.VIDEO, MediaKind.ANIMATION) and user:
                plan.uploads.append((item, _Upload.VIDEO))
            else:
                plan.as_link.append(item)
                plan.need_user_token = True
        return plan

    def _link_notices(self, content: Content, plan: _Plan) -> list[Notice]:
        if not plan.as_link:
            return []
        notices = [Notice.MEDIA_AS_LINK if content.original_url else Notice.MEDIA_DROPPED]
        if plan.need_user_token and not self._told_about_user_token:
            notices.append(Notice.VK_PHOTOS_NEED_USER_TOKEN)
        return notices

    def _render(self, content: Content, plan: _Plan) -> tuple[str, bool]:
        url = content.original_url
        link = f"\n\n{url}" if plan.as_link and url else ""
        rendered = render_plain(content.text, limit=MAX_TEXT_LENGTH - len(link), more_url=url)
        text = rendered.text.strip()
        if link and url and url not in text:
            text = f"{text}{link}" if text else url
        return text, rendered.truncated

    async def _upload(self, item: MediaItem, kind: _Upload) -> str:
        if kind is _Upload.PHOTO:
            token = self._poster
            url = await self._client.photos_get_wall_upload_server(token, group_id=self.group_id)
            body = await self._client.upload(url, "photo", item, token)
            photo = parse_photo_upload(body)
            if photo is None:
                raise PermanentError(
                    f"VK photo upload rejected {item.file_name!r}",
                    platform=Platform.VK,
                    account=self.account,
                    reason=Reason.MEDIA_REJECTED,
                )
            return await self._client.photos_save_wall_photo(
                token, group_id=self.group_id, upload=photo
            )
        if kind is _Upload.VIDEO:
            token = self._poster
            slot = await self._client.video_save(token, group_id=self.group_id, name=_title(item))
            body = await self._client.upload(slot.upload_url, "video_file", item, token)
            self._check_upload(body, item)
            return slot.attachment
        token = self._poster
        url = await self._client.docs_get_wall_upload_server(token, group_id=self.group_id)
        body = await self._client.upload(url, "file", item, token)
        self._check_upload(body, item)
        file = body.get("file")
        if not isinstance(file, str) or not file:
            raise TransientError(
                "VK document upload: answer has no file",
                platform=Platform.VK,
                account=self.account,
                reason=Reason.MEDIA_REJECTED,
            )
        return await self._client.docs_save(token, file=file, title=_title(item))

    def _check_upload(self, body: dict[str, object], item: MediaItem) -> None:
        error = upload_error(body)
        if error is not None:
            # Like error 22: a fresh upload server on the next attempt usually helps.
            raise TransientError(
                f"VK upload of {item.file_name!r} failed: {error}",
                platform=Platform.VK,
                account=self.account,
                code=22,
                reason=Reason.MEDIA_REJECTED,
            )

    # --- edit / delete -------------------------------------------------------------------

    async def edit(self, remote: RemotePost, content: Content) -> PublishResult:
        """wall.edit with the new text, passing the post's attachments back so they stay.

        Raises UnsupportedError when the token cannot edit (community token only).
        """
        post_id = int(remote.remote_id)
        try:
            current = await self._client.wall_get_by_id(
                self._poster, owner_id=self.owner_id, post_id=post_id
            )
        except PermanentError as exc:
            raise self._unsupported(exc, "edit") from exc
        if current is None:
            raise PermanentError(
                "VK wall.edit: the post is gone",
                platform=Platform.VK,
                account=self.account,
                reason=Reason.NOT_FOUND,
            )
        plan = self._plan(content)
        text, truncated = self._render(content, plan)
        try:
            await self._client.wall_edit(
                self._poster,
                owner_id=self.owner_id,
                post_id=post_id,
                message=text,
                attachments=current.attachments,
            )
        except PermanentError as exc:
            raise self._unsupported(exc, "edit") from exc
        notices = (Notice.TEXT_TRUNCATED,) if truncated else ()
        return PublishResult(remote=remote, notices=notices)

    async def delete(self, remote: RemotePost) -> None:
        """wall.delete the post and its follow-up posts; a post already gone counts as deleted."""
        for post_id in (remote.remote_id, *remote.parts):
            try:
                await self._client.wall_delete(
                    self._poster, owner_id=self.owner_id, post_id=int(post_id)
                )
            except PermanentError as exc:
                if exc.code not in ("100", "210"):
                    raise self._unsupported(exc, "delete") from exc
                still_there = await self._client.wall_get_by_id(
                    self._poster, owner_id=self.owner_id, post_id=int(post_id)
                )
                if still_there is not None:
                    raise

    def _unsupported(self, exc: PermanentError, what: str) -> PermanentError:
        if exc.code == "27":
            return UnsupportedError(
                f"VK cannot {what} posts with a community token: add an admin's user token",
                platform=Platform.VK,
                account=self.account,
                code=27,
                reason=Reason.WRONG_TOKEN_TYPE,
            )
        return exc

    # --- reconcile -----------------------------------------------------------------------

    def guid_window_start(self, delivery: DeliveryRef) -> datetime | None:
        """Since when VK may know this delivery's guid; None when that cannot be said.

        The guid protects from the first post made with it, so the window counts from the
        first attempt; with one attempt the last is the first.
        """
        if delivery.first_attempt_at is not None:
            return delivery.first_attempt_at
        return delivery.last_attempt_at if delivery.attempts <= 1 else None

    async def reconcile(self, delivery: DeliveryRef, content: Content) -> ReconcileResult:
        """Is the uncertain delivery's post on the wall?

        Inside the guid window (GUID_WINDOW from the first attempt) wall.post is repeated
        with the same guid: VK answers the existing post, or makes it now if the first
        request never took effect; either way there is exactly one. After the window the
        wall is read and the post matched by what identifies it (see _match); anything
        ambiguous is CANNOT_TELL. Raises TransientError / OutcomeUnknownError when VK could
        not be asked (the delivery stays uncertain).
        """
        started = self.guid_window_start(delivery)
        if started is not None and self._clock() - started < GUID_WINDOW:
            result = await self.publish(delivery, content)
            logger.info(
                "vk reconcile by guid delivery=%s account=%s platform=%s post_id=%s",
                delivery.delivery_id,
                self.account,
                Platform.VK,
                result.remote.remote_id,
            )
            return ReconcileResult(
                outcome=ReconcileOutcome.FOUND,
                remote=result.remote,
                detail="wall.post repeated with the same guid inside its window",
            )
        attempt_at = delivery.last_attempt_at
        if attempt_at is None:
            return _cannot_tell("no attempt time to look around")
        try:
            total, posts = await self._client.wall_get(
                self._poster, owner_id=self.owner_id, count=RECONCILE_LOOKBACK_POSTS
            )
        except PermanentError as exc:
            if exc.code not in ("27", "15", "7"):
                raise
            return _cannot_tell("the guid window has passed and this token cannot read the wall")
        return await self._match(delivery, content, posts, total, attempt_at)

    async def _match(
        self,
        delivery: DeliveryRef,
        content: Content,
        posts: list[VkWallPost],
        total: int,
        attempt_at: datetime,
    ) -> ReconcileResult:
        """A unique post made by the community since the attempt, not recorded for another
        delivery, with the same text and media: with text, the full text and the media count
        (and the media ids when this process uploaded them); without text only the media ids
        identify a post, never the count alone."""
        plan = self._plan(content)
        text, _ = self._render(content, plan)
        want_text = _normal(text)
        want_count = min(len(plan.uploads), MAX_MEDIA_PER_POST)
        memo = await self.memo.recall(delivery.delivery_id, self._clock())
        attachments = plan.known(memo)
        chunks = _chunk(attachments) if attachments is not None else None
        since = attempt_at - RECONCILE_SLACK
        main = memo.get(_post_key(1))
        if main is not None and chunks is not None:
            return await self._match_rest(delivery, int(main), chunks, memo, posts, since, total)
        known = chunks[0] if chunks is not None else None
        shaped: list[VkWallPost] = []
        for post in posts:
            if post.date < since or post.from_id != self.owner_id:
                continue
            media = _media(post.attachments)
            if _normal(post.text) != want_text or len(media) != want_count:
                continue
            if known is not None and media != known:
                continue
            if await self.is_taken(str(post.post_id)):
                continue
            shaped.append(post)
        oldest = min((p.date for p in posts), default=None)
        complete = total <= len(posts) or (oldest is not None and oldest < since)
        identified = bool(want_text) or (known is not None and bool(known))
        if len(shaped) == 1 and identified:
            if len(plan.uploads) > MAX_MEDIA_PER_POST or (chunks is not None and len(chunks) > 1):
                # The main post of a split post is there: its answer was lost, so no follow-up
                # was ever sent. Remembered, the next attempt sends only the follow-ups.
                await self.memo.remember(
                    delivery.delivery_id, {_post_key(1): str(shaped[0].post_id)}
                )
                return ReconcileResult(
                    outcome=ReconcileOutcome.NOT_FOUND,
                    detail="the main post is there; its follow-ups are not",
                )
            await self.memo.forget(delivery.delivery_id)
            return ReconcileResult(
                outcome=ReconcileOutcome.FOUND, remote=self._remote(shaped[0].post_id)
            )
        if shaped:
            return _cannot_tell(
                f"{len(shaped)} post(s) since the attempt look like this one and nothing "
                "tells them apart"
            )
        if not complete:
            return _cannot_tell(f"more than {len(posts)} posts since the attempt")
        return ReconcileResult(
            outcome=ReconcileOutcome.NOT_FOUND,
            detail="the wall since the attempt has no such post",
        )

    async def _match_rest(
        self,
        delivery: DeliveryRef,
        main: int,
        chunks: list[tuple[str, ...]],
        memo: Mapping[str, str],
        posts: list[VkWallPost],
        since: datetime,
        total: int,
    ) -> ReconcileResult:
        """The main post is out (remembered); find the follow-ups not remembered yet by their
        very media ids. All there: FOUND. One not there (and the wall read covers the time):
        NOT_FOUND, and the next attempt posts only what is missing."""
        parts: list[int] = []
        for number, chunk in enumerate(chunks[1:], start=2):
            known = memo.get(_post_key(number))
            if known is not None:
                parts.append(int(known))
                continue
            shaped = [
                p
                for p in posts
                if p.date >= since
                and p.from_id == self.owner_id
                and not _normal(p.text)
                and _media(p.attachments) == chunk
                and not await self.is_taken(str(p.post_id))
            ]
            if len(shaped) > 1:
                return _cannot_tell(f"{len(shaped)} posts carry the media of follow-up {number}")
            if not shaped:
                oldest = min((p.date for p in posts), default=None)
                if total <= len(posts) or (oldest is not None and oldest < since):
                    return ReconcileResult(
                        outcome=ReconcileOutcome.NOT_FOUND,
                        detail=f"the main post is out; follow-up {number} is not",
                    )
                return _cannot_tell(f"more than {len(posts)} posts since the attempt")
            parts.append(shaped[0].post_id)
            await self.memo.remember(
                delivery.delivery_id, {_post_key(number): str(shaped[0].post_id)}
            )
        await self.memo.forget(delivery.delivery_id)
        return ReconcileResult(outcome=ReconcileOutcome.FOUND, remote=self._remote(main, parts))

    # --- counts and checks ---------------------------------------------------------------

    async def subscriber_count(self) -> int:
        """Members of the community (groups.getById, fields=members_count)."""
        group = await self._client.groups_get_by_id(self._reader, group_id=self.group_id)
        if group.members_count is None:
            raise PermanentError(
                "VK groups.getById: no members_count in the answer",
                platform=Platform.VK,
                account=self.account,
                reason=Reason.UNKNOWN,
            )
        return group.members_count

    async def post_views(self, remote_ids: Sequence[str]) -> dict[str, int]:
        """Views of the community's posts (wall.getById, which takes a user token), for the
        statistics' reach. Raises UnsupportedError without a user token."""
        if self._user is None:
            raise UnsupportedError(
                "VK post views need a user token (wall.getById)",
                platform=Platform.VK,
                account=self.account,
            )
        ids = [int(r) for r in remote_ids if r.isdigit()]
        if not ids:
            return {}
        views = await self._client.wall_views(self._user, owner_id=self.owner_id, post_ids=ids)
        return {str(post_id): count for post_id, count in views.items()}

    async def check(self) -> list[CheckLine]:
        """What each token can do, for `crosspost check`. Never raises PublishError."""
        lines = [*await self._check_community(), *await self._check_user()]
        if self._user is None:
            lines.append(
                CheckLine(
                    ok=True,
                    code="vk.user_token.missing",
                    detail="no user token: photos and videos go out as a link to the original, "
                    "and posts cannot be edited or deleted from here",
                )
            )
        return lines

    async def _check_community(self) -> list[CheckLine]:
        if self._community is None:
            return [
                CheckLine(
                    ok=True,
                    code="vk.community_token.missing",
                    detail="no community token; the user token does everything",
                )
            ]
        try:
            perms = await self._client.groups_get_token_permissions(self._community)
        except PublishError as exc:
            return [_token_failure("vk.community_token", exc)]
        lines = []
        if "docs" in perms.names:
            names = ", ".join(sorted(perms.names))
            lines.append(
                CheckLine(
                    ok=True,
                    code="vk.community_token.ok",
                    detail=f"community token works (rights: {names}); "
                    "it can post text and documents",
                )
            )
        else:
            lines.append(
                CheckLine(
                    ok=self._user is not None,
                    code="vk.community_token.no_docs",
                    detail="community token lacks the docs right: documents need the user token",
                )
            )
        return lines

    async def _check_user(self) -> list[CheckLine]:
        if self._user is None:
            return []
        try:
            user_id = await self._client.users_get_self(self._user)
            mask = await self._client.account_get_app_permissions(self._user, user_id=user_id)
            group = await self._client.groups_get_by_id(self._user, group_id=self.group_id)
        except PublishError as exc:
            return [_token_failure("vk.user_token", exc)]
        missing = [name for name in REQUIRED_USER_SCOPES if not mask & USER_SCOPES[name]]
        lines = []
        if missing:
            lines.append(
                CheckLine(
                    ok=False,
                    code="vk.user_token.scope_missing",
                    detail=f"user token lacks rights: {', '.join(missing)}",
                )
            )
        if group.is_admin is False:
            lines.append(
                CheckLine(
                    ok=False,
                    code="vk.user_token.not_admin",
                    detail=f"the user token's owner is not an admin of community {self.group_id}",
                )
            )
        if not mask & USER_SCOPES["offline"]:
            lines.append(
                CheckLine(
                    ok=True,
                    code="vk.user_token.expires",
                    detail="user token has no offline right: it expires within a day",
                )
            )
        if not missing and group.is_admin is not False:
            lines.append(
                CheckLine(
                    ok=True,
                    code="vk.user_token.ok",
                    detail="user token works: it can post photos, videos and documents, "
                    "edit and delete",
                )
            )
        return lines


def _token_failure(prefix: str, exc: PublishError) -> CheckLine:
    if exc.code in ("5", "1116", "1117"):
        suffix = "invalid"
    elif exc.code in ("27", "1051", "15"):
        suffix = "wrong_type"
    elif isinstance(exc, TransientError | OutcomeUnknownError):
        suffix = "unreachable"
    else:
        suffix = "error"
    return CheckLine(ok=False, code=f"{prefix}.{suffix}", detail=exc.message)


def _resumable(exc: PublishError) -> bool:
    """A follow-up error after which the rest is sent later (not given up on)."""
    if isinstance(exc, TransientError | OutcomeUnknownError):
        return True
    return isinstance(exc, NeedsAttentionError) and exc.pause_account


def _chunk(attachments: Sequence[tuple[str, _Upload]]) -> list[tuple[str, ...]]:
    """Split into posts of at most 10 media with at most one document, keeping order."""
    chunks: list[list[str]] = [[]]
    docs = 0
    for attachment, kind in attachments:
        is_doc = kind is _Upload.DOC
        if len(chunks[-1]) >= MAX_MEDIA_PER_POST or (is_doc and docs >= MAX_DOCS_PER_POST):
            chunks.append([])
            docs = 0
        chunks[-1].append(attachment)
        docs += is_doc
    return [tuple(c) for c in chunks]


def _title(item: MediaItem) -> str:
    return item.file_name or item.path.name


def _normal(text: str) -> str:
    return " ".join(text.split())


def _media(attachments: Sequence[str]) -> tuple[str, ...]:
    """Uploaded media of a wall post; VK adds link snippets by itself, so they do not count."""
    return tuple(
        "_".join(a.split("_")[:2])
        for a in attachments
        if not a.startswith(("http://", "https://"))
    )


def _cannot_tell(detail: str) -> ReconcileResult:
    return ReconcileResult(outcome=ReconcileOutcome.CANNOT_TELL, detail=detail)
