"""upload staged rows keyed by (upload_id, row_no)

A staged row is one row of one upload's file, so (upload_id, row_no) identifies it; the
surrogate id and the separate (upload_id, row_no) index were two index entries per staged
row, written a million times per list and deleted again once it is applied.

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-23 05:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0014'
down_revision: str | None = '0013'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('upload_staged_rows', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_upload_staged_rows_upload_row'))
        batch_op.drop_constraint(batch_op.f('pk_upload_staged_rows'), type_='primary')
        batch_op.drop_column('id')
        batch_op.create_primary_key(batch_op.f('pk_upload_staged_rows'), ['upload_id', 'row_no'])


def downgrade() -> None:
    with op.batch_alter_table('upload_staged_rows', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('pk_upload_staged_rows'), type_='primary')
        batch_op.add_column(
            sa.Column(
                'id',
                sa.BigInteger().with_variant(sa.Integer(), 'sqlite'),
                sa.Identity(),
                nullable=False,
            )
        )
        batch_op.create_primary_key(batch_op.f('pk_upload_staged_rows'), ['id'])
        batch_op.create_index(
            batch_op.f('ix_upload_staged_rows_upload_row'), ['upload_id', 'row_no'], unique=False
        )
