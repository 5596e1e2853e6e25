"""The registry's checks of a batch: each row's number must be the company's own, still in
the registry, and its ICCID (when given) the SIM's own."""

from __future__ import annotations

from typing import Any

import polars as pl

from app.numbers.new_user import FINAL
from app.uploads.checking.batch import Examined, rejection
from app.uploads.problems import Problem, problem
from app.uploads.reading.columns import Column
from app.uploads.reading.table import RowBatch

_CLOSED = [status.value for status in FINAL]


def check_registry(
    batch: RowBatch,
    examined: Examined,
    numbers: pl.DataFrame,
    positions: list[tuple[int, Column]],
    preset: dict[int, list[dict[str, str]]],
) -> tuple[pl.DataFrame, list[dict[str, Any]]]:
    """The batch's rows the registry takes (its `numbers` joined), and every refused row.
    `preset` refuses rows known to fail the whole-file checks (a streamed apply's second
    pass)."""
    problems, cells_of, clean = examined
    if preset:
        for row_no in clean["row_no"].to_list():
            if row_no in preset:
                problems[row_no].extend(preset[row_no])
    # The registry's view: the number must be the company's own and still in the registry.
    joined = clean.join(numbers, on="msisdn", how="left")
    not_owned = pl.col("number_id").is_null()
    closed = pl.col("status").is_in(_CLOSED).fill_null(False)
    other_sim = (
        pl.col("iccid").is_not_null()
        & pl.col("number_iccid").is_not_null()
        & (pl.col("iccid") != pl.col("number_iccid"))
    ).fill_null(False)
    # Only the few refused rows reach Python one by one.
    refused = joined.filter(not_owned | closed | other_sim).select(
        "row_no", "msisdn", "status", not_owned.alias("_not_owned"), closed.alias("_closed")
    )
    for row_no, msisdn, status, is_not_owned, is_closed in refused.rows():
        problems[row_no].append(_refusal(msisdn, status, is_not_owned, is_closed))
    good = joined.filter(~pl.col("row_no").is_in(list(problems)))
    # Only the refused rows' cells become Python lists, for the error report.
    missing = [row_no for row_no in problems if row_no not in cells_of]
    cells_of.update(batch.written(missing))
    rejections = [
        rejection(row_no, cells_of[row_no], found, positions)
        for row_no, found in sorted(problems.items())
    ]
    return good, rejections


def _refusal(msisdn: str, status: str, not_owned: bool, closed: bool) -> Problem:
    """Why the registry refuses a row: not the company's number, a number that left the
    registry (its status says how), or another SIM's ICCID."""
    if not_owned:
        return problem(Column.MSISDN.value, "number.not_owned", value=msisdn)
    if closed:
        return problem(Column.MSISDN.value, "number.closed", value=msisdn, variant=status)
    return problem(Column.ICCID.value, "iccid.mismatch", value=msisdn)
