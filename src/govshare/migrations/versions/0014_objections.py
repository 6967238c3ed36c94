"""objections and correction (校核纠错, issue 15, R13)

- `objections`: a record of an entry said to be wrong by a holder of a grant (key, items, the values believed right,
  evidence), the provider's deadline in working days, its answer (corrected, confirmed, forwarded to the lead
  source) and the marks of the reminder and of lateness.
- `objection_events`: each objection's record (who did what, when, why).

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-12 10:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('objections',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('entry_id', sa.Integer(), nullable=False),
    sa.Column('grant_id', sa.Integer(), nullable=False),
    sa.Column('requester_id', sa.Integer(), nullable=False),
    sa.Column('provider_id', sa.Integer(), nullable=False),
    sa.Column('record_key', sa.String(length=200), nullable=False),
    sa.Column('items', sa.JSON(), nullable=False),
    sa.Column('claimed', sa.JSON(), nullable=False),
    sa.Column('evidence', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('due', sa.Date(), nullable=False),
    sa.Column('due_estimated', sa.Boolean(), nullable=False),
    sa.Column('answer', sa.Text(), nullable=False),
    sa.Column('answered_by_id', sa.Integer(), nullable=True),
    sa.Column('answered_at', sa.DateTime(), nullable=True),
    sa.Column('forwarded_to_id', sa.Integer(), nullable=True),
    sa.Column('reminded_at', sa.DateTime(), nullable=True),
    sa.Column('overdue_at', sa.DateTime(), nullable=True),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['answered_by_id'], ['users.id'], name=op.f('fk_objections_answered_by_id_users')),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_objections_created_by_id_users')),
    sa.ForeignKeyConstraint(['entry_id'], ['catalog_entries.id'], name=op.f('fk_objections_entry_id_catalog_entries')),
    sa.ForeignKeyConstraint(['forwarded_to_id'], ['departments.id'], name=op.f('fk_objections_forwarded_to_id_departments')),
    sa.ForeignKeyConstraint(['grant_id'], ['grants.id'], name=op.f('fk_objections_grant_id_grants')),
    sa.ForeignKeyConstraint(['provider_id'], ['departments.id'], name=op.f('fk_objections_provider_id_departments')),
    sa.ForeignKeyConstraint(['requester_id'], ['departments.id'], name=op.f('fk_objections_requester_id_departments')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_objections'))
    )
    with op.batch_alter_table('objections', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_objections_entry_id'), ['entry_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_objections_grant_id'), ['grant_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_objections_provider_id'), ['provider_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_objections_record_key'), ['record_key'], unique=False)
        batch_op.create_index(batch_op.f('ix_objections_requester_id'), ['requester_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_objections_status'), ['status'], unique=False)

    op.create_table('objection_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('objection_id', sa.Integer(), nullable=False),
    sa.Column('action', sa.String(length=30), nullable=False),
    sa.Column('from_status', sa.String(length=20), nullable=True),
    sa.Column('to_status', sa.String(length=20), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('actor_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['actor_id'], ['users.id'], name=op.f('fk_objection_events_actor_id_users')),
    sa.ForeignKeyConstraint(['objection_id'], ['objections.id'], name=op.f('fk_objection_events_objection_id_objections')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_objection_events'))
    )
    with op.batch_alter_table('objection_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_objection_events_objection_id'), ['objection_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('objection_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_objection_events_objection_id'))

    op.drop_table('objection_events')
    with op.batch_alter_table('objections', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_objections_status'))
        batch_op.drop_index(batch_op.f('ix_objections_requester_id'))
        batch_op.drop_index(batch_op.f('ix_objections_record_key'))
        batch_op.drop_index(batch_op.f('ix_objections_provider_id'))
        batch_op.drop_index(batch_op.f('ix_objections_grant_id'))
        batch_op.drop_index(batch_op.f('ix_objections_entry_id'))

    op.drop_table('objections')
