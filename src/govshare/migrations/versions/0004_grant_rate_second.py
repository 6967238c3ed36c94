"""grant rate counter per second; usage record row counts beyond 2^31

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-06 11:30:00
"""

import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # the grant's calls in the current clock second, kept with the day's counters: the gateway's rate
    # check reads one row instead of counting the usage records of the last second
    with op.batch_alter_table('grant_usage_days', schema=None) as batch_op:
        batch_op.add_column(sa.Column('second', sa.BigInteger(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('second_calls', sa.Integer(), nullable=False, server_default='0'))
    if op.get_bind().dialect.name != 'sqlite':  # SQLite's INTEGER is 64-bit already
        op.alter_column('usage_records', 'row_count', type_=sa.BigInteger(), existing_nullable=False)
        op.alter_column('grant_usage_days', 'rows', type_=sa.BigInteger(), existing_nullable=False)


def downgrade() -> None:
    if op.get_bind().dialect.name != 'sqlite':
        op.alter_column('grant_usage_days', 'rows', type_=sa.Integer(), existing_nullable=False)
        op.alter_column('usage_records', 'row_count', type_=sa.Integer(), existing_nullable=False)
    with op.batch_alter_table('grant_usage_days', schema=None) as batch_op:
        batch_op.drop_column('second_calls')
        batch_op.drop_column('second')
