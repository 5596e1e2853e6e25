"""Settling the deadlines of numbers that were just given new users, in the same transaction.

An upload names users for up to a million numbers; working out every one of their deadlines
again, and writing each of them to clear a stale mark, cost more than the rest of the apply.
Most of them cannot move: a number without a user is held to the employee rules
(`recompute._rule_deadline`), so naming its first employee keeps its deadline. Only a first
device, a change of user (which opens a grace period from today) and numbers already marked
stale are worked out, and of those only the deadlines that move are written.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import ColumnElement
from sqlalchemy.orm import Session

from app.core.actors import Actor
from app.deadlines.calendar import WorkingCalendar
from app.deadlines.recompute import USER_OR_START_CHANGED, enabled_rules, recompute_batch
from app.numbers.models import SimKind


def new_user_may_move_deadline(kind: Any, superseded: Any) -> Any:
    """Whether giving a number a user of `kind` can move its deadline: a change of user
    (`superseded`) always can, as it opens a grace period from today; a first user only when
    it is not an employee, whose rules a number without a user is held to already. Works on
    plain values, SQL columns and polars expressions alike."""
    return superseded | (kind != SimKind.EMPLOYEE.value)


def settle_new_users(
    session: Session,
    *,
    scope: list[ColumnElement[bool]],
    actor: Actor,
    now: dt.datetime,
) -> int:
    """The deadlines of the numbers in `scope` (those given a new user that may move their
    deadline, and stale ones), worked out now in the caller's transaction; only numbers whose
    deadline, rule or stale mark changes are written. Returns how many deadlines moved."""
    return recompute_batch(
        session,
        rules=enabled_rules(session),
        calendar=WorkingCalendar.load(session),
        scope=scope,
        clear_stale=True,
        actor=actor,
        reason=USER_OR_START_CHANGED,
        now=now,
    )
