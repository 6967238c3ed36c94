"""a dispute step referred to the higher node has no handler on this node (R08, R16; issue 12)

A party of a dispute (the requester's or the provider's department) never settles it. When no competent
authority of this node other than the parties is left for a level, the step is referred to the higher node
(status `referred`) and has no local handler: `dispute_steps.handler_id` becomes nullable.

NOTE (issue 12): written while 0006 and 0007 were written in parallel; chained after 0007 (see the report).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07 06:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('dispute_steps', schema=None) as batch_op:
        batch_op.alter_column('handler_id', existing_type=sa.Integer(), nullable=True)


def downgrade() -> None:
    # a referred step has no local handler to put back; going down would invent one (a party, or a department
    # that never received it), so it is refused while such steps exist
    referred = op.get_bind().execute(sa.text("SELECT COUNT(*) FROM dispute_steps WHERE handler_id IS NULL")).scalar()
    if referred:
        raise RuntimeError(f"{referred} dispute step(s) referred to the higher node have no handler on this node; "
                           "settle or remove them before downgrading below 0008")
    with op.batch_alter_table('dispute_steps', schema=None) as batch_op:
        batch_op.alter_column('handler_id', existing_type=sa.Integer(), nullable=False)
