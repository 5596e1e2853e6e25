"""shared dev clock

Outside production every process on one database reads the same clock from `dev_clock`, so a
clock moved through one API instance is the clock of the other instances and of the scheduler.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-23 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


import app.db.base

revision: str = '0009'
down_revision: str | None = '0008'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('dev_clock',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('fixed_at', app.db.base.UtcDateTime(timezone=True), nullable=True),
    sa.Column('set_at', app.db.base.UtcDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_dev_clock'))
    )


def downgrade() -> None:
    op.drop_table('dev_clock')
