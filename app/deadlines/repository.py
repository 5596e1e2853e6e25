"""Deadline statements whose SQL differs between the engines."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import (
    CTE,
    ColumnElement,
    String,
    Subquery,
    Update,
    and_,
    func,
    insert,
    literal,
    null,
    select,
    type_coerce,
    update,
)
from sqlalchemy.orm import Session

from app.core.actors import Actor
from app.db.base import UtcDateTime
from app.db.session import insert_ignoring_duplicates, is_postgres
from app.deadlines.models import DeadlineChange, DeadlineNotice, NoticeKind
from app.deadlines.notices import (
    MESSAGE_COLUMNS,
    NOTICE_COLUMNS,
    message_rows,
    notices_of_moved,
    person_was_asked,
    queue_person_messages,
    request_waits_for_person,
)
from app.notifications.models import Notification
from app.numbers import lifecycle
from app.numbers.models import NumberStatus, PhoneNumber
from app.work.models import WorkKind

N = PhoneNumber

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


def move_and_tell(
    session: Session,
    numbers: list[ColumnElement[bool]],
    target: NumberStatus,
    *,
    kind: NoticeKind,
    in_range: list[ColumnElement[bool]],
    reason: str,
    only_from: Iterable[NumberStatus],
    work_kind: WorkKind,
    now: dt.datetime,
    run_id: str,
    actor: Actor,
) -> tuple[int, int]:
    """Move the selected numbers to `target` through the status machine (event, work item),
    write their notices and, on PostgreSQL, tell their persons in the same statement. Returns
    how many moved and how many were told (SQLite tells them in `queue_untold_messages`)."""

    def notice_and_tell(rows: CTE) -> list[CTE]:
        return _notice_then_message(
            session,
            rows,
            kind=kind,
            threshold=literal(0),
            tell_person=person_was_asked(rows.c.id),
            run_id=run_id,
            now=now,
        )

    in_statement = is_postgres(session)
    moved, counts = lifecycle.transition_selected_with(
        session,
        numbers,
        target,
        actor=actor,
        reason=reason,
        at=now,
        only_from=only_from,
        work_kind=work_kind.value,
        pg_followers=notice_and_tell if in_statement else None,
    )
    if in_statement:
        _, told = counts
        return moved, told
    if moved:
        notices_of_moved(session, in_range, kind=kind, status=target, now=now, run_id=run_id)
    return moved, 0


def flag_and_notice(
    session: Session,
    due: list[ColumnElement[bool]],
    crossed: Any,
    *,
    run_id: str,
    now: dt.datetime,
) -> tuple[int, int]:
    """Set `flag_days` to `crossed` on the `due` numbers and write one flag notice each; how
    many were flagged, and how many persons were told (PostgreSQL, in the same statement)."""
    if is_postgres(session):
        return _flag_in_one_statement(session, due, crossed, run_id=run_id, now=now)
    session.execute(
        insert_ignoring_duplicates(session, DeadlineNotice.__table__).from_select(
            NOTICE_COLUMNS,
            select(
                N.id,
                N.subscriber_id,
                literal(NoticeKind.FLAG.value, String()),
                crossed,
                N.deadline_at,
                literal(run_id, String()),
                literal(now, UtcDateTime()),
            ).where(*due),
        )
    )
    result = session.execute(
        update(N).where(*due).values(flag_days=crossed).execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0), 0  # type: ignore[attr-defined]


def _flag_in_one_statement(
    session: Session,
    due: list[ColumnElement[bool]],
    crossed: Any,
    *,
    run_id: str,
    now: dt.datetime,
) -> tuple[int, int]:
    # One statement: the flags, their notices and the persons' messages, each row once.
    flagged = (
        update(N)
        .where(*due)
        .values(flag_days=crossed)
        .returning(
            N.id.label("id"),
            N.subscriber_id.label("subscriber_id"),
            N.msisdn.label("msisdn"),
            N.deadline_at.label("deadline_at"),
            N.status.label("status"),
            N.flag_days.label("flag_days"),
        )
        .cte("flagged")
    )
    followers = _notice_then_message(
        session,
        flagged,
        kind=NoticeKind.FLAG,
        threshold=flagged.c.flag_days,
        tell_person=and_(
            flagged.c.status == NumberStatus.PENDING_CONFIRMATION.value,
            request_waits_for_person(flagged.c.id),
        ),
        run_id=run_id,
        now=now,
    )
    counted = select(
        select(func.count()).select_from(flagged).scalar_subquery(),
        *[select(func.count()).select_from(f).scalar_subquery() for f in followers],
    )
    n_flagged, _, told = session.execute(counted).one()
    return int(n_flagged or 0), int(told or 0)


def _notice_then_message(
    session: Session,
    source: CTE,
    *,
    kind: NoticeKind,
    threshold: Any,
    tell_person: Any,
    run_id: str,
    now: dt.datetime,
) -> list[CTE]:
    """PostgreSQL: from the rows a statement just changed (`source`: id, subscriber_id,
    msisdn, deadline_at, …), the ledger rows and the person messages, in the same statement."""
    noticed = (
        insert_ignoring_duplicates(session, DeadlineNotice.__table__)
        .from_select(
            NOTICE_COLUMNS,
            select(
                source.c.id,
                source.c.subscriber_id,
                literal(kind.value, String()),
                threshold,
                source.c.deadline_at,
                literal(run_id, String()),
                literal(now, UtcDateTime()),
            ).where(source.c.deadline_at.is_not(None)),
        )
        .returning(*DeadlineNotice.__table__.c)
        .cte(f"noticed_{kind.value}")
    )
    messaged = (
        insert_ignoring_duplicates(session, Notification.__table__)
        .from_select(
            MESSAGE_COLUMNS,
            message_rows(noticed, source.c.msisdn, now)
            .select_from(noticed.join(source, source.c.id == noticed.c.number_id))
            .where(tell_person),
        )
        .returning(Notification.__table__.c.id)
        .cte(f"messaged_{kind.value}")
    )
    return [noticed, messaged]


def queue_untold_messages(
    session: Session, low: int, high: int, *, run_id: str, now: dt.datetime
) -> int:
    """The person messages of a batch's notices that its statements did not queue themselves:
    on SQLite all of them (`queue_person_messages`), on PostgreSQL none."""
    if is_postgres(session):
        return 0
    return queue_person_messages(session, low, high, run_id=run_id, now=now)
