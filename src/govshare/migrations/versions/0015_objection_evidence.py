"""objection evidence and the gateway's index of open objections (issue 15, R13)

- `objections.evidence_*`: the evidence file a requester attaches (stored name in the managed store, the name it
  was uploaded under, its checked media type, size and SHA-256).
- `ix_objections_entry_status_key`: the gateway asks, on a call of an entry with open objections, which of the
  served keys are under verification.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-13 10:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('objections', schema=None) as batch_op:
        batch_op.add_column(sa.Column('evidence_stored', sa.String(length=80), nullable=True))
        batch_op.add_column(sa.Column('evidence_filename', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('evidence_media_type', sa.String(length=60), nullable=True))
        batch_op.add_column(sa.Column('evidence_size', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('evidence_sha256', sa.String(length=64), nullable=True))
        batch_op.create_index('ix_objections_entry_status_key', ['entry_id', 'status', 'record_key'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('objections', schema=None) as batch_op:
        batch_op.drop_index('ix_objections_entry_status_key')
        batch_op.drop_column('evidence_sha256')
        batch_op.drop_column('evidence_size')
        batch_op.drop_column('evidence_media_type')
        batch_op.drop_column('evidence_filename')
        batch_op.drop_column('evidence_stored')

