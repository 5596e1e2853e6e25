"""Suspending at the deadline and terminating after a long suspension (DOMAIN.md, "Deadlines
and suspension"): each move goes through the status machine, with its event, the network's work
item, the ledger notice and a message to the person."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ColumnElement, literal
from sqlalchemy.orm import Session

from app.core.actors import Actor
from app.db.base import UtcDateTime
from app.deadlines import repository
from app.deadlines.flagging import AT_RISK
from app.deadlines.models import NoticeKind
from app.numbers.models import NumberStatus, PhoneNumber
from app.work.models import WorkKind

N = PhoneNumber
S = NumberStatus


def suspend_overdue_numbers(
    session: Session,
    in_range: list[ColumnElement[bool]],
    *,
    now: dt.datetime,
    run_id: str,
    actor: Actor,
) -> tuple[int, int]:
    """Unconfirmed numbers past their deadline → suspended, with event, network work item,
    notice and a message to the employee; returns how many moved and how many were told
    (PostgreSQL; on SQLite the messages are queued by `queue_person_messages`)."""
    overdue = [*in_range, N.status.in_(AT_RISK), N.deadline_at < literal(now, UtcDateTime())]
    return repository.move_and_tell(
        session,
        overdue,
        S.SUSPENDED,
        kind=NoticeKind.SUSPEND,
        in_range=in_range,
        reason="the deadline passed and no user of the number is confirmed",
        only_from=AT_RISK,
        work_kind=WorkKind.SUSPEND,
        now=now,
        run_id=run_id,
        actor=actor,
    )


def terminate_long_suspended(
    session: Session,
    in_range: list[ColumnElement[bool]],
    *,
    now: dt.datetime,
    after: dt.timedelta,
    run_id: str,
    actor: Actor,
) -> tuple[int, int]:
    """Numbers suspended for longer than `after` → terminated (when the policy turns it on);
    how many, and how many people were told (PostgreSQL)."""
    long_ago = [
        *in_range,
        N.status == S.SUSPENDED,
        N.status_changed_at <= literal(now - after, UtcDateTime()),
    ]
    return repository.move_and_tell(
        session,
        long_ago,
        S.TERMINATED,
        kind=NoticeKind.TERMINATE,
        in_range=in_range,
        reason=f"suspended for more than {after.days} days with no confirmed user",
        only_from=[S.SUSPENDED],
        work_kind=WorkKind.TERMINATE,
        now=now,
        run_id=run_id,
        actor=actor,
    )
