"""The whole-file checks, once every row is read: the same number twice in the file (every
such row refused), and people the file would give more numbers than the cap allows.

Both work from what `SeenRows` kept of each row, in memory: only people who might be over
the cap are looked up again in the registry."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import polars as pl
from sqlalchemy import Connection, delete, select
from sqlalchemy.orm import Session

from app.core.personal_data import PersonalDataVault
from app.numbers.models import PhoneNumber, Registration
from app.uploads.checking.batch import rejection
from app.uploads.models import StagedRow, Upload, UploadMode, UploadRejection
from app.uploads.problems import problem
from app.uploads.reading.columns import Column
from app.uploads.reading.table import Table
from app.uploads.repository import registered_of, write_rejections

_IN_CHUNK = 5_000

REPEATED = "msisdn.repeated_in_file"
# Other rows of a repeated number named in its problem; more are counted, not listed.
_ROWS_NAMED = 5


def repeated_in_file(others: list[int]) -> dict[str, Any]:
    """The problem of a row whose number the file repeats in `others` (row numbers)."""
    named = ", ".join(str(row) for row in others[:_ROWS_NAMED])
    if len(others) > _ROWS_NAMED:
        named += ", …"
    return problem(Column.MSISDN.value, REPEATED, rows=named, count=len(others))


def rows_by_number(repeated: pl.DataFrame) -> dict[int, list[int]]:
    """The rows of each repeated number (its last ten digits), in file order."""
    rows: dict[int, list[int]] = {}
    for digits, row_no in repeated.sort("row_no").select("digits", "row_no").iter_rows():
        rows.setdefault(digits, []).append(row_no)
    return rows


_STAGED_KEYS = {"row_no": pl.Int64, "msisdn": pl.String, "doc_hash": pl.String}
_REFUSED = {"row_no": pl.Int32, "digits": pl.String}


class SeenRows:
    """What the whole-file checks need of every row seen so far, kept compact in memory:
    for each accepted row its number (as 10 digits), the person's document hash and how many
    numbers the registry already gives that person; for each refused row the digits of its
    number, if it has any. 30 bytes a row."""

    def __init__(self) -> None:
        self._accepted: list[pl.DataFrame] = []
        self._refused: list[pl.DataFrame] = []

    def add(
        self, good: pl.DataFrame, registered: pl.DataFrame, rejections: list[dict[str, Any]]
    ) -> None:
        """Keep a batch's accepted rows (with their people's registered counts) and the
        digits of its refused rows."""
        self._accepted.append(
            good.select("row_no", "msisdn", "doc_hash")
            .join(registered, on="doc_hash", how="left")
            .select(
                pl.col("row_no").cast(pl.Int32),
                digits_of("msisdn").alias("digits"),
                person_of("doc_hash").alias("person"),
                pl.col("registered").fill_null(0).clip(upper_bound=65_535).cast(pl.UInt16),
            )
        )
        self._add_refused((r["row_no"], r["msisdn_digits"]) for r in rejections)

    def _add_refused(self, rows: Iterable[tuple[int, str | None]]) -> None:
        kept = [(row_no, digits) for row_no, digits in rows if digits is not None]
        if kept:
            self._refused.append(
                pl.DataFrame(kept, schema=_REFUSED, orient="row").with_columns(
                    pl.col("digits").cast(pl.Int64)
                )
            )

    def reload(self, session: Session, upload_id: int) -> None:
        """Rebuild what the committed batches of a resumed apply left: their staged rows and
        the digits of their refused rows."""
        connection = session.connection()
        staged = select(StagedRow.row_no, StagedRow.msisdn, StagedRow.doc_hash)
        result = connection.execute(
            staged.where(StagedRow.upload_id == upload_id).execution_options(yield_per=50_000)
        )
        for part in result.partitions():
            good = pl.DataFrame(part, schema=_STAGED_KEYS, orient="row")
            self.add(good, registered_of(connection, good["doc_hash"]), [])
        self._add_refused(
            session.execute(
                select(UploadRejection.row_no, UploadRejection.msisdn_digits).where(
                    UploadRejection.upload_id == upload_id,
                    UploadRejection.msisdn_digits.is_not(None),
                )
            ).tuples()
        )

    def frames(self) -> tuple[pl.DataFrame, pl.DataFrame]:
        """All accepted rows, and the rows and digits of all refused rows (the batches'
        frames are taken as they are, not copied into one)."""
        accepted = (
            pl.concat(self._accepted, rechunk=False)
            if self._accepted
            else pl.DataFrame(
                schema={
                    "row_no": pl.Int32,
                    "digits": pl.Int64,
                    "person": pl.UInt128,
                    "registered": pl.UInt16,
                }
            )
        )
        refused = (
            pl.concat(self._refused, rechunk=False)
            if self._refused
            else pl.DataFrame(schema={"row_no": pl.Int32, "digits": pl.Int64})
        )
        self._accepted, self._refused = [], []
        return accepted, refused


def late_refusals(
    reader: Connection, upload: Upload, seen: SeenRows, *, cap: int
) -> tuple[dict[int, dict[str, Any]], pl.DataFrame]:
    """The whole-file checks: the same number twice in the file (every such row refused,
    naming the other rows), and people over the `cap`. The accepted rows they refuse, with
    the problem of each, and every row (`row_no`, `digits`) of a number found more than once.
    People who might be over the cap are looked up again on `reader`, which sees the
    registry as committed."""
    accepted, refused = seen.frames()
    numbered = pl.concat([accepted.select("row_no", "digits"), refused], rechunk=False)
    repeated = repeated_values(numbered["digits"])
    if repeated.is_empty():
        twice, kept = accepted.clear(), accepted
        repeated_rows = numbered.clear()
    else:
        twice = accepted.filter(pl.col("digits").is_in(repeated.implode()))
        kept = accepted.filter(~pl.col("digits").is_in(repeated.implode()))
        repeated_rows = numbered.filter(pl.col("digits").is_in(repeated.implode()))
    del accepted, numbered
    over = over_cap(reader, upload.subscriber_id, kept, cap)
    rows_of = rows_by_number(repeated_rows)
    refusals: dict[int, dict[str, Any]] = {
        row_no: repeated_in_file([r for r in rows_of[digits] if r != row_no])
        for row_no, digits in twice.select("row_no", "digits").iter_rows()
    }
    if not over.is_empty():
        over_the_cap = problem("passport", "person.over_cap", cap=cap)
        rows = kept.filter(pl.col("person").is_in(over.implode()))["row_no"].to_list()
        refusals.update(dict.fromkeys(rows, over_the_cap))
    return refusals, repeated_rows


def refuse_late(
    session: Session,
    vault: PersonalDataVault,
    upload: Upload,
    table: Table,
    refusals: dict[int, dict[str, Any]],
    repeated: pl.DataFrame,
    *,
    batch_rows: int,
) -> None:
    """Refuse the accepted rows the whole-file checks refused, and add the repetition of
    their number to rows refused for other reasons."""
    if refusals:
        _refuse_accepted(session, vault, upload, table, refusals, batch_rows=batch_rows)
    if not repeated.is_empty():
        add_repetition(session, upload.id, repeated)
    upload.accepted -= len(refusals)
    upload.rejected += len(refusals)
    session.flush()


def _refuse_accepted(
    session: Session,
    vault: PersonalDataVault,
    upload: Upload,
    table: Table,
    refusals: dict[int, dict[str, Any]],
    *,
    batch_rows: int,
) -> None:
    """Refuse rows that passed their own checks: the cells as written are not kept, so
    those rows are read again from the file; in an apply, they leave the staging table."""
    positions = [(i, c) for i, c in enumerate(table.columns) if c is not None]
    wanted = list(refusals)
    found: list[dict[str, Any]] = []
    for batch in table.row_batches(batch_rows):
        for row_no, cells in batch.written(wanted):
            found.append(rejection(row_no, cells, [refusals[row_no]], positions))
    if upload.mode is UploadMode.APPLY:
        for start in range(0, len(wanted), _IN_CHUNK):
            session.execute(
                delete(StagedRow).where(
                    StagedRow.upload_id == upload.id,
                    StagedRow.row_no.in_(wanted[start : start + _IN_CHUNK]),
                )
            )
    write_rejections(session, vault, upload.id, found)


def add_repetition(session: Session, upload_id: int, repeated: pl.DataFrame) -> None:
    """Rows refused for other reasons get the repetition of their number added too, with
    the other rows that have it."""
    rows_of = rows_by_number(repeated)
    digits = [f"{d:010d}" for d in rows_of]
    for start in range(0, len(digits), _IN_CHUNK):
        for refused in session.scalars(
            select(UploadRejection).where(
                UploadRejection.upload_id == upload_id,
                UploadRejection.msisdn_digits.in_(digits[start : start + _IN_CHUNK]),
            )
        ):
            if all(p["code"] != REPEATED for p in refused.problems):
                assert refused.msisdn_digits is not None
                others = [r for r in rows_of[int(refused.msisdn_digits)] if r != refused.row_no]
                refused.problems = [*refused.problems, repeated_in_file(others)]


def digits_of(msisdn: str) -> pl.Expr:
    """A number's last ten digits as one integer (what a refused row keeps as text)."""
    return pl.col(msisdn).str.slice(-10).cast(pl.Int64)


