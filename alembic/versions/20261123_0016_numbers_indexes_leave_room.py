"""numbers: the indexes a change of user leaves unchanged keep half of each leaf free

A number given a new user or status is written again (the status is in two of its indexes, so
the write cannot be a HOT update), and each of its indexes takes a second entry beside the
first: the id, the msisdn and the deadline-stale mark keep their values. When a full leaf
takes that second entry, PostgreSQL first tries to free room by removing old versions
(bottom-up deletion), which frees nothing while the old versions are still in use, and then
splits the leaf: about a tenth of an upload's or a matching run's moves of a million numbers.
With half of each leaf free, the second entries fit where they belong until VACUUM clears the
first ones. The indexes are about twice the size (the primary key of a million numbers
seeded in order: 40 MB).

Pages written from now on follow the setting; an existing registry takes it for the whole
index with `REINDEX INDEX CONCURRENTLY` (see deploy/README.md), which this migration does not
run, because it would hold the table for minutes. SQLite has no such setting.

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-23 16:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = '0016'
down_revision: str | None = '0015'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ROOMY_INDEXES = ('pk_numbers', 'uq_numbers_msisdn_operator_id', 'ix_numbers_deadline_stale')


def upgrade() -> None:
    if op.get_bind().dialect.name != 'postgresql':
        return
    for name in ROOMY_INDEXES:
        op.execute(f'ALTER INDEX {name} SET (fillfactor = 50)')


def downgrade() -> None:
    if op.get_bind().dialect.name != 'postgresql':
        return
    for name in ROOMY_INDEXES:
        op.execute(f'ALTER INDEX {name} RESET (fillfactor)')
