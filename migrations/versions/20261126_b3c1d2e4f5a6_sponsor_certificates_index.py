"""honor_roll_entries: index of a sponsor's certificates (entries with a code), for the sponsor's page

Revision ID: b3c1d2e4f5a6
Revises: a05e752fd0d9
Create Date: 2026-11-26 07:20:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = 'b3c1d2e4f5a6'
down_revision: str | None = 'a05e752fd0d9'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index('ix_honor_roll_entries_sponsor_certificates', 'honor_roll_entries', ['sponsor_id'],
                    unique=False, postgresql_where=sa.text('code IS NOT NULL'),
                    sqlite_where=sa.text('code IS NOT NULL'))


def downgrade() -> None:
    op.drop_index('ix_honor_roll_entries_sponsor_certificates', table_name='honor_roll_entries')
