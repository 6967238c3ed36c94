"""deadline of a catalog revision caused by a change of law or of duties (R05)

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06 23:30:00
"""

import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # what changed and when it took effect; the due date counted from it (working days, estimated when a
    # year's holidays were unknown); the worker's reminder and overdue marks; whether publication met it.
    # Revisions proposed before this migration have no effective date, hence no deadline.
    with op.batch_alter_table('entry_revisions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('law_change_basis', sa.Text(), nullable=False, server_default=''))
        batch_op.add_column(sa.Column('law_effective_date', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('due_date', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('due_estimated', sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column('reminded_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('overdue_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('deadline_met', sa.Boolean(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('entry_revisions', schema=None) as batch_op:
        batch_op.drop_column('deadline_met')
        batch_op.drop_column('overdue_at')
        batch_op.drop_column('reminded_at')
        batch_op.drop_column('due_estimated')
        batch_op.drop_column('due_date')
        batch_op.drop_column('law_effective_date')
        batch_op.drop_column('law_change_basis')
