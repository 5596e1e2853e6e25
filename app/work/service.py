"""The operator systems' work queue: network-side work (activate, suspend, terminate a SIM) that
the registry queues and the operators' own systems lease in batches, do, and report on.

An item is `queued` until a worker leases it; a lease lasts until `lease_until`, after which
the item is available again (to `lease()` at once, and to `release_expired()`, the job that
puts it back in the queue). A result is recorded once: posting the same result again is
harmless, a different one is a conflict. No function commits: each runs its statements in the
caller's session, so a lease or a batch of results is one transaction of the caller's choosing.

Everything that touches many items is one or a few set-based statements: an operator posts
1,000 results at a time and leases thousands of items a minute. On PostgreSQL the statements
are shaped so that the planner reaches rows through the right index whatever its statistics
say, because the statistics of a queue are always behind the queue.
"""

from __future__ import annotations

import datetime as dt
import enum
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, cast

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Insert,
    Select,
    String,
    Table,
    Text,
    Update,
    and_,
    any_,
    bindparam,
    case,
    column,
    false,
    func,
    literal,
    select,
    text,
    true,
    update,
)
from sqlalchemy import cast as sql_cast
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session, aliased

from app.core.errors import Conflict, NotFound
from app.db.base import UtcDateTime
from app.db.session import insert_ignoring_duplicates, is_postgres
from app.numbers.models import PhoneNumber
from app.work.models import WorkItem, WorkKind, WorkStatus

Outcome = Literal["done", "failed"]

# A queued or leased item is still open; done and failed are final.
OPEN_STATUSES = (WorkStatus.QUEUED, WorkStatus.LEASED)
FINAL_STATUSES = (WorkStatus.DONE, WorkStatus.FAILED)
_FINAL_BY_OUTCOME = {"done": WorkStatus.DONE, "failed": WorkStatus.FAILED}
# Keeps each statement's bound parameters far below SQLite's and psycopg's limits.
_CHUNK = 5_000
# The hot paths use the Core table: the rows they return need no ORM identity.
_TABLE = cast(Table, WorkItem.__table__)
_BIGINTS = postgresql.ARRAY(BigInteger())
_TEXTS = postgresql.ARRAY(Text())


@dataclass(frozen=True)
class LeasedItem:
    """One item handed to a worker, with the number's MSISDN the network needs."""

    id: int
    number_id: int
    msisdn: str
    kind: WorkKind
    lease_until: dt.datetime
    attempts: int


@dataclass(frozen=True)
class ResultIn:
    """One result a worker reports."""

    item_id: int
    outcome: Outcome
    detail: str | None = None


class ResultStatus(enum.StrEnum):
    """What became of one reported result."""

    RECORDED = "recorded"  # stored now
    UNCHANGED = "unchanged"  # the same result was stored before; nothing changed
    CONFLICT = "conflict"  # a different result is stored, or the item belongs to another lease
    NOT_FOUND = "not_found"  # no such item for this operator


@dataclass(frozen=True)
class ResultOutcome:
    """The answer to one reported result."""

    item_id: int
    status: ResultStatus
    item_status: WorkStatus | None
    message: str | None = None


@dataclass(frozen=True)
class _Stored:
    """The part of a stored item that decides whether a result may be recorded."""

    status: WorkStatus
    leased_by: str | None
    attempts: int
    outcome: str | None
    detail: str | None


def _result_json(outcome: str, detail: str | None) -> dict[str, object]:
    return {"outcome": outcome, "detail": detail}


def enqueue(session: Session, *, number_ids: Select[int], kind: WorkKind, now: dt.datetime) -> int:
    """Queue one `kind` item for each selected number (its operator taken from the number),
    skipping numbers that already have an open (queued or leased) item of that kind. One
    INSERT … SELECT, so millions of numbers never reach Python. Returns how many were queued."""
    statement = queue_work(
        PhoneNumber.id, PhoneNumber.operator_id, PhoneNumber.__table__, kind.value, now,
        PhoneNumber.id.in_(number_ids), dialect=session.get_bind().dialect.name,
    )  # fmt: skip
    # The driver's rowcount of an INSERT is dropped unless asked for.
    result = session.execute(statement.execution_options(preserve_rowcount=True))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


# At most one open item of a kind per number: the partial unique index the inserts rely on.
OPEN_ITEM_PREDICATE = "status IN ('queued', 'leased')"


