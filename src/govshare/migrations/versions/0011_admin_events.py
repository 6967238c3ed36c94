"""a record of the platform administrator's changes (issue 14)

- `admin_events`: one row per change to departments and users (a department or a user created, an alias added
  or removed, a user deactivated or activated, a password reset, a role changed), written in the same unit of
  work as the change. `actor_user_id` is empty for the node operator's commands; `summary` is a readable Chinese
  sentence (never a password or its hash).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-09 10:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'admin_events',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('actor_user_id', sa.Integer(), nullable=True),
        sa.Column('action', sa.String(length=40), nullable=False),
        sa.Column('target_kind', sa.String(length=40), nullable=False),
        sa.Column('target_id', sa.Integer(), nullable=False),
        sa.Column('summary', sa.String(length=500), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(['actor_user_id'], ['users.id'], name=op.f('fk_admin_events_actor_user_id_users')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_admin_events')),
    )


def downgrade() -> None:
    op.drop_table('admin_events')
