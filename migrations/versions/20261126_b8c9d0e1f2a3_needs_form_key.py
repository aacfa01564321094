"""needs.form_key: the posting form's one-time key, unique, so a form sent twice (a double tap, a
retry after an answer lost on a slow connection) makes one need, not two

Existing needs keep a NULL key (a unique index allows any number of them).

Revision ID: b8c9d0e1f2a3
Revises: a7b8c9d0e1f2
Create Date: 2026-11-26 12:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = 'b8c9d0e1f2a3'
down_revision: str | None = 'a7b8c9d0e1f2'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column('needs', sa.Column('form_key', sa.String(length=32), nullable=True))
    op.create_index('uq_needs_form_key', 'needs', ['form_key'], unique=True)


def downgrade() -> None:
    op.drop_index('uq_needs_form_key', table_name='needs')
    op.drop_column('needs', 'form_key')