def queue_work(
    number_id: Any,
    operator_id: Any,
    source: Any,
    kind: str,
    at: dt.datetime,
    *where: Any,
    dialect: str,
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
        dialect,
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


def _only_picked(session: Session, statement: Update, picked: Select[int]) -> Update:
    """Narrow an UPDATE of work items to the ids `picked` selects from an alias of the table.

    The pick alone decides which rows change, so the UPDATE reaches them by primary key
    whatever the planner believes about the table (a freshly filled queue has no statistics
    yet). On PostgreSQL the pick locks its rows with FOR UPDATE SKIP LOCKED: rows another
    transaction is leasing or finishing are passed over instead of waited for, and a row that
    changed since the statement's snapshot is checked again against the pick's WHERE before it
    is locked, so only rows that still qualify are taken. It runs once, as ARRAY(subquery): a
    plain IN (subquery) may be rescanned, and a rescan skips the rows this very UPDATE just
    changed and picks further ones, past any LIMIT. SQLite has one writer at a time and
    evaluates IN (SELECT …) once."""
    if is_postgres(session):
        ids = func.array(
            picked.with_for_update(skip_locked=True).scalar_subquery(),
            type_=_BIGINTS,
        )
        return statement.where(_TABLE.c.id == any_(ids))
    return statement.where(_TABLE.c.id.in_(picked.scalar_subquery()))


def _requeue_expired(session: Session, *, now: dt.datetime, operator_id: int | None) -> int:
    """Put leased items whose lease ended back in the queue. `leased_by` stays, so the worker
    that held the lease can still report the work it did, until someone else leases the item."""
    inner = aliased(WorkItem)
    expired = select(inner.id).where(*_expired(inner, now=now, operator_id=operator_id))
    statement = _only_picked(session, update(_TABLE), expired)
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
    of_operator = candidate.operator_id == operator_id
    if is_postgres(session):
        # `= ANY(ARRAY[operator_id])`, not `= operator_id`: with a plain equality the planner
        # treats operator_id as a constant and may take ORDER BY id from the primary key,
        # walking every finished item before the first queued one whenever its statistics
        # still say "mostly queued". This way only the (operator_id, status, id) index yields
        # the requested order, and the walk starts at the head of the queue.
        of_operator = candidate.operator_id == any_(
            bindparam("b_operators", [operator_id], _BIGINTS)
        )
    pick = (
        select(candidate.id)
        .where(of_operator, candidate.status == WorkStatus.QUEUED)
        .order_by(candidate.operator_id, candidate.id)
        .limit(limit)
    )
    until = now + lease
    table = _TABLE
    statement = _only_picked(session, update(table), pick).values(
        status=WorkStatus.LEASED,
        lease_until=until,
        leased_by=worker,
        attempts=table.c.attempts + 1,
    )
    returned = [
        table.c.id,
        table.c.number_id,
        table.c.kind,
        table.c.lease_until,
        table.c.attempts,
    ]
    if is_postgres(session):
        # A primary-key look-up per returned row: no plan to go wrong, no second round trip.
        msisdn = (
            select(PhoneNumber.msisdn)
            .where(PhoneNumber.id == table.c.number_id)
            .scalar_subquery()
            .label("msisdn")
        )
        rows = session.execute(statement.returning(*returned, msisdn)).all()
        msisdns = {row.number_id: row.msisdn for row in rows}
    else:
        rows = session.execute(statement.returning(*returned)).all()
        # SQLite's RETURNING may name only the updated table.
        msisdns = _msisdns(session, [row.number_id for row in rows])
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


def _msisdns(session: Session, number_ids: Sequence[int]) -> dict[int, str]:
    found: dict[int, str] = {}
    for start in range(0, len(number_ids), _CHUNK):
        chunk = list(set(number_ids[start : start + _CHUNK]))
        rows = session.execute(
            select(PhoneNumber.id, PhoneNumber.msisdn).where(PhoneNumber.id.in_(chunk))
        )
        found.update({row.id: row.msisdn for row in rows})
    return found


def _load(session: Session, *, operator_id: int, ids: Sequence[int]) -> dict[int, _Stored]:
    """The deciding state of the operator's items among `ids` (others are simply absent)."""
    table = _TABLE
    found: dict[int, _Stored] = {}
    for start in range(0, len(ids), _CHUNK):
        rows = session.execute(
            select(
                table.c.id, table.c.status, table.c.leased_by, table.c.attempts, table.c.result
            ).where(table.c.id.in_(ids[start : start + _CHUNK]), table.c.operator_id == operator_id)
        ).all()
        for row in rows:
            result = row.result or {}
            found[row.id] = _Stored(
                status=WorkStatus(row.status),
                leased_by=row.leased_by,
                attempts=row.attempts,
                outcome=_str_or_none(result.get("outcome")),
                detail=_str_or_none(result.get("detail")),
            )
    return found


def _str_or_none(value: Any) -> str | None:
    return None if value is None else str(value)


def _decide(
    item_id: int, stored: _Stored | None, wanted: ResultIn, worker: str | None
) -> ResultOutcome | None:
    """The answer for a result that cannot be recorded, or None when it may be."""
    if stored is None:
        return ResultOutcome(
            item_id, ResultStatus.NOT_FOUND, None, f"Work item {item_id} was not found."
        )
    if stored.status in FINAL_STATUSES:
        if stored.outcome == wanted.outcome and stored.detail == wanted.detail:
            return ResultOutcome(item_id, ResultStatus.UNCHANGED, stored.status)
        return ResultOutcome(
            item_id,
            ResultStatus.CONFLICT,
            stored.status,
            f"Work item {item_id} already has the result '{stored.outcome}'"
            + (f" ({stored.detail})" if stored.detail else "")
            + "; a result is recorded once.",
        )
    if stored.attempts == 0:
        return ResultOutcome(
            item_id,
            ResultStatus.CONFLICT,
            stored.status,
            f"Work item {item_id} has not been leased yet; lease it before reporting on it.",
        )
    if worker is not None and stored.leased_by != worker:
        # The caller's lease ended and another worker took the item: the result is theirs now.
        return ResultOutcome(
            item_id,
            ResultStatus.CONFLICT,
            stored.status,
            f"Work item {item_id} is leased by another worker since your lease ended; "
            "its result belongs to that lease.",
        )
    return None


def record_results(
    session: Session,
    *,
    operator_id: int,
    worker: str | None,
    results: Sequence[ResultIn],
    now: dt.datetime,
) -> list[ResultOutcome]:
    """Record a batch of results; one answer per result, in the order given.

    A result is recorded when its item belongs to the operator, is open, and was last leased
    by `worker`: even when that lease has ended, as long as no other worker has leased the
    item since, because the work was done. `worker=None` speaks for whoever holds the lease.
    The same result posted again is `unchanged`; a different result for a finished item, or
    one for an item another worker leased since, is a `conflict`. An item named twice in one
    batch is judged, the second time, against what the first stored.

    The write comes first and is conditional (one statement on PostgreSQL, one per distinct
    result on SQLite), each row checked and changed atomically; only the items it refused are
    read back, to say why. A batch of good results is therefore a single round trip."""
    first_at: dict[int, int] = {}
    for index, wanted in enumerate(results):
        first_at.setdefault(wanted.item_id, index)
    firsts = [results[index] for index in first_at.values()]
    written = _write(session, operator_id=operator_id, worker=worker, items=firsts, now=now)
    stored = _load(session, operator_id=operator_id, ids=[i for i in first_at if i not in written])
    answers: list[ResultOutcome] = []
    for index, wanted in enumerate(results):
        item_id = wanted.item_id
        first = results[first_at[item_id]]
        if item_id in written and index == first_at[item_id]:
            answers.append(
                ResultOutcome(item_id, ResultStatus.RECORDED, _FINAL_BY_OUTCOME[wanted.outcome])
            )
            continue
        if item_id in written:
            # A repeat of an item this batch has just finished: judged against that result.
            now_stored: _Stored | None = _Stored(
                _FINAL_BY_OUTCOME[first.outcome], worker, 1, first.outcome, first.detail
            )
        else:
            now_stored = stored.get(item_id)
        answer = _decide(item_id, now_stored, wanted, worker)
        if answer is None:
            # Recordable by what is stored now, yet the write refused it: another transaction
            # changed the item in between.
            answer = ResultOutcome(
                item_id,
                ResultStatus.CONFLICT,
                None if now_stored is None else now_stored.status,
                f"Work item {item_id} changed while this result was being recorded; "
                "read it and retry.",
            )
        answers.append(answer)
    return answers


def _write(
    session: Session,
    *,
    operator_id: int,
    worker: str | None,
    items: Sequence[ResultIn],
    now: dt.datetime,
) -> set[int]:
    """Store the results whose items may take them; the ids stored. The WHERE holds every
    condition `_decide` checks, so each row is judged and changed in one step."""
    if not items:
        return set()
    table = _TABLE
    may_take: list[ColumnElement[bool]] = [
        table.c.operator_id == operator_id,
        table.c.status.in_(OPEN_STATUSES),
        table.c.attempts > 0,
    ]
    if worker is not None:
        may_take.append(table.c.leased_by == worker)
    written: set[int] = set()
    if is_postgres(session):
        # One statement for the whole batch, whatever the mix of results: the batch travels
        # as three parallel arrays, joined to the table by id. A queue's statistics always
        # lag behind it, and a planner trusting them may scan every open item of the operator
        # (or the whole table) to write 1,000 rows. So the ids are also given as
        # ARRAY(SELECT unnest(ids)), whose length the planner cannot see and takes for small,
        # which makes the primary key the way in; and the conditions sit in a CASE, which it
        # cannot match to an index either.
        may_take_now = case((and_(*may_take), true()), else_=false())
        for start in range(0, len(items), _CHUNK):
            chunk = items[start : start + _CHUNK]
            item_ids = bindparam("b_ids", [i.item_id for i in chunk], type_=_BIGINTS)
            statuses = [_FINAL_BY_OUTCOME[i.outcome].value for i in chunk]
            results = [json.dumps(_result_json(i.outcome, i.detail)) for i in chunk]
            batch = (
                func.unnest(
                    item_ids,
                    bindparam("b_statuses", statuses, type_=_TEXTS),
                    bindparam("b_results", results, type_=_TEXTS),
                )
                .table_valued(
                    column("id", BigInteger()), column("status", Text()), column("result", Text())
                )
                .render_derived(name="batch")
            )
            rows = session.execute(
                update(table)
                .where(
                    table.c.id == batch.c.id,
                    table.c.id
                    == any_(
                        func.array(select(func.unnest(item_ids)).scalar_subquery(), type_=_BIGINTS)
                    ),
                    may_take_now,
                )
                .values(
                    status=batch.c.status,
                    result=sql_cast(batch.c.result, postgresql.JSON()),
                    done_at=now,
                )
                .returning(table.c.id)
            )
            written.update(rows.scalars())
        return written
    # SQLite: one statement per distinct result (usually one or two per batch), each naming
    # its items by id; SQLite statements cost a function call, not a network round trip.
    groups: dict[tuple[str, str | None], list[int]] = {}
    for item in items:
        groups.setdefault((item.outcome, item.detail), []).append(item.item_id)
    for (outcome, detail), ids in groups.items():
        for start in range(0, len(ids), _CHUNK):
            rows = session.execute(
                update(table)
                .where(table.c.id.in_(ids[start : start + _CHUNK]), *may_take)
                .values(
                    status=_FINAL_BY_OUTCOME[outcome],
                    result=_result_json(outcome, detail),
                    done_at=now,
                )
                .returning(table.c.id)
            )
            written.update(rows.scalars())
    return written


def record_result(
    session: Session,
    *,
    operator_id: int,
    item_id: int,
    worker: str | None,
    outcome: Outcome,
    detail: str | None,
    now: dt.datetime,
) -> WorkItem:
    """Record one result and return the item. The same result again returns the stored item
    unchanged; NotFound for an item of another operator (or none); Conflict for a different
    result of a finished item, or when another worker has leased the item since."""
    (answer,) = record_results(
        session,
        operator_id=operator_id,
        worker=worker,
        results=[ResultIn(item_id=item_id, outcome=outcome, detail=detail)],
        now=now,
    )
    if answer.status is ResultStatus.NOT_FOUND:
        raise NotFound(answer.message or f"Work item {item_id} was not found.")
    if answer.status is ResultStatus.CONFLICT:
        raise Conflict(
            answer.message or f"Work item {item_id} cannot take this result.",
            item_id=item_id,
            item_status=None if answer.item_status is None else answer.item_status.value,
        )
    item = session.scalars(
        select(WorkItem).where(WorkItem.id == item_id).execution_options(populate_existing=True)
    ).one()
    return item


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
