"""statement_lines.bank_reference: the bank's own transaction reference, kept so a line can be found
again in the bank's statement ('' for lines imported before)

Revision ID: a7b8c9d0e1f2
Revises: f1a2b3c4d5e6
Create Date: 2026-11-26 12:30:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = 'a7b8c9d0e1f2'
down_revision: str | None = 'f1a2b3c4d5e6'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('statement_lines') as batch:
        batch.add_column(sa.Column('bank_reference', sa.Text(), server_default='', nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('statement_lines') as batch:
        batch.drop_column('bank_reference')
