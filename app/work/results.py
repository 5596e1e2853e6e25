"""What became of the operator systems' work: results reported one at a time or a thousand at
once, each recorded once.

A result is recorded when its item is open and was last leased by the reporting worker (even
after that lease ended, as long as nobody else leased the item since). Posting the same result
again is harmless, a different one is a conflict. No function commits: a batch of results is
one transaction of the caller's choosing. The write of a batch differs between the engines
(`app.work.repository.write_final_results`).
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, cast

from sqlalchemy import ColumnElement, Table, select
from sqlalchemy.orm import Session

from app.core.errors import Conflict, NotFound
from app.core.messages import Text
from app.work import repository
from app.work.models import WorkItem, WorkStatus
from app.work.repository import FinalResult

Outcome = Literal["done", "failed"]

# A queued or leased item is still open; done and failed are final.
OPEN_STATUSES = (WorkStatus.QUEUED, WorkStatus.LEASED)
FINAL_STATUSES = (WorkStatus.DONE, WorkStatus.FAILED)
_FINAL_BY_OUTCOME = {"done": WorkStatus.DONE, "failed": WorkStatus.FAILED}
# Keeps each statement's bound parameters far below SQLite's and psycopg's limits.
_CHUNK = 5_000
# The writes use the Core table: the rows they return need no ORM identity.
_TABLE = cast(Table, WorkItem.__table__)


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
    message: Text | None = None


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
            item_id, ResultStatus.NOT_FOUND, None, Text("work.not_found", item_id=item_id)
        )
    if stored.status in FINAL_STATUSES:
        if stored.outcome == wanted.outcome and stored.detail == wanted.detail:
            return ResultOutcome(item_id, ResultStatus.UNCHANGED, stored.status)
        return ResultOutcome(
            item_id,
            ResultStatus.CONFLICT,
            stored.status,
            Text("work.result_recorded", item_id=item_id, outcome=stored.outcome),
        )
    if stored.attempts == 0:
        return ResultOutcome(
            item_id,
            ResultStatus.CONFLICT,
            stored.status,
            Text("work.not_leased", item_id=item_id),
        )
    if worker is not None and stored.leased_by != worker:
        # The caller's lease ended and another worker took the item: the result is theirs now.
        return ResultOutcome(
            item_id,
            ResultStatus.CONFLICT,
            stored.status,
            Text("work.leased_by_another", item_id=item_id),
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
                Text("work.changed_meanwhile", item_id=item_id),
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
    finals = [
        FinalResult(
            item.item_id, _FINAL_BY_OUTCOME[item.outcome], _result_json(item.outcome, item.detail)
        )
        for item in items
    ]
    return repository.write_final_results(session, may_take, finals, now=now)


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
        raise NotFound(answer.message or Text("work.not_found", item_id=item_id))
    if answer.status is ResultStatus.CONFLICT:
        raise Conflict(
            answer.message or Text("work.conflict", item_id=item_id),
            item_id=item_id,
            item_status=None if answer.item_status is None else answer.item_status.value,
        )
    item = session.scalars(
        select(WorkItem).where(WorkItem.id == item_id).execution_options(populate_existing=True)
    ).one()
    return item
