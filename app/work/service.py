"""The operator systems' work queue: network-side work (activate, suspend, terminate a SIM) that
the registry queues and the operators' own systems lease in batches, do, and report on.

An item is `queued` until a worker leases it; a lease lasts until `lease_until`, after which
the item is available again (to `lease()` at once, and to `release_expired()`, the job that
puts it back in the queue). What became of each item is recorded by `app.work.results`. No
function commits: each runs its statements in the caller's session, so a lease is one
transaction of the caller's choosing.

Everything that touches many items is one or a few set-based statements: an operator leases
thousands of items a minute. The statements that differ between the engines (locking, and
shaping the plan on PostgreSQL, whose statistics of a queue are always behind the queue) are in
`app.work.repository`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import (
    ColumnElement,
    Insert,
    Select,
    String,
    Table,
    func,
    literal,
    select,
    text,
    update,
)
from sqlalchemy.orm import Session, aliased

from app.db.base import UtcDateTime
from app.db.session import insert_ignoring_duplicates
from app.work import repository
from app.work.models import WorkItem, WorkKind, WorkStatus
from app.work.repository import NUMBERS

# The hot paths use the Core table: the rows they return need no ORM identity.
_TABLE = cast(Table, WorkItem.__table__)


@dataclass(frozen=True)
class LeasedItem:
    """One item handed to a worker, with the number's MSISDN the network needs."""

    id: int
    number_id: int
    msisdn: str
    kind: WorkKind
    lease_until: dt.datetime
    attempts: int


def enqueue(session: Session, *, number_ids: Select[int], kind: WorkKind, now: dt.datetime) -> int:
    """Queue one `kind` item for each selected number (its operator taken from the number),
    skipping numbers that already have an open (queued or leased) item of that kind. One
    INSERT … SELECT, so millions of numbers never reach Python. Returns how many were queued."""
    statement = queue_work(
        session, NUMBERS.c.id, NUMBERS.c.operator_id, NUMBERS, kind.value, now,
        NUMBERS.c.id.in_(number_ids),
    )  # fmt: skip
    # The driver's rowcount of an INSERT is dropped unless asked for.
    result = session.execute(statement.execution_options(preserve_rowcount=True))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


# At most one open item of a kind per number: the partial unique index the inserts rely on.
OPEN_ITEM_PREDICATE = "status IN ('queued', 'leased')"


def queue_work(
    session: Session,
    number_id: Any,
    operator_id: Any,
    source: Any,
    kind: str,
    at: dt.datetime,
    *where: Any,
) -> Insert:
    """INSERT … SELECT of one queued `kind` item per number of `source` (rows meeting `where`),
    skipping numbers that already have an open item of that kind: the partial unique index on
    open items is the arbiter (ON CONFLICT DO NOTHING), so the check costs one index probe per
    row and holds against concurrent writers too. Shared by `enqueue` and by the status machine,
    which queues work in the same statement that moves the numbers."""
    rows = select(
        operator_id,
        number_id,
        literal(kind, String()),
        literal(WorkStatus.QUEUED.value, String()),
        literal(0),
        literal(at, UtcDateTime()),
    ).select_from(source)
    # SQLite reads `INSERT … SELECT … ON CONFLICT` only when the SELECT has a WHERE.
    rows = rows.where(*where) if where else rows.where(literal(True))
    columns = ["operator_id", "number_id", "kind", "status", "attempts", "created_at"]
    return insert_ignoring_duplicates(
        session,
        WorkItem.__table__,
        index_elements=["number_id", "kind"],
        index_where=text(OPEN_ITEM_PREDICATE),
    ).from_select(columns, rows)


def _expired(
    item: type[WorkItem], *, now: dt.datetime, operator_id: int | None
) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = [
        item.status == WorkStatus.LEASED,
        item.lease_until < now,
    ]
    if operator_id is not None:
        conditions.insert(0, item.operator_id == operator_id)
    return conditions


