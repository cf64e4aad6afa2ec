"""links remember what they wait for; records remember their deletion

Revision ID: 0006_books
Revises: 0005_quickbooks
Create Date: 2026-11-27 15:20:00
"""

from alembic import op
import sqlalchemy as sa
import app.models.base


revision = '0006_books'
down_revision = '0005_quickbooks'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('links', schema=None) as batch_op:
        batch_op.add_column(sa.Column('waiting_for', sa.String(length=200), nullable=True))
        batch_op.create_index('ix_links_waiting_for', ['connection_id', 'waiting_for'], unique=False,
                              postgresql_where=sa.text('waiting_for IS NOT NULL'),
                              sqlite_where=sa.text('waiting_for IS NOT NULL'))
    with op.batch_alter_table('records', schema=None) as batch_op:
        batch_op.add_column(sa.Column('deleted_at', app.models.base.UtcDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('records', schema=None) as batch_op:
        batch_op.drop_column('deleted_at')
    with op.batch_alter_table('links', schema=None) as batch_op:
        batch_op.drop_index('ix_links_waiting_for', postgresql_where=sa.text('waiting_for IS NOT NULL'),
                            sqlite_where=sa.text('waiting_for IS NOT NULL'))
        batch_op.drop_column('waiting_for')
