"""narrower indexes for bulk moves

A matching run activates a million numbers and decides a million requests; every index entry it
writes costs. On PostgreSQL the indexes that serve one stage of a row's life keep only the rows
in that stage (numbers a deadline can still reach; queued or sent requests; live requests by
document, which is how a person lists theirs; leased work items),
and two indexes nothing reads are dropped: numbers by contract, work items by number (the
partial unique index on open items serves the look-ups by number).

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-23 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0010'
down_revision: str | None = '0009'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_DEADLINE = (
    "status IN ('unregistered', 'pending_confirmation', 'mismatch', 'declined', 'expired', "
    "'suspended')"
)
_PARTIAL = [
    ("numbers", "ix_numbers_status_deadline", ["status", "deadline_at"], _DEADLINE),
    (
        "confirmation_requests",
        "ix_confirmation_requests_status_next",
        ["status", "next_attempt_at"],
        "status = 'queued'",
    ),
    (
        "confirmation_requests",
        "ix_confirmation_requests_status_expires",
        ["status", "expires_at"],
        "status IN ('queued', 'sent')",
    ),
    (
        "confirmation_requests",
        "ix_confirmation_requests_doc_hash",
        ["doc_hash"],
        "status IN ('queued', 'sent', 'answered')",
    ),
    ("work_items", "ix_work_items_status_lease", ["status", "lease_until"], "status = 'leased'"),
]


def upgrade() -> None:
    op.drop_index("ix_numbers_contract_id", table_name="numbers")
    op.drop_index("ix_work_items_number_kind", table_name="work_items")
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, name, columns, where in _PARTIAL:
        op.drop_index(name, table_name=table)
        op.create_index(name, table, columns, postgresql_where=sa.text(where))


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table, name, columns, _ in _PARTIAL:
            op.drop_index(name, table_name=table)
            op.create_index(name, table, columns)
    op.create_index("ix_work_items_number_kind", "work_items", ["number_id", "kind"])
    op.create_index("ix_numbers_contract_id", "numbers", ["contract_id"])
