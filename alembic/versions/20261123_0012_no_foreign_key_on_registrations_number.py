"""no foreign key on registrations.number_id

An upload inserts a registration for each accepted row, up to a million per file, for numbers
it has just looked up; the per-row foreign-key check on numbers was part of the cost. Numbers
are never deleted (0008: triggers refuse it), so the check guards against nothing.

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-23 03:10:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = '0012'
down_revision: str | None = '0011'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('registrations', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_registrations_number_id_numbers'), type_='foreignkey')


def downgrade() -> None:
    with op.batch_alter_table('registrations', schema=None) as batch_op:
        batch_op.create_foreign_key(batch_op.f('fk_registrations_number_id_numbers'), 'numbers', ['number_id'], ['id'])
