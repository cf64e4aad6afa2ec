"""links keep the program's object version (QuickBooks SyncToken)

Revision ID: 0005_quickbooks
Revises: 0004_recovery
"""

from alembic import op
import sqlalchemy as sa


revision = "0005_quickbooks"
down_revision = '0004_recovery'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("links", schema=None) as batch_op:
        batch_op.add_column(sa.Column("remote_version", sa.String(length=100), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("links", schema=None) as batch_op:
        batch_op.drop_column("remote_version")
