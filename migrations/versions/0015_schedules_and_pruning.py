"""scheduled runs (connections.next_run_at) and the Error log's indexes per entity type and error code

Revision ID: 0015_schedules_and_pruning
Revises: 0014_program_changes
Create Date: 2026-11-27 19:10:00
"""

from alembic import op
import sqlalchemy as sa
import app.models.base


revision = '0015_schedules_and_pruning'
down_revision = '0014_program_changes'
branch_labels = None
depends_on = None

SCHEDULED = dict(postgresql_where=sa.text('next_run_at IS NOT NULL'), sqlite_where=sa.text('next_run_at IS NOT NULL'))
FAILURES = dict(postgresql_where=sa.text("outcome IN ('failed', 'retry')"),
                sqlite_where=sa.text("outcome IN ('failed', 'retry')"))


def upgrade() -> None:
    with op.batch_alter_table('connections', schema=None) as batch_op:
        batch_op.add_column(sa.Column('next_run_at', app.models.base.UtcDateTime(), nullable=True))
        batch_op.create_index('ix_connections_next_run_at', ['next_run_at'], unique=False, **SCHEDULED)
    with op.batch_alter_table('attempts', schema=None) as batch_op:
        batch_op.create_index('ix_attempts_errors_entity_type', ['connection_id', 'entity_type', 'id'],
                              unique=False, **FAILURES)
        batch_op.create_index('ix_attempts_errors_error_code', ['connection_id', 'error_code', 'id'],
                              unique=False, **FAILURES)


def downgrade() -> None:
    with op.batch_alter_table('attempts', schema=None) as batch_op:
        batch_op.drop_index('ix_attempts_errors_error_code', **FAILURES)
        batch_op.drop_index('ix_attempts_errors_entity_type', **FAILURES)
    with op.batch_alter_table('connections', schema=None) as batch_op:
        batch_op.drop_index('ix_connections_next_run_at', **SCHEDULED)
        batch_op.drop_column('next_run_at')
