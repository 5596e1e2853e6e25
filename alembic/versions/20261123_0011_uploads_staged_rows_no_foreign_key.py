"""no foreign key on upload staged rows

An upload stages up to a million rows per file, all of one upload that the worker has just
read and that is never deleted (its staged rows are deleted by the worker itself); the
per-row foreign-key check was more than a third of PostgreSQL's time to take them in.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-23 02:08:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = '0011'
down_revision: str | None = '0010'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('upload_staged_rows', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_upload_staged_rows_upload_id_uploads'), type_='foreignkey')


def downgrade() -> None:
    with op.batch_alter_table('upload_staged_rows', schema=None) as batch_op:
        batch_op.create_foreign_key(batch_op.f('fk_upload_staged_rows_upload_id_uploads'), 'uploads', ['upload_id'], ['id'], ondelete='CASCADE')
