"""A batch of accepted rows made ready to write: the staged rows (keyed hashes, sealed
personal data), and for a streamed apply what each row does to its number, worked out in
polars from the number's state read with the checks (`with_outcomes`, `prepare_batch`)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import polars as pl

from app.core.actors import Actor, ActorKind
from app.core.personal_data import PersonalDataVault
from app.db.arrays import array_literal
from app.db.bulk import csv_slices
from app.deadlines.settle import new_user_may_move_deadline
from app.numbers import new_user
from app.numbers.models import NumberStatus
from app.uploads.checking.batch import hashed
from app.uploads.models import Upload

# The columns of a staged row, and those a registration takes from it.
STAGED_COLUMNS = ("upload_id", "row_no", "number_id", "msisdn", *new_user.USER_COLUMNS, "iccid")
NEW_COLUMNS = ("number_id", *new_user.USER_COLUMNS)


def staged_frame(upload_id: int, good: pl.DataFrame, vault: PersonalDataVault) -> pl.DataFrame:
    """Rows for the staging table, with keyed hashes, and sealed personal data to apply.

    The columns are built in polars; only hashing and encryption run once per value, in
    plain loops over a column (no row objects). The document's hash came with the checks."""
    employee = pl.col("kind") == "employee"
    digest = vault.raw_hash
    keyed = good.with_columns(
        _birth=pl.when(employee).then(pl.lit("birth:") + pl.col("birth_date").cast(pl.String)),
        _snils=pl.when(pl.col("snils").is_not_null()).then(pl.lit("snils:") + pl.col("snils")),
        # The same document as `CleanEmployee.sealed_payload`, its keys in sorted order.
        _payload=pl.when(employee).then(
            pl.struct(
                birth_date=pl.col("birth_date").cast(pl.String),
                doc_number=pl.col("doc_number"),
                doc_series=pl.col("doc_series").fill_null(""),
                issued_on=pl.col("doc_issued_on").cast(pl.String),
                issuer=pl.col("doc_issuer"),
                issuer_code=pl.col("doc_issuer_code"),
                snils=pl.col("snils"),
            ).struct.json_encode()
        ),
    )
    payloads = keyed["_payload"].to_list()
    sealed = iter(vault.seal_many([p.encode() for p in payloads if p is not None]))
    return keyed.with_columns(
        pl.lit(upload_id, pl.Int64).alias("upload_id"),
        pd_sealed=pl.Series(
            [next(sealed) if p is not None else None for p in payloads], dtype=pl.Binary
        ),
        pd_key_id=pl.when(employee).then(pl.lit(vault.active_key_id)),
        birth_date_hash=hashed(digest, keyed["_birth"]),
        snils_hash=hashed(digest, keyed["_snils"]),
    ).select(STAGED_COLUMNS)


def with_outcomes(staged: pl.DataFrame, good: pl.DataFrame, current: pl.DataFrame) -> pl.DataFrame:
    """A batch's staged rows with what the staged apply works out in SQL: the outcome of each
    row against its number's `current` registration (None when it has none), and that
    registration; and, for `prepare_batch`, the number's status and ICCID as read."""
    same = pl.all_horizontal(
        pl.col(name).eq_missing(pl.col(f"{name}_now")) for name in new_user.COMPARED
    )
    return (
        staged.with_columns(old_status=good["status"], number_iccid=good["number_iccid"])
        .join(current, on="number_id", how="left", maintain_order="left")
        .with_columns(
            outcome=pl.when(pl.col("prev_registration_id").is_null())
            .then(pl.lit(None, pl.String))
            .when(same)
            .then(pl.lit("unchanged"))
            .otherwise(pl.lit("superseded"))
        )
        .drop(f"{name}_now" for name in new_user.COMPARED)
    )


@dataclass(frozen=True)
class NumberMove:
    """One `lifecycle.transition_read` of a prepared batch: the numbers of one kind and
    outcome."""

    ids: pl.Series
    read_statuses: pl.Series
    target: NumberStatus
    reason: str
    sources: tuple[NumberStatus, ...]
    also_set: dict[str, object]


@dataclass(frozen=True)
class PreparedBatch:
    """A batch of a streamed apply made ready to send (`prepare_batch`): everything Python
    works out, so that the thread that sends it only waits on the database, and the server
    is not idle while Python formats."""

    upload_id: int
    actor: Actor
    now: dt.datetime
    ended: list[int]
    end_reason: str
    registrations: tuple[str, list[bytes]]  # COPY's columns, and the CSV in slices
    sims: tuple[str, str] | None  # array literals: number ids, and their new ICCIDs
    moves: list[NumberMove]
    settle: str | None  # array literal: the numbers whose deadline the new user may move


def upload_note(upload: Upload) -> str:
    """How an upload names itself in the reasons it writes."""
    return f"upload {upload.id}"


def prepare_batch(upload: Upload, rows: pl.DataFrame, *, now: dt.datetime) -> PreparedBatch:
    """PostgreSQL: what the staged apply does in SQL, worked out in polars for one batch
    whose outcomes and numbers' statuses were read with its checks (`with_outcomes`)."""
    note = upload_note(upload)
    changed = rows.filter(pl.col("outcome").ne_missing("unchanged"))
    registrations = changed.select(NEW_COLUMNS).with_columns(
        source=pl.lit("upload"),
        submitted_by=pl.lit(upload.created_by),
        created_at=pl.lit(now.isoformat()),
    )
    sims = rows.filter(pl.col("iccid").is_not_null() & pl.col("number_iccid").is_null())
    moves = []
    for (kind, outcome), group in changed.group_by("kind", "outcome", maintain_order=True):
        move = new_user.MOVES[str(kind)]
        moves.append(
            NumberMove(
                ids=group["number_id"],
                read_statuses=group["old_status"],
                target=move.target,
                reason=f"{move.reason} ({note})",
                sources=move.sources,
                also_set=new_user.number_values(str(kind), superseded=outcome is not None, now=now),
            )
        )
    superseded = pl.col("outcome").eq_missing("superseded")
    settled = changed.filter(new_user_may_move_deadline(pl.col("kind"), superseded))
    return PreparedBatch(
        upload_id=upload.id,
        actor=Actor(ActorKind.COMPANY_ADMIN, upload.created_by),
        now=now,
        ended=rows.filter(pl.col("outcome") == "superseded")["prev_registration_id"].to_list(),
        end_reason=new_user.end_reason(note),
        registrations=(", ".join(registrations.columns), csv_slices(registrations)),
        sims=(
            None
            if sims.is_empty()
            else (array_literal(sims["number_id"]), array_literal(sims["iccid"]))
        ),
        moves=moves,
        settle=None if settled.is_empty() else array_literal(settled["number_id"]),
    )
