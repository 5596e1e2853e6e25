"""numbers: an msisdn in the registry is held by one operator at a time

Numbers were unique per (msisdn, operator) only, so a second operator could add a number the
first one held, for the same company or another: the company then had the number twice, and
its next upload refused a one-row file for naming the number twice.

A number that has left the registry (terminated, transferred) gives its msisdn up, so the
guarantee is a unique index on msisdn over the numbers still in it. Its predicate is a new
column, `left_registry`, that the status machine sets with the move out, not the status
itself: a column in an index predicate makes every change of it a non-HOT update on
PostgreSQL, and the status changes with every move (0017), while `left_registry` changes
once in a number's life.

Adding the column with a constant default rewrites nothing on PostgreSQL; numbers that have
left already are marked, then the index is built in one pass over the table, during which
writes to numbers wait. A registry where two operators already hold the same
msisdn refuses the upgrade and lists the msisdns: operator staff decide which number leaves
(deploy/README.md).

Revision ID: 0020
Revises: 0018
Create Date: 2026-12-04 12:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0020'
down_revision: str | None = '0018'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_SHOWN = 20
_LEFT = "('terminated', 'transferred')"


def upgrade() -> None:
    # Checked before anything changes: SQLite's DDL is not rolled back with a failed upgrade.
    held_twice = [
        row[0]
        for row in op.get_bind().execute(
            sa.text(
                f'SELECT msisdn FROM numbers WHERE status NOT IN {_LEFT}'
                ' GROUP BY msisdn HAVING count(*) > 1 ORDER BY msisdn'
            )
        )
    ]
    if held_twice:
        shown = ', '.join(held_twice[:_SHOWN]) + (' …' if len(held_twice) > _SHOWN else '')
        raise RuntimeError(
            f'{len(held_twice)} msisdn(s) are held by two operators at once ({shown}); move '
            'the number that is not the operator\'s to terminated or transferred '
            '(POST /api/v1/numbers/{id}/status), then migrate again (deploy/README.md)'
        )
    op.add_column(
        'numbers',
        sa.Column('left_registry', sa.Boolean(), server_default=sa.text('false'), nullable=False),
    )
    op.execute(f'UPDATE numbers SET left_registry = true WHERE status IN {_LEFT}')
    op.create_index(
        'uq_numbers_msisdn_in_registry',
        'numbers',
        ['msisdn'],
        unique=True,
        sqlite_where=sa.text('NOT left_registry'),
        postgresql_where=sa.text('NOT left_registry'),
        postgresql_with={'fillfactor': 50},
    )


def downgrade() -> None:
    op.drop_index('uq_numbers_msisdn_in_registry', table_name='numbers')
    op.drop_column('numbers', 'left_registry')
