"""recognition_nominations.name_key: one open nomination per folded name, kind and period (a unique
index, so two identical submits at the same instant cannot both pass)

Existing open duplicates (possible before: the check was only in the service) keep a NULL key, so the
index can be built without changing or withdrawing anything; the first of each keeps its key.

Revision ID: e5f6a7b8c9d0
Revises: d4e5f6a7b8c9
Create Date: 2026-11-26 09:40:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from app.text import fold

revision: str = 'e5f6a7b8c9d0'
down_revision: str | None = 'd4e5f6a7b8c9'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OPEN = sa.text('withdrawn_at IS NULL')


def upgrade() -> None:
    op.add_column('recognition_nominations', sa.Column('name_key', sa.String(length=200), nullable=True))
    nominations = sa.table('recognition_nominations', sa.column('id', sa.Integer), sa.column('province_code'),
                           sa.column('period_key'), sa.column('nominee_kind'), sa.column('nominee_name'),
                           sa.column('withdrawn_at'), sa.column('name_key', sa.String))
    bind = op.get_bind()
    taken: set[tuple[object, ...]] = set()
    for row in bind.execute(sa.select(nominations).order_by(nominations.c.id)):
        key = fold(row.nominee_name)
        scope = (row.province_code, row.period_key, row.nominee_kind, key)
        if row.withdrawn_at is None:
            if scope in taken:
                continue  # a duplicate already open: left without a key
            taken.add(scope)
        bind.execute(sa.update(nominations).where(nominations.c.id == row.id).values(name_key=key))
    op.create_index('uq_recognition_nominations_open_name', 'recognition_nominations',
                    ['province_code', 'period_key', 'nominee_kind', 'name_key'], unique=True,
                    postgresql_where=OPEN, sqlite_where=OPEN)


def downgrade() -> None:
    op.drop_index('uq_recognition_nominations_open_name', table_name='recognition_nominations',
                  postgresql_where=OPEN, sqlite_where=OPEN)
    op.drop_column('recognition_nominations', 'name_key')
