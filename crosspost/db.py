"""Database tables (SQLAlchemy 2 ORM), the async engine with SQLite pragmas, and migrations."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sqlite3
import time
import weakref
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from functools import partial
from pathlib import Path
from typing import Any, TypeVar, cast

import aiosqlite
from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import (
    BigInteger,
    Boolean,
    Connection,
    Date,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    event,
)
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.util import await_only

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UtcDateTime(TypeDecorator[datetime]):
    """Aware datetimes stored as naive UTC; SQLite returns naive values, so UTC is attached."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database; use aware UTC")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class PublicationRow(Base):
    __tablename__ = "publications"
    __table_args__ = (UniqueConstraint("source_chat_id", "source_message_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str] = mapped_column(String(16))
    author: Mapped[str] = mapped_column(String(64))
    title: Mapped[str] = mapped_column(String(256), default="")
    text: Mapped[str] = mapped_column(Text, default="")
    spans: Mapped[str] = mapped_column(Text, default="[]")  # JSON list of spans
    original_url: Mapped[str | None] = mapped_column(String(512), nullable=True)
    source_chat_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    source_message_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    content_hash: Mapped[str] = mapped_column(String(64), default="")
    version: Mapped[int] = mapped_column(Integer, default=1)
    publish_at: Mapped[datetime] = mapped_column(UtcDateTime)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    deleted_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    # The staff-chat message that reports this publication, edited in place as results arrive.
    report_chat_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    report_message_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


class MediaRow(Base):
    __tablename__ = "media"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    publication_id: Mapped[int] = mapped_column(
        ForeignKey("publications.id", ondelete="CASCADE"), index=True
    )
    position: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(16))
    path: Mapped[str] = mapped_column(String(1024))
    file_name: Mapped[str] = mapped_column(String(256))
    mime_type: Mapped[str] = mapped_column(String(128))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    telegram_file_id: Mapped[str | None] = mapped_column(String(256), nullable=True)
    missing: Mapped[bool] = mapped_column(Boolean, default=False)
    removed_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)


class DeliveryRow(Base):
    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint("publication_id", "account", "platform"),
        Index("ix_deliveries_status_due_at", "status", "due_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    publication_id: Mapped[int] = mapped_column(
        ForeignKey("publications.id", ondelete="CASCADE"), index=True
    )
    account: Mapped[str] = mapped_column(String(32))
    platform: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    due_at: Mapped[datetime] = mapped_column(UtcDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    idempotency_key: Mapped[str] = mapped_column(String(64), unique=True)
    lease_until: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    # The run (process) holding the lease: at start, leases of runs that are gone are settled at
    # once instead of waiting for lease_until.
    lease_owner: Mapped[str | None] = mapped_column(String(64), nullable=True)
    remote_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    remote_url: Mapped[str | None] = mapped_column(String(512), nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    error_reason: Mapped[str | None] = mapped_column(String(32), nullable=True)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    last_attempt_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    # The first send attempt: VK's guid protects a repeat for an hour from here.
    first_attempt_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    published_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class RemotePostRow(Base):
    """The ledger: which remote post stands for which delivery (and so which source message)."""

    __tablename__ = "remote_posts"
    __table_args__ = (
        # Reconcile asks "is this remote post already someone else's?" (never adopt it twice).
        Index("ix_remote_posts_platform_account_remote_id", "platform", "account", "remote_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    delivery_id: Mapped[int] = mapped_column(
        ForeignKey("deliveries.id", ondelete="CASCADE"), unique=True
    )
    publication_id: Mapped[int] = mapped_column(
        ForeignKey("publications.id", ondelete="CASCADE"), index=True
    )
    account: Mapped[str] = mapped_column(String(32))
    platform: Mapped[str] = mapped_column(String(16))
    remote_id: Mapped[str] = mapped_column(String(128))
    url: Mapped[str | None] = mapped_column(String(512), nullable=True)
    parts: Mapped[str] = mapped_column(Text, default="[]")  # JSON list of further remote ids
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    edited_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    deleted_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)


class TargetStateRow(Base):
    """Health of one account on one platform: last success and error, and whether it is paused."""

    __tablename__ = "target_state"

    account: Mapped[str] = mapped_column(String(32), primary_key=True)
    platform: Mapped[str] = mapped_column(String(16), primary_key=True)
    paused: Mapped[bool] = mapped_column(Boolean, default=False)
    pause_reason: Mapped[str | None] = mapped_column(String(32), nullable=True)
    paused_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    last_success_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    last_error_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)


class AuditRow(Base):
    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64))
    publication_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    delivery_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    detail: Mapped[str] = mapped_column(Text, default="")


