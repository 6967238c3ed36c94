"""data connections registered by the platform admin per department; sources made through them (issue 12)

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07 05:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'data_connections',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('department_id', sa.Integer(), nullable=False),
        sa.Column('name', sa.String(length=100), nullable=False),
        sa.Column('kind', sa.String(length=10), nullable=False),
        sa.Column('location', sa.Text(), nullable=False),
        sa.Column('allowed', sa.JSON(), nullable=False),
        sa.Column('internal', sa.Boolean(), nullable=False),
        sa.Column('retired_at', sa.DateTime(), nullable=True),
        sa.Column('created_by_id', sa.Integer(), nullable=True),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('updated_at', sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_data_connections_created_by_id_users')),
        sa.ForeignKeyConstraint(['department_id'], ['departments.id'],
                                name=op.f('fk_data_connections_department_id_departments')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_data_connections')),
        sa.UniqueConstraint('department_id', 'name', name='uq_data_connections_department_name'),
    )
    with op.batch_alter_table('data_connections', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_data_connections_department_id'), ['department_id'], unique=False)
    with op.batch_alter_table('data_sources', schema=None) as batch_op:
        batch_op.add_column(sa.Column('connection_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_data_sources_connection_id_data_connections'),
                                    'data_connections', ['connection_id'], ['id'])
    # Sources connected before this migration by a typed URL keep serving (their sealed URL stays on the
    # source); they have no connection, and reconnecting them needs one the admin registers. The gateway
    # refuses the node's own database at serving time as well, so a source made through the old hole
    # does not serve platform tables.


def downgrade() -> None:
    with op.batch_alter_table('data_sources', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_data_sources_connection_id_data_connections'), type_='foreignkey')
        batch_op.drop_column('connection_id')
    with op.batch_alter_table('data_connections', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_data_connections_department_id'))
    op.drop_table('data_connections')
