"""The contract every platform adapter implements; a fake publisher for tests and benchmarks."""

from __future__ import annotations

import asyncio
import itertools
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import TracebackType
from typing import Protocol, runtime_checkable

from crosspost.errors import PublishError
from crosspost.models import (
    Content,
    DeliveryRef,
    MediaKind,
    Platform,
    PublishResult,
    ReconcileOutcome,
    ReconcileResult,
    RemotePost,
)


@dataclass(frozen=True, kw_only=True)
class Capabilities:
    """What a platform takes. Limits in characters (text) and bytes (files)."""

    max_text_length: int
    max_caption_length: int
    max_media_per_post: int
    max_file_size: int
    media_kinds: frozenset[MediaKind]
    can_edit: bool
    can_delete: bool

    def __post_init__(self) -> None:
        if self.max_text_length <= 0 or self.max_media_per_post < 0:
            raise ValueError("capability limits must be positive")


@dataclass(frozen=True, kw_only=True)
class CheckLine:
    """One finding of `crosspost check` about an account on a platform.

    `code` is stable and machine-readable (texts.py words it for staff); `detail` is English.
    """

    ok: bool
    code: str
    detail: str = ""


class Throttle(Protocol):
    """An async context manager that waits until one more request is allowed (aiolimiter)."""

    async def __aenter__(self) -> None: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...


class ThrottleFactory(Protocol):
    """Gives the throttle for one token. `kind` is a rate-limit key of the config
    (telegram, vk_user, vk_community, ok, max); the token only identifies the bucket
    (it is hashed, never stored or logged)."""

    def __call__(self, kind: str, token: str) -> Throttle: ...


class _NoThrottle:
    async def __aenter__(self) -> None:
        return None

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        return None


def no_throttle(kind: str, token: str) -> Throttle:
    """A ThrottleFactory that never waits: for tests of the adapters themselves."""
    return _NoThrottle()


class UploadMemo(Protocol):
    """What a publisher already did for one delivery, kept between its attempts: uploaded
    media (VK attachments, OK photo tokens, MAX attachment tokens) and the parts of a split
    post already out. A retry reuses them instead of uploading or posting again.

    Keys are the adapter's own; values are short strings (never a secret). An entry past its
    `expires_at` is not recalled. Implementations hold no transaction across calls.
    """

    async def recall(self, delivery_id: int, now: datetime) -> dict[str, str]:
        """Every unexpired entry of the delivery."""
        ...

    async def remember(
        self,
        delivery_id: int,
        entries: Mapping[str, str],
        *,
        expires_at: datetime | None = None,
    ) -> None:
        """Add or replace entries."""
        ...

    async def forget(self, delivery_id: int, keys: Iterable[str] | None = None) -> None:
        """Drop the given entries, or all of the delivery's (None)."""
        ...


# Deliveries an in-process memo keeps; the oldest go first.
MEMO_DELIVERIES = 1024


@dataclass
class MemoryUploadMemo:
    """An UploadMemo in this process only (tests, benchmarks, and publishers built without a
    database): it survives attempts, not a restart."""

    entries: OrderedDict[int, dict[str, tuple[str, datetime | None]]] = field(
        default_factory=OrderedDict
    )
    limit: int = MEMO_DELIVERIES

    async def recall(self, delivery_id: int, now: datetime) -> dict[str, str]:
        found = self.entries.get(delivery_id, {})
        return {k: v for k, (v, until) in found.items() if until is None or until > now}

    async def remember(
        self,
        delivery_id: int,
        entries: Mapping[str, str],
        *,
        expires_at: datetime | None = None,
    ) -> None:
        known = self.entries.setdefault(delivery_id, {})
        known.update({k: (v, expires_at) for k, v in entries.items()})
        self.entries.move_to_end(delivery_id)
        while len(self.entries) > self.limit:
            self.entries.popitem(last=False)

    async def forget(self, delivery_id: int, keys: Iterable[str] | None = None) -> None:
        if keys is None:
            self.entries.pop(delivery_id, None)
            return
        known = self.entries.get(delivery_id, {})
        for key in keys:
            known.pop(key, None)


