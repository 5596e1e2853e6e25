"""Each number's deadline from the policy, set-based.

A number's deadline is the latest any enabled rule gives it (each rule grants time: the 2021
deadline of a legacy contract, 15 days of grace after a change of user, a campaign's N days).
Rules are few: one SELECT per rule, UNION ALL, the best per number by a window function, kept
in `deadline_scratch` for the batch; then one statement logs the moves and one writes them.
Day-based rules (service start, change of user) join `deadline_days`, where the working-day
arithmetic has been done once per distinct day in Python.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Date,
    Select,
    String,
    and_,
    case,
    delete,
    exists,
    func,
    insert,
    literal,
    null,
    or_,
    select,
    text,
    union_all,
    update,
)
from sqlalchemy.orm import Session

from app.companies.models import Contract
from app.db.base import UtcDateTime
from app.db.session import insert_ignoring_duplicates
from app.deadlines.calendar import WorkingCalendar, end_of_day
from app.deadlines.models import (
    DeadlineBasis,
    DeadlineChange,
    DeadlineDay,
    DeadlineRule,
    DeadlineScratch,
    RuleSimKind,
)
from app.numbers.lifecycle import Actor
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


def _rule_candidates(
    rule: DeadlineRule, scope: list[ColumnElement[bool]]
) -> Select[*tuple[Any, ...]]:
    """(number id, deadline, rule id) of every number in scope this rule covers."""
    conditions: list[ColumnElement[bool]] = list(scope)
    if rule.sim_kind is RuleSimKind.EMPLOYEE:
        # A number with no user named yet is held to the employee rules (the stricter ones).
        conditions.append(or_(N.sim_kind == SimKind.EMPLOYEE, N.sim_kind.is_(None)))
    elif rule.sim_kind is RuleSimKind.DEVICE:
        conditions.append(N.sim_kind == SimKind.DEVICE)
    if rule.subscriber_id is not None:
        conditions.append(N.subscriber_id == rule.subscriber_id)
    rule_id = literal(rule.id, BigInteger())
    if rule.basis in DAY_BASED:
        query = (
            select(N.id, DeadlineDay.deadline_at, rule_id)
            .select_from(N)
            .join(
                DeadlineDay,
                and_(DeadlineDay.rule_id == rule.id, DeadlineDay.day == _basis_day(rule)),
            )
        )
    else:
        query = select(N.id, literal(rule.deadline_at, UtcDateTime()), rule_id).select_from(N)
    if rule.contracts_signed_from is not None or rule.contracts_signed_to is not None:
        query = query.join(Contract, Contract.id == N.contract_id)
        if rule.contracts_signed_from is not None:
            conditions.append(Contract.signed_on >= literal(rule.contracts_signed_from, Date()))
        if rule.contracts_signed_to is not None:
            conditions.append(Contract.signed_on <= literal(rule.contracts_signed_to, Date()))
    return query.where(*conditions)


def _best_per_number(
    rules: list[DeadlineRule], scope: list[ColumnElement[bool]]
) -> Select[*tuple[Any, ...]]:
    """The latest deadline per number in scope, and its rule; (id, NULL, NULL) when none."""
    nothing = select(
        N.id.label("number_id"),
        null().cast(UtcDateTime()).label("deadline_at"),
        null().cast(BigInteger()).label("rule_id"),
    ).where(*scope)
    arms = [_rule_candidates(rule, scope) for rule in rules if _resolvable(rule)]
    candidates = union_all(nothing, *arms).subquery("candidates")
    number_id, deadline_at, rule_id = (
        candidates.c.number_id,
        candidates.c.deadline_at,
        candidates.c.rule_id,
    )
    ranked = select(
        number_id.label("number_id"),
        deadline_at.label("deadline_at"),
        rule_id.label("rule_id"),
        func.row_number()
        .over(partition_by=number_id, order_by=(deadline_at.desc().nulls_last(), rule_id))
        .label("rank"),
    ).subquery("ranked")
    return select(ranked.c.number_id, ranked.c.deadline_at, ranked.c.rule_id).where(
        ranked.c.rank == 1
    )


def _resolvable(rule: DeadlineRule) -> bool:
    return rule.basis in DAY_BASED or rule.deadline_at is not None


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
    analyze: bool = True,
) -> int:
    """Recompute the deadlines of the numbers in `scope`; returns how many deadlines moved.
    `analyze` gives PostgreSQL statistics of the batch's scratch rows (large batches); a few
    numbers of one request or one upload need none, and ANALYZE would make them wait for
    each other.

    With `clear_stale` the numbers' stale marks are cleared for the numbers recomputed (their
    rows are locked first on PostgreSQL, so a new user saved meanwhile waits and marks the
    number stale again for the next run)."""
    session.execute(delete(DeadlineScratch))  # also takes SQLite's write lock first
    if clear_stale and session.get_bind().dialect.name == "postgresql":
        session.execute(select(N.id).where(*scope).with_for_update()).all()
    fill_deadline_days(session, rules, calendar, scope)
    session.execute(
        insert(DeadlineScratch).from_select(
            ["number_id", "deadline_at", "rule_id"], _best_per_number(rules, scope)
        )
    )
    if analyze and session.get_bind().dialect.name == "postgresql":
        session.execute(text("ANALYZE deadline_scratch"))
    s = DeadlineScratch
    in_batch = N.id == s.number_id
    moved = N.deadline_at.is_distinct_from(s.deadline_at)
    logged = session.execute(
        insert(DeadlineChange)
        .from_select(
            [
                "number_id", "old_deadline_at", "new_deadline_at", "rule_id", "at",
                "actor_kind", "actor_id", "reason",
            ],
            select(
                N.id, N.deadline_at, s.deadline_at, s.rule_id, literal(now, UtcDateTime()),
                literal(actor.kind.value, String()), literal(actor.id, String()),
                literal(reason, String()),
            ).where(in_batch, moved),
        )
        .execution_options(preserve_rowcount=True)
    )  # fmt: skip
    session.execute(
        update(N)
        .where(in_batch, or_(moved, N.deadline_rule_id.is_distinct_from(s.rule_id)))
        .values(
            deadline_at=s.deadline_at,
            deadline_rule_id=s.rule_id,
            # A moved deadline is a new one: its thresholds may be crossed (and told) again.
            flag_days=case((moved, null()), else_=N.flag_days),
        )
        .execution_options(synchronize_session=False)
    )
    if clear_stale:
        session.execute(
            update(N)
            .where(N.deadline_stale.is_(True), N.id.in_(select(s.number_id)))
            .values(deadline_stale=False)
            .execution_options(synchronize_session=False)
        )
    session.execute(delete(DeadlineScratch))
    return int(logged.rowcount or 0)  # type: ignore[attr-defined]


USER_OR_START_CHANGED = "the number's user or service start changed"


def settle_stale_deadlines(
    session: Session,
    *,
    scope: list[ColumnElement[bool]],
    actor: Actor,
    now: dt.datetime,
    analyze: bool = False,
) -> int:
    """The deadlines of the numbers in `scope` marked stale (a new user, a user removed, new
    numbers), worked out now, in the caller's transaction: whoever names a user sees the
    deadline at once. The deadline run remains the safety net and applies policy changes.
    Returns how many deadlines moved."""
    session.flush()  # the new user's kind and day, set on the numbers, decide the deadline
    return recompute_batch(
        session,
        rules=enabled_rules(session),
        calendar=WorkingCalendar.load(session),
        scope=[*scope, N.deadline_stale.is_(True)],
        clear_stale=True,
        actor=actor,
        reason=USER_OR_START_CHANGED,
        now=now,
        analyze=analyze,
    )
