"""DeliveryRepository owns all queue SQL. It returns domain objects and never commits."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, cast

from sqlalchemy import (
    Table,
    and_,
    bindparam,
    case,
    delete,
    exists,
    func,
    insert,
    literal,
    or_,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from crosspost.db import (
    AuditRow,
    DeliveryRow,
    MediaRow,
    PublicationRow,
    RemotePostRow,
    TargetStateRow,
)
from crosspost.models import (
    ALLOWED,
    Content,
    Delivery,
    DeliveryStatus,
    MediaItem,
    MediaKind,
    NewPublication,
    Platform,
    RemotePost,
)
from crosspost.richtext import RichText, Span, SpanKind

S = DeliveryStatus


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
_PUBLICATION_VERSION = (
    select(PublicationRow.version)
    .where(PublicationRow.id == _DELIVERIES.c.publication_id)
    .scalar_subquery()
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
        remote_id=m["remote_id"],
        remote_url=m["remote_url"],
        last_error=m["last_error"],
        error_reason=m["error_reason"],
        cancel_requested=m["cancel_requested"],
        last_attempt_at=m["last_attempt_at"],
        published_at=m["published_at"],
        publication_version=m.get("publication_version") or 0,
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
        media: dict[int, list[MediaItem]] = {}
        rows = await self.session.execute(
            select(media_table)
            .where(media_table.c.publication_id.in_(ids))
            .order_by(media_table.c.publication_id, media_table.c.position)
        )
        for m in rows.mappings():
            media.setdefault(m["publication_id"], []).append(
                MediaItem(
                    kind=MediaKind(m["kind"]),
                    path=Path(m["path"]),
                    file_name=m["file_name"],
                    mime_type=m["mime_type"],
                    size=m["size"],
                    sha256=m["sha256"],
                    telegram_file_id=m["telegram_file_id"],
                    missing=m["missing"],
                )
            )
        return {
            p.id: Content(
                text=RichText(text=p.text, spans=spans_from_json(p.spans)),
                media=tuple(media.get(p.id, ())),
                original_url=p.original_url,
            )
            for p in pubs
        }

    # -- claiming -----------------------------------------------------------------------------

    def _not_paused(self) -> object:
        return ~exists().where(
            TargetStateRow.account == DeliveryRow.account,
            TargetStateRow.platform == DeliveryRow.platform,
            TargetStateRow.paused.is_(True),
        )

    async def claim_due(self, now: datetime, lease: timedelta, limit: int) -> list[Delivery]:
        """Atomically lease up to `limit` due deliveries: pending→sending, uncertain→reconciling.

        One UPDATE … RETURNING per status: SQLite runs it under its single writer, so two
        drainers never claim the same row; on PostgreSQL the inner SELECT takes
        FOR UPDATE SKIP LOCKED. The claimed rows carry their publication's content version.
        """
        postgres = self._dialect() == "postgresql"
        c = _DELIVERIES.c
        due = (
            select(c.id)
            .where(
                c.status.in_([str(S.PENDING), str(S.UNCERTAIN)]),
                c.due_at <= now,
                self._not_paused(),  # type: ignore[arg-type]
            )
            .order_by(c.due_at, c.id)
            .limit(limit)
        )
        if postgres:
            due = due.with_for_update(skip_locked=True)
        sending = c.status == str(S.PENDING)
        result = await self.session.execute(
            update(_DELIVERIES)
            .where(c.id.in_(due.scalar_subquery()))
            .values(
                status=case((sending, str(S.SENDING)), else_=str(S.RECONCILING)),
                # Reconciling is not a send attempt.
                attempts=case((sending, c.attempts + 1), else_=c.attempts),
                last_attempt_at=case(
                    (sending, literal(now, c.last_attempt_at.type)), else_=c.last_attempt_at
                ),
                lease_until=now + lease,
                updated_at=now,
            )
            .returning(*c, _PUBLICATION_VERSION.label("publication_version"))
        )
        return [_delivery_from_row(r) for r in result.all()]

    def _dialect(self) -> str:
        bind = self.session.bind
        return bind.dialect.name if bind is not None else "sqlite"

    def _insert(self, table: Any) -> Any:
        """INSERT with ON CONFLICT support on SQLite and PostgreSQL alike."""
        return (postgresql if self._dialect() == "postgresql" else sqlite).insert(table)

    async def next_due_at(self) -> datetime | None:
        """When the earliest pending or uncertain delivery of an unpaused target is due."""
        return await self.session.scalar(
            select(func.min(DeliveryRow.due_at)).where(
                DeliveryRow.status.in_([str(S.PENDING), str(S.UNCERTAIN)]),
                self._not_paused(),  # type: ignore[arg-type]
            )
        )

    async def expire_leases(self, now: datetime) -> list[Delivery]:
        """A lease that ran out means the process died mid-send: the post may exist → uncertain."""
        result = await self.session.execute(
            update(DeliveryRow)
            .where(
                DeliveryRow.status.in_([str(S.SENDING), str(S.RECONCILING)]),
                DeliveryRow.lease_until < now,
            )
            .values(
                status=str(S.UNCERTAIN),
                lease_until=None,
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
        self, items: Sequence[tuple[Delivery, RemotePost]], now: datetime
    ) -> list[Delivery | TransitionError]:
        """mark_published for a batch of claimed deliveries in three statements in all.

        Each entry of the result is the settled delivery, or the TransitionError of one that
        had moved meanwhile (nothing is written for that one)."""
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
            outcome.append(
                replace(
                    delivery,
                    status=S.PUBLISHED,
                    remote_id=remote.remote_id,
                    remote_url=remote.url,
                    lease_until=None,
                    published_at=now,
                    last_error=None,
                    error_reason=None,
                )
            )
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

    async def mark_retry(
        self, delivery_id: int, at: datetime, error: str, reason: str, now: datetime
    ) -> Delivery:
        """Back to pending at `at`; a cancel asked for meanwhile wins."""
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
        return await self._move(
            delivery_id,
            S.PENDING,
            now,
            due_at=at,
            lease_until=None,
            last_error=error,
            error_reason=reason,
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
        """Staff say: send again now (a failed delivery, or a held one they checked by hand)."""
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
        return [
            RemotePost(
                platform=Platform(r.platform),
                account=r.account,
                remote_id=r.remote_id,
                url=r.url,
                parts=tuple(json.loads(r.parts)),
            )
            for r in rows
        ]

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
        await self._ensure_target(account, platform)
        await self.session.execute(
            update(TargetStateRow)
            .where(TargetStateRow.account == account, TargetStateRow.platform == str(platform))
            .values(last_error_at=now, last_error=error)
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
