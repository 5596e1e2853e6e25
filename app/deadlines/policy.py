"""The deadline policy as data: rules and the working-day calendar, changed by operator staff.

A change never moves deadlines inside the request: it queues a recomputation that the next
deadline run carries out for every affected number in one pass, with an event per move.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from app.companies.models import CorporateSubscriber
from app.core.actors import Actor
from app.core.clock import MOSCOW
from app.core.errors import Conflict, FieldProblem, InvalidInput, NotFound
from app.core.messages import Text
from app.deadlines.calendar import WorkingCalendar, end_of_day, moscow_date
from app.deadlines.models import (
    CalendarDay,
    DeadlineBasis,
    DeadlineChange,
    DeadlineDay,
    DeadlineRecompute,
    DeadlineRule,
    DeadlineRun,
    RecomputeStatus,
)
from app.deadlines.schemas import RuleIn, RulePatch

NEXT_RUN = "at the next deadline run (or now: POST /api/v1/jobs/deadlines/run)"
_EDITABLE = (
    "title", "sim_kind", "contracts_signed_from", "contracts_signed_to", "subscriber_id",
    "deadline_at", "notice_at", "offset_days", "working_days", "enabled", "note",
)  # fmt: skip


def _problems(session: Session, values: dict[str, Any]) -> list[FieldProblem]:
    """What is wrong with a rule's values, in the order the fields are read."""
    problems = _window_problems(values) + _basis_problems(values)
    subscriber_id = values.get("subscriber_id")
    if subscriber_id is not None and session.get(CorporateSubscriber, subscriber_id) is None:
        problems.append(
            FieldProblem(
                "subscriber_id",
                "rule.unknown_subscriber",
                Text("rule.unknown_subscriber", subscriber_id=subscriber_id),
            )
        )
    return problems


def _window_problems(values: dict[str, Any]) -> list[FieldProblem]:
    """A window of contract signing days that covers no contract."""
    problems: list[FieldProblem] = []
    start, end = values.get("contracts_signed_from"), values.get("contracts_signed_to")
    if start is not None and end is not None and end < start:
        problems.append(
            FieldProblem(
                "contracts_signed_to",
                "rule.end_before_start",
                Text("rule.end_before_start", start=str(start), end=str(end)),
            )
        )
    return problems


def _basis_problems(values: dict[str, Any]) -> list[FieldProblem]:
    """Values the rule's basis needs, or must leave out."""
    problems: list[FieldProblem] = []
    basis = values["basis"]
    if basis is DeadlineBasis.FIXED and values.get("deadline_at") is None:
        problems.append(
            FieldProblem(
                "deadline_at",
                "rule.deadline_required",
                Text("rule.deadline_required"),
            )
        )
    if basis is DeadlineBasis.CAMPAIGN:
        if values.get("notice_at") is None:
            problems.append(
                FieldProblem("notice_at", "rule.notice_required", Text("rule.notice_required"))
            )
        if values.get("offset_days", 0) < 1:
            problems.append(
                FieldProblem(
                    "offset_days",
                    "rule.offset_positive",
                    Text("rule.offset_positive"),
                )
            )
    if basis is DeadlineBasis.USER_CHANGE and values.get("offset_days", 0) < 0:
        problems.append(
            FieldProblem(
                "offset_days",
                "rule.offset_not_negative",
                Text("rule.offset_not_negative"),
            )
        )
    if basis in (DeadlineBasis.SERVICE_START, DeadlineBasis.USER_CHANGE) and values.get(
        "deadline_at"
    ):
        problems.append(
            FieldProblem(
                "deadline_at",
                "rule.deadline_not_allowed",
                Text("rule.deadline_not_allowed", basis=basis.value),
            )
        )
    return problems


def _resolve(session: Session, rule: DeadlineRule) -> None:
    """A campaign's deadline is one moment: notice day + offset (working days if asked)."""
    if rule.basis is DeadlineBasis.CAMPAIGN and rule.notice_at is not None:
        calendar = WorkingCalendar.load(session)
        day = calendar.shift(
            moscow_date(rule.notice_at), rule.offset_days, working_days=rule.working_days
        )
        rule.deadline_at = end_of_day(day)


def request_recompute(
    session: Session, *, reason: str, actor: Actor, now: dt.datetime
) -> DeadlineRecompute:
    """Queue a recomputation of every number's deadline for the next deadline run."""
    request = DeadlineRecompute(
        status=RecomputeStatus.PENDING,
        reason=reason,
        requested_by=actor.id,
        requested_at=now,
    )
    session.add(request)
    session.flush()
    return request


def _warnings(rule: DeadlineRule, now: dt.datetime) -> tuple[bool, list[str]]:
    if rule.deadline_at is None or rule.deadline_at >= now or not rule.enabled:
        return False, []
    shown = rule.deadline_at.astimezone(MOSCOW).strftime("%d.%m.%Y %H:%M")
    return True, [
        f"The deadline {shown} (Moscow) has passed: at the next deadline run, every number "
        "this rule covers that has no confirmed user is suspended."
    ]


