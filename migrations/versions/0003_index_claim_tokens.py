"""index claim tokens

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27 11:24:55.378368
"""

from alembic import op
import sqlalchemy as sa
import app.models.base


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:

    with op.batch_alter_table('links', schema=None) as batch_op:
        batch_op.create_index('ix_links_claim_token', ['claim_token'], unique=False, postgresql_where=sa.text('claim_token IS NOT NULL'), sqlite_where=sa.text('claim_token IS NOT NULL'))




def downgrade() -> None:

    with op.batch_alter_table('links', schema=None) as batch_op:
        batch_op.drop_index('ix_links_claim_token', postgresql_where=sa.text('claim_token IS NOT NULL'), sqlite_where=sa.text('claim_token IS NOT NULL'))


