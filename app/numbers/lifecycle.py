"""The one status machine of a number: the allowed transitions, and the only code that moves them.

Every change writes a StatusEvent (who, when, why). Nothing else assigns `PhoneNumber.status`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from app.core.errors import Conflict
from app.numbers.models import ActorKind, NumberStatus, PhoneNumber, StatusEvent

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


@dataclass(frozen=True)
class Actor:
    """Who causes a change: a job, a person, an admin, operator staff or an operator system."""

    kind: ActorKind
    id: str


class IllegalTransition(Conflict):
    """A change the status machine forbids; the API answers 409."""

    type_slug = "illegal-status-transition"
    title = "This status change is not allowed"


def is_allowed(current: NumberStatus, target: NumberStatus) -> bool:
    """Whether the table allows `current` → `target`."""
    return target in ALLOWED_TRANSITIONS[current]


def _refuse(number_id: int, current: NumberStatus, target: NumberStatus) -> IllegalTransition:
    allowed = sorted(s.value for s in ALLOWED_TRANSITIONS[current])
    hint = ", ".join(allowed) if allowed else "none: the number has left the registry"
    return IllegalTransition(
        f"Number {number_id} is '{current.value}' and cannot become '{target.value}'. "
        f"From '{current.value}' it may become: {hint}.",
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
    sources = [s for s, targets in ALLOWED_TRANSITIONS.items() if target in targets]
    if only_from is not None:
        wanted = set(only_from)
        sources = [s for s in sources if s in wanted]
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
            .values(status=target, status_changed_at=at)
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
