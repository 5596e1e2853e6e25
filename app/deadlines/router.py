"""HTTP endpoints of the deadline policy: rules, the working-day calendar, recomputations."""

from __future__ import annotations

import datetime as dt
import json
from typing import Annotated

from fastapi import APIRouter, Query, Response, status
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.auth.dependencies import require
from app.auth.service import Principal, Role
from app.companies.models import Contract
from app.core.deps import ClockDep, SessionDep
from app.core.errors import NotFound
from app.core.integers import RowId
from app.core.messages import Text
from app.deadlines import policy
from app.deadlines.models import DeadlineRule
from app.deadlines.schemas import (
    CalendarDayIn,
    CalendarDayOut,
    DeadlineRunOut,
    RecomputeIn,
    RecomputeOut,
    RuleIn,
    RuleOut,
    RulePatch,
    RuleSaved,
)

router = APIRouter(prefix="/api/v1/deadline-policy", tags=["deadlines"])

Staff = Annotated[Principal, require(Role.OPERATOR_STAFF)]
Reader = Annotated[
    Principal, require(Role.OPERATOR_STAFF, Role.OPERATOR_SYSTEM, Role.COMPANY_ADMIN)
]


def _saved(rule: DeadlineRule, in_past: bool, warnings: list[str]) -> RuleSaved:
    return RuleSaved(
        rule=RuleOut.model_validate(rule),
        applies=policy.NEXT_RUN,
        deadline_in_past=in_past,
        warnings=warnings,
    )


def _visible_subscribers(session: Session, reader: Principal) -> set[int] | None:
    """The companies whose own rules (re-verification campaigns) `reader` may see; None: all.
    A campaign names its company and what it was told: another company's is not its business."""
    if reader.role is Role.OPERATOR_STAFF:
        return None
    if reader.role is Role.COMPANY_ADMIN:
        return {reader.company_id} if reader.company_id is not None else set()
    served = select(Contract.subscriber_id).where(Contract.operator_id == reader.operator_id)
    return set(session.scalars(served.distinct()))


def _visible(rule: DeadlineRule, subscribers: set[int] | None) -> bool:
    return subscribers is None or rule.subscriber_id is None or rule.subscriber_id in subscribers


@router.get("/rules", response_model=list[RuleOut])
def list_rules(session: SessionDep, reader: Reader) -> list[RuleOut]:
    """The deadline rules the caller may see: every rule for staff; the rules of all companies
    and the caller's own company's (or its customers') for the others. A number's deadline is
    the latest any enabled rule gives it."""
    subscribers = _visible_subscribers(session, reader)
    return [
        RuleOut.model_validate(rule)
        for rule in policy.list_rules(session)
        if _visible(rule, subscribers)
    ]


@router.post("/rules", status_code=status.HTTP_201_CREATED, response_model=RuleSaved)
def create_rule(body: RuleIn, session: SessionDep, clock: ClockDep, staff: Staff) -> RuleSaved:
    """Add a rule; deadlines move at the next deadline run (`deadline_in_past` warns when the
    rule's moment has passed: its unconfirmed numbers are suspended then)."""
    return _saved(*policy.create_rule(session, body, actor=staff.actor, now=clock.now()))


@router.get("/rules/{rule_id}", response_model=RuleOut)
def get_rule(rule_id: RowId, session: SessionDep, reader: Reader) -> RuleOut:
    """One rule (404 for another company's own rule, as for a rule that does not exist)."""
    rule = policy.get_rule(session, rule_id)
    if not _visible(rule, _visible_subscribers(session, reader)):
        raise NotFound(Text("rule.not_found", rule_id=rule_id))
    return RuleOut.model_validate(rule)


@router.patch("/rules/{rule_id}", response_model=RuleSaved)
def change_rule(
    rule_id: RowId, body: RulePatch, session: SessionDep, clock: ClockDep, staff: Staff
) -> RuleSaved:
    """Change a rule (e.g. a regulator's extension): every deadline it gives moves at the next
    run, each with an event. Send the `version` you read; 409 if it changed meanwhile."""
    return _saved(*policy.update_rule(session, rule_id, body, actor=staff.actor, now=clock.now()))


@router.get("/calendar", response_model=list[CalendarDayOut])
def calendar(
    session: SessionDep,
    _: Reader,
    year: Annotated[int, Query(ge=2000, le=2100)],
) -> list[CalendarDayOut]:
    """Holidays and working weekend days of a year (other days follow Monday to Friday)."""
    return [CalendarDayOut.model_validate(d) for d in policy.calendar_days(session, year=year)]


@router.put("/calendar/{day}", response_model=CalendarDayOut)
def set_day(
    day: dt.date, body: CalendarDayIn, session: SessionDep, clock: ClockDep, staff: Staff
) -> CalendarDayOut:
    """Declare a holiday or a working day; working-day deadlines move at the next run."""
    entry = policy.set_calendar_day(
        session, day, is_working=body.is_working, note=body.note, actor=staff.actor, now=clock.now()
    )
    return CalendarDayOut.model_validate(entry)


@router.delete("/calendar/{day}", status_code=status.HTTP_204_NO_CONTENT)
def clear_day(day: dt.date, session: SessionDep, clock: ClockDep, staff: Staff) -> Response:
    """Let the day follow the Monday-to-Friday week again."""
    policy.clear_calendar_day(session, day, actor=staff.actor, now=clock.now())
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/recompute", status_code=status.HTTP_202_ACCEPTED, response_model=RecomputeOut)
def recompute(
    body: RecomputeIn, session: SessionDep, clock: ClockDep, staff: Staff
) -> RecomputeOut:
    """Ask the next deadline run to recompute every number's deadline."""
    request = policy.request_recompute(
        session, reason=f"{body.reason} (by {staff.subject})", actor=staff.actor, now=clock.now()
    )
    return RecomputeOut.model_validate(request)


@router.get("/recomputes", response_model=list[RecomputeOut])
def list_recomputes(session: SessionDep, _: Staff) -> list[RecomputeOut]:
    """Recent recomputations, newest first."""
    return [RecomputeOut.model_validate(r) for r in policy.recomputes(session)]


@router.get("/runs", response_model=list[DeadlineRunOut])
def runs(session: SessionDep, _: Staff) -> list[DeadlineRunOut]:
    """Recent deadline runs and what each did."""
    return [
        DeadlineRunOut(
            run_id=run.run_id,
            started_at=run.started_at,
            finished_at=run.finished_at,
            digested_at=run.digested_at,
            summary=json.loads(run.summary) if run.summary else None,
        )
        for run in policy.recent_runs(session)
    ]
