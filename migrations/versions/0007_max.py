"""MAX: channels as a source and target (issue 14)

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02

The long-polling marker, handled updates, and which publication mirrors which MAX post.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "max_state",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_max_state")),
    )
    op.create_table(
        "max_seen",
        sa.Column("key", sa.String(length=160), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_max_seen")),
    )
    with op.batch_alter_table("max_seen", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_max_seen_at"), ["at"], unique=False)
    op.create_table(
        "max_sources",
        sa.Column("mid", sa.String(length=128), nullable=False),
        sa.Column("chat_id", sa.BigInteger(), nullable=False),
        sa.Column("publication_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["publication_id"],
            ["publications.id"],
            name=op.f("fk_max_sources_publication_id_publications"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("mid", name=op.f("pk_max_sources")),
    )
    with op.batch_alter_table("max_sources", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_max_sources_publication_id"), ["publication_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("max_sources", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_max_sources_publication_id"))
    op.drop_table("max_sources")
    with op.batch_alter_table("max_seen", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_max_seen_at"))
    op.drop_table("max_seen")
    op.drop_table("max_state")
