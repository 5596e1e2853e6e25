"""How a company's numbers are counted, per engine: from its tallies on PostgreSQL, from the
numbers themselves on SQLite."""

from __future__ import annotations

from sqlalchemy import Subquery, func, select
from sqlalchemy.orm import Session

from app.db.session import is_postgres
from app.numbers.models import NumberTally, PhoneNumber


def number_groups(session: Session, *, company_id: int) -> Subquery:
    """The company's numbers as (status, sim_kind, deadline_at, n): how many numbers share
    each status, kind and deadline.

    PostgreSQL sums the company's tallies (a few hundred rows for a million numbers, see
    `NumberTally`); SQLite, which keeps none, counts the numbers by its index."""
    if is_postgres(session):
        n = func.sum(NumberTally.n)
        return (
            select(NumberTally.status, NumberTally.sim_kind, NumberTally.deadline_at, n.label("n"))
            .where(NumberTally.subscriber_id == company_id)
            .group_by(NumberTally.status, NumberTally.sim_kind, NumberTally.deadline_at)
            .having(n != 0)
            .subquery("groups")
        )
    return (
        select(
            PhoneNumber.status,
            PhoneNumber.sim_kind,
            PhoneNumber.deadline_at,
            func.count().label("n"),
        )
        .where(PhoneNumber.subscriber_id == company_id)
        .group_by(PhoneNumber.status, PhoneNumber.sim_kind, PhoneNumber.deadline_at)
        .subquery("groups")
    )
