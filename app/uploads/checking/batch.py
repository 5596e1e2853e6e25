"""The checks of one batch that need nothing but its own rows: the row rules, the longest
values the registry stores, and each person's document hash for the whole-file checks. Also
how a refused row is written down for the error report."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import Any

import polars as pl

from app.uploads.checking.rules import validate_batch
from app.uploads.problems import Problem, problem
from app.uploads.reading.columns import Column
from app.uploads.reading.table import RowBatch

# What `examine` finds in a batch: the problems per row, the cells of the rows the reader
# could not split, and the clean rows.
Examined = tuple[dict[int, list[Problem]], dict[int, list[str]], pl.DataFrame]

# Longest values the registry stores, by column of the checked rows.
_MAX_LENGTHS = {
    "last_name": 200, "first_name": 200, "patronymic": 200, "doc_issuer": 500,
    "device_model": 200, "device_id": 64, "install_address": 1000,
}  # fmt: skip


def examine(
    batch: RowBatch,
    positions: list[tuple[int, Column]],
    *,
    today: dt.date,
    digest: Callable[[str], str],
) -> Examined:
    """The checks of one batch that need nothing but its rows: the problems found per row,
    the cells of the rows the reader could not split, and the clean rows with the keyed hash
    of each person's document (`doc_hash`, which the whole-file checks count)."""
    problems: dict[int, list[Problem]] = defaultdict(list)
    cells_of: dict[int, list[str]] = {}
    for row in batch.odd:
        assert row.problem is not None
        code, message = row.problem
        # The reader words its own problems (the row's shape), as stored before the catalogs.
        problems[row.row_no].append({"column": "row", "code": code, "message": message})
        cells_of[row.row_no] = row.cells
    frame = batch.cells.select(
        "row_no", *(pl.col(str(i)).alias(column.value) for i, column in positions)
    )
    clean, row_problems = validate_batch(frame, today=today)
    for found in row_problems:
        problems[found.row_no].append(found.as_problem())
    _refuse_too_long(clean, problems)
    doc_key = pl.when(pl.col("kind") == "employee").then(
        pl.concat_str(
            [
                pl.lit("doc:"),
                pl.col("doc_type"),
                pl.lit(":"),
                pl.col("doc_series").fill_null(""),
                pl.col("doc_number"),
            ]
        )
    )
    clean = clean.with_columns(doc_hash=hashed(digest, clean.select(doc_key).to_series()))
    return problems, cells_of, clean


def _refuse_too_long(clean: pl.DataFrame, problems: dict[int, list[Problem]]) -> None:
    """Add a problem to each value longer than the registry stores."""
    for column, limit in _MAX_LENGTHS.items():
        too_long = clean.filter(pl.col(column).str.len_chars() > limit).select("row_no")
        for (row_no,) in too_long.rows():
            problems[row_no].append(problem(column, "value.too_long", limit=limit))


def hashed(digest: Callable[[str], str], keys: pl.Series) -> pl.Series:
    """Keyed hashes of 'kind:value' strings; null stays null."""
    return pl.Series(
        [digest(key) if key is not None else None for key in keys.to_list()], dtype=pl.String
    )


def rejection(
    row_no: int,
    cells: list[str],
    problems: list[Problem],
    positions: Sequence[tuple[int, Column]],
) -> dict[str, Any]:
    """A refused row as `app.uploads.repository.write_rejections` takes it."""
    return {
        "row_no": row_no,
        "cells": cells,
        "problems": problems,
        "msisdn_digits": _phone_digits(cells, positions),
    }


def _phone_digits(cells: list[str], positions: Sequence[tuple[int, Column]]) -> str | None:
    for index, column in positions:
        if column is Column.MSISDN and index < len(cells):
            digits = "".join(ch for ch in cells[index] if ch.isdigit())
            return digits[-10:] if len(digits) >= 10 else None
    return None
