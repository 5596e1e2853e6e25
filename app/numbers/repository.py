"""Status-machine statements whose SQL differs between the engines."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import CTE, ColumnElement, func, insert, select, update
from sqlalchemy.orm import Session, aliased

from app.db.session import is_postgres
from app.numbers.models import NumberStatus, PhoneNumber, StatusEvent
from app.work.service import queue_work

EVENT_COLUMNS = [
    "number_id",
    "from_status",
    "to_status",
    "at",
    "actor_kind",
    "actor_id",
    "reason",
    "registration_id",
]
# What a follower of a move receives: the `moved` CTE; what it gives back: more CTEs.
Followers = Callable[[CTE], Sequence[CTE]]


def move_selected(
    session: Session,
    selected: Sequence[ColumnElement[bool]],
    target: NumberStatus,
    *,
    extra: dict[str, object],
    event: Sequence[ColumnElement[Any]],
    at: dt.datetime,
    work_kind: str | None,
    pg_followers: Followers | None,
) -> tuple[int, list[int]]:
    """Move the numbers meeting `selected` to `target` (writing `extra` too), log one event
    each (`event`: the event's columns after number_id and from_status) and queue a
    `work_kind` item each; how many moved, and each follower's row count (PostgreSQL)."""
    if is_postgres(session):
        return _move_in_one_statement(
            session, selected, target, extra=extra, event=event, at=at,
            work_kind=work_kind, followers=pg_followers,
        )  # fmt: skip
    return _move_in_turn(
        session, selected, target, extra=extra, event=event, at=at, work_kind=work_kind
    ), []


def _move_in_one_statement(
    session: Session,
    selected: Sequence[ColumnElement[bool]],
    target: NumberStatus,
    *,
    extra: dict[str, object],
    event: Sequence[ColumnElement[Any]],
    at: dt.datetime,
    work_kind: str | None,
    followers: Followers | None,
) -> tuple[int, list[int]]:
    # One statement moves and logs the rows. The old status for the event comes from a second
    # look at the same rows in the statement's snapshot: a row another transaction moved
    # meanwhile fails `status = old` when the UPDATE re-checks it after taking its lock, and is
    # left as it is for the next run. (A separate SELECT … FOR UPDATE pass wrote every row
    # twice: once for the lock, once for the move.)
    before = aliased(PhoneNumber, name="before")
    moved = (
        update(PhoneNumber)
        .where(*selected, before.id == PhoneNumber.id, PhoneNumber.status == before.status)
        .values(status=target, status_changed_at=at, **extra)
        .returning(
            PhoneNumber.id.label("id"),
            before.status.label("old"),
            PhoneNumber.operator_id.label("operator_id"),
            PhoneNumber.subscriber_id.label("subscriber_id"),
            PhoneNumber.msisdn.label("msisdn"),
            PhoneNumber.sim_kind.label("sim_kind"),
            PhoneNumber.deadline_at.label("deadline_at"),
        )
        .cte("moved")
    )
    logged = (
        insert(StatusEvent)
        .from_select(EVENT_COLUMNS, select(moved.c.id, moved.c.old, *event))
        .returning(StatusEvent.id)
        .cte("logged")
    )
    counted = select(func.count()).select_from(logged)
    if work_kind is not None:
        # The work items of exactly the numbers this statement moved, in the same statement.
        counted = counted.add_cte(
            queue_work(session, moved.c.id, moved.c.operator_id, moved, work_kind, at).cte("queued")
        )
    more = list(followers(moved)) if followers else []
    counted = counted.add_columns(
        *[select(func.count()).select_from(f).scalar_subquery() for f in more]
    )
    counts: list[int] = [int(n or 0) for n in session.execute(counted).one()]
    return counts[0], counts[1:]


def _move_in_turn(
    session: Session,
    selected: Sequence[ColumnElement[bool]],
    target: NumberStatus,
    *,
    extra: dict[str, object],
    event: Sequence[ColumnElement[Any]],
    at: dt.datetime,
    work_kind: str | None,
) -> int:
    # SQLite has one writer at a time: after the first write nobody else can interleave.
    if work_kind is not None:
        session.execute(
            queue_work(
                session, PhoneNumber.id, PhoneNumber.operator_id, PhoneNumber.__table__,
                work_kind, at, *selected,
            )
        )  # fmt: skip
    session.execute(
        insert(StatusEvent).from_select(
            EVENT_COLUMNS,
            select(PhoneNumber.id, PhoneNumber.status, *event).where(*selected),
        )
    )
    result = session.execute(
        update(PhoneNumber)
        .where(*selected)
        .values(status=target, status_changed_at=at, **extra)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


# The listing's page of a company's numbers as asyncpg takes it: one statement for every
# combination of filters (a filter left out is bound as NULL), prepared once per connection.
# It walks the company's index (subscriber_id, id) from the cursor, as `number_page_query`
# does, and reads only the listed columns.
COMPANY_PAGE_ASYNCPG = """
SELECT id, msisdn, iccid, operator_id, subscriber_id, contract_id, status, sim_kind,
       deadline_at, flag_days, service_start_on, status_changed_at
FROM numbers
WHERE subscriber_id = $1
  AND id > $2
  AND ($3::varchar[] IS NULL OR status = ANY($3::varchar[]))
  AND ($4::varchar IS NULL OR sim_kind = $4::varchar)
  AND ($5::timestamptz IS NULL OR deadline_at < $5::timestamptz)
  AND ($6::varchar IS NULL OR msisdn LIKE '%' || $6::varchar || '%')
ORDER BY id
LIMIT $7
"""


def company_page_args(
    company_id: int,
    *,
    statuses: Sequence[NumberStatus],
    kind: str | None,
    deadline_before: dt.datetime | None,
    digits: str,
    after_id: int | None,
    limit: int,
) -> tuple[Any, ...]:
    """The parameters of `COMPANY_PAGE_ASYNCPG`, in order; ids start at 1, so no cursor is
    `id > 0`."""
    return (
        company_id,
        after_id or 0,
        [s.value for s in statuses] or None,
        kind,
        deadline_before,
        digits or None,
        limit,
    )
