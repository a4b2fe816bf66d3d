"""failed items: items a channel could not play, kept out of the playout

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01 13:40:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('failed_items',
    sa.Column('source_id', sa.String(length=200), nullable=False),
    sa.Column('item_id', sa.String(length=500), nullable=False),
    sa.Column('title', sa.Text(), nullable=False),
    sa.Column('location', sa.Text(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('fingerprint', sa.String(length=200), nullable=True),
    sa.Column('channel_number', sa.Integer(), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('failed_at', sa.Float(), nullable=False),
    sa.PrimaryKeyConstraint('source_id', 'item_id', name=op.f('pk_failed_items'))
    )


def downgrade() -> None:
    op.drop_table('failed_items')
