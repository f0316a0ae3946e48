"""subscriber statistics: daily snapshots and reach (issue 10)

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "subscriber_snapshots",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("account", sa.String(length=32), nullable=False),
        sa.Column("platform", sa.String(length=16), nullable=False),
        sa.Column("subscribers", sa.BigInteger(), nullable=True),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("error_reason", sa.String(length=32), nullable=True),
        sa.Column("error_detail", sa.Text(), nullable=True),
        sa.Column("collected_at", sa.DateTime(), nullable=False),
        sa.Column("reported_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subscriber_snapshots")),
        sa.UniqueConstraint(
            "account",
            "platform",
            "day",
            name=op.f("uq_subscriber_snapshots_account_platform_day"),
        ),
    )
    op.create_table(
        "post_views",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account", sa.String(length=32), nullable=False),
        sa.Column("platform", sa.String(length=16), nullable=False),
        sa.Column("remote_id", sa.String(length=128), nullable=False),
        sa.Column("published_at", sa.DateTime(), nullable=False),
        sa.Column("views", sa.BigInteger(), nullable=False),
        sa.Column("read_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_post_views")),
        sa.UniqueConstraint(
            "account",
            "platform",
            "remote_id",
            name=op.f("uq_post_views_account_platform_remote_id"),
        ),
    )
    with op.batch_alter_table("post_views", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_post_views_published_at"), ["published_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("post_views", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_post_views_published_at"))
    op.drop_table("post_views")
    op.drop_table("subscriber_snapshots")
