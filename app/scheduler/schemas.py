"""Requests and responses of the jobs endpoints and the dev clock."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import AwareDatetime, BaseModel, Field

from app.core.schemas import StrictModel


class JobOut(BaseModel):
    name: str
    description: str
    interval_seconds: int
    last_slot: str | None
    last_started_at: dt.datetime | None
    last_finished_at: dt.datetime | None
    last_outcome: str | None
    last_summary: dict[str, Any] | None
    last_claimed_by: str | None


class JobRunOut(BaseModel):
    job: str
    slot: str
    ran: bool
    outcome: str | None
    summary: dict[str, Any] | None
    seconds: float | None


class ClockIn(StrictModel):
    """Set the clock to `now`, or move it by `advance_days` (may be negative)."""

    now: AwareDatetime | None = None
    advance_days: float | None = Field(default=None, ge=-36500, le=36500)


class ClockOut(BaseModel):
    now: dt.datetime
    fixed: bool
