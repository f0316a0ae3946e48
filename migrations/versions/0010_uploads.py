"""What a delivery's attempts already uploaded or posted, reused by the next attempt
(issue 9: albums are no longer uploaded whole on every retry; a split post resumes)

Revision ID: 0010
Revises: 0008
Create Date: 2026-12-02

0009 (bot) had not landed when this did, so it chains onto 0008.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "delivery_uploads",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("delivery_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=160), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["delivery_id"],
            ["deliveries.id"],
            name=op.f("fk_delivery_uploads_delivery_id_deliveries"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_delivery_uploads")),
        sa.UniqueConstraint(
            "delivery_id", "key", name=op.f("uq_delivery_uploads_delivery_id_key")
        ),
    )
    with op.batch_alter_table("delivery_uploads", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_delivery_uploads_delivery_id"), ["delivery_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_delivery_uploads_created_at"), ["created_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("delivery_uploads", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_delivery_uploads_created_at"))
        batch_op.drop_index(batch_op.f("ix_delivery_uploads_delivery_id"))
    op.drop_table("delivery_uploads")
