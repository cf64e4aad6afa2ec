"""oauth state on connections

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27 11:22:24.942507
"""

from alembic import op
import sqlalchemy as sa
import app.models.base
from sqlalchemy.dialects import postgresql

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:

    with op.batch_alter_table('connections', schema=None) as batch_op:
        batch_op.add_column(sa.Column('oauth_nonce', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('offered_organisations', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True))




def downgrade() -> None:

    with op.batch_alter_table('connections', schema=None) as batch_op:
        batch_op.drop_column('offered_organisations')
        batch_op.drop_column('oauth_nonce')


