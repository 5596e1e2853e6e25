"""Flagging the numbers at risk: each unconfirmed number is marked with the nearest threshold
(days before its deadline) it has crossed, and its person is warned once per threshold."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import ColumnElement, case, literal, or_
from sqlalchemy.orm import Session

from app.db.base import UtcDateTime
from app.deadlines import repository
from app.numbers.models import NumberStatus, PhoneNumber

N = PhoneNumber
S = NumberStatus
# Not yet confirmed: these are flagged ahead of their deadline and suspended at it.
AT_RISK = (S.UNREGISTERED, S.PENDING_CONFIRMATION, S.MISMATCH, S.DECLINED, S.EXPIRED)


def flag_numbers_at_risk(
    session: Session,
    in_range: list[ColumnElement[bool]],
    *,
    now: dt.datetime,
    thresholds: list[int],
    run_id: str,
) -> tuple[int, int]:
    """Mark each unconfirmed number with the nearest threshold it has crossed, and write one
    notice per number and threshold. A flag only ever gets nearer for the same deadline, so a
    repeated run (or a clock that went back) flags and tells nobody twice. Returns how many
    were flagged, and how many people asked to confirm were told (PostgreSQL)."""
    nearest_first = sorted(thresholds)
    crossed: Any = case(
        *[
            (N.deadline_at <= literal(now + dt.timedelta(days=days), UtcDateTime()), days)
            for days in nearest_first
        ]
    )
    due = [
        *in_range,
        N.status.in_(AT_RISK),
        N.deadline_at >= literal(now, UtcDateTime()),
        N.deadline_at <= literal(now + dt.timedelta(days=nearest_first[-1]), UtcDateTime()),
        or_(N.flag_days.is_(None), crossed < N.flag_days),
    ]
    return repository.flag_and_notice(session, due, crossed, run_id=run_id, now=now)
