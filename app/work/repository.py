"""Work-queue statements whose SQL differs between the engines.

PostgreSQL is shared by many workers at once: its statements lock with SKIP LOCKED and are
shaped so that the planner reaches rows through the right index whatever the queue's lagging
statistics say. SQLite has one writer at a time, so plain statements are exclusive there.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import (
    BigInteger,
    ColumnElement,
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
    select,
    true,
    update,
)
from sqlalchemy import cast as sql_cast
from sqlalchemy import table as table_clause
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import InstrumentedAttribute, Session

from app.db.session import is_postgres
from app.work.models import WorkItem, WorkStatus

# Keeps each statement's bound parameters far below SQLite's and psycopg's limits.
_CHUNK = 5_000
# The hot paths use the Core table: the rows they return need no ORM identity.
_TABLE = cast(Table, WorkItem.__table__)
_BIGINTS = postgresql.ARRAY(BigInteger())
_TEXTS = postgresql.ARRAY(Text())
# The numbers' columns the queue reads. The queue sits below `numbers` (the status machine
# queues work in the statement that moves the numbers), so it names the table and these three
# columns rather than importing the model; the migrations keep them.
NUMBERS = table_clause(
    "numbers",
    column("id", BigInteger()),
    column("operator_id", BigInteger()),
    column("msisdn", String()),
)


@dataclass(frozen=True)
class FinalResult:
    """One result to store: the item, the final status it takes and the result document."""

    item_id: int
    status: WorkStatus
    result: dict[str, object]


def only_picked(session: Session, statement: Update, picked: Select[Any]) -> Update:
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


def of_operator(
    session: Session, operator_column: InstrumentedAttribute[int], operator_id: int
) -> ColumnElement[bool]:
    """The condition "an item of this operator" for the pick of a lease."""
    if is_postgres(session):
        # `= ANY(ARRAY[operator_id])`, not `= operator_id`: with a plain equality the planner
        # treats operator_id as a constant and may take ORDER BY id from the primary key,
        # walking every finished item before the first queued one whenever its statistics
        # still say "mostly queued". This way only the (operator_id, status, id) index yields
        # the requested order, and the walk starts at the head of the queue.
        return operator_column == any_(bindparam("b_operators", [operator_id], _BIGINTS))
    return operator_column == operator_id


def leased_rows(
    session: Session, statement: Update, returned: Sequence[ColumnElement[Any]]
) -> tuple[Sequence[Any], dict[int, str]]:
    """Run a lease's UPDATE: the rows it returned (`returned` columns) and the MSISDN of
    each leased item's number, by number id."""
    if is_postgres(session):
        # A primary-key look-up per returned row: no plan to go wrong, no second round trip.
        msisdn = (
            select(NUMBERS.c.msisdn)
            .where(NUMBERS.c.id == _TABLE.c.number_id)
            .scalar_subquery()
            .label("msisdn")
        )
        rows = session.execute(statement.returning(*returned, msisdn)).all()
        return rows, {row.number_id: row.msisdn for row in rows}
    rows = session.execute(statement.returning(*returned)).all()
    # SQLite's RETURNING may name only the updated table.
    return rows, _msisdns(session, [row.number_id for row in rows])


def _msisdns(session: Session, number_ids: Sequence[int]) -> dict[int, str]:
    found: dict[int, str] = {}
    for start in range(0, len(number_ids), _CHUNK):
        chunk = list(set(number_ids[start : start + _CHUNK]))
        rows = session.execute(
            select(NUMBERS.c.id, NUMBERS.c.msisdn).where(NUMBERS.c.id.in_(chunk))
        )
        found.update({row.id: row.msisdn for row in rows})
    return found


def write_final_results(
    session: Session,
    may_take: Sequence[ColumnElement[bool]],
    results: Sequence[FinalResult],
    *,
    now: dt.datetime,
) -> set[int]:
    """Store each result on its item where the item meets `may_take`, each row judged and
    changed in one step; returns the ids stored."""
    if is_postgres(session):
        return _write_in_one_statement(session, may_take, results, now=now)
    return _write_by_result(session, may_take, results, now=now)


def _write_in_one_statement(
    session: Session,
    may_take: Sequence[ColumnElement[bool]],
    results: Sequence[FinalResult],
    *,
    now: dt.datetime,
) -> set[int]:
    # One statement for the whole batch, whatever the mix of results: the batch travels as
    # three parallel arrays, joined to the table by id. A queue's statistics always lag behind
    # it, and a planner trusting them may scan every open item of the operator (or the whole
    # table) to write 1,000 rows. So the ids are also given as ARRAY(SELECT unnest(ids)), whose
    # length the planner cannot see and takes for small, which makes the primary key the way
    # in; and the conditions sit in a CASE, which it cannot match to an index either.
    table = _TABLE
    may_take_now = case((and_(*may_take), true()), else_=false())
    written: set[int] = set()
    for start in range(0, len(results), _CHUNK):
        chunk = results[start : start + _CHUNK]
        item_ids = bindparam("b_ids", [r.item_id for r in chunk], type_=_BIGINTS)
        statuses = [r.status.value for r in chunk]
        documents = [json.dumps(r.result) for r in chunk]
        batch = (
            func.unnest(
                item_ids,
                bindparam("b_statuses", statuses, type_=_TEXTS),
                bindparam("b_results", documents, type_=_TEXTS),
            )
            .table_valued(
                column("id", BigInteger()), column("status", Text()), column("result", Text())
            )
            .render_derived(name="batch")
        )
        every_id = func.array(select(func.unnest(item_ids)).scalar_subquery(), type_=_BIGINTS)
        rows = session.execute(
            update(table)
            .where(table.c.id == batch.c.id, table.c.id == any_(every_id), may_take_now)
            .values(
                status=batch.c.status,
                result=sql_cast(batch.c.result, postgresql.JSON()),
                done_at=now,
            )
            .returning(table.c.id)
        )
        written.update(rows.scalars())
    return written


def _write_by_result(
    session: Session,
    may_take: Sequence[ColumnElement[bool]],
    results: Sequence[FinalResult],
    *,
    now: dt.datetime,
) -> set[int]:
    # One statement per distinct result (usually one or two per batch), each naming its items
    # by id; SQLite statements cost a function call, not a network round trip.
    table = _TABLE
    groups: dict[str, tuple[FinalResult, list[int]]] = {}
    for final in results:
        key = json.dumps([final.status.value, final.result], sort_keys=True)
        groups.setdefault(key, (final, []))[1].append(final.item_id)
    written: set[int] = set()
    for final, ids in groups.values():
        for start in range(0, len(ids), _CHUNK):
            rows = session.execute(
                update(table)
                .where(table.c.id.in_(ids[start : start + _CHUNK]), *may_take)
                .values(status=final.status, result=final.result, done_at=now)
                .returning(table.c.id)
            )
            written.update(rows.scalars())
    return written
