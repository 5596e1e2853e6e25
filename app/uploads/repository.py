"""The uploads' SQL that differs between the engines, and its look-ups by the batch.

A batch looks its numbers, people and current registrations up by index, one statement per
batch: on PostgreSQL with the values as an array literal, on SQLite as a JSON array read
with json_each (`app.db.bulk.rows_for_values`). The apply's settings and maintenance
statements (statistics, page cache, staging clean-up) are PostgreSQL's or SQLite's own.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import orjson
import polars as pl
from sqlalchemy import (
    ARRAY,
    BigInteger,
    ColumnElement,
    Connection,
    Engine,
    delete,
    func,
    literal,
    select,
    text,
)
from sqlalchemy import cast as sql_cast
from sqlalchemy.orm import Session

from app.core.personal_data import PersonalDataVault
from app.db.bulk import rows_for_values, write_rows
from app.db.session import is_postgres
from app.numbers.new_user import COMPARED
from app.uploads.models import StagedRow

_NUMBER_COLUMNS = {
    "msisdn": pl.String,
    "number_id": pl.Int64,
    "status": pl.String,
    "number_iccid": pl.String,
    "left_registry": pl.Boolean,
}

# CROSS JOIN keeps SQLite to this order, and the unary + keeps it off the subscriber index:
# each wanted number by the (msisdn, operator) index, not all the company's numbers per number.
SQLITE_NUMBERS_OF = (
    "SELECT numbers.msisdn, numbers.id, numbers.status, numbers.iccid, numbers.left_registry"
    " FROM json_each(?) AS wanted CROSS JOIN numbers"
    " ON numbers.msisdn = wanted.value WHERE +numbers.subscriber_id = ?"
)


def numbers_of(connection: Connection, subscriber_id: int, msisdns: pl.Series) -> pl.DataFrame:
    """The company's numbers among `msisdns` (one batch), by index look-ups.

    A batch asks only for its own numbers, so memory does not grow with the company (a
    million numbers read whole cost 200 MB) and a short list of a big company stays quick.
    A number that left the registry and came back to the company through another operator
    is two rows: the one in the registry is the number."""
    found = rows_for_values(
        connection,
        msisdns,
        _NUMBER_COLUMNS,
        postgres="SELECT msisdn, id, status, iccid, left_registry FROM numbers"
        " WHERE msisdn = ANY(CAST(%s AS TEXT[])) AND subscriber_id = %s",
        sqlite=SQLITE_NUMBERS_OF,
        more=(subscriber_id,),
    )
    return (
        found.sort("left_registry", "number_id")
        .unique("msisdn", keep="first", maintain_order=True)
        .drop("left_registry")
    )


_REGISTERED_COLUMNS = {"doc_hash": pl.String, "registered": pl.Int32}

SQLITE_REGISTERED_OF = (
    "SELECT registrations.doc_hash, count(*)"
    " FROM json_each(?) AS wanted CROSS JOIN registrations"
    " ON registrations.doc_hash = wanted.value WHERE registrations.ended_at IS NULL"
    " GROUP BY registrations.doc_hash"
)


def registered_of(connection: Connection, doc_hashes: pl.Series) -> pl.DataFrame:
    """How many numbers the registry gives now to each person among `doc_hashes` (one
    batch); people with none are left out."""
    return rows_for_values(
        connection,
        doc_hashes,
        _REGISTERED_COLUMNS,
        postgres="SELECT doc_hash, count(*) FROM registrations"
        " WHERE doc_hash = ANY(CAST(%s AS TEXT[])) AND ended_at IS NULL GROUP BY doc_hash",
        sqlite=SQLITE_REGISTERED_OF,
    )


CURRENT_COLUMNS = {"number_id": pl.Int64, "prev_registration_id": pl.Int64} | {
    f"{name}_now": pl.String for name in COMPARED
}


def current_of(connection: Connection, number_ids: pl.Series) -> pl.DataFrame:
    """PostgreSQL: the current registrations of a batch's numbers, with the fields a row is
    compared on (a streamed apply runs on PostgreSQL only)."""
    return rows_for_values(
        connection,
        number_ids,
        CURRENT_COLUMNS,
        postgres=f"SELECT number_id, id, {', '.join(COMPARED)} FROM registrations"  # noqa: S608
        " WHERE number_id = ANY(CAST(%s AS BIGINT[])) AND ended_at IS NULL",
        sqlite="",
    )


def streams_applies(session: Session) -> bool:
    """Whether an apply on this engine is streamed (PostgreSQL, many writers beside it)
    rather than staged, then applied at once (SQLite, whose one writer would otherwise hide
    even the progress for the length of the file)."""
    return is_postgres(session)


def in_memory(engine: Engine) -> bool:
    """Whether the database lives in this process's memory (an in-memory SQLite database,
    which exists once per connection): no other connection or process can reach it."""
    url = engine.url
    return url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:")


@contextlib.contextmanager
def registry_reader(engine: Engine, session: Session) -> Iterator[Connection]:
    """A connection of its own for the look-ups of numbers, which run in a thread while
    the session writes. An in-memory SQLite database exists once per connection, so
    there the look-ups share the session's connection (the pipeline then waits on it)."""
    if in_memory(engine):
        yield session.connection()
        return
    with engine.connect() as reader:
        if is_postgres(reader):
            # A batch asks for 15,000 numbers: 1.5% of a company of a million, which the
            # planner reckons cheaper to find by a parallel scan of all of them. That took
            # three processes 60 ms a batch, CPU the checks of the next batch needed;
            # the index finds them in one process at half the time. For this
            # connection's one transaction only.
            reader.exec_driver_sql("SET LOCAL enable_seqscan = off")
            reader.exec_driver_sql("SET LOCAL max_parallel_workers_per_gather = 0")
        yield reader


