"""audit_log: index on (entity_type, entity_id), for one entity's history (the officers' audit pages,
the sponsor's timeline)

Revision ID: f1a2b3c4d5e6
Revises: 53ed83233c00
Create Date: 2026-11-26 12:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op


revision: str = 'f1a2b3c4d5e6'
down_revision: str | None = '53ed83233c00'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index('ix_audit_log_entity', 'audit_log', ['entity_type', 'entity_id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_audit_log_entity', table_name='audit_log')
