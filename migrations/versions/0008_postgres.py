"""PostgreSQL and several processes on one queue (issue 15): Telegram chat and message ids are
64-bit (a channel id such as -1001111111111 does not fit PostgreSQL's 32-bit integer; SQLite's
INTEGER always held it)

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TELEGRAM_IDS = ("source_chat_id", "source_message_id", "report_chat_id", "report_message_id")


def upgrade() -> None:
    with op.batch_alter_table("publications") as batch:
        for column in TELEGRAM_IDS:
            batch.alter_column(
                column, existing_type=sa.Integer(), type_=sa.BigInteger(), existing_nullable=True
            )


def downgrade() -> None:
    with op.batch_alter_table("publications") as batch:
        for column in TELEGRAM_IDS:
            batch.alter_column(
                column, existing_type=sa.BigInteger(), type_=sa.Integer(), existing_nullable=True
            )
