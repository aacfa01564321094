"""pledges.province_code: the province a gift goes to (its need's, else its commune's, else the
pool's: the deployment's), stored once so that the honor roll selects without joins; two partial
covering indexes the roll reads alone (money when confirmed, in kind when acknowledged); the
unique certificate code indexed only where there is one

Revision ID: 491db3f63a2e
Revises: 233c5cd83d08
Create Date: 2026-11-26 02:14:05.998354
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from app.settings import get_settings

revision: str = '491db3f63a2e'
down_revision: str | None = '233c5cd83d08'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MONEY_COUNTED = "kind = 'money' AND status IN ('paid', 'allocated', 'delivered', 'acknowledged')"
IN_KIND_COUNTED = "status = 'acknowledged' AND kind <> 'money'"


def upgrade() -> None:
    with op.batch_alter_table('pledges', schema=None) as batch_op:
        batch_op.add_column(sa.Column('province_code', sa.Integer(), nullable=True))
    # Existing pledges: their need's province, else their commune's, else the pool's.
    op.execute(sa.text(
        "UPDATE pledges SET province_code = COALESCE("
        "(SELECT needs.province_code FROM needs WHERE needs.id = pledges.need_id), "
        "(SELECT communes.province_code FROM communes WHERE communes.code = pledges.commune_code), "
        ":pool)").bindparams(pool=get_settings().province_code))
    with op.batch_alter_table('pledges', schema=None) as batch_op:
        batch_op.alter_column('province_code', existing_type=sa.Integer(), nullable=False)
        batch_op.create_index('ix_pledges_roll_in_kind', ['province_code', 'acknowledged_at'], unique=False,
                              postgresql_include=['sponsor_id', 'anonymous', 'kind', 'accepted_value'],
                              postgresql_where=sa.text(IN_KIND_COUNTED), sqlite_where=sa.text(IN_KIND_COUNTED))
        batch_op.create_index('ix_pledges_roll_money', ['province_code', 'confirmed_at'], unique=False,
                              postgresql_include=['sponsor_id', 'anonymous', 'amount'],
                              postgresql_where=sa.text(MONEY_COUNTED), sqlite_where=sa.text(MONEY_COUNTED))
        batch_op.create_foreign_key(batch_op.f('fk_pledges_province_code_provinces'), 'provinces',
                                    ['province_code'], ['code'])
    # Certificate codes are unique among the entries that have one (a published roll's): a draft's
    # entries, written by the thousand when a roll is generated, are not indexed by code.
    with op.batch_alter_table('honor_roll_entries', schema=None) as batch_op:
        batch_op.drop_constraint('uq_honor_roll_entries_code', type_='unique')
        batch_op.create_index('uq_honor_roll_entries_code', ['code'], unique=True,
                              postgresql_where=sa.text('code IS NOT NULL'), sqlite_where=sa.text('code IS NOT NULL'))


def downgrade() -> None:
    with op.batch_alter_table('honor_roll_entries', schema=None) as batch_op:
        batch_op.drop_index('uq_honor_roll_entries_code')
        batch_op.create_unique_constraint('uq_honor_roll_entries_code', ['code'])
    with op.batch_alter_table('pledges', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_pledges_province_code_provinces'), type_='foreignkey')
        batch_op.drop_index('ix_pledges_roll_money')
        batch_op.drop_index('ix_pledges_roll_in_kind')
        batch_op.drop_column('province_code')
