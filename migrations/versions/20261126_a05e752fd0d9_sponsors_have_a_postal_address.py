"""users.address: a sponsor's postal address (optional, '' when not given), carried onto the honor
roll's entries beside the name

Revision ID: a05e752fd0d9
Revises: 7a70b7d6a9c6
Create Date: 2026-11-26 03:30:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = 'a05e752fd0d9'
down_revision: str | None = '7a70b7d6a9c6'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('address', sa.String(length=300), server_default='', nullable=False))


def downgrade() -> None:
    # A plain DROP COLUMN (SQLite has it since 3.35): a batch copy of `users` could not drop the
    # old table while other tables' rows refer to it.
    op.drop_column('users', 'address')
