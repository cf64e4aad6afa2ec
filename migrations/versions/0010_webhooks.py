"""webhook events, stored once per program event; links remember the program's last change

Revision ID: 0010_webhooks
Revises: 0006_books
Create Date: 2026-11-27 16:45:00
"""

from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
import app.models.base


revision = '0010_webhooks'
down_revision = '0006_books'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'webhook_events',
        sa.Column('id', sa.Uuid(), nullable=False),
        sa.Column('provider', sa.String(length=32), nullable=False),
        sa.Column('event_key', sa.String(length=128), nullable=False),
        sa.Column('tenant_id', sa.String(length=100), nullable=False),
        sa.Column('connection_id', sa.Uuid(), nullable=True),
        sa.Column('object_kind', sa.String(length=64), nullable=False),
        sa.Column('object_id', sa.String(length=100), nullable=False),
        sa.Column('operation', sa.String(length=32), nullable=False),
        sa.Column('occurred_at', sa.String(length=40), nullable=True),
        sa.Column('payload', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
        sa.Column('received_at', app.models.base.UtcDateTime(timezone=True), nullable=False),
        sa.Column('processed_at', app.models.base.UtcDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['connection_id'], ['connections.id'],
                                name=op.f('fk_webhook_events_connection_id_connections'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_webhook_events')),
        sa.UniqueConstraint('provider', 'event_key', name=op.f('uq_webhook_events_provider_event_key')),
    )
    op.create_index('ix_webhook_events_connection_id_processed_at', 'webhook_events',
                    ['connection_id', 'processed_at'], unique=False)
    with op.batch_alter_table('links', schema=None) as batch_op:
        batch_op.add_column(sa.Column('program_change', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('program_changed_at', app.models.base.UtcDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('links', schema=None) as batch_op:
        batch_op.drop_column('program_changed_at')
        batch_op.drop_column('program_change')
    op.drop_index('ix_webhook_events_connection_id_processed_at', table_name='webhook_events')
    op.drop_table('webhook_events')
