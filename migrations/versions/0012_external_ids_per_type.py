"""external ids unique per connection and entity type (QuickBooks numbers each entity on its own)

Revision ID: 0012_external_ids_per_type
Revises: 0011_manage
Create Date: 2026-11-27 17:25:00
"""

from alembic import op
import sqlalchemy as sa


revision = '0012_external_ids_per_type'
down_revision = '0011_manage'
branch_labels = None
depends_on = None

WHERE = dict(postgresql_where=sa.text('external_id IS NOT NULL'), sqlite_where=sa.text('external_id IS NOT NULL'))


def upgrade() -> None:
    with op.batch_alter_table('links', schema=None) as batch_op:
        batch_op.drop_index('uq_links_connection_id_external_id', **WHERE)
        batch_op.create_index('uq_links_connection_id_entity_type_external_id',
                              ['connection_id', 'entity_type', 'external_id'], unique=True, **WHERE)


def downgrade() -> None:
    # Not unique again: once records of two types hold the same id (QuickBooks), the narrower rule
    # cannot be restored without forgetting external ids, which would make the next push create
    # duplicates. The older code checks for a clash before it writes, so it needs only the index.
    with op.batch_alter_table('links', schema=None) as batch_op:
        batch_op.drop_index('uq_links_connection_id_entity_type_external_id', **WHERE)
        batch_op.create_index('uq_links_connection_id_external_id', ['connection_id', 'external_id'],
                              unique=False, **WHERE)
