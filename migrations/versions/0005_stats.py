"""subscriber statistics: daily snapshots and reach (issue 10)

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02

Reserved in the chain so that work on separate issues lands without two heads; the owner of the
issue fills it in (and its downgrade) together with the ORM tables.
"""

from collections.abc import Sequence

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
