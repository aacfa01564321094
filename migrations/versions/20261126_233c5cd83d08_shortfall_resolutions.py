"""shortfall resolutions: items re-sent, released or replaced; a re-send allocation's shortfall

Revision ID: 233c5cd83d08
Revises: c058ad741a5c
Create Date: 2026-11-26 01:58:06.529484
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
import advanced_alchemy.types


revision: str = '233c5cd83d08'
down_revision: str | None = 'c058ad741a5c'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('allocations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('resends_receipt_id', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_allocations_resends_receipt_id'), ['resends_receipt_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_allocations_resends_receipt_id_shipment_receipts'), 'shipment_receipts', ['resends_receipt_id'], ['id'], ondelete='SET NULL')

    with op.batch_alter_table('shipment_receipts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('shortfall_resent', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('shortfall_released', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('shortfall_replaced', sa.Integer(), server_default='0', nullable=False))



def downgrade() -> None:
    with op.batch_alter_table('shipment_receipts', schema=None) as batch_op:
        batch_op.drop_column('shortfall_replaced')
        batch_op.drop_column('shortfall_released')
        batch_op.drop_column('shortfall_resent')

    with op.batch_alter_table('allocations', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_allocations_resends_receipt_id_shipment_receipts'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_allocations_resends_receipt_id'))
        batch_op.drop_column('resends_receipt_id')

