"""numbers on PostgreSQL: moves of status and new users become HOT updates

A number given a new user or a new status was written again with a new entry in each of its
five indexes, because two of them held the status and one was kept only for numbers marked
deadline-stale (a mark a new user sets). An upload or a matching run of a million numbers
wrote five million index entries, most of the work of the server process that moves them.

PostgreSQL writes a new version without touching any index (a HOT update) when no indexed
column changes and the page has room for it. So, on PostgreSQL only:

- the company's index becomes (subscriber_id, id): a company's listing pages in id order
  and its reports, which now read the status from the rows;
- the index of statuses and deadlines goes: the deadline run and the reports pass over the
  numbers by ranges of id or by company;
- the index of deadline-stale numbers goes: the deadline run finds them in its pass by id;
- each page of the table keeps half its room free (it kept 15%), for the new version of each
  of its numbers. The table is about twice the size.

Moving a million numbers in an upload then took the moving server process from 9.8 to 4.8
CPU-seconds. SQLite has no HOT update and keeps its indexes.

Pages written from now on follow the fillfactor; an existing registry rewrites the table
once to take it everywhere (deploy/README.md), which this migration does not do, because it
would hold the table for minutes.

Revision ID: 0017
Revises: 0016
Create Date: 2026-11-23 19:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = '0017'
down_revision: str | None = '0016'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_DEADLINE_STATUSES = (
    "status IN ('unregistered', 'pending_confirmation', 'mismatch', 'declined', 'expired',"
    " 'suspended')"
)


def upgrade() -> None:
    if op.get_bind().dialect.name != 'postgresql':
        return
    op.create_index('ix_numbers_subscriber_id', 'numbers', ['subscriber_id', 'id'])
    op.drop_index('ix_numbers_subscriber_status', table_name='numbers')
    op.drop_index('ix_numbers_status_deadline', table_name='numbers')
    op.drop_index('ix_numbers_deadline_stale', table_name='numbers')
    op.execute('ALTER TABLE numbers SET (fillfactor = 50)')


def downgrade() -> None:
    if op.get_bind().dialect.name != 'postgresql':
        return
    op.execute('ALTER TABLE numbers SET (fillfactor = 85)')
    op.execute(
        'CREATE INDEX ix_numbers_deadline_stale ON numbers (id) WITH (fillfactor = 50)'
        ' WHERE deadline_stale'
    )
    op.execute(
        'CREATE INDEX ix_numbers_status_deadline ON numbers (status, deadline_at)'
        f' WHERE {_DEADLINE_STATUSES}'
    )
    op.create_index('ix_numbers_subscriber_status', 'numbers', ['subscriber_id', 'status'])
    op.drop_index('ix_numbers_subscriber_id', table_name='numbers')
