"""recognition_entry_decisions (edits and exclusions every later version of a period honours),
honor_rolls.left_out; existing revocations become exclusions

Revision ID: c7d8e9f0a1b2
Revises: b3c1d2e4f5a6
Create Date: 2026-11-26 07:10:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import advanced_alchemy.types
import sqlalchemy as sa
from alembic import op


revision: str = 'c7d8e9f0a1b2'
down_revision: str | None = 'b3c1d2e4f5a6'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'recognition_entry_decisions',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('province_code', sa.Integer(), nullable=False),
        sa.Column('period_key', sa.String(length=80), nullable=False),
        sa.Column('sponsor_id', sa.Integer(), nullable=True),
        sa.Column('nomination_id', sa.Integer(), nullable=True),
        sa.Column('name', sa.String(length=200), nullable=True),
        sa.Column('address', sa.String(length=300), nullable=True),
        sa.Column('form', sa.Enum('chair_merit', 'director_commendation', 'thank_you_letter',
                                  name='commendationform', native_enum=False, length=32), nullable=True),
        sa.Column('excluded_reason', sa.Text(), nullable=True),
        sa.Column('revoked', sa.Boolean(), nullable=False),
        sa.Column('roll_id', sa.Integer(), nullable=False),
        sa.Column('updated_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.Column('updated_by_id', sa.Integer(), nullable=True),
        sa.CheckConstraint('(sponsor_id IS NULL) <> (nomination_id IS NULL)',
                           name=op.f('ck_recognition_entry_decisions_one_subject')),
        sa.ForeignKeyConstraint(['nomination_id'], ['recognition_nominations.id'],
                                name=op.f('fk_recognition_entry_decisions_nomination_id_recognition_nominations')),
        sa.ForeignKeyConstraint(['province_code'], ['provinces.code'],
                                name=op.f('fk_recognition_entry_decisions_province_code_provinces')),
        sa.ForeignKeyConstraint(['roll_id'], ['honor_rolls.id'],
                                name=op.f('fk_recognition_entry_decisions_roll_id_honor_rolls')),
        sa.ForeignKeyConstraint(['updated_by_id'], ['users.id'], ondelete='SET NULL',
                                name=op.f('fk_recognition_entry_decisions_updated_by_id_users')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_recognition_entry_decisions')),
        sa.UniqueConstraint('province_code', 'period_key', 'nomination_id',
                            name='uq_recognition_entry_decisions_nomination'),
        sa.UniqueConstraint('province_code', 'period_key', 'sponsor_id', name='uq_recognition_entry_decisions_sponsor'),
    )
    # Not in batch mode: SQLite adds (and drops) a column in place, where a batch would copy the table
    # and, dropping the original, cascade to its entries.
    op.add_column('honor_rolls', sa.Column('left_out', sa.JSON(), nullable=False, server_default=sa.text("'[]'")))
    # Revocations made before: the entry's sponsor or nomination stays out of later versions (the
    # latest revocation of each, with its reason).
    op.execute("""
        INSERT INTO recognition_entry_decisions
            (province_code, period_key, sponsor_id, nomination_id, excluded_reason, revoked, roll_id, updated_at,
             updated_by_id)
        SELECT r.province_code, r.period_key, e.sponsor_id, CASE WHEN e.sponsor_id IS NULL THEN e.nomination_id END,
               e.revoked_reason, TRUE, r.id, e.revoked_at, e.revoked_by_id
        FROM honor_roll_entries e JOIN honor_rolls r ON r.id = e.roll_id
        WHERE e.revoked_at IS NOT NULL AND e.anonymous = FALSE
          AND (e.sponsor_id IS NOT NULL OR e.nomination_id IS NOT NULL)
          AND e.id = (SELECT MAX(e2.id) FROM honor_roll_entries e2 JOIN honor_rolls r2 ON r2.id = e2.roll_id
                      WHERE e2.revoked_at IS NOT NULL AND e2.anonymous = FALSE
                        AND r2.province_code = r.province_code AND r2.period_key = r.period_key
                        AND (e2.sponsor_id = e.sponsor_id
                             OR (e.sponsor_id IS NULL AND e2.sponsor_id IS NULL
                                 AND e2.nomination_id = e.nomination_id)))
    """)


def downgrade() -> None:
    op.drop_column('honor_rolls', 'left_out')
    op.drop_table('recognition_entry_decisions')
