"""uploads keep their header by column, and their failure as a code with values

The error file and the list of first errors name each column as the admin's file wrote it,
in the reader's language: the header is kept by column when the file is read. A file refused
whole keeps the code and values of its reason, so it is worded when read (Russian by default,
English on request) instead of once, in English, when it failed.

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-05 09:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0023'
down_revision: str | None = '0022'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# Plain ALTER TABLE on both engines (SQLite has DROP COLUMN since 3.35): a batch copy of
# `uploads` on SQLite would drop the table its refused rows cascade from, and them with it.


def upgrade() -> None:
    op.add_column('uploads', sa.Column('header_names', sa.JSON(), nullable=True))
    op.add_column('uploads', sa.Column('failure_text', sa.JSON(), nullable=True))


def downgrade() -> None:
    op.drop_column('uploads', 'failure_text')
    op.drop_column('uploads', 'header_names')
