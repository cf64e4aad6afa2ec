"""links keep the key of the call a create's answer was lost in, and when the first such try was made

Revision ID: 0017_lost_call_key
Revises: 0016_remote_digest
Create Date: 2026-11-28 01:15:00
"""

import sqlalchemy as sa
from alembic import op

import app.models.base

revision = '0017_lost_call_key'
down_revision = '0016_remote_digest'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('links', schema=None) as batch_op:
        batch_op.add_column(sa.Column('lost_call_key', sa.String(length=128), nullable=True))
        batch_op.add_column(sa.Column('first_unanswered_at', app.models.base.UtcDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('links', schema=None) as batch_op:
        batch_op.drop_column('first_unanswered_at')
        batch_op.drop_column('lost_call_key')
