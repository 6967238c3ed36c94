"""departments have aliases; a catalog entry's data update date may be unknown (issue 13)

- `department_aliases`: other names of a department (short names such as 省统计局 for 安徽省统计局, former
  names), unique within a region. Catalog imports resolve a provider by its name or an alias.
- `catalog_entries.data_updated_at` becomes nullable: an imported row without an update date keeps it unknown
  (it used to take the import time). Staleness (R05) then counts from the publish date, and an entry with
  neither date is not stale.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07 14:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'department_aliases',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('department_id', sa.Integer(), nullable=False),
        sa.Column('region_code', sa.String(length=12), nullable=False),
        sa.Column('alias', sa.String(length=200), nullable=False),
        sa.Column('created_by_id', sa.Integer(), nullable=True),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_department_aliases_created_by_id_users')),
        sa.ForeignKeyConstraint(['department_id'], ['departments.id'],
                                name=op.f('fk_department_aliases_department_id_departments')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_department_aliases')),
        sa.UniqueConstraint('region_code', 'alias', name='uq_department_aliases_region_alias'),
    )
    with op.batch_alter_table('department_aliases', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_department_aliases_department_id'), ['department_id'], unique=False)
    with op.batch_alter_table('catalog_entries', schema=None) as batch_op:
        batch_op.alter_column('data_updated_at', existing_type=sa.DateTime(), nullable=True)


def downgrade() -> None:
    # an unknown update date has no value to put back: going down takes the entry's creation time, the value
    # an import used to invent (the entries stay, their staleness may change)
    op.execute("UPDATE catalog_entries SET data_updated_at = created_at WHERE data_updated_at IS NULL")
    with op.batch_alter_table('catalog_entries', schema=None) as batch_op:
        batch_op.alter_column('data_updated_at', existing_type=sa.DateTime(), nullable=False)
    with op.batch_alter_table('department_aliases', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_department_aliases_department_id'))
    op.drop_table('department_aliases')
