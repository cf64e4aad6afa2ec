"""runs carry a heartbeat, so the sweeper can close the runs of dead jobs

Revision ID: 0004_recovery
Revises: 0003
"""

from alembic import op
import sqlalchemy as sa
import app.models.base


revision = '0004_recovery'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('runs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('heartbeat_at', app.models.base.UtcDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('runs', schema=None) as batch_op:
        batch_op.drop_column('heartbeat_at')
