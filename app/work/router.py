"""HTTP endpoints of the operator work queue: operator systems lease work items in batches and
post what became of them, one at a time or a thousand at once."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Query

from app.auth.dependencies import require
from app.auth.service import Principal, Role
from app.core.deps import ClockDep, RuntimeDep, SessionDep
from app.core.errors import Forbidden
from app.core.integers import RowId
from app.core.messages import LanguageDep, Text
from app.work import service as work
from app.work.models import WorkStatus
from app.work.results import ResultIn, ResultStatus, record_result, record_results
from app.work.schemas import (
    BatchIn,
    BatchOut,
    CountsOut,
    LeasedItemOut,
    LeaseIn,
    LeaseOut,
    ResultBody,
    ResultOut,
    WorkItemOut,
)

router = APIRouter(prefix="/api/v1/operator/work", tags=["operator work"])

OperatorSystem = Annotated[Principal, require(Role.OPERATOR_SYSTEM)]


def _operator_id(caller: Principal) -> int:
    if caller.operator_id is None:
        # An operator system principal always carries its operator; refuse rather than guess.
        raise Forbidden(Text("work.no_operator"))
    return caller.operator_id


@router.post("/lease", response_model=LeaseOut)
def lease_work(
    session: SessionDep,
    clock: ClockDep,
    runtime: RuntimeDep,
    caller: OperatorSystem,
    body: LeaseIn | None = None,
) -> LeaseOut:
    """Take up to `limit` of the operator's open items, oldest first. Until `lease_until` no
    other worker gets them; post each result before then (or soon after: a late result is
    still accepted as long as no other worker has taken the item)."""
    body = body or LeaseIn()
    seconds = body.lease_seconds or runtime.settings.work_lease_seconds
    items = work.lease(
        session,
        operator_id=_operator_id(caller),
        worker=body.worker or caller.subject,
        limit=body.limit,
        now=clock.now(),
        lease=dt.timedelta(seconds=seconds),
    )
    return LeaseOut(
        items=[
            LeasedItemOut(
                id=i.id,
                number_id=i.number_id,
                msisdn=i.msisdn,
                kind=i.kind,
                lease_until=i.lease_until,
                attempts=i.attempts,
            )
            for i in items
        ]
    )


@router.post("/results", response_model=BatchOut)
def post_results(
    body: BatchIn,
    session: SessionDep,
    clock: ClockDep,
    caller: OperatorSystem,
    language: LanguageDep,
) -> BatchOut:
    """Report many results at once. Each gets its own answer: `recorded`, `unchanged` (the
    same result was stored before), `conflict` or `not_found`; the others are stored anyway."""
    answers = record_results(
        session,
        operator_id=_operator_id(caller),
        worker=body.worker or caller.subject,
        results=[
            ResultIn(item_id=r.item_id, outcome=r.outcome, detail=r.detail) for r in body.results
        ],
        now=clock.now(),
    )
    totals = dict.fromkeys(ResultStatus, 0)
    for answer in answers:
        totals[answer.status] += 1
    return BatchOut(
        recorded=totals[ResultStatus.RECORDED],
        unchanged=totals[ResultStatus.UNCHANGED],
        conflicts=totals[ResultStatus.CONFLICT],
        not_found=totals[ResultStatus.NOT_FOUND],
        results=[
            ResultOut(
                item_id=a.item_id,
                status=a.status,
                item_status=a.item_status,
                message=None if a.message is None else a.message(language),
            )
            for a in answers
        ],
    )


@router.post("/{item_id}/result", response_model=WorkItemOut)
def post_result(
    item_id: RowId, body: ResultBody, session: SessionDep, clock: ClockDep, caller: OperatorSystem
) -> WorkItemOut:
    """Report what became of one item. Posting the same result again answers with the stored
    item; a different result for a finished item, or a result for an item another worker has
    taken since your lease ended, answers 409."""
    item = record_result(
        session,
        operator_id=_operator_id(caller),
        item_id=item_id,
        worker=body.worker or caller.subject,
        outcome=body.outcome,
        detail=body.detail,
        now=clock.now(),
    )
    return WorkItemOut.of(item)


@router.get("", response_model=CountsOut)
def count_work(
    session: SessionDep,
    clock: ClockDep,
    caller: OperatorSystem,
    status: Annotated[list[WorkStatus] | None, Query()] = None,
) -> CountsOut:
    """How many of the calling operator's items are in each status (`?status=` narrows it)."""
    operator_id = _operator_id(caller)
    return CountsOut(
        counts=work.count_by_status(session, operator_id=operator_id, statuses=status),
        expired_leases=work.expired_lease_count(session, operator_id=operator_id, now=clock.now()),
    )
