"""data quality (issue 15, R14): rules, reference tables and runs

- `quality_rules`: an entry's rules (kind, item, parameters); proposed ones count once the provider confirms them.
- `quality_reference_tables`: code lists rules compare with (行政区划代码 …), imported by the platform admin.
- `quality_runs`: each run's scores per dimension and overall, rows checked, and per rule the counts and a few
  masked failing keys.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-11 10:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('quality_reference_tables',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=60), nullable=False),
    sa.Column('label', sa.String(length=200), nullable=False),
    sa.Column('source', sa.String(length=500), nullable=False),
    sa.Column('codes', sa.JSON(), nullable=False),
    sa.Column('imported_by_id', sa.Integer(), nullable=True),
    sa.Column('imported_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['imported_by_id'], ['users.id'], name=op.f('fk_quality_reference_tables_imported_by_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_quality_reference_tables')),
    sa.UniqueConstraint('name', name=op.f('uq_quality_reference_tables_name'))
    )
    op.create_table('quality_rules',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('entry_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=30), nullable=False),
    sa.Column('item', sa.String(length=120), nullable=True),
    sa.Column('params', sa.JSON(), nullable=False),
    sa.Column('origin', sa.String(length=20), nullable=False),
    sa.Column('basis', sa.String(length=300), nullable=False),
    sa.Column('confirmed_at', sa.DateTime(), nullable=True),
    sa.Column('confirmed_by_id', sa.Integer(), nullable=True),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['confirmed_by_id'], ['users.id'], name=op.f('fk_quality_rules_confirmed_by_id_users')),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_quality_rules_created_by_id_users')),
    sa.ForeignKeyConstraint(['entry_id'], ['catalog_entries.id'], name=op.f('fk_quality_rules_entry_id_catalog_entries'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_quality_rules'))
    )
    with op.batch_alter_table('quality_rules', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_quality_rules_entry_id'), ['entry_id'], unique=False)

    op.create_table('quality_runs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('entry_id', sa.Integer(), nullable=False),
    sa.Column('trigger', sa.String(length=20), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('error', sa.Text(), nullable=False),
    sa.Column('rows_checked', sa.Integer(), nullable=False),
    sa.Column('total_rows', sa.Integer(), nullable=True),
    sa.Column('sampled', sa.Boolean(), nullable=False),
    sa.Column('sample_method', sa.String(length=200), nullable=False),
    sa.Column('completeness', sa.Float(), nullable=True),
    sa.Column('accuracy', sa.Float(), nullable=True),
    sa.Column('consistency', sa.Float(), nullable=True),
    sa.Column('timeliness', sa.Float(), nullable=True),
    sa.Column('overall', sa.Float(), nullable=True),
    sa.Column('results', sa.JSON(), nullable=False),
    sa.Column('actor_id', sa.Integer(), nullable=True),
    sa.Column('started_at', sa.DateTime(), nullable=False),
    sa.Column('finished_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['actor_id'], ['users.id'], name=op.f('fk_quality_runs_actor_id_users')),
    sa.ForeignKeyConstraint(['entry_id'], ['catalog_entries.id'], name=op.f('fk_quality_runs_entry_id_catalog_entries'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_quality_runs'))
    )
    with op.batch_alter_table('quality_runs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_quality_runs_entry_id'), ['entry_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_quality_runs_overall'), ['overall'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('quality_runs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_quality_runs_overall'))
        batch_op.drop_index(batch_op.f('ix_quality_runs_entry_id'))

    op.drop_table('quality_runs')
    with op.batch_alter_table('quality_rules', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_quality_rules_entry_id'))

    op.drop_table('quality_rules')
    op.drop_table('quality_reference_tables')
