"""Matching statements whose SQL differs between the engines."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy import Select, Update
from sqlalchemy.orm import Session

from app.core.actors import Actor
from app.db.session import is_postgres
from app.numbers import lifecycle
from app.portal.models import ConfirmationRequest


def decide_and_move(
    session: Session,
    decide: Update,
    moves: Mapping[str, lifecycle.Move],
    *,
    actor: Actor,
    now: dt.datetime,
    decided_numbers: Callable[[str], Select[Any]],
) -> dict[str, int]:
    """Run `decide` (the UPDATE that gives answered requests their outcome) and move each
    decided number by its outcome's `Move`; how many numbers moved per outcome.
    `decided_numbers(outcome)` selects the numbers of the requests just decided with it."""
    if is_postgres(session):
        # One statement: the decision's RETURNING names the numbers and their outcomes, and
        # the numbers move from it, with no second look at the requests.
        decided = decide.returning(
            ConfirmationRequest.number_id.label("number_id"),
            ConfirmationRequest.outcome.label("outcome"),
        ).cte("decided")
        return lifecycle.transition_by_outcome(session, decided, moves, actor=actor, at=now)
    session.execute(decide.execution_options(synchronize_session=False))
    return {
        outcome: lifecycle.transition_selected(
            session,
            decided_numbers(outcome),
            move.target,
            actor=actor,
            reason=move.reason,
            at=now,
            only_from=move.only_from,
            work_kind=move.work_kind,
        )
        for outcome, move in moves.items()
    }
