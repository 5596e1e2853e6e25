"""Requests and responses of the deadline policy."""

from __future__ import annotations

import datetime as dt

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from app.core.integers import RowId, Version
from app.core.schemas import StrictModel
from app.deadlines.models import DeadlineBasis, RuleSimKind


class RuleIn(StrictModel):
    """A new rule. What it needs depends on `basis`:
    fixed → `deadline_at`; campaign → `notice_at` and `offset_days` ≥ 1 (usually with a
    `subscriber_id`); service_start and user_change → `offset_days` (working days when
    `working_days`). A day-based deadline is the end of the day reached, Moscow time."""

    code: str = Field(min_length=2, max_length=64, pattern=r"^[a-z0-9][a-z0-9_-]*$")
    title: str = Field(min_length=1, max_length=300)
    basis: DeadlineBasis
    sim_kind: RuleSimKind = RuleSimKind.ANY
    contracts_signed_from: dt.date | None = None
    contracts_signed_to: dt.date | None = None
    subscriber_id: RowId | None = None
    deadline_at: AwareDatetime | None = None
    notice_at: AwareDatetime | None = None
    offset_days: int = Field(default=0, ge=-366, le=3660)
    working_days: bool = False
    enabled: bool = True
    note: str | None = Field(default=None, max_length=2000)


class RulePatch(StrictModel):
    """A change of a rule (a regulator's extension, a correction); `version` must be the
    version read, so two staff members cannot overwrite each other's change unseen."""

    version: Version
    title: str | None = Field(default=None, min_length=1, max_length=300)
    sim_kind: RuleSimKind | None = None
    contracts_signed_from: dt.date | None = None
    contracts_signed_to: dt.date | None = None
    subscriber_id: RowId | None = None
    deadline_at: AwareDatetime | None = None
    notice_at: AwareDatetime | None = None
    offset_days: int | None = Field(default=None, ge=-366, le=3660)
    working_days: bool | None = None
    enabled: bool | None = None
    note: str | None = Field(default=None, max_length=2000)


class RuleOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    code: str
    title: str
    basis: DeadlineBasis
    sim_kind: RuleSimKind
    contracts_signed_from: dt.date | None
    contracts_signed_to: dt.date | None
    subscriber_id: int | None
    deadline_at: dt.datetime | None
    notice_at: dt.datetime | None
    offset_days: int
    working_days: bool
    enabled: bool
    version: int
    note: str | None
    updated_at: dt.datetime
    updated_by: str


class RuleSaved(BaseModel):
    rule: RuleOut
    applies: str = Field(description="When the numbers' deadlines move")
    deadline_in_past: bool = Field(
        description="The rule's deadline has passed already: at the next run, the unconfirmed "
        "numbers it covers are suspended."
    )
    warnings: list[str]


class CalendarDayIn(StrictModel):
    is_working: bool
    note: str = Field(min_length=1, max_length=200)


class CalendarDayOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    day: dt.date
    is_working: bool
    note: str


class RecomputeOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    status: str
    reason: str
    requested_by: str
    requested_at: dt.datetime
    done_at: dt.datetime | None
    numbers_moved: int | None


class RecomputeIn(StrictModel):
    reason: str = Field(min_length=3, max_length=500)


class DeadlineRunOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    run_id: str
    started_at: dt.datetime
    finished_at: dt.datetime | None
    digested_at: dt.datetime | None
    summary: dict[str, object] | None


class DeadlineChangeOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    old_deadline_at: dt.datetime | None
    new_deadline_at: dt.datetime | None
    rule_id: int | None
    at: dt.datetime
    actor_kind: str
    actor_id: str
    reason: str
