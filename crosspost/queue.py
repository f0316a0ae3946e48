"""DeliveryRepository owns all queue SQL. It returns domain objects and never commits."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

from sqlalchemy import (
    Table,
    and_,
    bindparam,
    delete,
    exists,
    func,
    insert,
    literal,
    or_,
    select,
    true,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from crosspost.db import (
    AuditRow,
    DeliveryOperationRow,
    DeliveryRow,
    MaxSourceRow,
    MediaRow,
    PublicationRow,
    RemotePostRow,
    TargetStateRow,
)
from crosspost.models import (
    ALLOWED,
    Content,
    Delivery,
    DeliveryOperation,
    DeliveryStatus,
    MediaItem,
    MediaKind,
    NewPublication,
    OperationKind,
    OperationStatus,
    Platform,
    RemotePost,
)
from crosspost.richtext import RichText, Span, SpanKind

S = DeliveryStatus
# error_reason of an uncertain delivery staff asked to send again: reconcile looks first, and
# resends unless it finds the post (staff checked by hand, so "cannot tell" resends too).
STAFF_RETRY = "staff_retry"


class TransitionError(Exception):
    """A status change the transition table does not allow (or the row moved meanwhile)."""


@dataclass(frozen=True, kw_only=True)
class EnqueueResult:
    publication_id: int
    delivery_ids: tuple[int, ...]
    created: bool  # False: the source message was already queued; nothing new was written


@dataclass(frozen=True, kw_only=True)
class PublicationInfo:
    publication_id: int
    source: str
    author: str
    title: str
    text: str
    publish_at: datetime
    created_at: datetime
    version: int
    content_hash: str
    source_chat_id: int | None
    source_message_id: int | None
    original_url: str | None
    deleted_at: datetime | None
    report_chat_id: int | None
    report_message_id: int | None


@dataclass(frozen=True, kw_only=True)
class TargetState:
    account: str
    platform: Platform
    paused: bool
    pause_reason: str | None
    last_success_at: datetime | None
    last_error_at: datetime | None
    last_error: str | None


def idempotency_key(publication_id: int, account: str, platform: Platform) -> str:
    return f"cp-{publication_id}-{account}-{platform}"


def spans_to_json(spans: Sequence[Span]) -> str:
    return json.dumps(
        [
            {
                k: v
                for k, v in (
                    ("k", s.kind.value),
                    ("s", s.start),
                    ("e", s.end),
                    ("u", s.url),
                    ("l", s.language),
                )
                if v is not None
            }
            for s in spans
        ],
        ensure_ascii=False,
    )


def spans_from_json(raw: str) -> tuple[Span, ...]:
    return tuple(
        Span(kind=SpanKind(d["k"]), start=d["s"], end=d["e"], url=d.get("u"), language=d.get("l"))
        for d in json.loads(raw)
    )


def content_hash(content: Content) -> str:
    """Hash of what a reader sees: text, spans, media. An edit that keeps it is a no-op."""
    h = hashlib.sha256()
    h.update(content.text.text.encode("utf-8", "surrogatepass"))
    h.update(spans_to_json(content.text.spans).encode())
    for item in content.media:
        h.update(f"|{item.kind}:{item.sha256 or item.telegram_file_id}".encode())
    return h.hexdigest()


_DELIVERIES = cast(Table, DeliveryRow.__table__)
_OPERATIONS = cast(Table, DeliveryOperationRow.__table__)
_PUBLICATION_VERSION = (
    select(PublicationRow.version)
    .where(PublicationRow.id == _DELIVERIES.c.publication_id)
    .scalar_subquery()
)


def _as_published(delivery: Delivery, remote: RemotePost, now: datetime) -> Delivery:
    """The delivery as settling a publish leaves it (the repository and the direct path)."""
    return replace(
        delivery,
        status=DeliveryStatus.PUBLISHED,
        remote_id=remote.remote_id,
        remote_url=remote.url,
        lease_until=None,
        lease_owner=None,
        published_at=now,
        last_error=None,
        error_reason=None,
    )


def _delivery_from_row(row: Any) -> Delivery:
    m = row._mapping
    return Delivery(
        delivery_id=m["id"],
        publication_id=m["publication_id"],
        account=m["account"],
        platform=Platform(m["platform"]),
        status=DeliveryStatus(m["status"]),
        due_at=m["due_at"],
        attempts=m["attempts"],
        idempotency_key=m["idempotency_key"],
        lease_until=m["lease_until"],
        lease_owner=m.get("lease_owner"),
        remote_id=m["remote_id"],
        remote_url=m["remote_url"],
        last_error=m["last_error"],
        error_reason=m["error_reason"],
        cancel_requested=m["cancel_requested"],
        last_attempt_at=m["last_attempt_at"],
        first_attempt_at=m.get("first_attempt_at"),
        published_at=m["published_at"],
        publication_version=m.get("publication_version") or 0,
    )


def _operation_from_row(row: Any) -> DeliveryOperation:
    m = row._mapping
    return DeliveryOperation(
        operation_id=m["id"],
        kind=OperationKind(m["kind"]),
        status=OperationStatus(m["status"]),
        account=m["account"],
        platform=Platform(m["platform"]),
        due_at=m["due_at"],
        attempts=m["attempts"],
        publication_id=m["publication_id"],
        delivery_id=m["delivery_id"],
        version=m["version"],
        lease_until=m["lease_until"],
        lease_owner=m["lease_owner"],
        last_error=m["last_error"],
        error_reason=m["error_reason"],
        actor=m["actor"],
    )


_MEDIA_COLUMNS = (
    "publication_id",
    "kind",
    "path",
    "file_name",
    "mime_type",
    "size",
    "sha256",
    "telegram_file_id",
    "missing",
)


def _contents_from_rows(
    pubs: Iterable[Sequence[Any]], media_rows: Iterable[Sequence[Any]]
) -> dict[int, Content]:
    """Content by publication id from (id, text, spans, original_url) rows and media rows of
    _MEDIA_COLUMNS in position order."""
    media: dict[int, list[MediaItem]] = {}
    for pub_id, kind, path, file_name, mime_type, size, sha256, file_id, missing in media_rows:
        media.setdefault(pub_id, []).append(
            MediaItem(
                kind=MediaKind(kind),
                path=Path(path),
                file_name=file_name,
                mime_type=mime_type,
                size=size,
                sha256=sha256,
                telegram_file_id=file_id,
                missing=bool(missing),
            )
        )
    return {
        pub_id: Content(
            text=RichText(text=text, spans=spans_from_json(spans)),
            media=tuple(media.get(pub_id, ())),
            original_url=original_url,
        )
        for pub_id, text, spans, original_url in pubs
    }


def _remote_from_row(r: RemotePostRow) -> RemotePost:
    return RemotePost(
        platform=Platform(r.platform),
        account=r.account,
        remote_id=r.remote_id,
        url=r.url,
        parts=tuple(json.loads(r.parts)),
    )


def _sources(target: DeliveryStatus) -> list[str]:
    return [str(s) for s, targets in ALLOWED.items() if target in targets]


class DeliveryRepository:
    """All queue SQL. Every method runs inside the caller's transaction."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    # -- publications -------------------------------------------------------------------------

    async def enqueue(self, new: NewPublication, now: datetime) -> EnqueueResult:
        """Write the publication, its media and one pending delivery per target.

        A second enqueue of the same source message adds only targets it did not have.
        """
        created = True
        pub_id: int | None = None
        if new.source_chat_id is not None and new.source_message_id is not None:
            pub_id = await self.session.scalar(
                select(PublicationRow.id).where(
                    PublicationRow.source_chat_id == new.source_chat_id,
                    PublicationRow.source_message_id == new.source_message_id,
                )
            )
            created = pub_id is None
        if pub_id is None:
            row = PublicationRow(
                source=str(new.source),
                author=new.author,
                title=new.title,
                text=new.content.text.text,
                spans=spans_to_json(new.content.text.spans),
                original_url=new.content.original_url,
                source_chat_id=new.source_chat_id,
                source_message_id=new.source_message_id,
                content_hash=content_hash(new.content),
                version=1,
                publish_at=new.publish_at,
                created_at=now,
            )
            self.session.add(row)
            await self.session.flush()
            pub_id = row.id
            await self._write_media(pub_id, new.content.media)
        ids: list[int] = []
        for target in new.targets:
            stmt = (
                self._insert(DeliveryRow)
                .values(
                    publication_id=pub_id,
                    account=target.account,
                    platform=str(target.platform),
                    status=str(S.PENDING),
                    due_at=new.publish_at,
                    attempts=0,
                    idempotency_key=idempotency_key(pub_id, target.account, target.platform),
                    cancel_requested=False,
                    created_at=now,
                    updated_at=now,
                )
                .on_conflict_do_nothing()
                .returning(DeliveryRow.id)
            )
            new_id = await self.session.scalar(stmt)
            if new_id is not None:
                ids.append(new_id)
        return EnqueueResult(publication_id=pub_id, delivery_ids=tuple(ids), created=created)

    async def _write_media(self, publication_id: int, media: Iterable[MediaItem]) -> None:
        for position, item in enumerate(media):
            self.session.add(
                MediaRow(
                    publication_id=publication_id,
                    position=position,
                    kind=str(item.kind),
                    path=str(item.path),
                    file_name=item.file_name,
                    mime_type=item.mime_type,
                    size=item.size,
                    sha256=item.sha256,
                    telegram_file_id=item.telegram_file_id,
                    missing=item.missing,
                )
            )
        await self.session.flush()

    async def update_content(self, publication_id: int, content: Content) -> int | None:
        """Store edited content; returns the new version, or None when nothing visible changed."""
        row = await self.session.get(PublicationRow, publication_id)
        if row is None:
            raise LookupError(f"publication {publication_id} not found")
        new_hash = content_hash(content)
        if new_hash == row.content_hash:
            return None
        row.text = content.text.text
        row.spans = spans_to_json(content.text.spans)
        row.content_hash = new_hash
        row.version += 1
        if content.original_url is not None:
            row.original_url = content.original_url
        await self.session.execute(
            delete(MediaRow).where(MediaRow.publication_id == publication_id)
        )
        await self._write_media(publication_id, content.media)
        return row.version

    async def publication(self, publication_id: int) -> PublicationInfo | None:
        row = await self.session.get(PublicationRow, publication_id)
        return None if row is None else self._info(row)

    async def publication_by_source(self, chat_id: int, message_id: int) -> PublicationInfo | None:
        row = await self.session.scalar(
            select(PublicationRow).where(
                PublicationRow.source_chat_id == chat_id,
                PublicationRow.source_message_id == message_id,
            )
        )
        return None if row is None else self._info(row)

    async def publication_by_url(
        self, urls: Collection[str], *, max_mid: str | None = None
    ) -> PublicationInfo | None:
        """The publication whose original post (a MAX or Telegram post it mirrors) or one of
        whose copies has one of `urls`; failing that, the one mirroring the MAX post `max_mid`."""
        if urls:
            row = await self.session.scalar(
                select(PublicationRow)
                .where(PublicationRow.original_url.in_(urls))
                .order_by(PublicationRow.id.desc())
                .limit(1)
            )
            if row is None:
                row = await self.session.scalar(
                    select(PublicationRow)
                    .join(RemotePostRow, RemotePostRow.publication_id == PublicationRow.id)
                    .where(RemotePostRow.url.in_(urls))
                    .order_by(PublicationRow.id.desc())
                    .limit(1)
                )
            if row is not None:
                return self._info(row)
        if max_mid:
            row = await self.session.scalar(
                select(PublicationRow)
                .join(MaxSourceRow, MaxSourceRow.publication_id == PublicationRow.id)
                .where(MaxSourceRow.mid == max_mid)
            )
            if row is not None:
                return self._info(row)
        return None

    async def set_report_message(self, publication_id: int, chat_id: int, message_id: int) -> None:
        await self.session.execute(
            update(PublicationRow)
            .where(PublicationRow.id == publication_id)
            .values(report_chat_id=chat_id, report_message_id=message_id)
        )

    async def publication_by_report(self, chat_id: int, message_id: int) -> PublicationInfo | None:
        row = await self.session.scalar(
            select(PublicationRow).where(
                PublicationRow.report_chat_id == chat_id,
                PublicationRow.report_message_id == message_id,
            )
        )
        return None if row is None else self._info(row)

    async def mark_publication_deleted(self, publication_id: int, now: datetime) -> None:
        await self.session.execute(
            update(PublicationRow)
            .where(PublicationRow.id == publication_id)
            .values(deleted_at=now)
        )

    @staticmethod
    def _info(row: PublicationRow) -> PublicationInfo:
        return PublicationInfo(
            publication_id=row.id,
            source=row.source,
            author=row.author,
            title=row.title,
            text=row.text,
            publish_at=row.publish_at,
            created_at=row.created_at,
            version=row.version,
            content_hash=row.content_hash,
            source_chat_id=row.source_chat_id,
            source_message_id=row.source_message_id,
            original_url=row.original_url,
            deleted_at=row.deleted_at,
            report_chat_id=row.report_chat_id,
            report_message_id=row.report_message_id,
        )

    async def content(self, publication_id: int) -> Content:
        contents = await self.contents([publication_id])
        if publication_id not in contents:
            raise LookupError(f"publication {publication_id} not found")
        return contents[publication_id]

    async def contents(self, publication_ids: Iterable[int]) -> dict[int, Content]:
        """Content of several publications in two queries (the drainer loads a claimed batch)."""
        ids = sorted(set(publication_ids))
        if not ids:
            return {}
        pub_table = cast(Table, PublicationRow.__table__)
        media_table = cast(Table, MediaRow.__table__)
        pubs = (
            await self.session.execute(
                select(
                    pub_table.c.id, pub_table.c.text, pub_table.c.spans, pub_table.c.original_url
                ).where(pub_table.c.id.in_(ids))
            )
        ).all()
        rows = await self.session.execute(
            select(*(media_table.c[name] for name in _MEDIA_COLUMNS))
            .where(media_table.c.publication_id.in_(ids))
            .order_by(media_table.c.publication_id, media_table.c.position)
        )
        return _contents_from_rows(pubs, rows.all())

    # -- claiming -----------------------------------------------------------------------------

    def _not_paused(self) -> object:
        return ~exists().where(
            TargetStateRow.account == DeliveryRow.account,
            TargetStateRow.platform == DeliveryRow.platform,
            TargetStateRow.paused.is_(True),
        )

    async def claim_due(
        self,
        now: datetime,
        lease: timedelta,
        limit: int,
        *,
        owner: str | None = None,
        uncertain: bool = True,
    ) -> list[Delivery]:
        """Atomically lease up to `limit` due deliveries: uncertain→reconciling first (they are
        quick and old), then pending→sending.

        One UPDATE … RETURNING per status, each reading `status = ? AND due_at <= ?` in due order
        through the (status, due_at) index, so its cost does not grow with the backlog. SQLite
        runs it under its single writer, so two drainers never claim the same row; on
        PostgreSQL the inner SELECT takes FOR UPDATE SKIP LOCKED. Rows carry the lease's
        `owner` (the run) and their publication's content version. `uncertain=False` skips the
        uncertain claim (the drainer knows none can be due).
        """
        claimed = await self._claim(S.UNCERTAIN, now, lease, limit, owner) if uncertain else []
        if len(claimed) < limit:
            claimed += await self._claim(S.PENDING, now, lease, limit - len(claimed), owner)
        return claimed

    async def _claim(
        self,
        status: DeliveryStatus,
        now: datetime,
        lease: timedelta,
        limit: int,
        owner: str | None,
    ) -> list[Delivery]:
        c = _DELIVERIES.c
        due = (
            select(c.id)
            .where(
                c.status == str(status),
                c.due_at <= now,
                self._not_paused(),  # type: ignore[arg-type]
            )
            .order_by(c.due_at, c.id)
            .limit(limit)
        )
        if self._dialect() == "postgresql":
            due = due.with_for_update(skip_locked=True)
        values: dict[str, object] = {
            "lease_until": now + lease,
            "lease_owner": owner,
            "updated_at": now,
        }
        if status is S.PENDING:
            values.update(
                status=str(S.SENDING),
                attempts=c.attempts + 1,
                last_attempt_at=now,
                first_attempt_at=func.coalesce(
                    c.first_attempt_at, literal(now, c.first_attempt_at.type)
                ),
            )
        else:
            # Reconciling is not a send attempt.
            values.update(status=str(S.RECONCILING))
        result = await self.session.execute(
            update(_DELIVERIES)
            .where(c.id.in_(due.scalar_subquery()))
            .values(**values)
            .returning(*c, _PUBLICATION_VERSION.label("publication_version"))
        )
        # RETURNING keeps no order on PostgreSQL: hand them out due first, as selected.
        claimed = [_delivery_from_row(r) for r in result.all()]
        return sorted(claimed, key=lambda d: (d.due_at, d.delivery_id))

    async def renew_leases(self, owner: str, until: datetime, now: datetime) -> int:
        """Extend every lease this run holds (deliveries and operations): a send in flight
        never outlives its lease. Returns how many rows were extended."""
        d = _DELIVERIES.c
        renewed = await self.session.execute(
            update(_DELIVERIES)
            .where(
                d.status.in_([str(S.SENDING), str(S.RECONCILING)]),
                d.lease_owner == owner,
            )
            .values(lease_until=until)
        )
        o = _OPERATIONS.c
        ops = await self.session.execute(
            update(_OPERATIONS)
            .where(o.status == str(OperationStatus.RUNNING), o.lease_owner == owner)
            .values(lease_until=until)
        )
        return int(renewed.rowcount) + int(ops.rowcount)  # type: ignore[attr-defined]

    async def recover_orphans(
        self, alive_owners: Iterable[str], now: datetime
    ) -> tuple[list[Delivery], list[DeliveryOperation]]:
        """Leases held by runs that are gone, resolved at once rather than when they expire:
        a send → uncertain (the post may exist; reconcile comes next), an edit, delete or
        keep-alive → pending (they are idempotent at the platform)."""
        alive = sorted(set(alive_owners))
        d = _DELIVERIES.c
        o = _OPERATIONS.c
        gone = or_(d.lease_owner.is_(None), d.lease_owner.not_in(alive)) if alive else true()
        gone_op = or_(o.lease_owner.is_(None), o.lease_owner.not_in(alive)) if alive else true()
        return await self._recover(gone, gone_op, now)

    async def lease_owners(self) -> set[str]:
        """The runs that hold leases now (deliveries being sent, operations running)."""
        d = _DELIVERIES.c
        o = _OPERATIONS.c
        owners = await self.session.scalars(
            select(d.lease_owner)
            .where(d.status.in_([str(S.SENDING), str(S.RECONCILING)]), d.lease_owner.is_not(None))
            .union(
                select(o.lease_owner).where(
                    o.status == str(OperationStatus.RUNNING), o.lease_owner.is_not(None)
                )
            )
        )
        return {str(owner) for owner in owners}

    async def recover_owners(
        self, gone_owners: Iterable[str], now: datetime
    ) -> tuple[list[Delivery], list[DeliveryOperation]]:
        """Like `recover_orphans`, for a database shared by several runs: only the leases of
        the named runs (known to be gone) are resolved, so a run that started a moment ago
        never loses what it just claimed."""
        gone = sorted(set(gone_owners))
        if not gone:
            return [], []
        return await self._recover(
            _DELIVERIES.c.lease_owner.in_(gone), _OPERATIONS.c.lease_owner.in_(gone), now
        )

    async def _recover(
        self, gone: Any, gone_op: Any, now: datetime
    ) -> tuple[list[Delivery], list[DeliveryOperation]]:
        d = _DELIVERIES.c
        result = await self.session.execute(
            update(_DELIVERIES)
            .where(d.status.in_([str(S.SENDING), str(S.RECONCILING)]), gone)
            .values(
                status=str(S.UNCERTAIN),
                lease_until=None,
                lease_owner=None,
                due_at=now,
                last_error="the run that was sending it stopped: the post may exist",
                error_reason="outcome_unknown",
                updated_at=now,
            )
            .returning(*d)
        )
        deliveries = [_delivery_from_row(r) for r in result.all()]
        o = _OPERATIONS.c
        ops = await self.session.execute(
            update(_OPERATIONS)
            .where(o.status == str(OperationStatus.RUNNING), gone_op)
            .values(
                status=str(OperationStatus.PENDING),
                lease_until=None,
                lease_owner=None,
                due_at=now,
                updated_at=now,
            )
            .returning(*o)
        )
        return deliveries, [_operation_from_row(r) for r in ops.all()]

    async def remote_id_taken(
        self,
        platform: Platform,
        account: str,
        remote_id: str,
        except_delivery_id: int | None = None,
    ) -> bool:
        """Whether this remote post is already recorded for a delivery (other than
        `except_delivery_id`), so a read-back must not adopt it."""
        r = cast(Table, RemotePostRow.__table__).c
        found = await self.session.scalar(
            select(r.delivery_id)
            .where(
                r.platform == str(platform),
                r.account == account,
                # Also a further part of another post (an album item, a follow-up message).
                or_(r.remote_id == remote_id, r.parts.contains(json.dumps(remote_id))),
                r.delivery_id != (-1 if except_delivery_id is None else except_delivery_id),
            )
            .limit(1)
        )
        return found is not None

    def _dialect(self) -> str:
        bind = self.session.bind
        return bind.dialect.name if bind is not None else "sqlite"

    def _insert(self, table: Any) -> Any:
        """INSERT with ON CONFLICT support on SQLite and PostgreSQL alike."""
        return (postgresql if self._dialect() == "postgresql" else sqlite).insert(table)

    async def next_due_at(self) -> datetime | None:
        """When the earliest pending or uncertain delivery of an unpaused target, or the
        earliest pending operation, is due."""
        times = [
            await self.session.scalar(
                select(func.min(DeliveryRow.due_at)).where(
                    DeliveryRow.status == str(status),
                    self._not_paused(),  # type: ignore[arg-type]
                )
            )
            for status in (S.PENDING, S.UNCERTAIN)
        ]
        times.append(
            await self.session.scalar(
                select(func.min(_OPERATIONS.c.due_at)).where(
                    _OPERATIONS.c.status == str(OperationStatus.PENDING)
                )
            )
        )
        present = [t for t in times if t is not None]
        return min(present) if present else None

    async def expire_leases(self, now: datetime) -> list[Delivery]:
        """A lease that ran out means its holder died mid-send (a live drainer renews its
        leases): the post may exist → uncertain. Expired operations go back to pending."""
        o = _OPERATIONS.c
        await self.session.execute(
            update(_OPERATIONS)
            .where(o.status == str(OperationStatus.RUNNING), o.lease_until < now)
            .values(
                status=str(OperationStatus.PENDING),
                lease_until=None,
                lease_owner=None,
                due_at=now,
                updated_at=now,
            )
        )
        result = await self.session.execute(
            update(DeliveryRow)
            .where(
                DeliveryRow.status.in_([str(S.SENDING), str(S.RECONCILING)]),
                DeliveryRow.lease_until < now,
            )
            .values(
                status=str(S.UNCERTAIN),
                lease_until=None,
                lease_owner=None,
                due_at=now,
                last_error="lease expired: the process stopped while sending",
                error_reason="outcome_unknown",
                updated_at=now,
            )
            .returning(*_DELIVERIES.c)
        )
        return [_delivery_from_row(r) for r in result.all()]

    # -- settling -----------------------------------------------------------------------------

    async def _move(
        self, delivery_id: int, target: DeliveryStatus, now: datetime, **values: object
    ) -> Delivery:
        if "lease_until" in values and values["lease_until"] is None:
            values["lease_owner"] = None
        result = await self.session.execute(
            update(_DELIVERIES)
            .where(_DELIVERIES.c.id == delivery_id, _DELIVERIES.c.status.in_(_sources(target)))
            .values(status=str(target), updated_at=now, **values)
            .returning(*_DELIVERIES.c)
        )
        row = result.one_or_none()
        if row is None:
            current = await self.session.scalar(
                select(_DELIVERIES.c.status).where(_DELIVERIES.c.id == delivery_id)
            )
            raise TransitionError(
                f"delivery {delivery_id}: cannot go from {current or 'missing'} to {target}"
            )
        return _delivery_from_row(row)

    async def mark_published(
        self, delivery_id: int, remote: RemotePost, now: datetime
    ) -> Delivery:
        """Record the remote post and its ledger entry; a published delivery is never resent."""
        delivery = await self._move(
            delivery_id,
            S.PUBLISHED,
            now,
            remote_id=remote.remote_id,
            remote_url=remote.url,
            lease_until=None,
            published_at=now,
            last_error=None,
            error_reason=None,
        )
        await self.session.execute(
            self._insert(RemotePostRow)
            .values(
                delivery_id=delivery_id,
                publication_id=delivery.publication_id,
                account=delivery.account,
                platform=str(delivery.platform),
                remote_id=remote.remote_id,
                url=remote.url,
                parts=json.dumps(list(remote.parts)),
                version=1,
                created_at=now,
            )
            .on_conflict_do_nothing()
        )
        await self.record_success(delivery.account, delivery.platform, now)
        return delivery

    async def mark_published_many(
        self,
        items: Sequence[tuple[Delivery, RemotePost]],
        now: datetime,
        *,
        skip_success: Callable[[tuple[str, Platform]], bool] | None = None,
    ) -> list[Delivery | TransitionError]:
        """mark_published for a batch of claimed deliveries in three statements in all.

        Each entry of the result is the settled delivery, or the TransitionError of one that
        had moved meanwhile (nothing is written for that one). `skip_success(target)` true: its
        last success was recorded moments ago, so it is not written again."""
        if not items:
            return []
        sources = _sources(S.PUBLISHED)
        params = [
            {"b_id": d.delivery_id, "b_remote_id": r.remote_id, "b_url": r.url} for d, r in items
        ]
        stmt = (
            update(_DELIVERIES)
            .where(
                _DELIVERIES.c.id == bindparam("b_id"),
                # Not IN (…): an expanding parameter cannot go into executemany.
                or_(*(_DELIVERIES.c.status == source for source in sources)),
            )
            .values(
                status=str(S.PUBLISHED),
                remote_id=bindparam("b_remote_id"),
                remote_url=bindparam("b_url"),
                lease_until=None,
                lease_owner=None,
                published_at=now,
                last_error=None,
                error_reason=None,
                updated_at=now,
            )
        )
        conn = await self.session.connection()
        result = await conn.execute(stmt, params)
        ok_ids = {d.delivery_id for d, _ in items}
        if result.rowcount != len(items):
            rows = await conn.execute(
                select(_DELIVERIES.c.id, _DELIVERIES.c.status, _DELIVERIES.c.remote_id).where(
                    _DELIVERIES.c.id.in_(ok_ids)
                )
            )
            mine = {d.delivery_id: r.remote_id for d, r in items}
            ok_ids = {
                row.id
                for row in rows
                if row.status == str(S.PUBLISHED) and row.remote_id == mine[row.id]
            }
        outcome: list[Delivery | TransitionError] = []
        ledger: list[dict[str, object]] = []
        targets: set[tuple[str, Platform]] = set()
        for delivery, remote in items:
            if delivery.delivery_id not in ok_ids:
                outcome.append(
                    TransitionError(
                        f"delivery {delivery.delivery_id}: cannot be marked published now"
                    )
                )
                continue
            outcome.append(_as_published(delivery, remote, now))
            ledger.append(
                {
                    "delivery_id": delivery.delivery_id,
                    "publication_id": delivery.publication_id,
                    "account": delivery.account,
                    "platform": str(delivery.platform),
                    "remote_id": remote.remote_id,
                    "url": remote.url,
                    "parts": json.dumps(list(remote.parts)),
                    "version": delivery.publication_version or 1,
                    "created_at": now,
                }
            )
            targets.add((delivery.account, delivery.platform))
        if ledger:
            await conn.execute(
                self._insert(RemotePostRow.__table__).on_conflict_do_nothing(), ledger
            )
        targets -= {t for t in targets if skip_success is not None and skip_success(t)}
        if targets:
            upsert = self._insert(TargetStateRow.__table__)
            await conn.execute(
                upsert.on_conflict_do_update(
                    index_elements=["account", "platform"],
                    set_={"last_success_at": upsert.excluded.last_success_at},
                ),
                [
                    {"account": a, "platform": str(p), "paused": False, "last_success_at": now}
                    for a, p in sorted(targets)
                ],
            )
        return outcome

    async def enqueue_followups(self, published: Sequence[Delivery], now: datetime) -> int:
        """Copies that were published from older content than the publication has now get an
        edit; copies of a publication deleted meanwhile get a delete. Returns how many."""
        if not published:
            return 0
        p = cast(Table, PublicationRow.__table__).c
        rows = (
            await self.session.execute(
                select(p.id, p.version, p.deleted_at).where(
                    p.id.in_({d.publication_id for d in published})
                )
            )
        ).all()
        current = {r.id: (r.version, r.deleted_at) for r in rows}
        count = 0
        for d in published:
            version, deleted_at = current.get(d.publication_id, (0, None))
            if deleted_at is not None:
                count += await self.enqueue_delete_copy(d.delivery_id, now) is not None
            elif d.publication_version and version > d.publication_version:
                count += len(
                    await self._enqueue_copy_ops(
                        OperationKind.EDIT, None, now, "", delivery_id=d.delivery_id
                    )
                )
        return count

    async def mark_retry(
        self,
        delivery_id: int,
        at: datetime,
        error: str,
        reason: str,
        now: datetime,
        *,
        count_attempt: bool = True,
    ) -> Delivery:
        """Back to pending at `at`; a cancel asked for meanwhile wins. A rate-limit wait
        (`count_attempt=False`) refunds the attempt its claim took."""
        current = await self.get(delivery_id)
        if current is not None and current.cancel_requested:
            return await self._move(
                delivery_id,
                S.CANCELLED,
                now,
                lease_until=None,
                last_error=error,
                error_reason=reason,
            )
        await self.record_error(
            current.account if current else "",
            current.platform if current else Platform.TELEGRAM,
            error,
            now,
        )
        extra: dict[str, object] = {} if count_attempt else {"attempts": DeliveryRow.attempts - 1}
        return await self._move(
            delivery_id,
            S.PENDING,
            now,
            due_at=at,
            lease_until=None,
            last_error=error,
            error_reason=reason,
            **extra,
        )

    async def release(self, delivery_id: int, now: datetime) -> Delivery:
        """Hand back a claimed delivery that was never sent (shutdown, paused account)."""
        return await self._move(
            delivery_id,
            S.PENDING,
            now,
            lease_until=None,
            attempts=DeliveryRow.attempts - 1,
        )

    async def mark_failed(
        self, delivery_id: int, error: str, reason: str, now: datetime
    ) -> Delivery:
        current = await self.get(delivery_id)
        target = S.CANCELLED if current is not None and current.cancel_requested else S.FAILED
        delivery = await self._move(
            delivery_id, target, now, lease_until=None, last_error=error, error_reason=reason
        )
        await self.record_error(delivery.account, delivery.platform, error, now)
        return delivery

    async def mark_uncertain(
        self, delivery_id: int, error: str, now: datetime, *, reconcile_at: datetime | None = None
    ) -> Delivery:
        return await self._move(
            delivery_id,
            S.UNCERTAIN,
            now,
            lease_until=None,
            due_at=reconcile_at or now,
            last_error=error,
            error_reason="outcome_unknown",
        )

    async def mark_held(self, delivery_id: int, error: str, now: datetime) -> Delivery:
        return await self._move(
            delivery_id,
            S.HELD,
            now,
            lease_until=None,
            last_error=error,
            error_reason="outcome_unknown",
        )

    async def mark_not_found(self, delivery_id: int, now: datetime) -> Delivery:
        """Reconcile found no post: send again now, unless a cancel was asked for."""
        current = await self.get(delivery_id)
        if current is not None and current.cancel_requested:
            return await self._cancel_reconciling(delivery_id, now)
        return await self._move(delivery_id, S.PENDING, now, due_at=now, lease_until=None)

    async def _cancel_reconciling(self, delivery_id: int, now: datetime) -> Delivery:
        # reconciling → cancelled is not a normal transition: go through pending.
        await self._move(delivery_id, S.PENDING, now, lease_until=None)
        return await self._move(delivery_id, S.CANCELLED, now)

    # -- staff actions ------------------------------------------------------------------------

    async def cancel(self, delivery_id: int, now: datetime) -> Delivery:
        """Cancel a delivery. One being sent right now is flagged and settles as cancelled
        unless the platform already took it."""
        current = await self.get(delivery_id)
        if current is None:
            raise LookupError(f"delivery {delivery_id} not found")
        if current.status in (S.SENDING, S.RECONCILING):
            await self.session.execute(
                update(DeliveryRow)
                .where(DeliveryRow.id == delivery_id)
                .values(cancel_requested=True, updated_at=now)
            )
            return await self.get_required(delivery_id)
        return await self._move(delivery_id, S.CANCELLED, now, lease_until=None)

    async def retry(self, delivery_id: int, now: datetime) -> Delivery:
        """Staff say: send again now. A failed delivery goes back to pending. A held or
        uncertain one may exist on the platform: it is reconciled first and resent only if the
        platform does not show it (or cannot tell: staff checked by hand)."""
        current = await self.get_required(delivery_id)
        if current.status in (S.HELD, S.UNCERTAIN):
            values = {"due_at": now, "cancel_requested": False, "error_reason": STAFF_RETRY}
            if current.status is S.HELD:
                return await self._move(delivery_id, S.UNCERTAIN, now, **values)
            result = await self.session.execute(
                update(_DELIVERIES)
                .where(_DELIVERIES.c.id == delivery_id, _DELIVERIES.c.status == str(S.UNCERTAIN))
                .values(updated_at=now, **values)
                .returning(*_DELIVERIES.c)
            )
            row = result.one_or_none()
            if row is None:
                raise TransitionError(f"delivery {delivery_id} moved meanwhile")
            return _delivery_from_row(row)
        return await self._move(
            delivery_id, S.PENDING, now, due_at=now, lease_until=None, cancel_requested=False
        )

    async def reschedule(self, delivery_id: int, at: datetime, now: datetime) -> Delivery:
        result = await self.session.execute(
            update(DeliveryRow)
            .where(DeliveryRow.id == delivery_id, DeliveryRow.status == str(S.PENDING))
            .values(due_at=at, updated_at=now)
            .returning(*_DELIVERIES.c)
        )
        row = result.one_or_none()
        if row is None:
            raise TransitionError(f"delivery {delivery_id} is not pending: cannot reschedule")
        return _delivery_from_row(row)

    async def reschedule_publication(
        self, publication_id: int, at: datetime, now: datetime
    ) -> int:
        result = await self.session.execute(
            update(DeliveryRow)
            .where(
                DeliveryRow.publication_id == publication_id,
                DeliveryRow.status == str(S.PENDING),
            )
            .values(due_at=at, updated_at=now)
        )
        await self.session.execute(
            update(PublicationRow).where(PublicationRow.id == publication_id).values(publish_at=at)
        )
        return int(result.rowcount)  # type: ignore[attr-defined]

    # -- operations: edit, delete, keep-alive ------------------------------------------------

    async def enqueue_edits(
        self,
        publication_id: int,
        now: datetime,
        *,
        actor: str = "",
        only: Collection[tuple[str, Platform]] | None = None,
    ) -> list[DeliveryOperation]:
        """One pending edit per live published copy (of the `only` targets, if given). A copy
        that already has an edit waiting gets no second one: an edit sends the content current
        when it runs."""
        return await self._enqueue_copy_ops(
            OperationKind.EDIT, publication_id, now, actor, only=only
        )

    async def enqueue_deletes(
        self, publication_id: int, now: datetime, *, actor: str = ""
    ) -> list[DeliveryOperation]:
        """One pending delete per live published copy; edits still waiting are cancelled."""
        o = _OPERATIONS.c
        await self.session.execute(
            update(_OPERATIONS)
            .where(
                o.publication_id == publication_id,
                o.kind == str(OperationKind.EDIT),
                o.status == str(OperationStatus.PENDING),
            )
            .values(status=str(OperationStatus.CANCELLED), updated_at=now, finished_at=now)
        )
        return await self._enqueue_copy_ops(OperationKind.DELETE, publication_id, now, actor)

    async def enqueue_delete_copy(
        self, delivery_id: int, now: datetime, *, actor: str = ""
    ) -> DeliveryOperation | None:
        """Delete one copy (one that was published after its publication was deleted)."""
        ops = await self._enqueue_copy_ops(
            OperationKind.DELETE, None, now, actor, delivery_id=delivery_id
        )
        return ops[0] if ops else None

    async def _enqueue_copy_ops(
        self,
        kind: OperationKind,
        publication_id: int | None,
        now: datetime,
        actor: str,
        *,
        delivery_id: int | None = None,
        only: Collection[tuple[str, Platform]] | None = None,
    ) -> list[DeliveryOperation]:
        r = cast(Table, RemotePostRow.__table__).c
        o = _OPERATIONS.c
        waiting = exists().where(
            o.delivery_id == r.delivery_id,
            o.kind == str(kind),
            o.status == str(OperationStatus.PENDING),
        )
        stmt = select(r.delivery_id, r.publication_id, r.account, r.platform).where(
            r.deleted_at.is_(None), ~waiting
        )
        if publication_id is not None:
            stmt = stmt.where(r.publication_id == publication_id)
        if delivery_id is not None:
            stmt = stmt.where(r.delivery_id == delivery_id)
        copies = (await self.session.execute(stmt.order_by(r.id))).all()
        if only is not None:
            wanted = {(a, str(p)) for a, p in only}
            copies = [c for c in copies if (c.account, c.platform) in wanted]
        if not copies:
            return []
        result = await self.session.execute(
            insert(_OPERATIONS).returning(*o),
            [
                {
                    "kind": str(kind),
                    "status": str(OperationStatus.PENDING),
                    "publication_id": c.publication_id,
                    "delivery_id": c.delivery_id,
                    "account": c.account,
                    "platform": c.platform,
                    "due_at": now,
                    "attempts": 0,
                    "actor": actor,
                    "created_at": now,
                    "updated_at": now,
                }
                for c in copies
            ],
        )
        return [_operation_from_row(row) for row in result.all()]

    async def enqueue_keep_alive(
        self, account: str, platform: Platform, now: datetime, *, actor: str = ""
    ) -> DeliveryOperation | None:
        """A keep-alive call for this account's token, unless one is already waiting."""
        o = _OPERATIONS.c
        waiting = await self.session.scalar(
            select(o.id).where(
                o.kind == str(OperationKind.KEEP_ALIVE),
                o.status.in_([str(OperationStatus.PENDING), str(OperationStatus.RUNNING)]),
                o.account == account,
                o.platform == str(platform),
            )
        )
        if waiting is not None:
            return None
        row = (
            await self.session.execute(
                insert(_OPERATIONS)
                .values(
                    kind=str(OperationKind.KEEP_ALIVE),
                    status=str(OperationStatus.PENDING),
                    account=account,
                    platform=str(platform),
                    due_at=now,
                    attempts=0,
                    actor=actor,
                    created_at=now,
                    updated_at=now,
                )
                .returning(*o)
            )
        ).one()
        return _operation_from_row(row)

    async def claim_operations(
        self, now: datetime, lease: timedelta, limit: int, *, owner: str | None = None
    ) -> list[DeliveryOperation]:
        """Lease up to `limit` due operations (pending → running), oldest first, through the
        (status, due_at) index; each comes with the copy it acts on."""
        o = _OPERATIONS.c
        due = (
            select(o.id)
            .where(
                o.status == str(OperationStatus.PENDING),
                o.due_at <= now,
                ~exists().where(
                    TargetStateRow.account == o.account,
                    TargetStateRow.platform == o.platform,
                    TargetStateRow.paused.is_(True),
                ),
            )
            .order_by(o.due_at, o.id)
            .limit(limit)
        )
        if self._dialect() == "postgresql":
            due = due.with_for_update(skip_locked=True)
        rows = (
            await self.session.execute(
                update(_OPERATIONS)
                .where(o.id.in_(due.scalar_subquery()))
                .values(
                    status=str(OperationStatus.RUNNING),
                    attempts=o.attempts + 1,
                    lease_until=now + lease,
                    lease_owner=owner,
                    updated_at=now,
                )
                .returning(*o)
            )
        ).all()
        ops = sorted(
            (_operation_from_row(row) for row in rows), key=lambda op: (op.due_at, op.operation_id)
        )
        remotes = await self._remotes_by_delivery(
            [op.delivery_id for op in ops if op.delivery_id is not None]
        )
        return [
            replace(op, remote=remotes.get(op.delivery_id)) if op.delivery_id else op for op in ops
        ]

    async def _remotes_by_delivery(self, delivery_ids: Sequence[int]) -> dict[int, RemotePost]:
        if not delivery_ids:
            return {}
        rows = (
            await self.session.scalars(
                select(RemotePostRow).where(RemotePostRow.delivery_id.in_(set(delivery_ids)))
            )
        ).all()
        return {r.delivery_id: _remote_from_row(r) for r in rows}

    async def get_operation(self, operation_id: int) -> DeliveryOperation | None:
        row = (
            await self.session.execute(select(_OPERATIONS).where(_OPERATIONS.c.id == operation_id))
        ).one_or_none()
        if row is None:
            return None
        op = _operation_from_row(row)
        if op.delivery_id is not None:
            remote = (await self._remotes_by_delivery([op.delivery_id])).get(op.delivery_id)
            op = replace(op, remote=remote)
        return op

    async def operations(
        self,
        *,
        publication_id: int | None = None,
        statuses: Iterable[OperationStatus] | None = None,
        limit: int = 1000,
    ) -> list[DeliveryOperation]:
        o = _OPERATIONS.c
        stmt = select(_OPERATIONS).order_by(o.id).limit(limit)
        if publication_id is not None:
            stmt = stmt.where(o.publication_id == publication_id)
        if statuses is not None:
            stmt = stmt.where(o.status.in_([str(s) for s in statuses]))
        return [_operation_from_row(r) for r in (await self.session.execute(stmt)).all()]

    async def finish_operation(
        self,
        op: DeliveryOperation,
        status: OperationStatus,
        now: datetime,
        *,
        version: int | None = None,
        error: str | None = None,
        reason: str | None = None,
    ) -> DeliveryOperation:
        """Settle a running operation; a done edit or delete is written to the ledger too."""
        finished = await self._leave_running(
            op,
            now,
            status=str(status),
            version=version if version is not None else _OPERATIONS.c.version,
            last_error=error,
            error_reason=reason,
            finished_at=now,
        )
        if status is OperationStatus.DONE and op.remote is not None:
            if op.kind is OperationKind.EDIT and version is not None:
                await self.mark_remote_edited(op.remote, version, now)
            elif op.kind is OperationKind.DELETE:
                await self.mark_remote_deleted(op.remote, now)
        if status is OperationStatus.DONE:
            await self.record_success(op.account, op.platform, now)
        elif error is not None:
            await self.record_error(op.account, op.platform, error, now)
        return finished

    async def _leave_running(
        self, op: DeliveryOperation, now: datetime, **values: object
    ) -> DeliveryOperation:
        """Move a running operation on (its lease released); TransitionError if it is not
        running any more."""
        o = _OPERATIONS.c
        row = (
            await self.session.execute(
                update(_OPERATIONS)
                .where(o.id == op.operation_id, o.status == str(OperationStatus.RUNNING))
                .values(lease_until=None, lease_owner=None, updated_at=now, **values)
                .returning(*o)
            )
        ).one_or_none()
        if row is None:
            raise TransitionError(f"operation {op.operation_id} is no longer running")
        return replace(_operation_from_row(row), remote=op.remote)

    async def retry_operation(
        self,
        op: DeliveryOperation,
        at: datetime,
        now: datetime,
        *,
        error: str,
        reason: str,
        count_attempt: bool = True,
    ) -> DeliveryOperation:
        """Back to pending at `at`. A rate-limit wait (`count_attempt=False`) refunds the
        attempt its claim took."""
        o = _OPERATIONS.c
        retried = await self._leave_running(
            op,
            now,
            status=str(OperationStatus.PENDING),
            due_at=at,
            attempts=o.attempts if count_attempt else o.attempts - 1,
            last_error=error,
            error_reason=reason,
        )
        await self.record_error(op.account, op.platform, error, now)
        return retried

    async def release_operation(self, op: DeliveryOperation, now: datetime) -> None:
        """Hand back a claimed operation that never ran (shutdown, paused account)."""
        o = _OPERATIONS.c
        await self.session.execute(
            update(_OPERATIONS)
            .where(o.id == op.operation_id, o.status == str(OperationStatus.RUNNING))
            .values(
                status=str(OperationStatus.PENDING),
                attempts=o.attempts - 1,
                lease_until=None,
                lease_owner=None,
                updated_at=now,
            )
        )

    # -- reading ------------------------------------------------------------------------------

    async def get(self, delivery_id: int) -> Delivery | None:
        row = (
            await self.session.execute(select(_DELIVERIES).where(_DELIVERIES.c.id == delivery_id))
        ).one_or_none()
        return None if row is None else _delivery_from_row(row)

    async def get_required(self, delivery_id: int) -> Delivery:
        delivery = await self.get(delivery_id)
        if delivery is None:
            raise LookupError(f"delivery {delivery_id} not found")
        return delivery

    async def list_deliveries(
        self,
        *,
        statuses: Iterable[DeliveryStatus] | None = None,
        publication_id: int | None = None,
        limit: int = 100,
    ) -> list[Delivery]:
        c = _DELIVERIES.c
        stmt = select(_DELIVERIES).order_by(c.due_at, c.id).limit(limit)
        if statuses is not None:
            stmt = stmt.where(c.status.in_([str(s) for s in statuses]))
        if publication_id is not None:
            stmt = stmt.where(c.publication_id == publication_id)
        return [_delivery_from_row(r) for r in (await self.session.execute(stmt)).all()]

    async def for_publication(self, publication_id: int) -> list[Delivery]:
        return await self.list_deliveries(publication_id=publication_id, limit=1000)

    async def remote_posts(self, publication_id: int) -> list[RemotePost]:
        rows = (
            await self.session.scalars(
                select(RemotePostRow)
                .where(
                    RemotePostRow.publication_id == publication_id,
                    RemotePostRow.deleted_at.is_(None),
                )
                .order_by(RemotePostRow.id)
            )
        ).all()
        return [_remote_from_row(r) for r in rows]

    async def mark_remote_edited(self, remote: RemotePost, version: int, now: datetime) -> None:
        await self.session.execute(
            update(RemotePostRow)
            .where(
                RemotePostRow.platform == str(remote.platform),
                RemotePostRow.account == remote.account,
                RemotePostRow.remote_id == remote.remote_id,
            )
            .values(version=version, edited_at=now)
        )

    async def mark_remote_deleted(self, remote: RemotePost, now: datetime) -> None:
        await self.session.execute(
            update(RemotePostRow)
            .where(
                RemotePostRow.platform == str(remote.platform),
                RemotePostRow.account == remote.account,
                RemotePostRow.remote_id == remote.remote_id,
            )
            .values(deleted_at=now)
        )

    # -- target health ------------------------------------------------------------------------

    async def _ensure_target(self, account: str, platform: Platform) -> None:
        await self.session.execute(
            self._insert(TargetStateRow)
            .values(account=account, platform=str(platform), paused=False)
            .on_conflict_do_nothing()
        )

    async def record_success(self, account: str, platform: Platform, now: datetime) -> None:
        stmt = self._insert(TargetStateRow).values(
            account=account, platform=str(platform), paused=False, last_success_at=now
        )
        await self.session.execute(
            stmt.on_conflict_do_update(
                index_elements=["account", "platform"], set_={"last_success_at": now}
            )
        )

    async def record_error(
        self, account: str, platform: Platform, error: str, now: datetime
    ) -> None:
        if not account:
            return
        stmt = self._insert(TargetStateRow).values(
            account=account,
            platform=str(platform),
            paused=False,
            last_error_at=now,
            last_error=error,
        )
        await self.session.execute(
            stmt.on_conflict_do_update(
                index_elements=["account", "platform"],
                set_={"last_error_at": now, "last_error": error},
            )
        )

    async def pause(self, account: str, platform: Platform, reason: str, now: datetime) -> bool:
        """Hold every delivery of this target until `resume`. True if it was not paused before."""
        await self._ensure_target(account, platform)
        result = await self.session.execute(
            update(TargetStateRow)
            .where(
                TargetStateRow.account == account,
                TargetStateRow.platform == str(platform),
                TargetStateRow.paused.is_(False),
            )
            .values(paused=True, pause_reason=reason, paused_at=now)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def resume(self, account: str, platform: Platform) -> bool:
        result = await self.session.execute(
            update(TargetStateRow)
            .where(
                TargetStateRow.account == account,
                TargetStateRow.platform == str(platform),
                TargetStateRow.paused.is_(True),
            )
            .values(paused=False, pause_reason=None, paused_at=None)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def target_states(self) -> list[TargetState]:
        rows = (await self.session.scalars(select(TargetStateRow))).all()
        return [
            TargetState(
                account=r.account,
                platform=Platform(r.platform),
                paused=r.paused,
                pause_reason=r.pause_reason,
                last_success_at=r.last_success_at,
                last_error_at=r.last_error_at,
                last_error=r.last_error,
            )
            for r in rows
        ]

    # -- audit and media ----------------------------------------------------------------------

    async def audit(
        self,
        actor: str,
        action: str,
        now: datetime,
        *,
        publication_id: int | None = None,
        delivery_id: int | None = None,
        detail: str = "",
    ) -> None:
        await self.session.execute(
            insert(AuditRow).values(
                at=now,
                actor=actor,
                action=action,
                publication_id=publication_id,
                delivery_id=delivery_id,
                detail=detail,
            )
        )

    async def settled_media(self, older_than: datetime) -> list[tuple[int, str, str]]:
        """Media (id, path, sha256) whose publication has no open delivery and settled before."""
        open_delivery = exists().where(
            DeliveryRow.publication_id == MediaRow.publication_id,
            or_(
                DeliveryRow.status.not_in([str(s) for s in (S.PUBLISHED, S.FAILED, S.CANCELLED)]),
                DeliveryRow.updated_at >= older_than,
            ),
        )
        rows = (
            await self.session.execute(
                select(MediaRow.id, MediaRow.path, MediaRow.sha256).where(
                    and_(MediaRow.removed_at.is_(None), MediaRow.missing.is_(False)),
                    ~open_delivery,
                )
            )
        ).all()
        return [(r[0], r[1], r[2]) for r in rows]

    async def media_in_use(self, sha256: str) -> bool:
        """Whether an unsettled publication still needs a file with this content."""
        stmt = select(MediaRow.id).where(
            MediaRow.sha256 == sha256,
            MediaRow.removed_at.is_(None),
            exists().where(
                DeliveryRow.publication_id == MediaRow.publication_id,
                DeliveryRow.status.not_in([str(s) for s in (S.PUBLISHED, S.FAILED, S.CANCELLED)]),
            ),
        )
        return (await self.session.scalar(stmt.limit(1))) is not None

    async def mark_media_removed(self, media_id: int, now: datetime) -> None:
        await self.session.execute(
            update(MediaRow).where(MediaRow.id == media_id).values(removed_at=now)
        )


# -- SQLite hot path: one round trip per transaction ------------------------------------------
#
# The drainer's claim and its settling of published deliveries, as plain sqlite3 functions that
# crosspost.db.write_direct runs in aiosqlite's thread inside one write transaction. They do
# what DeliveryRepository.claim_due(uncertain=False) + contents() and mark_published_many() do
# (the queue and drain tests hold them to the same contract); the statements are constant
# strings, so sqlite3 prepares each once per connection. Lists go in as JSON (json_each).

_COLUMNS = (
    "id, publication_id, account, platform, status, due_at, attempts, idempotency_key, "
    "lease_until, lease_owner, remote_id, remote_url, last_error, error_reason, "
    "cancel_requested, last_attempt_at, first_attempt_at, published_at"
)
_SQLITE_CLAIM = """
UPDATE deliveries
SET {set}
WHERE id IN (
    SELECT d.id FROM deliveries AS d
    WHERE d.status = ? AND d.due_at <= ?
      AND NOT EXISTS (
          SELECT 1 FROM target_state AS t
          WHERE t.account = d.account AND t.platform = d.platform AND t.paused = 1
      )
    ORDER BY d.due_at, d.id
    LIMIT ?
)
RETURNING {columns},
    (SELECT p.version FROM publications AS p WHERE p.id = deliveries.publication_id)
"""
# Parameters: lease_until, lease_owner, updated_at, [last_attempt_at, first_attempt_at],
# status, due by, limit.
SQLITE_CLAIM_PENDING = _SQLITE_CLAIM.format(
    set=f"status = '{S.SENDING}', lease_until = ?, lease_owner = ?, updated_at = ?, "
    "attempts = attempts + 1, last_attempt_at = ?, "
    "first_attempt_at = coalesce(first_attempt_at, ?)",
    columns=_COLUMNS,
)
# Reconciling is not a send attempt.
SQLITE_CLAIM_UNCERTAIN = _SQLITE_CLAIM.format(
    set=f"status = '{S.RECONCILING}', lease_until = ?, lease_owner = ?, updated_at = ?",
    columns=_COLUMNS,
)
_OPERATION_COLUMNS = (
    "id, kind, status, account, platform, due_at, attempts, publication_id, delivery_id, "
    "version, lease_until, lease_owner, last_error, error_reason, actor"
)
SQLITE_CLAIM_OPERATIONS = f"""
UPDATE delivery_operations
SET status = '{OperationStatus.RUNNING}', attempts = attempts + 1, lease_until = ?,
    lease_owner = ?, updated_at = ?
WHERE id IN (
    SELECT o.id FROM delivery_operations AS o
    WHERE o.status = '{OperationStatus.PENDING}' AND o.due_at <= ?
      AND NOT EXISTS (
          SELECT 1 FROM target_state AS t
          WHERE t.account = o.account AND t.platform = o.platform AND t.paused = 1
      )
    ORDER BY o.due_at, o.id
    LIMIT ?
)
RETURNING {_OPERATION_COLUMNS}
"""  # noqa: S608 (constants only)
_SQLITE_REMOTES = (
    "SELECT delivery_id, platform, account, remote_id, url, parts FROM remote_posts "
    "WHERE delivery_id IN (SELECT value FROM json_each(?))"
)
_SQLITE_PUBLICATIONS = (
    "SELECT id, text, spans, original_url FROM publications "
    "WHERE id IN (SELECT value FROM json_each(?))"
)
_SQLITE_MEDIA = (
    f"SELECT {', '.join(_MEDIA_COLUMNS)} FROM media "  # noqa: S608 (constants only)
    "WHERE publication_id IN (SELECT value FROM json_each(?)) ORDER BY publication_id, position"
)
_SQLITE_PUBLISHED = f"""
UPDATE deliveries
SET status = '{S.PUBLISHED}', remote_id = ?, remote_url = ?, lease_until = NULL,
    lease_owner = NULL, published_at = ?, last_error = NULL, error_reason = NULL, updated_at = ?
WHERE id = ? AND status IN ({", ".join(f"'{s}'" for s in _sources(S.PUBLISHED))})
  AND NOT EXISTS (
      SELECT 1 FROM publications AS p
      WHERE p.id = deliveries.publication_id
        AND (p.deleted_at IS NOT NULL OR (? > 0 AND p.version > ?))
  )
"""  # noqa: S608 (constants only)
_SQLITE_STATUSES = (
    "SELECT id, status, remote_id FROM deliveries WHERE id IN (SELECT value FROM json_each(?))"
)
_SQLITE_LEDGER = """
INSERT INTO remote_posts (delivery_id, publication_id, account, platform, remote_id, url, parts,
                          version, created_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT DO NOTHING
"""
_SQLITE_SUCCESS = """
INSERT INTO target_state (account, platform, paused, last_success_at) VALUES (?, ?, 0, ?)
ON CONFLICT (account, platform) DO UPDATE SET last_success_at = excluded.last_success_at
"""
_SQLITE_CURRENT = (
    "SELECT id, version, deleted_at FROM publications WHERE id IN (SELECT value FROM json_each(?))"
)


def _to_sqlite_time(value: datetime) -> str:
    # What SQLAlchemy's DateTime stores on SQLite (naive UTC, microseconds), so the strings
    # compare in time order with the ORM's.
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


def _from_sqlite_time(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value).replace(tzinfo=UTC)


def _delivery_from_sqlite(row: Sequence[Any]) -> Delivery:
    return Delivery(
        delivery_id=row[0],
        publication_id=row[1],
        account=row[2],
        platform=Platform(row[3]),
        status=DeliveryStatus(row[4]),
        due_at=datetime.fromisoformat(row[5]).replace(tzinfo=UTC),
        attempts=row[6],
        idempotency_key=row[7],
        lease_until=_from_sqlite_time(row[8]),
        lease_owner=row[9],
        remote_id=row[10],
        remote_url=row[11],
        last_error=row[12],
        error_reason=row[13],
        cancel_requested=bool(row[14]),
        last_attempt_at=_from_sqlite_time(row[15]),
        first_attempt_at=_from_sqlite_time(row[16]),
        published_at=_from_sqlite_time(row[17]),
        publication_version=(row[18] or 0) if len(row) > 18 else 0,
    )


def _operation_from_sqlite(row: Sequence[Any]) -> DeliveryOperation:
    return DeliveryOperation(
        operation_id=row[0],
        kind=OperationKind(row[1]),
        status=OperationStatus(row[2]),
        account=row[3],
        platform=Platform(row[4]),
        due_at=datetime.fromisoformat(row[5]).replace(tzinfo=UTC),
        attempts=row[6],
        publication_id=row[7],
        delivery_id=row[8],
        version=row[9],
        lease_until=_from_sqlite_time(row[10]),
        lease_owner=row[11],
        last_error=row[12],
        error_reason=row[13],
        actor=row[14],
    )


def _sqlite_claim_operations(
    conn: sqlite3.Connection, stamp: str, until: str, limit: int, owner: str | None
) -> list[DeliveryOperation]:
    rows = conn.execute(SQLITE_CLAIM_OPERATIONS, (until, owner, stamp, stamp, limit)).fetchall()
    ops = sorted(map(_operation_from_sqlite, rows), key=lambda op: (op.due_at, op.operation_id))
    wanted = sorted({op.delivery_id for op in ops if op.delivery_id is not None})
    if not wanted:
        return ops
    remotes = {
        delivery_id: RemotePost(
            platform=Platform(platform),
            account=account,
            remote_id=remote_id,
            url=url,
            parts=tuple(json.loads(parts)),
        )
        for delivery_id, platform, account, remote_id, url, parts in conn.execute(
            _SQLITE_REMOTES, (json.dumps(wanted),)
        )
    }
    return [
        replace(op, remote=remotes.get(op.delivery_id)) if op.delivery_id else op for op in ops
    ]


def _due_order(d: Delivery) -> tuple[datetime, int]:
    return d.due_at, d.delivery_id


def sqlite_claim(
    conn: sqlite3.Connection,
    *,
    now: datetime,
    lease: timedelta,
    limit: int,
    owner: str | None,
    side: bool = False,
    cached: Collection[tuple[int, int]] = (),
) -> tuple[list[DeliveryOperation], list[Delivery], dict[int, Content]]:
    """claim_operations (when `side`) then claim_due(uncertain=side) on SQLite, plus the
    content of each claimed publication whose (publication, version) is not in `cached`."""
    stamp = _to_sqlite_time(now)
    until = _to_sqlite_time(now + lease)
    ops = _sqlite_claim_operations(conn, stamp, until, limit, owner) if side else []
    claimed: list[Delivery] = []
    # Uncertain ones first (quick and old), then pending; each due first.
    if side and len(ops) < limit:
        rows = conn.execute(
            SQLITE_CLAIM_UNCERTAIN,
            (until, owner, stamp, str(S.UNCERTAIN), stamp, limit - len(ops)),
        ).fetchall()
        claimed = sorted(map(_delivery_from_sqlite, rows), key=_due_order)
    room = limit - len(ops) - len(claimed)
    if room > 0:
        rows = conn.execute(
            SQLITE_CLAIM_PENDING,
            (until, owner, stamp, stamp, stamp, str(S.PENDING), stamp, room),
        ).fetchall()
        claimed += sorted(map(_delivery_from_sqlite, rows), key=_due_order)
    wanted = sorted(
        {
            d.publication_id
            for d in claimed
            if (d.publication_id, d.publication_version) not in cached
        }
    )
    if not wanted:
        return ops, claimed, {}
    ids = json.dumps(wanted)
    pubs = conn.execute(_SQLITE_PUBLICATIONS, (ids,)).fetchall()
    media = conn.execute(_SQLITE_MEDIA, (ids,)).fetchall()
    return ops, claimed, _contents_from_rows(pubs, media)


class FollowupsNeeded(Exception):
    """A published copy needs an edit or a delete queued: settle through DeliveryRepository."""


def sqlite_mark_published(
    conn: sqlite3.Connection,
    items: Sequence[tuple[Delivery, RemotePost]],
    now: datetime,
    *,
    success_fresh: Collection[tuple[str, Platform]] = (),
) -> list[Delivery | TransitionError]:
    """mark_published_many on SQLite. Raises FollowupsNeeded (write_direct then rolls back)
    when a publication was edited or deleted while its copy was being sent: that rare case
    goes through mark_published_many and enqueue_followups."""
    stamp = _to_sqlite_time(now)
    cursor = conn.executemany(
        _SQLITE_PUBLISHED,
        [
            (r.remote_id, r.url, stamp, stamp, d.delivery_id, *(d.publication_version,) * 2)
            for d, r in items
        ],
    )
    ok_ids = {d.delivery_id for d, _ in items}
    if cursor.rowcount != len(items):
        # A row moved meanwhile, or its publication was edited or deleted during the send.
        current = {
            pub_id: (version, deleted_at)
            for pub_id, version, deleted_at in conn.execute(
                _SQLITE_CURRENT, (json.dumps(sorted({d.publication_id for d, _ in items})),)
            )
        }
        for d, _ in items:
            version, deleted_at = current.get(d.publication_id, (0, None))
            if deleted_at is not None or (
                d.publication_version and version > d.publication_version
            ):
                raise FollowupsNeeded(d.delivery_id)
        mine = {d.delivery_id: r.remote_id for d, r in items}
        ok_ids = {
            delivery_id
            for delivery_id, status, remote_id in conn.execute(
                _SQLITE_STATUSES, (json.dumps(sorted(ok_ids)),)
            )
            if status == str(S.PUBLISHED) and remote_id == mine[delivery_id]
        }
    outcome: list[Delivery | TransitionError] = []
    ledger: list[tuple[object, ...]] = []
    targets: set[tuple[str, Platform]] = set()
    for delivery, remote in items:
        if delivery.delivery_id not in ok_ids:
            outcome.append(
                TransitionError(f"delivery {delivery.delivery_id}: cannot be marked published now")
            )
            continue
        outcome.append(_as_published(delivery, remote, now))
        ledger.append(
            (
                delivery.delivery_id,
                delivery.publication_id,
                delivery.account,
                str(delivery.platform),
                remote.remote_id,
                remote.url,
                json.dumps(list(remote.parts)) if remote.parts else "[]",
                delivery.publication_version or 1,
                stamp,
            )
        )
        targets.add((delivery.account, delivery.platform))
    if ledger:
        conn.executemany(_SQLITE_LEDGER, ledger)
    targets.difference_update(success_fresh)
    if targets:
        conn.executemany(_SQLITE_SUCCESS, [(a, str(p), stamp) for a, p in sorted(targets)])
    return outcome


def sqlite_publish_and_claim(
    conn: sqlite3.Connection,
    items: Sequence[tuple[Delivery, RemotePost]],
    now: datetime,
    *,
    success_fresh: Collection[tuple[str, Platform]] = (),
    lease: timedelta,
    limit: int,
    owner: str | None,
    cached: Collection[tuple[int, int]] = (),
) -> tuple[list[Delivery | TransitionError], list[Delivery], dict[int, Content]]:
    """sqlite_mark_published, then (limit > 0) sqlite_claim in the same transaction:
    a drainer with a backlog settles a batch and takes the next in one commit."""
    outcomes = sqlite_mark_published(conn, items, now, success_fresh=success_fresh)
    if limit <= 0:
        return outcomes, [], {}
    _, claimed, contents = sqlite_claim(
        conn, now=now, lease=lease, limit=limit, owner=owner, cached=cached
    )
    return outcomes, claimed, contents


def _sqlite_value(value: object) -> object:
    if isinstance(value, datetime):
        return _to_sqlite_time(value)
    if isinstance(value, bool):
        return int(value)
    return value


def _sqlite_move(
    conn: sqlite3.Connection,
    delivery_id: int,
    target: DeliveryStatus,
    now: datetime,
    *,
    refund_attempt: bool = False,
    **values: object,
) -> Delivery:
    """DeliveryRepository._move on SQLite (the column names come from this module only)."""
    if "lease_until" in values and values["lease_until"] is None:
        values["lease_owner"] = None
    sets = ["status = ?", "updated_at = ?", *(f"{column} = ?" for column in values)]
    if refund_attempt:
        sets.append("attempts = attempts - 1")
    row = conn.execute(
        f"UPDATE deliveries SET {', '.join(sets)} "  # noqa: S608 (column names of this module)
        f"WHERE id = ? AND status IN (SELECT value FROM json_each(?)) RETURNING {_COLUMNS}",
        (
            str(target),
            _to_sqlite_time(now),
            *map(_sqlite_value, values.values()),
            delivery_id,
            json.dumps(_sources(target)),
        ),
    ).fetchone()
    if row is None:
        current = conn.execute(
            "SELECT status FROM deliveries WHERE id = ?", (delivery_id,)
        ).fetchone()
        raise TransitionError(
            f"delivery {delivery_id}: cannot go from {current[0] if current else 'missing'} "
            f"to {target}"
        )
    return _delivery_from_sqlite(row)


def _sqlite_record_error(
    conn: sqlite3.Connection, account: str, platform: str, error: str, now: datetime
) -> None:
    conn.execute(
        "INSERT INTO target_state (account, platform, paused, last_error_at, last_error) "
        "VALUES (?, ?, 0, ?, ?) ON CONFLICT (account, platform) DO UPDATE SET "
        "last_error_at = excluded.last_error_at, last_error = excluded.last_error",
        (account, platform, _to_sqlite_time(now), error),
    )


def sqlite_settle_error(
    conn: sqlite3.Connection,
    delivery_id: int,
    now: datetime,
    *,
    error: str,
    reason: str,
    retry_at: datetime | None,
    count_attempt: bool = True,
) -> Delivery:
    """mark_retry (retry_at given) or mark_failed on SQLite: a cancel asked for meanwhile
    wins; the target's last error is recorded."""
    current = conn.execute(
        "SELECT account, platform, cancel_requested FROM deliveries WHERE id = ?", (delivery_id,)
    ).fetchone()
    if current is not None and current[2]:
        settled = _sqlite_move(
            conn,
            delivery_id,
            S.CANCELLED,
            now,
            lease_until=None,
            last_error=error,
            error_reason=reason,
        )
        if retry_at is None:
            _sqlite_record_error(conn, current[0], current[1], error, now)
        return settled
    if current is not None:
        _sqlite_record_error(conn, current[0], current[1], error, now)
    if retry_at is None:
        return _sqlite_move(
            conn,
            delivery_id,
            S.FAILED,
            now,
            lease_until=None,
            last_error=error,
            error_reason=reason,
        )
    return _sqlite_move(
        conn,
        delivery_id,
        S.PENDING,
        now,
        refund_attempt=not count_attempt,
        due_at=retry_at,
        lease_until=None,
        last_error=error,
        error_reason=reason,
    )


def sqlite_mark_uncertain(
    conn: sqlite3.Connection,
    delivery_id: int,
    error: str,
    now: datetime,
    *,
    reconcile_at: datetime | None = None,
) -> Delivery:
    """mark_uncertain on SQLite."""
    return _sqlite_move(
        conn,
        delivery_id,
        S.UNCERTAIN,
        now,
        lease_until=None,
        due_at=reconcile_at or now,
        last_error=error,
        error_reason="outcome_unknown",
    )


def sqlite_settle_reconcile(
    conn: sqlite3.Connection, delivery_id: int, now: datetime, *, held: str | None
) -> Delivery:
    """mark_held (`held` is the reason) or mark_not_found on SQLite."""
    if held is not None:
        return _sqlite_move(
            conn,
            delivery_id,
            S.HELD,
            now,
            lease_until=None,
            last_error=held,
            error_reason="outcome_unknown",
        )
    current = conn.execute(
        "SELECT cancel_requested FROM deliveries WHERE id = ?", (delivery_id,)
    ).fetchone()
    if current is not None and current[0]:
        # reconciling → cancelled is not a normal transition: go through pending.
        _sqlite_move(conn, delivery_id, S.PENDING, now, lease_until=None)
        return _sqlite_move(conn, delivery_id, S.CANCELLED, now)
    return _sqlite_move(conn, delivery_id, S.PENDING, now, due_at=now, lease_until=None)
