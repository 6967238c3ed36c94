"""catalog entries keep the tags and industry of a portal and its page (issue 13)

Real portals tag their entries (标签, 行业分类, 所属行业) and publish each on a page of their own (url). The
tags are searchable and the page is shown on the entry as its source page.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07 13:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('catalog_entries', schema=None) as batch_op:
        batch_op.add_column(sa.Column('tags', sa.String(length=500), nullable=False, server_default=''))
        batch_op.add_column(sa.Column('source_url', sa.String(length=500), nullable=False, server_default=''))


def downgrade() -> None:
    with op.batch_alter_table('catalog_entries', schema=None) as batch_op:
        batch_op.drop_column('source_url')
        batch_op.drop_column('tags')
