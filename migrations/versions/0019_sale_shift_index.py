"""sales by store and shift id, so a sale batch's coverage probes the sales of its own shifts

Revision ID: 0019_sale_shift_index
Revises: 0018_claim_index
Create Date: 2026-11-28 11:20:00
"""

import sqlalchemy as sa
from alembic import op

revision = '0019_sale_shift_index'
down_revision = '0018_claim_index'
branch_labels = None
depends_on = None

# As app.models.records.SHIFT_ID_SQL spells it today (a migration keeps its own copy).
SHIFT_ID = {"postgresql": "payload ->> 'shift_id'", "sqlite": "json_extract(payload, '$.shift_id')"}


def upgrade() -> None:
    shift_id = SHIFT_ID[op.get_bind().dialect.name]
    op.create_index('ix_records_sale_shift', 'records', ['store_id', sa.text(f'({shift_id})')],
                    postgresql_where=sa.text("entity_type = 'sale'"), sqlite_where=sa.text("entity_type = 'sale'"))


def downgrade() -> None:
    op.drop_index('ix_records_sale_shift', table_name='records')
