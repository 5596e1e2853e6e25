"""the send allowance fills on the registry's clock alone

The per-operator send allowance kept a second refill time on the wall clock to tell a move of
the dev clock from time that passed. Whether the clock stands at a set moment now says that
directly, so the wall-clock column goes.

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-05 01:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.db.base

revision: str = '0022'
down_revision: str | None = '0021'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('portal_send_allowances') as batch_op:
        batch_op.drop_column('refilled_wall_at')


def downgrade() -> None:
    with op.batch_alter_table('portal_send_allowances') as batch_op:
        batch_op.add_column(
            sa.Column(
                'refilled_wall_at',
                app.db.base.UtcDateTime(timezone=True),
                nullable=False,
                server_default=sa.func.current_timestamp(),
            )
        )
