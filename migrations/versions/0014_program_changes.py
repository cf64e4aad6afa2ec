"""runs keep their parameters (a resync's period); connections remember when the program was last checked

Revision ID: 0014_program_changes
Revises: 0013_needs_choice
Create Date: 2026-11-27 18:45:00
"""

from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
import app.models.base


revision = '0014_program_changes'
down_revision = '0013_needs_choice'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('runs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('params', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()),
                                                                       'postgresql'), nullable=True))
    with op.batch_alter_table('connections', schema=None) as batch_op:
        batch_op.add_column(sa.Column('program_checked_at', app.models.base.UtcDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('connections', schema=None) as batch_op:
        batch_op.drop_column('program_checked_at')
    with op.batch_alter_table('runs', schema=None) as batch_op:
        batch_op.drop_column('params')
