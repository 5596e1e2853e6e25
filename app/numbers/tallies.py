"""The tallies of each company's numbers (`NumberTally`): written by triggers, folded here."""

from __future__ import annotations

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from app.db.session import is_postgres
from app.numbers.models import NumberTally


def compact_tallies(session: Session, *, min_rows: int = 1_000) -> int:
    """Fold the tallies of each company with at least `min_rows` rows into one row per group
    (PostgreSQL); how many companies were folded.

    Each company's rows are deleted and their sums inserted in one statement. Rows a writer
    adds meanwhile are not among those deleted (not in the statement's snapshot) and stay as
    they are; two folds at once delete each row once (the second waits, then skips it)."""
    if not is_postgres(session):
        return 0
    companies = session.scalars(
        select(NumberTally.subscriber_id)
        .group_by(NumberTally.subscriber_id)
        .having(func.count() >= min_rows)
    ).all()
    for company_id in companies:
        session.execute(_FOLD, {"company": company_id})
    session.flush()
    return len(companies)


_FOLD = text(
    "WITH folded AS (DELETE FROM number_tallies WHERE subscriber_id = :company "
    "RETURNING subscriber_id, status, sim_kind, deadline_at, n) "
    "INSERT INTO number_tallies (subscriber_id, status, sim_kind, deadline_at, n) "
    "SELECT subscriber_id, status, sim_kind, deadline_at, sum(n) FROM folded "
    "GROUP BY subscriber_id, status, sim_kind, deadline_at HAVING sum(n) <> 0"
)
