"""confirmation requests: a send queue per operator, a send allowance shared by dispatchers; no deadline scratch table

The dispatcher reads each operator's queued requests oldest first; the (operator_id, id)
index over the queued ones alone serves that read from its head, and counts a request's
place in the queue. Every dispatcher takes its share of the portal's rate from one row per
operator (`portal_send_allowances`), locked while it takes it. The sandbox portal finds a
request sent again by the registry's own id (unique: delivered once). A person sees every
request that named them, so PostgreSQL indexes them all by document (not only live ones); a
company admin's report counts the company's requests on their way by status.

Deadlines are worked out in one pass over the numbers (a statement that reads each rule's
deadline per number and writes the latest): the batch table `deadline_scratch` goes.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-04 22:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.db.base

revision: str = '0018'
down_revision: str | None = '0017'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_QUEUED = "status = 'queued'"
_LIVE = "status IN ('queued', 'sent', 'answered')"


def upgrade() -> None:
    op.drop_table('deadline_scratch')
    op.drop_index('ix_confirmation_requests_status_next', table_name='confirmation_requests')
    op.create_index(
        'ix_confirmation_requests_queue',
        'confirmation_requests',
        ['operator_id', 'id'],
        sqlite_where=sa.text(_QUEUED),
        postgresql_where=sa.text(_QUEUED),
    )
    if op.get_bind().dialect.name == 'postgresql':
        op.drop_index('ix_confirmation_requests_doc_hash', table_name='confirmation_requests')
        op.create_index(
            'ix_confirmation_requests_doc_hash', 'confirmation_requests', ['doc_hash']
        )
    op.create_index(
        'ix_confirmation_requests_company_live',
        'confirmation_requests',
        ['subscriber_id', 'status'],
        sqlite_where=sa.text(_LIVE),
        postgresql_where=sa.text(_LIVE),
    )
    op.create_index(
        'uq_sandbox_portal_deliveries_request_id',
        'sandbox_portal_deliveries',
        ['request_id'],
        unique=True,
    )
    op.create_table(
        'portal_send_allowances',
        sa.Column(
            'operator_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False
        ),
        sa.Column('tokens', sa.Float(), nullable=False),
        sa.Column('refilled_at', app.db.base.UtcDateTime(timezone=True), nullable=False),
        sa.Column('refilled_wall_at', app.db.base.UtcDateTime(timezone=True), nullable=False),
        sa.Column('paused_until', app.db.base.UtcDateTime(timezone=True), nullable=True),
        sa.Column('failures', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ['operator_id'],
            ['operators.id'],
            name=op.f('fk_portal_send_allowances_operator_id_operators'),
        ),
        sa.PrimaryKeyConstraint('operator_id', name=op.f('pk_portal_send_allowances')),
    )


def downgrade() -> None:
    op.create_table(
        'deadline_scratch',
        sa.Column(
            'number_id',
            sa.BigInteger().with_variant(sa.Integer(), 'sqlite'),
            autoincrement=False,
            nullable=False,
        ),
        sa.Column('deadline_at', app.db.base.UtcDateTime(timezone=True), nullable=True),
        sa.Column(
            'rule_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True
        ),
        sa.PrimaryKeyConstraint('number_id', name=op.f('pk_deadline_scratch')),
    )
    op.drop_table('portal_send_allowances')
    op.drop_index(
        'uq_sandbox_portal_deliveries_request_id', table_name='sandbox_portal_deliveries'
    )
    if op.get_bind().dialect.name == 'postgresql':
        op.drop_index('ix_confirmation_requests_doc_hash', table_name='confirmation_requests')
        op.create_index(
            'ix_confirmation_requests_doc_hash',
            'confirmation_requests',
            ['doc_hash'],
            postgresql_where=sa.text("status IN ('queued', 'sent', 'answered')"),
        )
    op.drop_index('ix_confirmation_requests_company_live', table_name='confirmation_requests')
    op.drop_index('ix_confirmation_requests_queue', table_name='confirmation_requests')
    op.create_index(
        'ix_confirmation_requests_status_next',
        'confirmation_requests',
        ['status', 'next_attempt_at'],
        postgresql_where=sa.text(_QUEUED),
    )
