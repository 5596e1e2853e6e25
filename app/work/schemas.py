"""Requests and responses of the operator work queue: leases, results, counts."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import BaseModel, Field

from app.core.integers import RowId
from app.core.schemas import StrictModel
from app.work.models import WorkItem, WorkKind, WorkStatus
from app.work.results import ResultStatus

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
    status: ResultStatus
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