def _requeue_expired(session: Session, *, now: dt.datetime, operator_id: int | None) -> int:
    """Put leased items whose lease ended back in the queue. `leased_by` stays, so the worker
    that held the lease can still report the work it did, until someone else leases the item."""
    inner = aliased(WorkItem)
    expired = select(inner.id).where(*_expired(inner, now=now, operator_id=operator_id))
    statement = repository.only_picked(session, update(_TABLE), expired)
    result = session.execute(statement.values(status=WorkStatus.QUEUED))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def release_expired(session: Session, *, now: dt.datetime) -> int:
    """The job that returns every item whose lease has ended to the queue; how many it moved.
    `lease()` treats such items as available anyway, so this only keeps the counts honest."""
    return _requeue_expired(session, now=now, operator_id=None)


def lease(
    session: Session,
    *,
    operator_id: int,
    worker: str,
    limit: int,
    now: dt.datetime,
    lease: dt.timedelta,
) -> list[LeasedItem]:
    """Lease up to `limit` of the operator's available items to `worker`, oldest first.

    Available means queued, or leased with a lease that has ended. Each leased item gets
    `lease_until = now + lease`, `leased_by = worker` and one more attempt. On PostgreSQL the
    items are picked with FOR UPDATE SKIP LOCKED inside the UPDATE, so workers leasing at the
    same moment never receive the same item and never wait for one another; SQLite has one
    writer at a time, so the same UPDATE is exclusive there by construction."""
    if limit < 1:
        return []
    # Expired leases go back to the queue first, so that the pick below is a single ordered
    # walk of the (operator_id, status, id) index instead of a sort of two kinds of rows.
    _requeue_expired(session, now=now, operator_id=operator_id)
    candidate = aliased(WorkItem)
    pick = (
        select(candidate.id)
        .where(
            repository.of_operator(session, candidate.operator_id, operator_id),
            candidate.status == WorkStatus.QUEUED,
        )
        .order_by(candidate.operator_id, candidate.id)
        .limit(limit)
    )
    table = _TABLE
    statement = repository.only_picked(session, update(table), pick).values(
        status=WorkStatus.LEASED,
        lease_until=now + lease,
        leased_by=worker,
        attempts=table.c.attempts + 1,
    )
    returned = [table.c.id, table.c.number_id, table.c.kind, table.c.lease_until, table.c.attempts]
    rows, msisdns = repository.leased_rows(session, statement, returned)
    items = [
        LeasedItem(
            id=row.id,
            number_id=row.number_id,
            msisdn=msisdns[row.number_id],
            kind=WorkKind(row.kind),
            lease_until=row.lease_until,
            attempts=row.attempts,
        )
        for row in rows
    ]
    # RETURNING follows no particular order; workers expect the oldest first.
    items.sort(key=lambda item: item.id)
    return items


def count_by_status(
    session: Session, *, operator_id: int, statuses: Iterable[WorkStatus] | None = None
) -> dict[WorkStatus, int]:
    """How many of the operator's items are in each status (every asked status, zeros too)."""
    wanted = list(statuses) if statuses is not None else list(WorkStatus)
    counts = dict.fromkeys(wanted, 0)
    rows = session.execute(
        select(WorkItem.status, func.count())
        .where(WorkItem.operator_id == operator_id, WorkItem.status.in_(wanted))
        .group_by(WorkItem.status)
    ).all()
    for status, count in rows:
        counts[WorkStatus(status)] = int(count)
    return counts


def expired_lease_count(session: Session, *, operator_id: int, now: dt.datetime) -> int:
    """How many of the operator's leased items hold a lease that has already ended."""
    count = session.scalar(
        select(func.count()).where(
            WorkItem.operator_id == operator_id,
            WorkItem.status == WorkStatus.LEASED,
            WorkItem.lease_until < now,
        )
    )
    return int(count or 0)
