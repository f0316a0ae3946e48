"""delivery engine: queued operations (edit, delete, keep-alive), lease owners (issue 9)

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.add_column(sa.Column("lease_owner", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("first_attempt_at", sa.DateTime(), nullable=True))
    with op.batch_alter_table("remote_posts", schema=None) as batch_op:
        batch_op.create_index(
            "ix_remote_posts_platform_account_remote_id",
            ["platform", "account", "remote_id"],
            unique=False,
        )
    op.create_table(
        "delivery_operations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("publication_id", sa.Integer(), nullable=True),
        sa.Column("delivery_id", sa.Integer(), nullable=True),
        sa.Column("account", sa.String(length=32), nullable=False),
        sa.Column("platform", sa.String(length=16), nullable=False),
        sa.Column("version", sa.Integer(), nullable=True),
        sa.Column("due_at", sa.DateTime(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("lease_until", sa.DateTime(), nullable=True),
        sa.Column("lease_owner", sa.String(length=64), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("error_reason", sa.String(length=32), nullable=True),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["delivery_id"],
            ["deliveries.id"],
            name=op.f("fk_delivery_operations_delivery_id_deliveries"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["publication_id"],
            ["publications.id"],
            name=op.f("fk_delivery_operations_publication_id_publications"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_delivery_operations")),
    )
    with op.batch_alter_table("delivery_operations", schema=None) as batch_op:
        batch_op.create_index(
            "ix_delivery_operations_status_due_at", ["status", "due_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_delivery_operations_publication_id"), ["publication_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_delivery_operations_delivery_id"), ["delivery_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("delivery_operations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_delivery_operations_delivery_id"))
        batch_op.drop_index(batch_op.f("ix_delivery_operations_publication_id"))
        batch_op.drop_index("ix_delivery_operations_status_due_at")
    op.drop_table("delivery_operations")
    with op.batch_alter_table("remote_posts", schema=None) as batch_op:
        batch_op.drop_index("ix_remote_posts_platform_account_remote_id")
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.drop_column("first_attempt_at")
        batch_op.drop_column("lease_owner")