@runtime_checkable
class Publisher(Protocol):
    """One account on one platform. Methods raise PublishError subclasses; none retries."""

    @property
    def platform(self) -> Platform: ...

    @property
    def account(self) -> str: ...

    @property
    def capabilities(self) -> Capabilities:
        """May depend on the tokens configured (VK photos need a user token)."""
        ...

    async def publish(self, delivery: DeliveryRef, content: Content) -> PublishResult:
        """Post once, tagged with delivery.idempotency_key where the platform takes one.

        Raises TransientError, OutcomeUnknownError (request left, no answer), PermanentError.
        """
        ...

    async def edit(self, remote: RemotePost, content: Content) -> PublishResult:
        """Replace the post's text (and media where possible). Raises UnsupportedError if not."""
        ...

    async def delete(self, remote: RemotePost) -> None:
        """Remove the post and its parts. A post that is already gone counts as deleted."""
        ...

    async def reconcile(self, delivery: DeliveryRef, content: Content) -> ReconcileResult:
        """Decide whether an `uncertain` delivery's post exists: found, not found, cannot tell."""
        ...

    async def subscriber_count(self) -> int:
        """Members or subscribers of the account on this platform."""
        ...

    async def check(self) -> list[CheckLine]:
        """What this account's tokens can and cannot do, for `crosspost check`."""
        ...


FAKE_CAPABILITIES = Capabilities(
    max_text_length=4096,
    max_caption_length=1024,
    max_media_per_post=10,
    max_file_size=50 * 1024 * 1024,
    media_kinds=frozenset(MediaKind),
    can_edit=True,
    can_delete=True,
)


@dataclass
class FakeCall:
    method: str
    delivery: DeliveryRef | None
    content: Content | None
    remote: RemotePost | None


@dataclass
class FakePublisher:
    """Records every call; `fail_next` queues errors (or a callable) for the next publishes.

    `gate`, when set, makes publish wait for it: tests use it to hold a send "in flight".
    """

    platform: Platform
    account: str
    capabilities: Capabilities = FAKE_CAPABILITIES
    calls: list[FakeCall] = field(default_factory=list)
    posts: dict[str, Content] = field(default_factory=dict)
    by_key: dict[str, str] = field(default_factory=dict)
    reconcile_answer: ReconcileOutcome | None = None
    gate: asyncio.Event | None = None
    on_publish: Callable[[DeliveryRef], None] | None = None
    subscribers: int = 0
    _failures: list[PublishError] = field(default_factory=list)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def fail_next(self, *errors: PublishError) -> None:
        self._failures.extend(errors)

    @property
    def published(self) -> list[DeliveryRef]:
        return [c.delivery for c in self.calls if c.method == "publish" and c.delivery]

    async def publish(self, delivery: DeliveryRef, content: Content) -> PublishResult:
        self.calls.append(FakeCall("publish", delivery, content, None))
        if self.on_publish is not None:
            self.on_publish(delivery)
        if self.gate is not None:
            await self.gate.wait()
        if self._failures:
            raise self._failures.pop(0)
        remote_id = str(next(self._ids))
        self.posts[remote_id] = content
        self.by_key[delivery.idempotency_key] = remote_id
        return PublishResult(remote=self._remote(remote_id))

    async def edit(self, remote: RemotePost, content: Content) -> PublishResult:
        self.calls.append(FakeCall("edit", None, content, remote))
        if self._failures:
            raise self._failures.pop(0)
        self.posts[remote.remote_id] = content
        return PublishResult(remote=remote)

    async def delete(self, remote: RemotePost) -> None:
        self.calls.append(FakeCall("delete", None, None, remote))
        if self._failures:
            raise self._failures.pop(0)
        self.posts.pop(remote.remote_id, None)

    async def reconcile(self, delivery: DeliveryRef, content: Content) -> ReconcileResult:
        self.calls.append(FakeCall("reconcile", delivery, content, None))
        if self.reconcile_answer is not None:
            outcome = self.reconcile_answer
            if outcome is ReconcileOutcome.FOUND:
                remote_id = self.by_key.get(delivery.idempotency_key, "0")
                return ReconcileResult(outcome=outcome, remote=self._remote(remote_id))
            return ReconcileResult(outcome=outcome)
        remote_id_found = self.by_key.get(delivery.idempotency_key)
        if remote_id_found is not None:
            return ReconcileResult(
                outcome=ReconcileOutcome.FOUND, remote=self._remote(remote_id_found)
            )
        return ReconcileResult(outcome=ReconcileOutcome.NOT_FOUND)

    async def keep_alive(self) -> None:
        """A harmless call that keeps the token alive (the OK adapter's is auth.touchSession)."""
        self.calls.append(FakeCall("keep_alive", None, None, None))
        if self._failures:
            raise self._failures.pop(0)

    async def subscriber_count(self) -> int:
        return self.subscribers

    async def check(self) -> list[CheckLine]:
        return [CheckLine(ok=True, code="fake", detail="fake publisher")]

    def _remote(self, remote_id: str) -> RemotePost:
        return RemotePost(
            platform=self.platform,
            account=self.account,
            remote_id=remote_id,
            url=f"https://fake.invalid/{self.platform}/{self.account}/{remote_id}",
        )
