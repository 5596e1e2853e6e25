"""Responses of the deadline reports: one company's risk, and companies ranked by it."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, Field

_BUCKETS = (
    "Numbers at risk by days left: 'overdue' (deadline passed, not suspended yet), then one "
    "key per flag threshold, nearest first ('1' = at most 1 day left, '3' = more than 1 and "
    "at most 3, …), then 'later' (beyond the farthest threshold)."
)


class AtRisk(BaseModel):
    total: int = Field(description="Unconfirmed numbers that carry a deadline")
    by_bucket: dict[str, int] = Field(description=_BUCKETS)


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
