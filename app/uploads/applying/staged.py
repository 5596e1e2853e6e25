"""The staged apply (SQLite): accepted rows are staged batch by batch as they are checked,
each batch committed with the point to resume after; then every staged row becomes a
registration and a move of its number in ONE transaction, in set-based statements."""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Any, cast

import polars as pl
from sqlalchemy import (
    ColumnElement,
    String,
    and_,
    case,
    func,
    insert,
    literal,
    or_,
    select,
    update,
)
from sqlalchemy import Table as SqlTable
from sqlalchemy.orm import Session

from app.core.actors import Actor, ActorKind
from app.core.personal_data import PersonalDataVault
from app.db.base import UtcDateTime
from app.db.bulk import write_frame
from app.deadlines.settle import new_user_may_move_deadline, settle_new_users
from app.numbers import lifecycle, new_user
from app.numbers.models import PhoneNumber, Registration
from app.uploads import checkpoints
from app.uploads.applying.batches import NEW_COLUMNS, upload_note
from app.uploads.models import StagedRow, Upload
from app.uploads.reading.table import RowBatch
from app.uploads.repository import analyze, clear_staging, write_rejections

# A transition that moved this many numbers leaves PostgreSQL's statistics of them stale.
_REANALYZE_AFTER = 50_000

# Rows per (kind, outcome): outcome None for a number's first user, "superseded",
# "unchanged".
Counts = dict[tuple[str, str | None], int]


def stage_batch(
    session: Session,
    vault: PersonalDataVault,
    upload: Upload,
    batch: RowBatch,
    accepted: int,
    staged: pl.DataFrame | None,
    rejections: list[dict[str, Any]],
) -> None:
    """Stage and refuse one batch's rows, and move the point to resume after past it (the
    caller commits the batch)."""
    if staged is not None:
        write_frame(session, "upload_staged_rows", staged)
    write_rejections(session, vault, upload.id, rejections)
    upload.resume_after_row = batch.last_row_no
    upload.rows_read += batch.size
    upload.accepted += accepted
    upload.rejected += len(rejections)


def apply_staged(session: Session, upload: Upload, *, now: dt.datetime) -> Counts:
    """Everything staged becomes registrations and status changes, with the deadlines they
    move, in the session's transaction; the staged rows go. The rows per outcome."""
    staged = cast(SqlTable, StagedRow.__table__)
    # Fresh staging rows have no statistics; without them the planner guesses badly.
    analyze(session, "upload_staged_rows")
    mine = staged.c.upload_id == upload.id
    _mark_outcomes(session, staged, mine)
    created = staged.c.outcome.is_(None)
    superseded = staged.c.outcome == "superseded"
    changed = and_(mine, or_(created, superseded))
    session.execute(
        update(Registration)
        .where(Registration.id.in_(select(staged.c.prev_registration_id).where(mine, superseded)))
        .values(ended_at=now, end_reason=new_user.end_reason(upload_note(upload)))
        .execution_options(synchronize_session=False)
    )
    checkpoints.reach("apply.superseded_ended")
    session.execute(
        insert(Registration).from_select(
            [*NEW_COLUMNS, "source", "submitted_by", "created_at"],
            select(
                *[staged.c[name] for name in NEW_COLUMNS],
                literal("upload", String()),
                literal(upload.created_by, String()),
                literal(now, UtcDateTime()),
            ).where(changed),
        )
    )
    checkpoints.reach("apply.registrations_inserted")
    _give_iccids(session, staged, mine)
    counts = {
        (kind, outcome): int(n)
        for kind, outcome, n in session.execute(
            select(staged.c.kind, staged.c.outcome, func.count())
            .where(mine)
            .group_by(staged.c.kind, staged.c.outcome)
        )
    }
    _move_numbers(session, upload, staged, counts, now=now)
    _settle_deadlines(session, upload, staged, now=now)
    clear_staging(session, upload.id)
    return counts


