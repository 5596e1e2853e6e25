"""The portal's rate per operator, shared by every dispatcher on the database.

One row per operator holds a token bucket: `rate` requests a second, up to one second's worth
saved while nobody sends. A dispatcher takes its share in a short transaction of its own (the
row lock orders dispatchers in every process), sends, and gives back what it did not use. So
two schedulers, or a scheduler and an API instance, together never exceed the rate.

The bucket fills with the registry's clock. In dev and test that clock can stand at a set
moment and be moved: a move of five minutes stands for five minutes in which a dispatcher
running all along would have sent at the rate, so it is credited in full, beyond the
one-second cap. On the wall clock (production) time that passed with nobody sending fills the
bucket only up to the cap.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.db.session import insert_ignoring_duplicates
from app.portal.models import PortalSendAllowance

BURST_SECONDS = 1.0


@dataclass(frozen=True)
class Moment:
    """Now on the registry's clock, and whether that clock stands at a set moment (dev and
    test), where every move of it counts as time the dispatcher ran."""

    clock: dt.datetime
    simulated: bool = False


def _locked(
    session: Session, operator_id: int, rate: float, moment: Callable[[], Moment]
) -> tuple[PortalSendAllowance, Moment]:
    """The operator's row, locked, and the moment read once the lock is held: a sender that
    read the clock before another one refilled the row would see the clock go back, and the
    next refill would credit the same time twice."""
    row = session.scalars(
        select(PortalSendAllowance)
        .where(PortalSendAllowance.operator_id == operator_id)
        .with_for_update()
    ).one_or_none()
    if row is not None:
        return row, moment()
    at = moment()
    session.execute(
        insert_ignoring_duplicates(session, PortalSendAllowance.__table__).values(
            operator_id=operator_id,
            tokens=rate * BURST_SECONDS,
            refilled_at=at.clock,
            failures=0,
        )
    )
    row = session.scalars(
        select(PortalSendAllowance)
        .where(PortalSendAllowance.operator_id == operator_id)
        .with_for_update()
    ).one()
    return row, at


def refill(row: PortalSendAllowance, *, rate: float, at: Moment) -> None:
    """Add the tokens earned since the last refill (see the module's docstring)."""
    elapsed = (at.clock - row.refilled_at).total_seconds()
    if elapsed > 0:
        earned = rate * elapsed
        if at.simulated:
            row.tokens += earned
        else:
            # Never takes away credit a move of a dev clock gave before it was let go.
            row.tokens = max(row.tokens, min(rate * BURST_SECONDS, row.tokens + earned))
    # A clock moved back (a dev clock reset to the wall) starts counting again from there.
    row.refilled_at = at.clock


def reserve(
    session: Session,
    *,
    operator_id: int,
    wanted: int,
    rate: float,
    moment: Callable[[], Moment],
) -> tuple[int, Moment]:
    """Take up to `wanted` requests of the operator's allowance: how many were granted (none
    while the operator's sending is paused), and the moment they were granted at, read from
    `moment` under the row's lock. A rate of 0 is no limit. The caller commits."""
    row, at = _locked(session, operator_id, rate, moment)
    if wanted <= 0:
        return 0, at
    if row.paused_until is not None and row.paused_until > at.clock:
        # Nothing is earned while the portal is down: it comes back to the rate, not a burst.
        row.tokens = 0.0
        row.refilled_at = at.clock
        return 0, at
    if rate <= 0:
        return wanted, at
    refill(row, rate=rate, at=at)
    # Whole requests; a sum of refills may fall a hair short of a whole one.
    granted = min(wanted, int(row.tokens + 1e-6))
    row.tokens -= granted
    return granted, at


def give_back(session: Session, *, operator_id: int, count: int, rate: float) -> None:
    """Return requests granted but not sent (fewer were due). The caller commits."""
    if count <= 0 or rate <= 0:
        return
    row = session.scalars(
        select(PortalSendAllowance)
        .where(PortalSendAllowance.operator_id == operator_id)
        .with_for_update()
    ).one()
    row.tokens += count


def pause(
    session: Session,
    *,
    operator_id: int,
    rate: float,
    at: Moment,
    backoff: Callable[[int], float],
) -> dt.datetime:
    """The portal is down: nobody sends for the operator for `backoff(failures in a row)`
    seconds. Returns when sending resumes. The caller commits."""
    row, _ = _locked(session, operator_id, rate, lambda: at)
    row.failures += 1
    row.paused_until = at.clock + dt.timedelta(seconds=backoff(row.failures))
    return row.paused_until


def resume(session: Session, *, operator_id: int) -> None:
    """The portal took requests again: no pause, and the count of failures starts over."""
    row = session.get(PortalSendAllowance, operator_id)
    if row is not None and (row.failures or row.paused_until is not None):
        row.failures = 0
        row.paused_until = None