# -- Telegram staff bot and channel mirror ----------------------------------------------------


class TelegramDraftRow(Base):
    """A post a staff member is composing in the bot (or a time they are typing for a scheduled
    publication): kept here so a restart mid-dialog loses nothing."""

    __tablename__ = "telegram_drafts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # compose | reschedule
    user_id: Mapped[int] = mapped_column(BigInteger, index=True)
    chat_id: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16))
    text: Mapped[str] = mapped_column(Text, default="")
    spans: Mapped[str] = mapped_column(Text, default="[]")
    media: Mapped[str] = mapped_column(Text, default="[]")  # JSON list of media items
    dropped: Mapped[str] = mapped_column(Text, default="[]")  # content kinds that cannot travel
    accounts: Mapped[str] = mapped_column(Text, default="[]")
    platforms: Mapped[str] = mapped_column(Text, default="[]")
    publish_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    publication_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    panel_message_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class TelegramAlbumItemRow(Base):
    """One item of an album still being gathered (items arrive as separate updates)."""

    __tablename__ = "telegram_album_items"
    __table_args__ = (UniqueConstraint("chat_id", "message_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    chat_id: Mapped[int] = mapped_column(BigInteger)
    media_group_id: Mapped[str] = mapped_column(String(64), index=True)
    message_id: Mapped[int] = mapped_column(BigInteger)
    payload: Mapped[str] = mapped_column(Text)  # JSON of the parsed post part
    received_at: Mapped[datetime] = mapped_column(UtcDateTime)


class TelegramSeenRow(Base):
    """Updates already handled: getUpdates replays until confirmed, webhooks retry on non-2xx."""

    __tablename__ = "telegram_seen"

    key: Mapped[str] = mapped_column(String(128), primary_key=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)


class TelegramReportNoteRow(Base):
    """Something staff must read in a publication's report besides delivery statuses: a file too
    big to fetch, content that cannot travel, an adapter notice, an edit or delete result."""

    __tablename__ = "telegram_report_notes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    publication_id: Mapped[int] = mapped_column(Integer, index=True)
    code: Mapped[str] = mapped_column(String(32))
    account: Mapped[str] = mapped_column(String(32), default="")
    platform: Mapped[str] = mapped_column(String(16), default="")
    url: Mapped[str | None] = mapped_column(String(512), nullable=True)
    detail: Mapped[str] = mapped_column(Text, default="")
    at: Mapped[datetime] = mapped_column(UtcDateTime)


# -- delivery engine: operations, inbox (issue 9) ---------------------------------------------


class DeliveryOperationRow(Base):
    """A queued platform action other than the first publish: edit or delete a published copy,
    or keep an account's token alive. Leased, retried and recovered like a delivery; edits and
    deletes are idempotent at the platform, so an unknown outcome is simply retried."""

    __tablename__ = "delivery_operations"
    __table_args__ = (Index("ix_delivery_operations_status_due_at", "status", "due_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # edit | delete | keep_alive
    status: Mapped[str] = mapped_column(String(16))
    publication_id: Mapped[int | None] = mapped_column(
        ForeignKey("publications.id", ondelete="CASCADE"), nullable=True, index=True
    )
    # The delivery whose published copy this edits or deletes (None for keep_alive).
    delivery_id: Mapped[int | None] = mapped_column(
        ForeignKey("deliveries.id", ondelete="CASCADE"), nullable=True, index=True
    )
    account: Mapped[str] = mapped_column(String(32))
    platform: Mapped[str] = mapped_column(String(16))
    # Edit: the content version the copy was brought to (set when it succeeds).
    version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    due_at: Mapped[datetime] = mapped_column(UtcDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    lease_until: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    lease_owner: Mapped[str | None] = mapped_column(String(64), nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    error_reason: Mapped[str | None] = mapped_column(String(32), nullable=True)
    actor: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)


class InboxRow(Base):
    """A raw inbound update (Telegram, MAX), stored before the platform is told it arrived.

    crosspost/inbox.py owns the SQL; see its docstring for the statuses and the API.
    """

    __tablename__ = "inbox"
    __table_args__ = (
        UniqueConstraint("source", "external_id"),
        Index("ix_inbox_status_priority_id", "status", "priority", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str] = mapped_column(String(16))
    external_id: Mapped[str] = mapped_column(String(64))
    payload: Mapped[str] = mapped_column(Text)  # the update's JSON, ASCII-escaped
    status: Mapped[str] = mapped_column(String(16))  # pending | done | failed
    priority: Mapped[int] = mapped_column(Integer, default=1)  # lower is processed first
    lane: Mapped[str] = mapped_column(String(64), default="")  # in order within a lane
    group_key: Mapped[str | None] = mapped_column(String(128), nullable=True, index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime)
    next_attempt_at: Mapped[datetime] = mapped_column(UtcDateTime)
    processed_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    reported_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)


# -- media: what a delivery's attempts already uploaded or posted (issue 9, helper media) -----


class DeliveryUploadRow(Base):
    """One thing a publisher did for a delivery that its next attempt reuses (an uploaded
    photo's attachment or token, a part of a split post already out): crosspost.media
    DbUploadMemo. Never a secret; removed when the delivery publishes."""

    __tablename__ = "delivery_uploads"
    __table_args__ = (UniqueConstraint("delivery_id", "key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    delivery_id: Mapped[int] = mapped_column(
        ForeignKey("deliveries.id", ondelete="CASCADE"), index=True
    )
    key: Mapped[str] = mapped_column(String(160))
    value: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)


# -- statistics (issue 10) ---------------------------------------------------------------------


class SubscriberSnapshotRow(Base):
    """Subscribers of one account on one platform on one local day: one row per key, the
    day's latest reading. A failed read keeps the day's earlier number and records why."""

    __tablename__ = "subscriber_snapshots"
    __table_args__ = (UniqueConstraint("account", "platform", "day"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    day: Mapped[date] = mapped_column(Date)
    account: Mapped[str] = mapped_column(String(32))
    platform: Mapped[str] = mapped_column(String(16))
    subscribers: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    source: Mapped[str] = mapped_column(String(16))  # collect | import
    error_reason: Mapped[str | None] = mapped_column(String(32), nullable=True)
    error_detail: Mapped[str | None] = mapped_column(Text, nullable=True)  # scrubbed of secrets
    collected_at: Mapped[datetime] = mapped_column(UtcDateTime)
    reported_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)


class PostViewsRow(Base):
    """The latest view count read for one published post (the reach of the yearly report)."""

    __tablename__ = "post_views"
    __table_args__ = (UniqueConstraint("account", "platform", "remote_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account: Mapped[str] = mapped_column(String(32))
    platform: Mapped[str] = mapped_column(String(16))
    remote_id: Mapped[str] = mapped_column(String(128))
    published_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    views: Mapped[int] = mapped_column(BigInteger)
    read_at: Mapped[datetime] = mapped_column(UtcDateTime)


# -- events and recurring posts (issue 11) ----------------------------------------------------


class EventRow(Base):
    """An event staff announce: its announcement and reminders are ordinary publications."""

    __tablename__ = "events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    title: Mapped[str] = mapped_column(String(256))
    place: Mapped[str] = mapped_column(String(512))
    text: Mapped[str] = mapped_column(Text, default="")
    starts_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    # The time before the last move, for the «перенос» notice.
    previous_starts_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    accounts: Mapped[str] = mapped_column(Text, default="[]")  # JSON list of account names
    platforms: Mapped[str] = mapped_column(Text, default="[]")  # JSON list of platforms
    photo: Mapped[str | None] = mapped_column(Text, nullable=True)  # JSON of the media item
    status: Mapped[str] = mapped_column(String(16))  # scheduled | cancelled
    # Bumped on every move or cancel: the iCalendar SEQUENCE, so calendars take the change.
    sequence: Mapped[int] = mapped_column(Integer, default=0)
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class EventPostRow(Base):
    """One publication planned for an event: the announcement, a reminder, a notice."""

    __tablename__ = "event_posts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # announcement | reminder | moved | cancelled
    due_at: Mapped[datetime] = mapped_column(UtcDateTime)
    status: Mapped[str] = mapped_column(String(16))  # planned | queued | skipped | cancelled
    publication_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class RecurringRuleRow(Base):
    """A post repeated by a cron line or an RRULE, in the local zone it was written in."""

    __tablename__ = "recurring_rules"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    rule: Mapped[str] = mapped_column(String(512))
    timezone: Mapped[str] = mapped_column(String(64))
    text: Mapped[str] = mapped_column(Text)
    accounts: Mapped[str] = mapped_column(Text, default="[]")
    platforms: Mapped[str] = mapped_column(Text, default="[]")
    paused: Mapped[bool] = mapped_column(Boolean, default=False)
    # Runs at or before this instant are settled (made, made late or skipped).
    checked_until: Mapped[datetime] = mapped_column(UtcDateTime)
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    deleted_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)


class RecurringRunRow(Base):
    """One run of a rule. The unique (rule, instant) pair is what stops a second enqueue."""

    __tablename__ = "recurring_runs"
    __table_args__ = (UniqueConstraint("rule_id", "run_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    rule_id: Mapped[int] = mapped_column(
        ForeignKey("recurring_rules.id", ondelete="CASCADE"), index=True
    )
    run_at: Mapped[datetime] = mapped_column(UtcDateTime)
    status: Mapped[str] = mapped_column(String(16))  # claimed | queued | late | skipped
    publication_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class EventDraftRow(Base):
    """An event a staff member is creating in the bot, step by step (survives a restart)."""

    __tablename__ = "event_drafts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(BigInteger, index=True)
    chat_id: Mapped[int] = mapped_column(BigInteger)
    step: Mapped[str] = mapped_column(String(16))
    data: Mapped[str] = mapped_column(Text, default="{}")  # JSON of the fields typed so far
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


# -- MAX (issue 14) -----------------------------------------------------------------------------


class MaxStateRow(Base):
    """Small named values of the MAX side (the long-polling marker)."""

    __tablename__ = "max_state"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class MaxSeenRow(Base):
    """Handled MAX updates (post:<mid>, edit:<mid>:<fingerprint>), so a replay does nothing."""

    __tablename__ = "max_seen"

    key: Mapped[str] = mapped_column(String(160), primary_key=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)


class MaxSourceRow(Base):
    """A staff post in a MAX channel and the publication that mirrors it."""

    __tablename__ = "max_sources"

    mid: Mapped[str] = mapped_column(String(128), primary_key=True)
    chat_id: Mapped[int] = mapped_column(BigInteger)
    publication_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("publications.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


# -- end of feature tables ---------------------------------------------------------------------


def _sqlite_pragmas(dbapi_connection: Any, connection_record: Any) -> None:
    # The driver's own implicit BEGIN is off: _sqlite_begin emits BEGIN itself, so a write
    # transaction can take the write lock up front (BEGIN IMMEDIATE).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _sqlite_begin(conn: Connection) -> None:
    # A deferred transaction that reads and then writes fails at once with "database is
    # locked" (SQLITE_BUSY_SNAPSHOT, no busy wait) when another writer committed in between:
    # write_session begins IMMEDIATE, so it waits for the lock before reading anything.
    immediate = conn.get_execution_options().get(_WRITE_OPTION, False)
    statement = "BEGIN IMMEDIATE" if immediate else "BEGIN"
    driver = conn.connection.driver_connection
    if isinstance(driver, aiosqlite.Connection):
        # One round trip to aiosqlite's thread instead of the adapter's four (cursor, execute,
        # fetch, close): every transaction starts here, and each round trip is a thread switch.
        await_only(driver.execute(statement))
    else:
        conn.exec_driver_sql(statement)


def create_engine(url: str) -> AsyncEngine:
    """The async engine; on SQLite: WAL, a busy timeout and foreign keys on each connection."""
    engine = create_async_engine(url)
    if engine.dialect.name == "sqlite":
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        event.listen(engine.sync_engine, "begin", _sqlite_begin)
    return engine


# -- one writer at a time -------------------------------------------------------------------

BUSY_TIMEOUT_MS = 5000
# SQLite's own busy wait gave up this many times in a row: the write is lost, say so.
WRITE_RETRIES = 5
WRITE_RETRY_DELAY = 0.05  # seconds, doubled per retry
# Opt-in check for long write transactions: CROSSPOST_MAX_WRITE_MS=250 logs an ERROR line
# "write transaction held N ms" for each one held longer (tests and the chaos run use it).
MAX_WRITE_MS_ENV = "CROSSPOST_MAX_WRITE_MS"
_WRITE_OPTION = "crosspost_write"
_write_locks: weakref.WeakKeyDictionary[Engine, asyncio.Lock] = weakref.WeakKeyDictionary()
_db_logger = logging.getLogger("crosspost.db")


def write_lock(engine: AsyncEngine) -> asyncio.Lock:
    """The in-process lock every writer of this database takes: SQLite has one writer, and
    writers queued here wait in FIFO order instead of in SQLite's sleeping busy handler."""
    lock = _write_locks.get(engine.sync_engine)
    if lock is None:
        lock = _write_locks[engine.sync_engine] = asyncio.Lock()
    return lock


def _is_locked(exc: OperationalError) -> bool:
    text = str(exc.orig).lower()
    return "database is locked" in text or "database is busy" in text


@dataclass
class WriteHold:
    """How long the write transactions of one kind (`what`) held the write lock."""

    count: int = 0
    total_ms: float = 0.0
    longest_ms: float = 0.0


# Hold times per `what` in this process, for tests and diagnostics (write_holds()).
_holds: dict[str, WriteHold] = {}
_longest_logged_ms = 0.0
# A new longest hold above this is logged at INFO (the chaos run reports the longest).
LONGEST_HOLD_LOG_MS = 50.0


def write_holds() -> dict[str, WriteHold]:
    """A copy of the hold times recorded so far, by `what`."""
    return {what: replace(hold) for what, hold in _holds.items()}


def reset_write_holds() -> None:
    global _longest_logged_ms
    _holds.clear()
    _longest_logged_ms = 0.0


def _record_hold(what: str, held_ms: float) -> None:
    global _longest_logged_ms
    hold = _holds.get(what)
    if hold is None:
        hold = _holds[what] = WriteHold()
    hold.count += 1
    hold.total_ms += held_ms
    hold.longest_ms = max(hold.longest_ms, held_ms)
    limit_ms = float(os.environ.get(MAX_WRITE_MS_ENV) or 0)
    if limit_ms and held_ms > limit_ms:
        _db_logger.error("write transaction held %d ms (%s)", held_ms, what)
    elif held_ms > max(_longest_logged_ms, LONGEST_HOLD_LOG_MS):
        _db_logger.info("write transaction held %d ms (%s): the longest so far", held_ms, what)
    _longest_logged_ms = max(_longest_logged_ms, held_ms)


@contextlib.asynccontextmanager
async def write_session(
    sessionmaker: async_sessionmaker[AsyncSession], *, what: str = "write"
) -> AsyncIterator[AsyncSession]:
    """A session inside one write transaction, committed on exit (rolled back on error).

    Every writer uses it: it holds the in-process write lock, begins IMMEDIATE on SQLite (so
    the body never meets "database is locked" halfway) and retries the begin when another
    process holds the lock past the busy timeout. Keep network calls and waits out of the
    body: `CROSSPOST_MAX_WRITE_MS` flags transactions held too long.
    """
    bind = _engine(sessionmaker)
    async with write_lock(bind):
        delay = WRITE_RETRY_DELAY
        for attempt in range(1, WRITE_RETRIES + 1):
            session = sessionmaker()
            try:
                await session.connection(execution_options={_WRITE_OPTION: True})
            except BaseException as exc:
                # Even when cancelled while waiting for the lock: a session dropped with its
                # connection checked out leaves an aiosqlite connection unclosed.
                await asyncio.shield(session.close())
                if not isinstance(exc, OperationalError) or not _is_locked(exc):
                    raise
                if attempt == WRITE_RETRIES:
                    raise
                _db_logger.warning(
                    "database is locked by another process: %s retries (%s/%s)",
                    what,
                    attempt,
                    WRITE_RETRIES,
                )
                await asyncio.sleep(delay)
                delay *= 2
                continue
            break
        started = time.perf_counter()
        try:
            async with session:
                try:
                    yield session
                except BaseException:
                    await session.rollback()
                    raise
                await session.commit()
        finally:
            _record_hold(what, (time.perf_counter() - started) * 1000)


def _engine(sessionmaker: async_sessionmaker[AsyncSession]) -> AsyncEngine:
    bind = sessionmaker.kw.get("bind")
    if not isinstance(bind, AsyncEngine):
        raise TypeError("write_session needs a sessionmaker bound to an AsyncEngine")
    return bind


T = TypeVar("T")


def direct_writes(sessionmaker: async_sessionmaker[AsyncSession]) -> bool:
    """Whether `write_direct` serves this database: SQLite through aiosqlite."""
    bind = sessionmaker.kw.get("bind")
    return isinstance(bind, AsyncEngine) and bind.dialect.driver == "aiosqlite"


class _Busy:
    """BEGIN IMMEDIATE gave up after the busy timeout: another process holds the lock."""

    def __init__(self, error: sqlite3.OperationalError) -> None:
        self.error = error


def _transaction(
    driver: aiosqlite.Connection, fn: Callable[[sqlite3.Connection], T]
) -> tuple[T, float] | _Busy:
    # Runs in aiosqlite's thread: BEGIN, the body and COMMIT without a trip back to the event
    # loop in between, so nothing the loop is busy with can stretch the transaction.
    conn = driver._conn
    try:
        conn.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError as exc:
        if "locked" in str(exc).lower() or "busy" in str(exc).lower():
            return _Busy(exc)
        raise
    started = time.perf_counter()
    try:
        result = fn(conn)
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return result, (time.perf_counter() - started) * 1000


async def _driver(conn: AsyncConnection) -> aiosqlite.Connection:
    driver = (await conn.get_raw_connection()).driver_connection
    if not isinstance(driver, aiosqlite.Connection):
        raise TypeError("write_direct needs SQLite through aiosqlite")
    return driver


def _submit(driver: aiosqlite.Connection, function: Callable[[], Any]) -> asyncio.Future[Any]:
    # aiosqlite has no public way to run a function in its thread: put it on the thread's
    # queue the way SQLAlchemy's own adapter does (one future, no task of aiosqlite's own).
    if driver._connection is None:
        raise ValueError("the SQLite connection is closed")
    future = asyncio.get_running_loop().create_future()
    driver._tx.put_nowait((future, function))
    return future


def _nothing() -> None:
    return None


async def _run_transaction(
    driver: aiosqlite.Connection, fn: Callable[[sqlite3.Connection], T]
) -> tuple[T, float] | _Busy:
    job = _submit(driver, partial(_transaction, driver, fn))
    try:
        return cast(tuple[T, float] | _Busy, await job)
    except asyncio.CancelledError:
        # The thread finishes the transaction either way; the connection is used again (or
        # goes back to the pool) only once it has: the thread's queue is first in, first out.
        with contextlib.suppress(BaseException):
            await _submit(driver, _nothing)
        raise


@dataclass
class _Kept:
    users: int = 0
    connection: AsyncConnection | None = None
    driver: aiosqlite.Connection | None = None


_kept: weakref.WeakKeyDictionary[Engine, _Kept] = weakref.WeakKeyDictionary()


@contextlib.asynccontextmanager
async def direct_writer(sessionmaker: async_sessionmaker[AsyncSession]) -> AsyncIterator[None]:
    """While the block runs, write_direct keeps one connection checked out instead of taking
    one from the pool per transaction: the pool's reset on return costs another round trip.
    For a loop that writes all the time (the drainer); nests; a no-op off SQLite."""
    if not direct_writes(sessionmaker):
        yield
        return
    engine = _engine(sessionmaker)
    kept = _kept.get(engine.sync_engine)
    if kept is None:
        kept = _kept[engine.sync_engine] = _Kept()
    kept.users += 1
    try:
        yield
    finally:
        kept.users -= 1
        if not kept.users and kept.connection is not None:
            async with write_lock(engine):  # not while a write_direct uses it
                connection, kept.connection, kept.driver = kept.connection, None, None
                if connection is not None:
                    await asyncio.shield(connection.close())


async def write_direct(
    sessionmaker: async_sessionmaker[AsyncSession],
    fn: Callable[[sqlite3.Connection], T],
    *,
    what: str = "write",
) -> T:
    """Run `fn` on the plain sqlite3 connection inside one write transaction (BEGIN IMMEDIATE,
    committed when it returns, rolled back when it raises), in a single round trip to
    aiosqlite's thread. Only where `direct_writes` says so.

    For the hot paths of the queue: every statement of a write_session costs several round
    trips between the event loop and the driver's thread, and the transaction stays open
    while the loop runs whatever else is ready. Here the body runs start to end in the thread.
    Takes the same in-process write lock as write_session and retries the same way when
    another process holds the database.
    """
    engine = _engine(sessionmaker)
    async with write_lock(engine):
        delay = WRITE_RETRY_DELAY
        for attempt in range(1, WRITE_RETRIES + 1):
            kept = _kept.get(engine.sync_engine)
            if kept is not None and kept.users:
                if kept.driver is None:
                    kept.connection = await engine.connect()
                    kept.driver = await _driver(kept.connection)
                outcome = await _run_transaction(kept.driver, fn)
            else:
                async with engine.connect() as conn:
                    outcome = await _run_transaction(await _driver(conn), fn)
            if not isinstance(outcome, _Busy):
                result, held_ms = outcome
                _record_hold(what, held_ms)
                return result
            if attempt == WRITE_RETRIES:
                raise OperationalError("BEGIN IMMEDIATE", None, outcome.error)
            _db_logger.warning(
                "database is locked by another process: %s retries (%s/%s)",
                what,
                attempt,
                WRITE_RETRIES,
            )
            await asyncio.sleep(delay)
            delay *= 2
    raise AssertionError("unreachable")


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


def sqlite_path(url: str) -> Path | None:
    """The file of a SQLite URL, or None for other databases and in-memory SQLite."""
    parsed = make_url(url)
    if not parsed.drivername.startswith("sqlite") or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database)


def alembic_config(url: str) -> AlembicConfig:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", url)
    return cfg


def _upgrade(sync_conn: Connection, cfg: AlembicConfig, revision: str) -> None:
    cfg.attributes["connection"] = sync_conn
    command.upgrade(cfg, revision)


def _downgrade(sync_conn: Connection, cfg: AlembicConfig, revision: str) -> None:
    cfg.attributes["connection"] = sync_conn
    command.downgrade(cfg, revision)


async def migrate(engine: AsyncEngine, revision: str = "head") -> None:
    """Apply migrations inside the running loop (Alembic's own asyncio.run would fail here)."""
    cfg = alembic_config(engine.url.render_as_string(hide_password=False))
    async with engine.begin() as conn:
        await conn.run_sync(_upgrade, cfg, revision)


async def downgrade(engine: AsyncEngine, revision: str) -> None:
    cfg = alembic_config(engine.url.render_as_string(hide_password=False))
    async with engine.begin() as conn:
        await conn.run_sync(_downgrade, cfg, revision)


def utcnow() -> datetime:
    return datetime.now(UTC)
