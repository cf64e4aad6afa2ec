"""one index of pending links, in the claim's own order, so a claim reads only the links it takes

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

PENDING = sa.text("state = 'pending'")


def upgrade() -> None:
    op.create_index(
        'ix_links_claim', 'links',
        ['connection_id', 'entity_type', 'lost_call_key', sa.text('retries DESC'), 'next_attempt_at', 'id'],
        postgresql_where=PENDING, sqlite_where=PENDING,
    )
    op.drop_index('ix_links_due', table_name='links', postgresql_where=PENDING, sqlite_where=PENDING)


def downgrade() -> None:
    op.create_index('ix_links_due', 'links', ['connection_id', 'next_attempt_at'],
                    postgresql_where=PENDING, sqlite_where=PENDING)
    op.drop_index('ix_links_claim', table_name='links')
