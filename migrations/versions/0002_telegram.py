"""telegram: drafts of the staff bot, album buffer, handled updates, report notes

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "telegram_drafts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("chat_id", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("spans", sa.Text(), nullable=False),
        sa.Column("media", sa.Text(), nullable=False),
        sa.Column("dropped", sa.Text(), nullable=False),
        sa.Column("accounts", sa.Text(), nullable=False),
        sa.Column("platforms", sa.Text(), nullable=False),
        sa.Column("publish_at", sa.DateTime(), nullable=True),
        sa.Column("publication_id", sa.Integer(), nullable=True),
        sa.Column("panel_message_id", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_telegram_drafts")),
    )
    with op.batch_alter_table("telegram_drafts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_telegram_drafts_user_id"), ["user_id"], unique=False)

    op.create_table(
        "telegram_album_items",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("chat_id", sa.BigInteger(), nullable=False),
        sa.Column("media_group_id", sa.String(length=64), nullable=False),
        sa.Column("message_id", sa.BigInteger(), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("received_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_telegram_album_items")),
        sa.UniqueConstraint(
            "chat_id", "message_id", name=op.f("uq_telegram_album_items_chat_id_message_id")
        ),
    )
    with op.batch_alter_table("telegram_album_items", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_telegram_album_items_media_group_id"), ["media_group_id"], unique=False
        )

    op.create_table(
        "telegram_seen",
        sa.Column("key", sa.String(length=128), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_telegram_seen")),
    )
    with op.batch_alter_table("telegram_seen", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_telegram_seen_at"), ["at"], unique=False)

    op.create_table(
        "telegram_report_notes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("publication_id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("account", sa.String(length=32), nullable=False),
        sa.Column("platform", sa.String(length=16), nullable=False),
        sa.Column("url", sa.String(length=512), nullable=True),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_telegram_report_notes")),
    )
    with op.batch_alter_table("telegram_report_notes", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_telegram_report_notes_publication_id"), ["publication_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("telegram_report_notes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_telegram_report_notes_publication_id"))
    op.drop_table("telegram_report_notes")
    with op.batch_alter_table("telegram_seen", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_telegram_seen_at"))
    op.drop_table("telegram_seen")
    with op.batch_alter_table("telegram_album_items", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_telegram_album_items_media_group_id"))
    op.drop_table("telegram_album_items")
    with op.batch_alter_table("telegram_drafts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_telegram_drafts_user_id"))
    op.drop_table("telegram_drafts")
