"""honor_rolls: the Department's decision (number, date, signer) for the forms it awards

Revision ID: d4e5f6a7b8c9
Revises: c7d8e9f0a1b2
Create Date: 2026-11-26 08:15:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = 'd4e5f6a7b8c9'
down_revision: str | None = 'c7d8e9f0a1b2'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = ('department_decision_number', 'department_decision_date', 'department_signer')


def upgrade() -> None:
    # Added in place (a batch would copy honor_rolls on SQLite and cascade to its entries).
    op.add_column('honor_rolls', sa.Column('department_decision_number', sa.String(length=60), nullable=True))
    op.add_column('honor_rolls', sa.Column('department_decision_date', sa.Date(), nullable=True))
    op.add_column('honor_rolls', sa.Column('department_signer', sa.String(length=200), nullable=True))


def downgrade() -> None:
    for name in reversed(COLUMNS):
        op.drop_column('honor_rolls', name)
