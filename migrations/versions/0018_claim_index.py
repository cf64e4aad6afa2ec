"""an index in the claim's own order, so a claim reads only the links it takes

Revision ID: 0018_claim_index
Revises: 0017_lost_call_key
Create Date: 2026-11-28 07:30:00
"""

import sqlalchemy as sa
from alembic import op

revision = '0018_claim_index'
down_revision = '0017_lost_call_key'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        'ix_links_claim', 'links',
        ['connection_id', 'entity_type', 'lost_call_key', sa.text('retries DESC'), 'next_attempt_at', 'id'],
        postgresql_where=sa.text("state = 'pending'"), sqlite_where=sa.text("state = 'pending'"),
    )


def downgrade() -> None:
    op.drop_index('ix_links_claim', table_name='links')