def create_rule(
    session: Session, data: RuleIn, *, actor: Actor, now: dt.datetime
) -> tuple[DeadlineRule, bool, list[str]]:
    """Add a rule; the deadlines it moves move at the next run."""
    values = data.model_dump()
    problems = _problems(session, values)
    if problems:
        raise InvalidInput(Text("rule.invalid", count=len(problems)), errors=problems)
    if session.scalar(select(DeadlineRule.id).where(DeadlineRule.code == data.code)):
        raise Conflict(
            Text("rule.code_taken", code=data.code),
            errors=[FieldProblem("code", "rule.code_taken", Text("rule.code_taken.field"))],
        )
    rule = DeadlineRule(**values, version=1, created_at=now, updated_at=now, updated_by=actor.id)
    _resolve(session, rule)
    session.add(rule)
    session.flush()
    request_recompute(
        session, reason=f"rule '{rule.code}' added by {actor.id}", actor=actor, now=now
    )
    in_past, warnings = _warnings(rule, now)
    return rule, in_past, warnings


def get_rule(session: Session, rule_id: int) -> DeadlineRule:
    """One rule or NotFound."""
    rule = session.get(DeadlineRule, rule_id)
    if rule is None:
        raise NotFound(Text("rule.not_found", rule_id=rule_id))
    return rule


def list_rules(session: Session) -> list[DeadlineRule]:
    """Every rule, enabled or not."""
    return list(session.scalars(select(DeadlineRule).order_by(DeadlineRule.id)))


def update_rule(
    session: Session, rule_id: int, patch: RulePatch, *, actor: Actor, now: dt.datetime
) -> tuple[DeadlineRule, bool, list[str]]:
    """Change a rule (say, a regulator's extension); every deadline it gives moves at the next
    run. Conflict when `version` is not the stored one."""
    rule = session.scalars(
        select(DeadlineRule).where(DeadlineRule.id == rule_id).with_for_update()
    ).one_or_none()
    if rule is None:
        raise NotFound(Text("rule.not_found", rule_id=rule_id))
    if patch.version != rule.version:
        raise Conflict(
            Text("rule.version_stale", rule_id=rule_id, current=rule.version, sent=patch.version),
            current_version=rule.version,
        )
    changes = {k: v for k, v in patch.model_dump().items() if k in patch.model_fields_set}
    changes.pop("version", None)
    values = {name: getattr(rule, name) for name in ("basis", *_EDITABLE)}
    values.update(changes)
    problems = _problems(session, values)
    if problems:
        raise InvalidInput(Text("rule.invalid", count=len(problems)), errors=problems)
    for name, value in changes.items():
        setattr(rule, name, value)
    _resolve(session, rule)
    rule.version += 1
    rule.updated_at = now
    rule.updated_by = actor.id
    # Day-based deadlines of this rule are worked out again with the new offset.
    session.execute(delete(DeadlineDay).where(DeadlineDay.rule_id == rule.id))
    session.flush()
    request_recompute(
        session,
        reason=f"rule '{rule.code}' changed to version {rule.version} by {actor.id}",
        actor=actor,
        now=now,
    )
    in_past, warnings = _warnings(rule, now)
    return rule, in_past, warnings


def _calendar_changed(session: Session, *, day: dt.date, actor: Actor, now: dt.datetime) -> None:
    working_rules = list(
        session.scalars(select(DeadlineRule).where(DeadlineRule.working_days.is_(True)))
    )
    session.execute(
        delete(DeadlineDay).where(DeadlineDay.rule_id.in_([r.id for r in working_rules]))
    )
    session.flush()
    for rule in working_rules:
        _resolve(session, rule)
    request_recompute(
        session,
        reason=f"calendar day {day.isoformat()} changed by {actor.id}",
        actor=actor,
        now=now,
    )


def set_calendar_day(
    session: Session, day: dt.date, *, is_working: bool, note: str, actor: Actor, now: dt.datetime
) -> CalendarDay:
    """Make `day` a holiday or a working day (a decreed transfer)."""
    entry = session.get(CalendarDay, day)
    if entry is None:
        entry = CalendarDay(day=day, is_working=is_working, note=note)
        session.add(entry)
    else:
        entry.is_working = is_working
        entry.note = note
    session.flush()
    _calendar_changed(session, day=day, actor=actor, now=now)
    return entry


def clear_calendar_day(session: Session, day: dt.date, *, actor: Actor, now: dt.datetime) -> None:
    """`day` follows the Monday-to-Friday week again."""
    entry = session.get(CalendarDay, day)
    if entry is None:
        raise NotFound(Text("calendar.no_entry", day=day.strftime("%d.%m.%Y")))
    session.delete(entry)
    session.flush()
    _calendar_changed(session, day=day, actor=actor, now=now)


def calendar_days(session: Session, *, year: int) -> list[CalendarDay]:
    """Entries of one year."""
    return list(
        session.scalars(
            select(CalendarDay)
            .where(CalendarDay.day >= dt.date(year, 1, 1), CalendarDay.day <= dt.date(year, 12, 31))
            .order_by(CalendarDay.day)
        )
    )


def recomputes(session: Session, *, limit: int = 50) -> list[DeadlineRecompute]:
    """Recent recomputation requests, newest first."""
    return list(
        session.scalars(
            select(DeadlineRecompute).order_by(DeadlineRecompute.id.desc()).limit(limit)
        )
    )


def recent_runs(session: Session, *, limit: int = 20) -> list[DeadlineRun]:
    """Recent deadline runs, newest first."""
    return list(
        session.scalars(select(DeadlineRun).order_by(DeadlineRun.started_at.desc()).limit(limit))
    )


def deadline_history(session: Session, *, number_id: int) -> list[DeadlineChange]:
    """Every move of one number's deadline, oldest first."""
    return list(
        session.scalars(
            select(DeadlineChange)
            .where(DeadlineChange.number_id == number_id)
            .order_by(DeadlineChange.id)
        )
    )
