"""The one status machine of a number: the allowed transitions, and the only code that moves them.

Every change writes a StatusEvent (who, when, why). Nothing else assigns `PhoneNumber.status`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import polars as pl
from sqlalchemy import (
    CTE,
    ColumnElement,
    Select,
    String,
    and_,
    bindparam,
    case,
    func,
    insert,
    literal,
    null,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session, aliased

from app.core.actors import Actor
from app.core.errors import Conflict
from app.core.messages import Text
from app.db.arrays import array_literal
from app.db.base import UtcDateTime
from app.numbers.models import NumberStatus, PhoneNumber, StatusEvent
from app.numbers.repository import EVENT_COLUMNS, Followers, move_selected
from app.work.service import queue_work

S = NumberStatus

# DOMAIN.md flows: A (upload → confirmation → active | mismatch | declined | expired),
# C (change of user: back to pending or unregistered), D (transferred), deadlines (suspended,
# reactivated on confirmation, terminated after a long suspension). Terminated and transferred
# are final: the number has left the corporate registry.
_EXITS = (S.SUSPENDED, S.TERMINATED, S.TRANSFERRED)
ALLOWED_TRANSITIONS: dict[NumberStatus, frozenset[NumberStatus]] = {
    S.UNREGISTERED: frozenset({S.PENDING_CONFIRMATION, S.ACTIVE, *_EXITS}),
    S.PENDING_CONFIRMATION: frozenset(
        {S.ACTIVE, S.MISMATCH, S.DECLINED, S.EXPIRED, S.UNREGISTERED, *_EXITS}
    ),
    S.ACTIVE: frozenset({S.PENDING_CONFIRMATION, S.UNREGISTERED, *_EXITS}),
    S.MISMATCH: frozenset({S.PENDING_CONFIRMATION, S.ACTIVE, S.UNREGISTERED, *_EXITS}),
    S.DECLINED: frozenset({S.PENDING_CONFIRMATION, S.ACTIVE, S.UNREGISTERED, *_EXITS}),
    S.EXPIRED: frozenset({S.PENDING_CONFIRMATION, S.ACTIVE, S.UNREGISTERED, *_EXITS}),
    # A suspended number stays cut off until its user is confirmed (reactivation) or it leaves.
    S.SUSPENDED: frozenset({S.ACTIVE, S.TERMINATED, S.TRANSFERRED}),
    S.TERMINATED: frozenset(),
    S.TRANSFERRED: frozenset(),
}
# A move to one of these takes the number out of the registry: it is marked `left_registry`
# in the same write, which frees its msisdn for another operator.
LEAVING = frozenset({S.TERMINATED, S.TRANSFERRED})


def _leaving(target: NumberStatus) -> dict[str, object]:
    """What a move to `target` writes besides the status: the mark of a number that left."""
    return {"left_registry": True} if target in LEAVING else {}


class IllegalTransition(Conflict):
    """A change the status machine forbids; the API answers 409."""

    type_slug = "illegal-status-transition"


def is_allowed(current: NumberStatus, target: NumberStatus) -> bool:
    """Whether the table allows `current` → `target`."""
    return target in ALLOWED_TRANSITIONS[current]


def _refuse(number_id: int, current: NumberStatus, target: NumberStatus) -> IllegalTransition:
    allowed = sorted(s.value for s in ALLOWED_TRANSITIONS[current])
    detail = (
        Text(
            "transition.refused",
            number_id=number_id,
            current=current.value,
            target=target.value,
            allowed=", ".join(allowed),
        )
        if allowed
        else Text("transition.refused.final", number_id=number_id, current=current.value)
    )
    return IllegalTransition(
        detail,
        number_id=number_id,
        current_status=current.value,
        requested_status=target.value,
        allowed=allowed,
    )


def transition(
    session: Session,
    number: PhoneNumber,
    target: NumberStatus,
    *,
    actor: Actor,
    reason: str,
    at: dt.datetime,
    registration_id: int | None = None,
) -> StatusEvent:
    """Move one number to `target`, writing its event; IllegalTransition if the table forbids it."""
    current = number.status
    if not is_allowed(current, target):
        raise _refuse(number.id, current, target)
    number.status = target
    number.status_changed_at = at
    if target in LEAVING:
        number.left_registry = True
    event = StatusEvent(
        number_id=number.id,
        from_status=current,
        to_status=target,
        at=at,
        actor_kind=actor.kind,
        actor_id=actor.id,
        reason=reason,
        registration_id=registration_id,
    )
    session.add(event)
    session.flush()
    return event


def transition_unless(
    session: Session,
    number: PhoneNumber,
    target: NumberStatus,
    *,
    kept: Collection[NumberStatus],
    actor: Actor,
    reason: str,
    at: dt.datetime,
    registration_id: int | None = None,
) -> bool:
    """`transition` to `target` unless the number is in one of the `kept` statuses (already
    there, or one the rules keep as it is); whether it moved."""
    if number.status in kept:
        return False
    transition(
        session, number, target, actor=actor, reason=reason, at=at, registration_id=registration_id
    )
    return True


def _sources(target: NumberStatus, only_from: Iterable[NumberStatus] | None) -> list[str]:
    """Statuses the table allows to become `target`, narrowed to `only_from` when given."""
    sources = [s.value for s, targets in ALLOWED_TRANSITIONS.items() if target in targets]
    if only_from is not None:
        wanted = {s.value for s in only_from}
        sources = [s for s in sources if s in wanted]
    return sources


def transition_many(
    session: Session,
    number_ids: Sequence[int],
    target: NumberStatus,
    *,
    actor: Actor,
    reason: str,
    at: dt.datetime,
    only_from: Iterable[NumberStatus] | None = None,
) -> int:
    """Set-based twin of `transition` for bulk work: moves every listed number whose current
    status allows `target` (and is in `only_from`, when given), writes one event each, and
    returns how many moved. Numbers that may not move are left alone, untouched."""
    sources = _sources(target, only_from)
    if not number_ids or not sources:
        return 0
    moved = 0
    for start in range(0, len(number_ids), 5_000):
        chunk = list(number_ids[start : start + 5_000])
        rows = session.execute(
            select(PhoneNumber.id, PhoneNumber.status)
            .where(PhoneNumber.id.in_(chunk), PhoneNumber.status.in_(sources))
            # On PostgreSQL the rows stay locked until commit, so the event's from_status is true.
            .with_for_update()
        ).all()
        if not rows:
            continue
        ids = [r.id for r in rows]
        session.execute(
            update(PhoneNumber)
            .where(PhoneNumber.id.in_(ids), PhoneNumber.status.in_(sources))
            .values(status=target, status_changed_at=at, **_leaving(target))
            .execution_options(synchronize_session=False)
        )
        session.execute(
            insert(StatusEvent),
            [
                {
                    "number_id": r.id,
                    "from_status": r.status,
                    "to_status": target,
                    "at": at,
                    "actor_kind": actor.kind,
                    "actor_id": actor.id,
                    "reason": reason,
                    "registration_id": None,
                }
                for r in rows
            ],
        )
        moved += len(rows)
    return moved


def transition_selected(
    session: Session,
    number_ids: Select[*tuple[Any, ...]],
    target: NumberStatus,
    *,
    actor: Actor,
    reason: str,
    at: dt.datetime,
    only_from: Iterable[NumberStatus] | None = None,
    also_set: dict[str, object] | None = None,
    work_kind: str | None = None,
) -> int:
    """Set-based `transition` (see `transition_selected_with`); returns how many moved."""
    moved, _ = transition_selected_with(
        session,
        number_ids,
        target,
        actor=actor,
        reason=reason,
        at=at,
        only_from=only_from,
        also_set=also_set,
        work_kind=work_kind,
    )
    return moved


def transition_selected_with(
    session: Session,
    number_ids: Select[*tuple[Any, ...]] | Sequence[ColumnElement[bool]],
    target: NumberStatus,
    *,
    actor: Actor,
    reason: str,
    at: dt.datetime,
    only_from: Iterable[NumberStatus] | None = None,
    also_set: dict[str, object] | None = None,
    work_kind: str | None = None,
    pg_followers: Followers | None = None,
) -> tuple[int, list[int]]:
    """Set-based `transition` for millions of numbers: the numbers are given as a SELECT of
    ids, and the database moves them and writes their events without a row reaching Python.
    Numbers whose status may not become `target` (or is not in `only_from`) stay as they are.
    `also_set` writes other columns of the moved numbers in the same row write; `work_kind`
    queues one operator work item of that kind for each moved number (unless one is open).
    `number_ids` may also be a list of conditions on `numbers` (no semi-join then).
    `pg_followers` (PostgreSQL only; SQLite callers do the same work in statements of their
    own) builds more data-modifying CTEs from the `moved` CTE — columns id, old, operator_id,
    subscriber_id, msisdn, sim_kind, deadline_at — run in the same statement; the row count of
    each follower (its RETURNING rows) comes back after the count of numbers moved."""
    extra = {**(also_set or {}), **_leaving(target)}
    sources = _sources(target, only_from)
    if not sources:
        return 0, []
    constants = (
        literal(target.value, String()),
        literal(at, UtcDateTime()),
        literal(actor.kind.value, String()),
        literal(actor.id, String()),
        literal(reason, String()),
        null(),
    )
    # Conditions on `numbers` itself select the rows directly, without a semi-join.
    chosen = (
        list(number_ids) if isinstance(number_ids, Sequence) else [PhoneNumber.id.in_(number_ids)]
    )
    selected = (*chosen, PhoneNumber.status.in_(sources))
    return move_selected(
        session,
        selected,
        target,
        extra=extra,
        event=constants,
        at=at,
        work_kind=work_kind,
        pg_followers=pg_followers,
    )


_TRANSITION_READ = (
    "WITH listed AS ("
    " SELECT listed.*, listed.old = ANY(CAST(:sources AS TEXT[])) AS moves"
    " FROM unnest(CAST(:ids AS BIGINT[]), CAST(:olds AS TEXT[])) AS listed(id, old)),"
    " written AS ("
    " UPDATE numbers SET status = CASE WHEN listed.moves THEN :target ELSE numbers.status END,"
    " status_changed_at = CASE WHEN listed.moves THEN :at ELSE numbers.status_changed_at END"
    "{leaving}{assignments}"
    " FROM listed WHERE numbers.id = listed.id AND numbers.status = listed.old"
    " RETURNING numbers.id, listed.old, listed.moves),"
    " logged AS ("
    " INSERT INTO status_events (number_id, from_status, to_status, at, actor_kind,"
    " actor_id, reason, registration_id)"
    " SELECT id, old, :target, :at, :actor_kind, :actor_id, :reason, NULL"
    " FROM written WHERE moves RETURNING 1)"
    " SELECT (SELECT count(*) FROM written), (SELECT count(*) FROM logged)"
)


def transition_read(
    session: Session | Connection,
    number_ids: pl.Series | Sequence[int],
    read_statuses: pl.Series | Sequence[str],
    target: NumberStatus,
    *,
    actor: Actor,
    reason: str,
    at: dt.datetime,
    only_from: Iterable[NumberStatus] | None = None,
    also_set: Mapping[str, object] | None = None,
) -> int:
    """PostgreSQL: `transition_selected` for numbers whose statuses the caller has read (a
    batch of a few thousand): the numbers in a source status move to `target` with an event
    each, the others keep their status; all take `also_set`. One statement finds each number
    by its id and re-checks the status read, so its plan is the same at any size of the
    registry; the ids and statuses travel as array literals (`array_literal`). It runs on a
    session or on a bare connection (an upload's second writer, see `app.uploads`). Returns how
    many numbers moved; raises `Conflict` when a number's status is no longer the one read
    (another transaction moved it meanwhile): the caller rolls back."""
    if len(number_ids) != len(read_statuses):
        raise ValueError("one status read per number")
    extra = dict(also_set or {})
    unknown = set(extra) - set(PhoneNumber.__table__.c.keys())
    if unknown:
        raise ValueError(f"not columns of numbers: {sorted(unknown)}")
    # Column names checked above and constants of this module; every value is bound.
    assignments = "".join(f", {name} = :set_{name}" for name in extra)
    leaving = (
        ", left_registry = CASE WHEN listed.moves THEN TRUE ELSE numbers.left_registry END"
        if target in LEAVING
        else ""
    )
    statement = text(_TRANSITION_READ.format(leaving=leaving, assignments=assignments)).bindparams(
        bindparam("at", type_=UtcDateTime())
    )
    params: dict[str, Any] = {
        "ids": array_literal(number_ids),
        "olds": array_literal(read_statuses),
        "sources": array_literal(_sources(target, only_from)),
        "target": target.value,
        "at": at,
        "actor_kind": actor.kind.value,
        "actor_id": actor.id,
        "reason": reason,
        **{f"set_{name}": value for name, value in extra.items()},
    }
    written, moved = session.execute(statement, params).one()
    if written != len(number_ids):
        raise Conflict(Text("numbers.changed_meanwhile", count=len(number_ids) - written))
    return int(moved)


@dataclass(frozen=True)
class Move:
    """Where the numbers of one outcome go, in `transition_by_outcome`."""

    target: NumberStatus
    reason: str
    only_from: tuple[NumberStatus, ...] | None = None
    work_kind: str | None = None


def transition_by_outcome(
    session: Session,
    decided: CTE,
    moves: Mapping[str, Move],
    *,
    actor: Actor,
    at: dt.datetime,
) -> dict[str, int]:
    """PostgreSQL: one statement moves the numbers `decided` names, each by its outcome.

    `decided` is a CTE with columns `number_id` and `outcome` (for the matching run, the
    UPDATE … RETURNING that decides the answered requests). A number whose outcome has a
    `Move` becomes its target when the table allows it from its current status (and that
    status is in `only_from`); the others stay as they are. As in `transition_selected_with`,
    the old status comes from a second look at the row in the statement's snapshot and the
    UPDATE re-checks it, each moved number gets one event, and a `work_kind` queues one work
    item unless one is open. Returns how many numbers moved per outcome."""
    branches = []
    for outcome, move in moves.items():
        sources = _sources(move.target, move.only_from)
        if sources:
            branches.append(and_(decided.c.outcome == outcome, PhoneNumber.status.in_(sources)))
    if not branches:
        return {}
    moved = _moved_by_outcome(decided, moves, branches, at=at)
    reason = case({outcome: move.reason for outcome, move in moves.items()}, value=moved.c.outcome)
    logged = insert(StatusEvent).from_select(
        EVENT_COLUMNS,
        select(
            moved.c.id,
            moved.c.old,
            moved.c.new,
            literal(at, UtcDateTime()),
            literal(actor.kind.value, String()),
            literal(actor.id, String()),
            reason,
            null(),
        ),
    )
    counted = (
        select(moved.c.outcome, func.count())
        .group_by(moved.c.outcome)
        .add_cte(logged.cte("logged"))
    )
    for kind in sorted({m.work_kind for m in moves.values() if m.work_kind is not None}):
        outcomes = [o for o, m in moves.items() if m.work_kind == kind]
        counted = counted.add_cte(
            queue_work(
                session, moved.c.id, moved.c.operator_id, moved, kind, at,
                moved.c.outcome.in_(outcomes),
            ).cte(f"queued_{kind}")
        )  # fmt: skip
    counts = dict.fromkeys(moves, 0)
    counts.update({row[0]: int(row[1]) for row in session.execute(counted)})
    return counts


def _moved_by_outcome(
    decided: CTE,
    moves: Mapping[str, Move],
    branches: Sequence[ColumnElement[bool]],
    *,
    at: dt.datetime,
) -> CTE:
    """The UPDATE … RETURNING (as a CTE) that moves each number `decided` names by its outcome,
    re-checking the status it read in the statement's snapshot."""
    before = aliased(PhoneNumber, name="before")
    leaving = {o: True for o, move in moves.items() if move.target in LEAVING}
    also = (
        {"left_registry": case(leaving, value=decided.c.outcome, else_=PhoneNumber.left_registry)}
        if leaving
        else {}
    )
    return (
        update(PhoneNumber)
        .where(
            PhoneNumber.id == decided.c.number_id,
            or_(*branches),
            before.id == PhoneNumber.id,
            PhoneNumber.status == before.status,
        )
        .values(
            status=case(
                {outcome: move.target.value for outcome, move in moves.items()},
                value=decided.c.outcome,
            ),
            status_changed_at=at,
            **also,
        )
        .returning(
            PhoneNumber.id.label("id"),
            before.status.label("old"),
            PhoneNumber.status.label("new"),
            PhoneNumber.operator_id.label("operator_id"),
            decided.c.outcome.label("outcome"),
        )
        .cte("moved")
    )


def record_creation(
    session: Session, number_ids: Sequence[int], *, actor: Actor, reason: str, at: dt.datetime
) -> None:
    """First event of new numbers: they enter the registry as `unregistered`."""
    if not number_ids:
        return
    session.execute(
        insert(StatusEvent),
        [
            {
                "number_id": number_id,
                "from_status": None,
                "to_status": NumberStatus.UNREGISTERED,
                "at": at,
                "actor_kind": actor.kind,
                "actor_id": actor.id,
                "reason": reason,
                "registration_id": None,
            }
            for number_id in number_ids
        ],
    )
