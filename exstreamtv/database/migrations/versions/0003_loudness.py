"""loudness: measured EBU R128 loudness per item, audio stream and downmix

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 14:10:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('loudness',
    sa.Column('source_id', sa.String(length=200), nullable=False),
    sa.Column('item_id', sa.String(length=500), nullable=False),
    sa.Column('stream', sa.String(length=500), nullable=False),
    sa.Column('fingerprint', sa.String(length=200), nullable=False),
    sa.Column('integrated', sa.Float(), nullable=True),
    sa.Column('true_peak', sa.Float(), nullable=True),
    sa.Column('measured_at', sa.Float(), nullable=False),
    sa.PrimaryKeyConstraint('source_id', 'item_id', 'stream', name=op.f('pk_loudness'))
    )


def downgrade() -> None:
    op.drop_table('loudness')
