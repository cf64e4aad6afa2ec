"""a copy of each connection's accounts, tax rates and payment methods

Revision ID: 0011_manage
Revises: 0010_webhooks
Create Date: 2026-11-27 16:40:00
"""

from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
import app.models.base


revision = '0011_manage'
down_revision = '0010_webhooks'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'program_lists',
        sa.Column('connection_id', sa.Uuid(), nullable=False),
        sa.Column('kind', sa.String(length=32), nullable=False),
        sa.Column('items', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
        sa.Column('fetched_at', app.models.base.UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(['connection_id'], ['connections.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('connection_id', 'kind'),
    )


def downgrade() -> None:
    op.drop_table('program_lists')
