"""Bulk writes and look-ups by the thousand rows, the same call on either engine.

PostgreSQL takes rows fastest through COPY, fed CSV that polars writes without a row ever
becoming a Python object; SQLite's driver binds Python values, so there the rows go as
tuples to `executemany` (figures in MEASURED.md). A batch's look-up by a list of values
sends the values as one array literal on PostgreSQL and as one JSON array on SQLite.
Table and column names passed here are constants of the caller; every value is bound.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

import orjson
import polars as pl
from sqlalchemy import Connection
from sqlalchemy.orm import Session

from app.db.arrays import array_literal
from app.db.session import is_postgres

# Rows of CSV per COPY write: the CSV of a whole batch of sealed rows would be one buffer of
# several MB.
COPY_SLICE = 4_000


def csv_slices(frame: pl.DataFrame, rows: int = COPY_SLICE) -> list[bytes]:
    """A frame as the CSV that PostgreSQL's COPY reads, in slices of `rows` rows. bytea goes
    in COPY's text form: \\x and hex digits; an empty field is NULL, and "" is ''."""
    text_frame = frame.with_columns(
        (pl.lit("\\x") + pl.col(name).bin.encode("hex")).alias(name)
        for name, dtype in frame.schema.items()
        if dtype == pl.Binary
    )
    slices = []
    for part in text_frame.iter_slices(rows):
        buffer = io.BytesIO()
        part.write_csv(buffer, include_header=False)
        slices.append(buffer.getvalue())
    return slices


def copy_csv(on: Session | Connection, table: str, columns: str, slices: list[bytes]) -> None:
    """PostgreSQL: COPY the CSV `slices` (see `csv_slices`) into `columns` of `table`."""
    if not slices:
        return
    connection = on.connection() if isinstance(on, Session) else on
    raw = connection.connection.driver_connection
    copy_sql = f"COPY {table} ({columns}) FROM STDIN (FORMAT csv)"
    with raw.cursor() as cursor, cursor.copy(copy_sql) as copy:  # type: ignore[union-attr]
        for part in slices:
            copy.write(part)


def write_frame(session: Session, table: str, frame: pl.DataFrame) -> None:
    """Insert a frame's rows into the same-named columns of `table`: COPY on PostgreSQL,
    executemany on SQLite."""
    if frame.is_empty():
        return
    columns = ", ".join(frame.columns)
    if is_postgres(session):
        copy_csv(session, table, columns, csv_slices(frame))
        return
    _execute_many(session, table, frame.columns, frame.rows())


def write_rows(
    session: Session, table: str, columns: Sequence[str], rows: Sequence[tuple[Any, ...]]
) -> None:
    """Insert rows already made into tuples (values of `columns`, in order): COPY on
    PostgreSQL, executemany on SQLite. For rows whose values Python made anyway."""
    if not rows:
        return
    if is_postgres(session):
        raw = session.connection().connection.driver_connection
        copy_sql = f"COPY {table} ({', '.join(columns)}) FROM STDIN"
        with raw.cursor() as cursor, cursor.copy(copy_sql) as copy:  # type: ignore[union-attr]
            for row in rows:
                copy.write_row(row)
        return
    _execute_many(session, table, columns, rows)


def _execute_many(
    session: Session, table: str, columns: Sequence[str], rows: Sequence[tuple[Any, ...]]
) -> None:
    marks = ", ".join("?" for _ in columns)
    cursor = session.connection().connection.cursor()
    try:
        insert_sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})"  # noqa: S608
        cursor.executemany(insert_sql, rows)
    finally:
        cursor.close()


def rows_for_values(
    connection: Connection,
    values: pl.Series,
    schema: dict[str, Any],
    *,
    postgres: str,
    sqlite: str,
    more: tuple[Any, ...] = (),
) -> pl.DataFrame:
    """The rows a query gives for a batch's distinct `values`, as a frame of `schema`, read
    by the driver. The values travel as the first parameter, `more` after them: an array
    literal on PostgreSQL (the `postgres` query casts it), a JSON array on SQLite (the
    `sqlite` query reads it with json_each)."""
    wanted = values.drop_nulls().unique()
    if wanted.is_empty():
        return pl.DataFrame(schema=schema)
    cursor = connection.connection.cursor()
    try:
        if is_postgres(connection):
            cursor.execute(postgres, (array_literal(wanted), *more))
        else:
            cursor.execute(sqlite, (orjson.dumps(wanted.to_list()).decode(), *more))
        rows = cursor.fetchall()
    finally:
        cursor.close()
    return pl.DataFrame(rows, schema=schema, orient="row")