def _mark_outcomes(session: Session, staged: SqlTable, mine: ColumnElement[bool]) -> None:
    """Only rows whose number already has a user are written here (one join, UPDATE …
    FROM); a row left without an outcome gives its number its first user ("created"), so a
    first upload of a list does not rewrite every staged row."""
    same = and_(
        *[
            getattr(Registration, name).is_not_distinct_from(staged.c[name])
            for name in new_user.COMPARED
        ]
    )
    session.execute(
        update(staged)
        .where(
            mine,
            Registration.number_id == staged.c.number_id,
            Registration.ended_at.is_(None),
        )
        .values(
            prev_registration_id=Registration.id,
            outcome=case((same, "unchanged"), else_="superseded"),
        )
    )


def _give_iccids(session: Session, staged: SqlTable, mine: ColumnElement[bool]) -> None:
    """Numbers without an ICCID take the one their row gives."""
    iccid_of = (
        select(staged.c.iccid)
        .where(mine, staged.c.number_id == PhoneNumber.id, staged.c.iccid.is_not(None))
        .scalar_subquery()
    )
    session.execute(
        update(PhoneNumber)
        .where(
            PhoneNumber.iccid.is_(None),
            PhoneNumber.id.in_(select(staged.c.number_id).where(mine, staged.c.iccid.is_not(None))),
        )
        .values(iccid=iccid_of)
        .execution_options(synchronize_session=False)
    )


def _move_numbers(
    session: Session, upload: Upload, staged: SqlTable, counts: Counts, *, now: dt.datetime
) -> None:
    """Each number given a new user moves where `new_user.MOVES` says, taking the new
    user's values in the same row write; the rest keep their status and take the values."""
    actor = Actor(ActorKind.COMPANY_ADMIN, upload.created_by)
    mine = staged.c.upload_id == upload.id
    outcomes = (
        (None, staged.c.outcome.is_(None)),
        ("superseded", staged.c.outcome == "superseded"),
    )
    for kind, (outcome, of_outcome) in itertools.product(new_user.MOVES, outcomes):
        rows = counts.get((kind, outcome), 0)
        if not rows:
            continue  # nothing to move: skip the statements, and their scans of numbers
        move = new_user.MOVES[kind]
        numbers = select(staged.c.number_id).where(mine, of_outcome, staged.c.kind == kind)
        # The numbers that change status take the new values in the same row write (each
        # write of a number touches every one of its indexes once the status changes).
        values = new_user.number_values(kind, superseded=outcome is not None, now=now)
        moved = lifecycle.transition_selected(
            session,
            numbers,
            move.target,
            actor=actor,
            reason=f"{move.reason} ({upload_note(upload)})",
            at=now,
            only_from=move.sources,
            also_set=values,
        )
        if moved >= _REANALYZE_AFTER:
            # The statistics still describe the numbers before this transaction moved them;
            # the next statements' plans would walk every moved number to find a few.
            analyze(session, "numbers")
        if moved == rows:
            continue  # every number moved, and took the new values with its move
        # The rest keep their status (a device stays unregistered, a suspended number stays
        # suspended) and only take the new values, if they do not hold them already.
        session.execute(
            update(PhoneNumber)
            .where(
                PhoneNumber.id.in_(numbers),
                or_(
                    *[
                        getattr(PhoneNumber, name).is_distinct_from(value)
                        for name, value in values.items()
                    ]
                ),
            )
            .values(values)
            .execution_options(synchronize_session=False)
        )


def _settle_deadlines(
    session: Session, upload: Upload, staged: SqlTable, *, now: dt.datetime
) -> None:
    """An applied upload's numbers know their deadlines when the upload is done: those whose
    new user may move it, and stale ones, are worked out set-based in the apply's
    transaction, and only the deadlines that move are written."""
    mine = and_(staged.c.upload_id == upload.id, staged.c.outcome.is_distinct_from("unchanged"))
    may_move = new_user_may_move_deadline(staged.c.kind, staged.c.outcome == "superseded")
    settle_new_users(
        session,
        scope=[
            or_(
                PhoneNumber.id.in_(select(staged.c.number_id).where(mine, may_move)),
                and_(
                    PhoneNumber.id.in_(select(staged.c.number_id).where(mine)),
                    PhoneNumber.deadline_stale.is_(True),
                ),
            )
        ],
        actor=Actor(ActorKind.COMPANY_ADMIN, upload.created_by),
        now=now,
    )
