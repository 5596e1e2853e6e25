"""Deadline statements whose SQL differs between the engines."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Subquery,
    Update,
    func,
    insert,
    literal,
    null,
    select,
    type_coerce,
)
from sqlalchemy.orm import Session

from app.core.actors import Actor
from app.db.base import UtcDateTime
from app.db.session import is_postgres
from app.deadlines.models import DeadlineChange

_CHANGE_COLUMNS = [
    "number_id", "old_deadline_at", "new_deadline_at", "rule_id", "at", "actor_kind",
    "actor_id", "reason",
]  # fmt: skip


def latest(session: Session, moments: Sequence[ColumnElement[Any]]) -> ColumnElement[Any]:
    """The latest of `moments`, leaving out NULLs (NULL when all are). PostgreSQL's GREATEST
    does exactly that; SQLite's max() of several values is NULL when one is, and compares its
    stored UTC text, where '' comes first."""
    if not moments:
        return type_coerce(null(), UtcDateTime())
    if len(moments) == 1:
        return moments[0]
    if is_postgres(session):
        return type_coerce(func.greatest(*moments), UtcDateTime())
    texts = [func.coalesce(moment, "") for moment in moments]
    return type_coerce(func.nullif(func.max(*texts), ""), UtcDateTime())


def write_and_log(
    session: Session,
    write: Update,
    candidates: Subquery,
    best: ColumnElement[Any],
    winner: ColumnElement[Any],
    *,
    at: dt.datetime,
    actor: Actor,
    reason: str,
) -> int:
    """Run `write` (the numbers' new deadlines, from `candidates`) and log every deadline it
    moved in `deadline_changes`; returns how many moved. PostgreSQL logs what the statement
    wrote, in the same statement (a row another transaction changed meanwhile is neither
    written nor logged); SQLite, one writer at a time, logs what it is about to write."""
    constants = (
        literal(at, UtcDateTime()),
        literal(actor.kind.value),
        literal(actor.id),
        literal(reason),
    )
    if is_postgres(session):
        written = write.returning(
            candidates.c.id.label("id"),
            candidates.c.old.label("old"),
            best.label("new"),
            winner.label("rule_id"),
        ).cte("written")
        logged = (
            insert(DeadlineChange)
            .from_select(
                _CHANGE_COLUMNS,
                select(
                    written.c.id, written.c.old, written.c.new, written.c.rule_id, *constants
                ).where(written.c.new.is_distinct_from(written.c.old)),
            )
            .returning(DeadlineChange.id)
            .cte("logged")
        )
        count = select(func.count()).select_from(logged).add_cte(written)
        return int(session.execute(count).scalar_one())
    result = session.execute(
        insert(DeadlineChange)
        .from_select(
            _CHANGE_COLUMNS,
            select(candidates.c.id, candidates.c.old, best, winner, *constants).where(
                best.is_distinct_from(candidates.c.old)
            ),
        )
        .execution_options(preserve_rowcount=True)
    )
    session.execute(write.execution_options(synchronize_session=False))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
