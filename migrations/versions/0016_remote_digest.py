"""links keep a digest of the mapped fields of what the program held after possync's last push

Revision ID: 0016_remote_digest
Revises: 0015_schedules_and_pruning
Create Date: 2026-11-27 22:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = '0016_remote_digest'
down_revision = '0015_schedules_and_pruning'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('links', schema=None) as batch_op:
        batch_op.add_column(sa.Column('remote_digest', sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('links', schema=None) as batch_op:
        batch_op.drop_column('remote_digest')
