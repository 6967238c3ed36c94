"""a withdrawn demand says why (issue 14: every action that ends something needs a reason)

- `demands.withdraw_reason`: the requester's reason, read by the provider it was routed to; empty for demands
  withdrawn before this revision.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-10 10:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('demands') as batch:
        batch.add_column(sa.Column('withdraw_reason', sa.Text(), nullable=False, server_default=''))


def downgrade() -> None:
    with op.batch_alter_table('demands') as batch:
        batch.drop_column('withdraw_reason')
