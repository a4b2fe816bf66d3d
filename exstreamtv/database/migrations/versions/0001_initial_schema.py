"""initial schema

Revision ID: 0001
Revises: (none)
Create Date: 2026-11-24 01:37:53.050622
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('backups',
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('created', sa.Float(), nullable=False),
    sa.Column('size', sa.BigInteger(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('schema_version', sa.String(length=50), nullable=True),
    sa.Column('app_version', sa.String(length=50), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_backups'))
    )
    op.create_table('channel_playout',
    sa.Column('channel_number', sa.Integer(), nullable=False),
    sa.Column('scheduler', sa.String(length=100), nullable=False),
    sa.Column('epoch', sa.Float(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('seed', sa.Integer(), nullable=True),
    sa.Column('state', sa.JSON(), nullable=False),
    sa.Column('updated_at', sa.Float(), nullable=False),
    sa.PrimaryKeyConstraint('channel_number', name=op.f('pk_channel_playout'))
    )
    op.create_table('collections',
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_collections'))
    )
    op.create_table('cooldowns',
    sa.Column('channel_number', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=500), nullable=False),
    sa.Column('until', sa.Float(), nullable=False),
    sa.PrimaryKeyConstraint('channel_number', 'key', name=op.f('pk_cooldowns'))
    )
    op.create_table('healing_outcomes',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('created_at', sa.Float(), nullable=False),
    sa.Column('channel_number', sa.Integer(), nullable=True),
    sa.Column('pattern', sa.String(length=100), nullable=False),
    sa.Column('action', sa.String(length=100), nullable=False),
    sa.Column('risk', sa.String(length=20), nullable=False),
    sa.Column('confidence', sa.Float(), nullable=True),
    sa.Column('success', sa.Boolean(), nullable=False),
    sa.Column('details', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_healing_outcomes'))
    )
    with op.batch_alter_table('healing_outcomes', schema=None) as batch_op:
        batch_op.create_index('ix_healing_outcomes_pattern', ['pattern'], unique=False)

    op.create_table('media_sources',
    sa.Column('id', sa.String(length=200), nullable=False),
    sa.Column('type', sa.String(length=100), nullable=False),
    sa.Column('last_scan', sa.Float(), nullable=True),
    sa.Column('item_count', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_media_sources'))
    )
    op.create_table('play_history',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('channel_number', sa.Integer(), nullable=False),
    sa.Column('source_id', sa.String(length=200), nullable=True),
    sa.Column('item_id', sa.String(length=500), nullable=True),
    sa.Column('collection', sa.String(length=200), nullable=True),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('started_at', sa.Float(), nullable=False),
    sa.Column('duration', sa.Float(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_play_history'))
    )
    with op.batch_alter_table('play_history', schema=None) as batch_op:
        batch_op.create_index('ix_play_history_channel_started', ['channel_number', 'started_at'], unique=False)

    op.create_table('media_items',
    sa.Column('source_id', sa.String(length=200), nullable=False),
    sa.Column('item_id', sa.String(length=500), nullable=False),
    sa.Column('title', sa.Text(), nullable=False),
    sa.Column('location', sa.Text(), nullable=False),
    sa.Column('duration', sa.Float(), nullable=False),
    sa.Column('info_path', sa.Text(), nullable=True),
    sa.Column('format_name', sa.String(length=200), nullable=True),
    sa.Column('bit_rate', sa.BigInteger(), nullable=True),
    sa.Column('metadata', sa.JSON(), nullable=False),
    sa.Column('updated_at', sa.Float(), nullable=False),
    sa.ForeignKeyConstraint(['source_id'], ['media_sources.id'], name=op.f('fk_media_items_source_id_media_sources'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('source_id', 'item_id', name=op.f('pk_media_items'))
    )
    op.create_table('collection_items',
    sa.Column('collection', sa.String(length=200), nullable=False),
    sa.Column('source_id', sa.String(length=200), nullable=False),
    sa.Column('item_id', sa.String(length=500), nullable=False),
    sa.ForeignKeyConstraint(['collection'], ['collections.name'], name=op.f('fk_collection_items_collection_collections'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['source_id', 'item_id'], ['media_items.source_id', 'media_items.item_id'], name=op.f('fk_collection_items_source_id_media_items'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('collection', 'source_id', 'item_id', name=op.f('pk_collection_items'))
    )
    op.create_table('media_streams',
    sa.Column('source_id', sa.String(length=200), nullable=False),
    sa.Column('item_id', sa.String(length=500), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('stream_index', sa.Integer(), nullable=False),
    sa.Column('type', sa.String(length=20), nullable=False),
    sa.Column('codec', sa.String(length=50), nullable=False),
    sa.Column('language', sa.String(length=10), nullable=True),
    sa.Column('title', sa.Text(), nullable=True),
    sa.Column('details', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['source_id', 'item_id'], ['media_items.source_id', 'media_items.item_id'], name=op.f('fk_media_streams_source_id_media_items'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('source_id', 'item_id', 'position', name=op.f('pk_media_streams'))
    )



def downgrade() -> None:
    op.drop_table('media_streams')
    op.drop_table('collection_items')
    op.drop_table('media_items')
    with op.batch_alter_table('play_history', schema=None) as batch_op:
        batch_op.drop_index('ix_play_history_channel_started')

    op.drop_table('play_history')
    op.drop_table('media_sources')
    with op.batch_alter_table('healing_outcomes', schema=None) as batch_op:
        batch_op.drop_index('ix_healing_outcomes_pattern')

    op.drop_table('healing_outcomes')
    op.drop_table('cooldowns')
    op.drop_table('collections')
    op.drop_table('channel_playout')
    op.drop_table('backups')

