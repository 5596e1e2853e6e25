"""Responses of the deadline reports: one company's risk, and companies ranked by it."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, Field

from app.uploads.models import UploadMode, UploadStatus

_BUCKETS = (
    "Numbers at risk by days left: 'overdue' (deadline passed, not suspended yet), then one "
    "key per flag threshold, nearest first ('1' = at most 1 day left, '3' = more than 1 and "
    "at most 3, …), then 'later' (beyond the farthest threshold)."
)


class AtRisk(BaseModel):
    total: int = Field(description="Unconfirmed numbers that carry a deadline")
    by_bucket: dict[str, int] = Field(description=_BUCKETS)


class Confirmations(BaseModel):
    """The company's requests to confirm employees, on their way."""

    queued: int = Field(description="Waiting to be sent to the identity portal")
    sent: int = Field(description="Waiting for the person's answer")
    answered: int = Field(description="Answered; the next matching run decides")
    all_sent_by: dt.datetime | None = Field(
        description="When the last waiting request will have been sent at the portal's rate"
    )


class OperatorBacklog(BaseModel):
    """One operator's queue of requests to the identity portal."""

    operator_id: int
    operator_code: str
    queued: int = Field(description="Requests waiting to be sent (retries included)")
    waiting_to_retry: int = Field(description="Of those, held back after an error")
    oldest_queued_at: dt.datetime | None
    oldest_queued_age_seconds: float | None
    sent_awaiting_answer: int
    drain_seconds: float | None = Field(
        description="Time to send the whole queue at the portal's rate (None: no limit)"
    )
    last_sent_eta: dt.datetime | None = Field(
        description="When the last waiting request is expected to be sent"
    )
    late_numbers: int = Field(
        description="Numbers whose deadline falls before their request can be sent at the rate"
    )
    paused_until: dt.datetime | None = Field(
        description="The portal was found down: sending for the operator resumes then"
    )


class ConfirmationBacklog(BaseModel):
    generated_at: dt.datetime
    rate_per_operator: float = Field(description="Requests per second (0: no limit)")
    operators: list[OperatorBacklog]


class CompanyReport(BaseModel):
    company_id: int
    company_name: str
    generated_at: dt.datetime
    thresholds: list[int] = Field(description="Flag thresholds in days, farthest first")
    by_status: dict[str, int] = Field(description="Numbers in each status, zeros included")
    at_risk: AtRisk
    suspended: int
    next_deadline_at: dt.datetime | None = Field(
        description="The earliest deadline still ahead of an at-risk number"
    )
    confirmations: Confirmations


class CompanyRisk(BaseModel):
    id: int
    name: str
    inn: str
    at_risk: AtRisk
    overdue: int = Field(description="At-risk numbers whose deadline has passed")
    suspended: int
    next_deadline_at: dt.datetime | None


class CompanyRiskPage(BaseModel):
    generated_at: dt.datetime
    thresholds: list[int]
    items: list[CompanyRisk]
    next_cursor: str | None


class UploadBrief(BaseModel):
    """One of the company's latest uploads, with its counts as the uploads listing shows them."""

    id: int
    filename: str
    mode: UploadMode
    status: UploadStatus
    created_at: dt.datetime
    accepted: int = Field(description="Rows that passed every check")
    rejected: int = Field(description="Rows refused")


class ConfirmationBacklogBrief(BaseModel):
    """The company's open requests to confirm employees (queued, sent or answered)."""

    open: int
    oldest_sent_at: dt.datetime | None = Field(
        description="When the longest-waiting request still waiting for the person was sent"
    )


class CompanyOverview(BaseModel):
    """A company's dashboard: its numbers, their deadlines, its confirmations and uploads."""

    company_id: int
    generated_at: dt.datetime
    total: int = Field(description="Every number of the company")
    by_status: dict[str, int] = Field(description="Numbers in each status, zeros included")
    by_kind: dict[str, int] = Field(
        description="Numbers by who uses them (employee, device); numbers with no user yet "
        "are in neither"
    )
    warning_days: int = Field(description="The warning window: the farthest flag threshold")
    at_risk: int = Field(
        description="Unconfirmed numbers whose deadline is ahead, within the warning window"
    )
    overdue: int = Field(description="Unconfirmed numbers whose deadline has passed")
    next_deadline_at: dt.datetime | None = Field(
        description="The earliest deadline still ahead of an unconfirmed number"
    )
    days_to_next_deadline: int | None = Field(description="Whole days left until it, rounded up")
    confirmations: ConfirmationBacklogBrief
    recent_uploads: list[UploadBrief] = Field(description="The latest uploads, newest first")
