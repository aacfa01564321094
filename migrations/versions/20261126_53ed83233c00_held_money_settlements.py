"""held_money_settlements: held money paid back or reassigned to a pledge, part or all of a line's

Revision ID: 53ed83233c00
Revises: e5f6a7b8c9d0
Create Date: 2026-11-26 10:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import advanced_alchemy.types
import sqlalchemy as sa
from alembic import op


revision: str = '53ed83233c00'
down_revision: str | None = 'e5f6a7b8c9d0'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'held_money_settlements',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('line_id', sa.Integer(), nullable=False),
        sa.Column('number', sa.Integer(), nullable=False),
        sa.Column('kind', sa.Enum('refund', 'reassign', name='settlementkind', native_enum=False, length=16),
                  nullable=False),
        sa.Column('amount', sa.Integer(), nullable=False),
        sa.Column('day', sa.Date(), nullable=False),
        sa.Column('note', sa.Text(), nullable=False),
        sa.Column('pledge_id', sa.Integer(), nullable=True),
        sa.Column('payment_id', sa.Integer(), nullable=True),
        sa.Column('actor_id', sa.Integer(), nullable=True),
        sa.Column('created_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.CheckConstraint('amount > 0', name=op.f('ck_held_money_settlements_positive')),
        sa.ForeignKeyConstraint(['actor_id'], ['users.id'], ondelete='SET NULL',
                                name=op.f('fk_held_money_settlements_actor_id_users')),
        sa.ForeignKeyConstraint(['line_id'], ['statement_lines.id'],
                                name=op.f('fk_held_money_settlements_line_id_statement_lines')),
        sa.ForeignKeyConstraint(['payment_id'], ['payments.id'],
                                name=op.f('fk_held_money_settlements_payment_id_payments')),
        sa.ForeignKeyConstraint(['pledge_id'], ['pledges.id'],
                                name=op.f('fk_held_money_settlements_pledge_id_pledges')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_held_money_settlements')),
        sa.UniqueConstraint('line_id', 'number', name=op.f('uq_held_money_settlements_line_id')),
    )


def downgrade() -> None:
    op.drop_table('held_money_settlements')