def person_of(doc_hash: str) -> pl.Expr:
    """The 32 hex digits of a document's hash as one 128-bit number: 16 bytes a person."""
    return pl.col(doc_hash).str.to_integer(base=16, dtype=pl.UInt128)


def repeated_values(values: pl.Series) -> pl.Series:
    """The values that occur more than once, each once. Found by sorting: a hash table of a
    million values (`is_duplicated`) takes about ten times the memory."""
    ordered = values.sort()
    return ordered.filter(ordered == ordered.shift(1)).unique()


def over_cap(connection: Connection, subscriber_id: int, kept: pl.DataFrame, cap: int) -> pl.Series:
    """The people (document hashes as numbers) the file would take over the cap: their rows
    here plus their current registrations on numbers the file does not give a user (other
    companies' numbers, and the company's numbers not among the rows kept).

    A person named once is over only if the registry already gives them `cap` numbers, so
    only people named twice or already registered are counted; their registered counts bound
    the numbers elsewhere from above, so only those who might be over are looked up again,
    for the numbers of their registrations."""
    named = kept.select("person", "registered").filter(pl.col("person").is_not_null())
    twice = repeated_values(named["person"]).implode()
    maybe = (
        named.filter(pl.col("person").is_in(twice) | (pl.col("registered") >= cap))
        .group_by("person")
        .agg(pl.len().alias("n"), pl.col("registered").max().cast(pl.Int64))
        .filter(pl.col("n") + pl.col("registered") > cap)
    )
    del named
    if maybe.is_empty():
        return pl.Series("person", [], pl.UInt128)
    hashes = [f"{person:032x}" for person in maybe["person"].to_list()]
    theirs = _registrations_of(connection, hashes)
    named_again = (pl.col("holder") == subscriber_id) & digits_of("msisdn").is_in(
        kept["digits"].implode()
    )
    elsewhere = (
        pl.DataFrame(
            theirs,
            schema={"doc_hash": pl.String, "holder": pl.Int64, "msisdn": pl.String},
            orient="row",
        )
        .filter(~named_again)
        .group_by(person_of("doc_hash").alias("person"))
        .agg(pl.len().alias("elsewhere"))
    )
    over = maybe.join(elsewhere, on="person", how="left").filter(
        pl.col("n") + pl.col("elsewhere").fill_null(0) > cap
    )
    return over["person"]


def _registrations_of(
    connection: Connection, hashes: list[str]
) -> list[tuple[str | None, int, str]]:
    """The current registrations of the people `hashes`: (document hash, the number's
    company, its msisdn)."""
    theirs: list[tuple[str | None, int, str]] = []
    for start in range(0, len(hashes), _IN_CHUNK):
        theirs += [
            (doc_hash, holder, msisdn)
            for doc_hash, holder, msisdn in connection.execute(
                select(Registration.doc_hash, PhoneNumber.subscriber_id, PhoneNumber.msisdn)
                .join(PhoneNumber, PhoneNumber.id == Registration.number_id)
                .where(
                    Registration.doc_hash.in_(hashes[start : start + _IN_CHUNK]),
                    Registration.ended_at.is_(None),
                )
            )
        ]
    return theirs
