"""numbers unique on (msisdn, operator_id); drop the msisdn and request-registration indexes

Every status change of a number writes a new entry into each of its indexes, and the matching
run changes a million numbers and decides a million requests. Two indexes duplicated others:

- `ix_numbers_msisdn`: the unique constraint, with msisdn first, answers the same look-ups (a
  person's claim by msisdn alone, uploads by msisdn and company, adding numbers by msisdn and
  operator).
- `ix_confirmation_requests_registration`: a registration's requests are found among its
  number's requests (`ix_confirmation_requests_number`), and its live request by the partial
  unique index on live requests.

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-23 05:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = '0013'
down_revision: str | None = '0012'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _numbers_keep_refusing_deletes() -> None:
    """SQLite rebuilds the table to change its unique constraint, and the copy has none of the
    old table's triggers: put back 0008's refusal to delete numbers."""
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS numbers_no_delete")
        op.execute(
            "CREATE TRIGGER numbers_no_delete BEFORE DELETE ON numbers "
            "BEGIN SELECT RAISE(ABORT, 'numbers rows are never deleted; they leave by status'); END"
        )


def upgrade() -> None:
    with op.batch_alter_table('numbers', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_numbers_msisdn'))
        batch_op.drop_constraint(batch_op.f('uq_numbers_operator_id_msisdn'), type_='unique')
        batch_op.create_unique_constraint(
            batch_op.f('uq_numbers_msisdn_operator_id'), ['msisdn', 'operator_id']
        )
    _numbers_keep_refusing_deletes()
    with op.batch_alter_table('confirmation_requests', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_confirmation_requests_registration'))


def downgrade() -> None:
    with op.batch_alter_table('confirmation_requests', schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f('ix_confirmation_requests_registration'), ['registration_id'], unique=False
        )
    with op.batch_alter_table('numbers', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_numbers_msisdn_operator_id'), type_='unique')
        batch_op.create_unique_constraint(
            batch_op.f('uq_numbers_operator_id_msisdn'), ['operator_id', 'msisdn']
        )
        batch_op.create_index(batch_op.f('ix_numbers_msisdn'), ['msisdn'], unique=False)
    _numbers_keep_refusing_deletes()
