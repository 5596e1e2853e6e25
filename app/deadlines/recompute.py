"""Each number's deadline from the policy, set-based.

A number's deadline is the latest any enabled rule gives it (each rule grants time: the 2021
deadline of a legacy contract, 15 days of grace after a change of user, a campaign's N days).
Rules are few: each is one expression of the number's row, so one pass over the numbers
works out every rule's deadline, the latest and the rule that gave it, and one statement
writes the numbers whose deadline changed and logs each move. Day-based rules (service start,
change of user) look up `deadline_days`, where the working-day arithmetic has been done once
per distinct day in Python.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, cast

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Date,
    Subquery,
    Table,
    and_,
    case,
    exists,
    literal,
    null,
    or_,
    select,
    update,
)
from sqlalchemy.orm import Session
from sqlalchemy.sql.util import ClauseAdapter

from app.companies.models import Contract
from app.core.actors import Actor
from app.db.base import UtcDateTime
from app.db.session import insert_ignoring_duplicates
from app.deadlines import repository as deadlines_repository
from app.deadlines.calendar import WorkingCalendar, end_of_day
from app.deadlines.models import DeadlineBasis, DeadlineDay, DeadlineRule, RuleSimKind
from app.numbers.models import PhoneNumber, SimKind

N = PhoneNumber
DAY_BASED = (DeadlineBasis.SERVICE_START, DeadlineBasis.USER_CHANGE)


def enabled_rules(session: Session) -> list[DeadlineRule]:
    """The rules in force, in a stable order."""
    return list(
        session.scalars(
            select(DeadlineRule).where(DeadlineRule.enabled.is_(True)).order_by(DeadlineRule.id)
        )
    )


def _basis_day(rule: DeadlineRule) -> Any:
    return N.service_start_on if rule.basis is DeadlineBasis.SERVICE_START else N.user_changed_on


def fill_deadline_days(
    session: Session,
    rules: list[DeadlineRule],
    calendar: WorkingCalendar,
    scope: list[ColumnElement[bool]],
) -> None:
    """Work out the deadline of each day-based rule for every basis day in scope not done yet."""
    for rule in rules:
        if rule.basis not in DAY_BASED:
            continue
        day_column = _basis_day(rule)
        known = exists().where(DeadlineDay.rule_id == rule.id, DeadlineDay.day == day_column)
        days = session.scalars(
            select(day_column).distinct().where(*scope, day_column.is_not(None), ~known)
        ).all()
        if days:
            # Another transaction may be working out the same day: the first one's row stands.
            session.execute(
                insert_ignoring_duplicates(session, DeadlineDay.__table__),
                [
                    {
                        "rule_id": rule.id,
                        "day": day,
                        "deadline_at": end_of_day(
                            calendar.shift(day, rule.offset_days, working_days=rule.working_days)
                        ),
                    }
                    for day in days
                ],
            )


def _resolvable(rule: DeadlineRule) -> bool:
    return rule.basis in DAY_BASED or rule.deadline_at is not None


def _rule_deadline(rule: DeadlineRule, n: Any) -> ColumnElement[Any]:
    """The deadline `rule` gives the number row `n`, NULL where it does not cover it."""
    conditions: list[ColumnElement[bool]] = []
    if rule.sim_kind is RuleSimKind.EMPLOYEE:
        # A number with no user named yet is held to the employee rules (the stricter ones).
        conditions.append(or_(n.sim_kind == SimKind.EMPLOYEE.value, n.sim_kind.is_(None)))
    elif rule.sim_kind is RuleSimKind.DEVICE:
        conditions.append(n.sim_kind == SimKind.DEVICE.value)
    if rule.subscriber_id is not None:
        conditions.append(n.subscriber_id == rule.subscriber_id)
    if rule.contracts_signed_from is not None or rule.contracts_signed_to is not None:
        signed = [Contract.id == n.contract_id]
        if rule.contracts_signed_from is not None:
            signed.append(Contract.signed_on >= literal(rule.contracts_signed_from, Date()))
        if rule.contracts_signed_to is not None:
            signed.append(Contract.signed_on <= literal(rule.contracts_signed_to, Date()))
        conditions.append(exists().where(*signed))
    value: ColumnElement[Any]
    if rule.basis in DAY_BASED:
        day = n.service_start_on if rule.basis is DeadlineBasis.SERVICE_START else n.user_changed_on
        value = (
            select(DeadlineDay.deadline_at)
            .where(DeadlineDay.rule_id == rule.id, DeadlineDay.day == day)
            .scalar_subquery()
        )
    else:
        value = literal(rule.deadline_at, UtcDateTime())
    if not conditions:
        return value
    return case((and_(*conditions), value), else_=null())


# What a number's deadline is worked out from: a row whose inputs changed between the read and
# the write (a new user saved meanwhile) is left for the next run.
_INPUTS = ("sim_kind", "user_changed_on", "service_start_on", "contract_id", "subscriber_id")


def recompute_batch(
    session: Session,
    *,
    rules: list[DeadlineRule],
    calendar: WorkingCalendar,
    scope: list[ColumnElement[bool]],
    clear_stale: bool,
    actor: Actor,
    reason: str,
    now: dt.datetime,
) -> int:
    """Recompute the deadlines of the numbers in `scope`; returns how many deadlines moved.

    One pass over the numbers in scope works out each rule's deadline per number (a
    day-based rule looks up `deadline_days`, filled first for the days in scope), the
    latest of them and the rule that gave it; one statement writes only the numbers whose
    deadline, rule or stale mark changes, and logs each moved deadline in
    `deadline_changes`. With `clear_stale` the stale marks are cleared as well."""
    session.flush()  # a new user's kind and day, set on the numbers, decide the deadline
    resolvable = [rule for rule in rules if _resolvable(rule)]
    fill_deadline_days(session, resolvable, calendar, scope)
    table = cast(Table, N.__table__)
    candidates = _candidates(session, table, resolvable, scope)
    best, winner = candidates.c.best, candidates.c.winner
    moved = best.is_distinct_from(candidates.c.old)
    changes = [moved, table.c.deadline_rule_id.is_distinct_from(winner)]
    if clear_stale:
        changes.append(table.c.deadline_stale.is_(True))
    write = (
        update(table)
        .where(
            table.c.id == candidates.c.id,
            *[table.c[name].is_not_distinct_from(candidates.c[name]) for name in _INPUTS],
            or_(*changes),
        )
        .values(
            deadline_at=best,
            deadline_rule_id=winner,
            # A moved deadline is a new one: its thresholds may be crossed (and told) again.
            flag_days=case((moved, null()), else_=table.c.flag_days),
            **({"deadline_stale": False} if clear_stale else {}),
        )
    )
    return deadlines_repository.write_and_log(
        session, write, candidates, best, winner, at=now, actor=actor, reason=reason
    )


def _candidates(
    session: Session, table: Table, resolvable: list[DeadlineRule], scope: list[ColumnElement[bool]]
) -> Subquery:
    """Per number in `scope`: its id, old deadline and inputs as read, the latest of the rules'
    deadlines (`best`) and the rule that gave it (`winner`)."""
    before = table.alias("before")
    adapt = ClauseAdapter(before).traverse
    inputs = [before.c[name] for name in _INPUTS]
    # OFFSET 0 keeps each rule's look-ups to one per number: PostgreSQL would otherwise fold
    # the subquery into the statement and look up again wherever a deadline is used.
    per_rule = (
        select(
            before.c.id,
            before.c.deadline_at.label("old"),
            *inputs,
            *[_rule_deadline(rule, before.c).label(f"d{i}") for i, rule in enumerate(resolvable)],
        )
        .where(*[adapt(condition) for condition in scope])
        .offset(0)
        .subquery("per_rule")
    )
    deadlines = [per_rule.c[f"d{i}"] for i in range(len(resolvable))]
    best = deadlines_repository.latest(session, deadlines)
    winner: ColumnElement[Any] = case(
        *[
            (and_(d.is_not(None), d == best), literal(rule.id, BigInteger()))
            for d, rule in zip(deadlines, resolvable, strict=True)
        ],
        else_=null(),
    ) if resolvable else null()  # fmt: skip
    return (
        select(
            per_rule.c.id,
            per_rule.c.old,
            *[per_rule.c[name] for name in _INPUTS],
            best.label("best"),
            winner.label("winner"),
        )
        .offset(0)
        .subquery("candidates")
    )


USER_OR_START_CHANGED = "the number's user or service start changed"


def settle_stale_deadlines(
    session: Session,
    *,
    scope: list[ColumnElement[bool]],
    actor: Actor,
    now: dt.datetime,
) -> int:
    """The deadlines of the numbers in `scope` marked stale (a new user, a user removed, new
    numbers), worked out now, in the caller's transaction: whoever names a user sees the
    deadline at once. The deadline run remains the safety net and applies policy changes.
    Returns how many deadlines moved."""
    return recompute_batch(
        session,
        rules=enabled_rules(session),
        calendar=WorkingCalendar.load(session),
        scope=[*scope, N.deadline_stale.is_(True)],
        clear_stale=True,
        actor=actor,
        reason=USER_OR_START_CHANGED,
        now=now,
    )
