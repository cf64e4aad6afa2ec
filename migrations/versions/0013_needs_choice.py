"""settings the organisation's lists could not fill, kept on the connection ("needs a choice")

Revision ID: 0013_needs_choice
Revises: 0012_external_ids_per_type
Create Date: 2026-11-27 19:00:00
"""

from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql


revision = '0013_needs_choice'
down_revision = '0012_external_ids_per_type'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('connections', schema=None) as batch_op:
        batch_op.add_column(sa.Column('needs_choice', sa.JSON().with_variant(
            postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('connections', schema=None) as batch_op:
        batch_op.drop_column('needs_choice')
