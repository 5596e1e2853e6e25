"""HTTP endpoints of the operator work queue: operator systems lease work items in batches and
post what became of them, one at a time or a thousand at once."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from app.auth.dependencies import require
from app.auth.service import Principal, Role
from app.companies.schemas import StrictModel
from app.core.deps import ClockDep, RuntimeDep, SessionDep
from app.core.errors import Forbidden
from app.core.integers import RowId
from app.work import service as work
from app.work.models import WorkItem, WorkKind, WorkStatus

router = APIRouter(prefix="/api/v1/operator/work", tags=["operator work"])

OperatorSystem = Annotated[Principal, require(Role.OPERATOR_SYSTEM)]
MAX_BATCH = 5_000

WorkerName = Annotated[
    str | None,
    Field(
        default=None,
        min_length=1,
        max_length=200,
        description="Which of the operator's workers is calling; results must name the worker "
        "that leased the item. Defaults to the caller's identity.",
    ),
]


class LeaseIn(StrictModel):
    """How many items to take, and for how long."""

    limit: int = Field(default=1000, ge=1, le=MAX_BATCH)
    lease_seconds: int | None = Field(
        default=None,
        ge=10,
        le=3600,
        description="How long the items are held; after that they go to other workers.",
    )
    worker: WorkerName = None


class LeasedItemOut(BaseModel):
    """One item to do in the network."""

    id: int
    number_id: int
    msisdn: str
    kind: WorkKind
    lease_until: dt.datetime
    attempts: int


class LeaseOut(BaseModel):
    """The leased items, oldest first; empty when there is nothing to do."""

    items: list[LeasedItemOut]


class ResultBody(StrictModel):
    """What became of one item."""

    outcome: Literal["done", "failed"]
    detail: str | None = Field(default=None, max_length=2000)
    worker: WorkerName = None


class BatchResultIn(StrictModel):
    """One result in a batch."""

    item_id: RowId
    outcome: Literal["done", "failed"]
    detail: str | None = Field(default=None, max_length=2000)


class BatchIn(StrictModel):
    """Up to 5,000 results at once."""

    results: list[BatchResultIn] = Field(min_length=1, max_length=MAX_BATCH)
    worker: WorkerName = None


class ResultOut(BaseModel):
    """What became of one posted result."""

    item_id: int
    status: work.ResultStatus
    item_status: WorkStatus | None
    message: str | None = None


class BatchOut(BaseModel):
    """Per-item answers, in the order posted, and their totals."""

    recorded: int
    unchanged: int
    conflicts: int
    not_found: int
    results: list[ResultOut]


class WorkResultOut(BaseModel):
    """The stored result of an item."""

    outcome: str | None = None
    detail: str | None = None


class WorkItemOut(BaseModel):
    """A work item as stored."""

    id: int
    number_id: int
    kind: WorkKind
    status: WorkStatus
    attempts: int
    leased_by: str | None
    lease_until: dt.datetime | None
    result: WorkResultOut | None
    created_at: dt.datetime
    done_at: dt.datetime | None

    @classmethod
    def of(cls, item: WorkItem) -> WorkItemOut:
        """The response shape of a stored item."""
        stored = item.result or {}
        result = (
            WorkResultOut(outcome=_text(stored.get("outcome")), detail=_text(stored.get("detail")))
            if item.result is not None
            else None
        )
        return cls(
            id=item.id,
            number_id=item.number_id,
            kind=item.kind,
            status=item.status,
            attempts=item.attempts,
            leased_by=item.leased_by,
            lease_until=item.lease_until,
            result=result,
            created_at=item.created_at,
            done_at=item.done_at,
        )


class CountsOut(BaseModel):
    """How many of the operator's items are in each status."""

    counts: dict[WorkStatus, int]
    expired_leases: int = Field(
        description="Leased items whose lease has ended; the next lease hands them out again."
    )


def _text(value: object) -> str | None:
    return None if value is None else str(value)


def _operator_id(caller: Principal) -> int:
    if caller.operator_id is None:
        # An operator system principal always carries its operator; refuse rather than guess.
        raise Forbidden("This operator system credential names no operator.")
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
    body: BatchIn, session: SessionDep, clock: ClockDep, caller: OperatorSystem
) -> BatchOut:
    """Report many results at once. Each gets its own answer: `recorded`, `unchanged` (the
    same result was stored before), `conflict` or `not_found`; the others are stored anyway."""
    answers = work.record_results(
        session,
        operator_id=_operator_id(caller),
        worker=body.worker or caller.subject,
        results=[
            work.ResultIn(item_id=r.item_id, outcome=r.outcome, detail=r.detail)
            for r in body.results
        ],
        now=clock.now(),
    )
    totals = dict.fromkeys(work.ResultStatus, 0)
    for answer in answers:
        totals[answer.status] += 1
    return BatchOut(
        recorded=totals[work.ResultStatus.RECORDED],
        unchanged=totals[work.ResultStatus.UNCHANGED],
        conflicts=totals[work.ResultStatus.CONFLICT],
        not_found=totals[work.ResultStatus.NOT_FOUND],
        results=[
            ResultOut(
                item_id=a.item_id, status=a.status, item_status=a.item_status, message=a.message
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
    item = work.record_result(
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
