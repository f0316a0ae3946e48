"""Platform-neutral domain types shared by the queue, the adapters and the tests."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from pathlib import Path

from crosspost.richtext import RichText


class Platform(StrEnum):
    TELEGRAM = "telegram"
    VK = "vk"
    OK = "ok"
    MAX = "max"


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    PUBLISHED = "published"
    FAILED = "failed"
    CANCELLED = "cancelled"
    # The request may have left and we got no answer: the remote side may or may not have the post.
    UNCERTAIN = "uncertain"
    # An uncertain delivery whose adapter is checking the remote side right now (leased).
    RECONCILING = "reconciling"
    # The adapter could not tell whether the post exists: waits for a person, never resent blindly.
    HELD = "held"


TERMINAL: frozenset[DeliveryStatus] = frozenset(
    {DeliveryStatus.PUBLISHED, DeliveryStatus.FAILED, DeliveryStatus.CANCELLED}
)
# Statuses a delivery may sit in while it waits for someone or something else.
OPEN: frozenset[DeliveryStatus] = frozenset(set(DeliveryStatus) - TERMINAL)

ALLOWED: Mapping[DeliveryStatus, frozenset[DeliveryStatus]] = {
    DeliveryStatus.PENDING: frozenset({DeliveryStatus.SENDING, DeliveryStatus.CANCELLED}),
    DeliveryStatus.SENDING: frozenset(
        {
            DeliveryStatus.PUBLISHED,
            DeliveryStatus.PENDING,
            DeliveryStatus.FAILED,
            DeliveryStatus.UNCERTAIN,
            DeliveryStatus.CANCELLED,
        }
    ),
    DeliveryStatus.UNCERTAIN: frozenset(
        {DeliveryStatus.RECONCILING, DeliveryStatus.HELD, DeliveryStatus.CANCELLED}
    ),
    DeliveryStatus.RECONCILING: frozenset(
        {
            DeliveryStatus.PUBLISHED,
            DeliveryStatus.PENDING,
            DeliveryStatus.HELD,
            DeliveryStatus.UNCERTAIN,
        }
    ),
    # Held → uncertain: staff pressed «Повторить»; reconcile looks once more before a resend.
    DeliveryStatus.HELD: frozenset(
        {
            DeliveryStatus.PENDING,
            DeliveryStatus.UNCERTAIN,
            DeliveryStatus.PUBLISHED,
            DeliveryStatus.CANCELLED,
        }
    ),
    DeliveryStatus.FAILED: frozenset({DeliveryStatus.PENDING}),
    DeliveryStatus.PUBLISHED: frozenset(),
    DeliveryStatus.CANCELLED: frozenset(),
}


class OperationKind(StrEnum):
    """A queued platform action besides the first publish of a delivery."""

    EDIT = "edit"  # bring a published copy to the publication's current content
    DELETE = "delete"  # remove a published copy (one already gone counts as deleted)
    KEEP_ALIVE = "keep_alive"  # a harmless call that keeps a lapsing token alive (OK)


class OperationStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"  # leased by a drainer; an unknown outcome goes back to pending
    DONE = "done"
    UNSUPPORTED = "unsupported"  # the platform cannot do it: staff get the link
    FAILED = "failed"
    CANCELLED = "cancelled"  # superseded (an edit of a copy that is being deleted)


OPERATION_FINISHED: frozenset[OperationStatus] = frozenset(
    {
        OperationStatus.DONE,
        OperationStatus.UNSUPPORTED,
        OperationStatus.FAILED,
        OperationStatus.CANCELLED,
    }
)


class PublicationSource(StrEnum):
    CHANNEL = "channel"  # a post in an account's Telegram channel, mirrored
    BOT = "bot"  # composed in the staff bot dialog
    CLI = "cli"  # crosspost post
    SCHEDULE = "schedule"  # recurring announcements and reminders


class MediaKind(StrEnum):
    PHOTO = "photo"
    VIDEO = "video"
    ANIMATION = "animation"
    DOCUMENT = "document"
    AUDIO = "audio"


class Notice(StrEnum):
    """Things an adapter wants staff to know about a successful delivery (texts.py words them)."""

    TEXT_TRUNCATED = "text_truncated"
    MEDIA_AS_LINK = "media_as_link"  # media could not travel; a link to the original was added
    VK_PHOTOS_NEED_USER_TOKEN = "vk_photos_need_user_token"
    MEDIA_SPLIT = "media_split"  # more media than one post takes: the rest went in a second post
    MEDIA_DROPPED = "media_dropped"  # some media kind this platform cannot take was left out
    CAPTION_SPLIT = "caption_split"  # long caption: media first, then the text as its own message
    EDIT_UNSUPPORTED = "edit_unsupported"


@dataclass(frozen=True, kw_only=True)
class MediaItem:
    """A file in the media store. `path` is ours; `file_name` is only for display and uploads."""

    kind: MediaKind
    path: Path
    file_name: str
    mime_type: str
    size: int
    sha256: str
    # The Telegram file this came from, reusable for sending it to channels without an upload.
    telegram_file_id: str | None = None
    # Media that was too big to fetch: the item stands for a link to the original only.
    missing: bool = False

    def __post_init__(self) -> None:
        if self.size < 0:
            raise ValueError("media size must not be negative")
        if "/" in self.file_name or "\\" in self.file_name:
            raise ValueError("media file_name must be a bare name, not a path")


@dataclass(frozen=True, kw_only=True)
class Content:
    """What to publish: the neutral rich text and the media, in order."""

    text: RichText
    media: tuple[MediaItem, ...] = ()
    # Public link to the original post (Telegram channel), used for "read more" and fallbacks.
    original_url: str | None = None


@dataclass(frozen=True, kw_only=True)
class Target:
    account: str
    platform: Platform


RemoteIdCheck = Callable[[str], Awaitable[bool]]


@dataclass(frozen=True, kw_only=True)
class DeliveryRef:
    """What a publisher needs to know about the delivery it publishes."""

    delivery_id: int
    publication_id: int
    account: str
    platform: Platform
    idempotency_key: str
    attempts: int = 0
    due_at: datetime | None = None
    # When the last send attempt started: reconcile looks for posts around this time.
    last_attempt_at: datetime | None = None
    # When the first send attempt started (None: not known). VK's guid protects a repeat for
    # an hour from the first post made with it, so reconcile counts its window from here.
    first_attempt_at: datetime | None = None
    # Reconcile asks this before adopting a post it read back: True means the remote id is
    # already recorded for another delivery, so it is not this delivery's post.
    remote_id_taken: RemoteIdCheck | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, kw_only=True)
class RemotePost:
    """A post as it exists on a platform."""

    platform: Platform
    account: str
    remote_id: str
    url: str | None = None
    # Further remote ids that belong to the same post (album items, a follow-up text message).
    parts: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class PublishResult:
    remote: RemotePost
    notices: tuple[Notice, ...] = ()


class ReconcileOutcome(StrEnum):
    FOUND = "found"
    NOT_FOUND = "not_found"
    CANNOT_TELL = "cannot_tell"


@dataclass(frozen=True, kw_only=True)
class ReconcileResult:
    outcome: ReconcileOutcome
    remote: RemotePost | None = None
    detail: str = ""

    def __post_init__(self) -> None:
        if (self.outcome is ReconcileOutcome.FOUND) != (self.remote is not None):
            raise ValueError("a FOUND reconcile result carries the remote post, and only it does")


@dataclass(frozen=True, kw_only=True)
class Delivery:
    """A queue row as the repository returns it."""

    delivery_id: int
    publication_id: int
    account: str
    platform: Platform
    status: DeliveryStatus
    due_at: datetime
    attempts: int
    idempotency_key: str
    lease_until: datetime | None = None
    lease_owner: str | None = None
    remote_id: str | None = None
    remote_url: str | None = None
    last_error: str | None = None
    error_reason: str | None = None
    cancel_requested: bool = False
    last_attempt_at: datetime | None = None
    first_attempt_at: datetime | None = None
    published_at: datetime | None = None
    # The publication's content version when the delivery was claimed (0 when not read).
    publication_version: int = 0

    @property
    def ref(self) -> DeliveryRef:
        return DeliveryRef(
            delivery_id=self.delivery_id,
            publication_id=self.publication_id,
            account=self.account,
            platform=self.platform,
            idempotency_key=self.idempotency_key,
            attempts=self.attempts,
            due_at=self.due_at,
            last_attempt_at=self.last_attempt_at,
            first_attempt_at=self.first_attempt_at,
        )


@dataclass(frozen=True, kw_only=True)
class DeliveryOperation:
    """A queued edit, delete or keep-alive, as the repository returns it."""

    operation_id: int
    kind: OperationKind
    status: OperationStatus
    account: str
    platform: Platform
    due_at: datetime
    attempts: int
    publication_id: int | None = None
    delivery_id: int | None = None
    version: int | None = None
    lease_until: datetime | None = None
    lease_owner: str | None = None
    last_error: str | None = None
    error_reason: str | None = None
    actor: str = ""
    # The copy an edit or delete acts on (read from the ledger when claimed).
    remote: RemotePost | None = None

    @property
    def finished(self) -> bool:
        return self.status in OPERATION_FINISHED


@dataclass(frozen=True, kw_only=True)
class NewPublication:
    """A publication to enqueue: one content for several targets."""

    content: Content
    targets: tuple[Target, ...]
    publish_at: datetime
    source: PublicationSource
    author: str  # "tg:<user id>", "cli:<os user>", "channel:<chat id>"
    # The Telegram message the post came from, if any: (chat_id, message_id). A second enqueue of
    # the same source for the same target is a no-op.
    source_chat_id: int | None = None
    source_message_id: int | None = None
    title: str = ""
    extra: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.publish_at.tzinfo is None:
            raise ValueError("publish_at must be an aware datetime")
        if not self.targets:
            raise ValueError("a publication needs at least one target")
        if not self.content.text.text.strip() and not self.content.media:
            raise ValueError("a publication needs text or media")
