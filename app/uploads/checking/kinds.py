"""The kind of a row: an employee's SIM card or a device's, said or told by the filled columns.

Rows of unknown kind get only the checks every row needs; the employee and device rules
check only the rows of their kind.
"""

from __future__ import annotations

import polars as pl

from app.uploads.checking.checks import Check, Rules, map_distinct
from app.uploads.reading.columns import (
    DEVICE_MARKERS,
    EMPLOYEE_MARKERS,
    ROW_TYPES,
    Column,
    header_key,
)

__all__ = ["DEVICE", "EMPLOYEE", "IS_DEVICE", "IS_EMPLOYEE", "kind_columns", "lookups", "rules"]

EMPLOYEE = "employee"
DEVICE = "device"

IS_EMPLOYEE = (pl.col("kind") == EMPLOYEE).fill_null(False)
IS_DEVICE = (pl.col("kind") == DEVICE).fill_null(False)

# The value maps are keyed for header_key, but some keys ("payment_terminal") keep an
# underscore that header_key removes from a cell; keying them through header_key too makes
# the canonical spellings match as well as the Russian ones.
_ROW_KINDS = {header_key(key): value for key, value in ROW_TYPES.items()}


def _row_kind(value: str) -> str | None:
    return _ROW_KINDS.get(header_key(value))


def lookups(work: pl.DataFrame) -> list[pl.Expr]:
    """``row_type__kind``: the kind a row type cell names, looked up once per spelling."""
    return [map_distinct(work[Column.ROW_TYPE], _row_kind, pl.String()).alias("row_type__kind")]


def kind_columns() -> list[pl.Expr]:
    """``kind`` (employee, device or null) and ``row__why`` (what an unknown kind lacks)."""
    row_type = pl.col(Column.ROW_TYPE)
    employee_marks = pl.any_horizontal([pl.col(c).is_not_null() for c in EMPLOYEE_MARKERS])
    device_marks = pl.any_horizontal([pl.col(c).is_not_null() for c in DEVICE_MARKERS])
    kind = (
        pl.when(row_type.is_not_null())
        .then(pl.col("row_type__kind"))
        .when(employee_marks & ~device_marks)
        .then(pl.lit(EMPLOYEE))
        .when(device_marks & ~employee_marks)
        .then(pl.lit(DEVICE))
        .otherwise(pl.lit(None, pl.String))
    )
    return [
        kind.alias("kind"),
        pl.when(employee_marks).then(pl.lit("both")).otherwise(pl.lit("none")).alias("row__why"),
    ]


def rules() -> Rules:
    """A row of no known kind, and a row type cell naming no kind."""
    row_type = pl.col(Column.ROW_TYPE)
    return Rules(
        [
            Check(
                "row",
                "c_row",
                verdict=pl.when(row_type.is_null() & pl.col("kind").is_null()).then(
                    pl.lit("row.kind_unknown")
                ),
                values={"variant": pl.col("row__why")},
            ),
            Check(
                Column.ROW_TYPE,
                "c_row_type",
                verdict=pl.when(row_type.is_not_null() & pl.col("kind").is_null()).then(
                    pl.lit("row.kind_unknown")
                ),
                values={"value": row_type, "variant": pl.lit("row_type")},
            ),
        ]
    )