# The settings of a streamed apply's transaction. Each batch's statements find its few
# thousand rows by index. The statistics of the registry go stale as the transaction moves
# a million numbers, and PostgreSQL would then rather scan them all, or compile each plan
# (JIT) at the price of a batch.
_STREAM_SETTINGS = (
    "enable_seqscan = off",
    "max_parallel_workers_per_gather = 0",
    "jit = off",
)


def settle_for_stream(session: Session) -> None:
    """PostgreSQL: set the streamed apply's transaction to find rows by index only."""
    for setting in _STREAM_SETTINGS:
        session.execute(text(f"SET LOCAL {setting}"))


def set_new_iccids(session: Session, ids: str, iccids: str) -> None:
    """PostgreSQL: numbers without an ICCID take the one given (`ids` and `iccids` are array
    literals of equal length)."""
    session.execute(
        text(
            "UPDATE numbers SET iccid = given.iccid FROM unnest(CAST(:ids AS BIGINT[]),"
            " CAST(:iccids AS TEXT[])) AS given(id, iccid)"
            " WHERE numbers.id = given.id AND numbers.iccid IS NULL"
        ),
        {"ids": ids, "iccids": iccids},
    )


def ids_among(column: Any, ids: str) -> ColumnElement[bool]:
    """PostgreSQL: `column` is one of the ids of the array literal `ids`, as a semi-join
    on the unnested array: `= ANY(array)` outside an index condition searches the array
    from its start for every row, which for a batch of 13,000 took seconds."""
    wanted = select(func.unnest(sql_cast(literal(ids), ARRAY(BigInteger))))
    return column.in_(wanted)  # type: ignore[no-any-return]


def analyze(session: Session, table: str) -> None:
    """PostgreSQL: fresh statistics of `table` (a constant) after a bulk write in the open
    transaction, so the next statements' plans see the rows as they are now; a no-op on
    SQLite."""
    if is_postgres(session):
        session.execute(text(f"ANALYZE {table}"))


# SQLite's page cache while an upload is applied (its default is 2 MB).
_APPLY_CACHE_KIB = 64 * 1024


@contextlib.contextmanager
def page_cache(session: Session) -> Iterator[None]:
    """A larger SQLite page cache for the apply transaction, then the connection's own again.

    Apply writes a million rows into tables and indexes in one transaction; with the default
    cache most pages are spilled to the WAL and read back several times over."""
    if is_postgres(session):
        yield
        return
    # The driver's connection: apply commits, which hands the session's Connection back.
    raw = session.connection().connection.driver_connection
    assert raw is not None
    (before,) = raw.execute("PRAGMA cache_size").fetchone()
    raw.execute(f"PRAGMA cache_size = -{_APPLY_CACHE_KIB}")
    try:
        yield
    finally:
        raw.execute(f"PRAGMA cache_size = {int(before)}")


def clear_staging(session: Session, upload_id: int) -> None:
    """Delete an applied upload's staged rows. On SQLite, when they are the only ones (this
    transaction holds the only write lock), a DELETE without WHERE empties the table at once;
    row by row, a million took 2.5 s."""
    if not is_postgres(session):
        low, high = session.execute(
            select(func.min(StagedRow.upload_id), func.max(StagedRow.upload_id))
        ).one()
        if low == high == upload_id:
            session.execute(delete(StagedRow))
            return
    session.execute(delete(StagedRow).where(StagedRow.upload_id == upload_id))


_REJECTION_COLUMNS = (
    "upload_id",
    "row_no",
    "cells_sealed",
    "pd_key_id",
    "problems",
    "msisdn_digits",
)


def write_rejections(
    session: Session, vault: PersonalDataVault, upload_id: int, rows: list[dict[str, Any]]
) -> None:
    """Refused rows with their cells sealed and their problems as JSON, written by the driver:
    through the ORM, the JSON encoding of 20,000 rows held the GIL for a second the checks
    needed."""
    if not rows:
        return
    sealed = vault.seal_many([orjson.dumps({"cells": r["cells"]}) for r in rows])
    values = [
        (
            upload_id,
            r["row_no"],
            cells,
            vault.active_key_id,
            orjson.dumps(r["problems"]).decode(),
            r["msisdn_digits"],
        )
        for r, cells in zip(rows, sealed, strict=True)
    ]
    write_rows(session, "upload_rejections", _REJECTION_COLUMNS, values)
