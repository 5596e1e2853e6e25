"""Checking a list whose people are named in one "ФИО" column: the cell is read into last
name, first name and patronymic (`app.uploads.reading.full_names`) and those are checked as
separate columns would be. The problems found in them are said of the "ФИО" column, once
each; a name that cannot be read safely is refused with its own reason."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import polars as pl

from app.uploads.checking.batch import Examined, examine
from app.uploads.problems import problem
from app.uploads.reading.columns import Column
from app.uploads.reading.full_names import NAME_PARTS, PART_NAMES, VERDICT, split_full_names
from app.uploads.reading.table import RowBatch

_PART_VALUES = {column.value for column in NAME_PARTS}


@dataclass(frozen=True)
class FullNameColumn:
    """A list's "ФИО" column: where it is, and where its parts go in a batch's frame."""

    position: int
    positions: list[tuple[int, Column]]  # the list's columns, the parts in place of ФИО

    @classmethod
    def of(cls, positions: list[tuple[int, Column]], *, width: int) -> FullNameColumn | None:
        """The "ФИО" column among `positions` (of a header `width` cells wide), if any.
        Its parts take the frame positions after the header's own."""
        found = [i for i, column in positions if column is Column.FULL_NAME]
        if not found:
            return None
        others = [(i, c) for i, c in positions if c is not Column.FULL_NAME]
        parts = [(width + k, column) for k, column in enumerate(NAME_PARTS)]
        return cls(found[0], others + parts)

    def examine(self, batch: RowBatch, *, today: dt.date, digest: Callable[[str], str]) -> Examined:
        """`checking.batch.examine` of a batch with its full names read into parts."""
        width = batch.cells.width - 1
        split = split_full_names(batch.cells[str(self.position)])
        cells = batch.cells.with_columns(
            split[name].alias(str(width + k)) for k, name in enumerate(PART_NAMES)
        )
        problems, cells_of, clean = examine(
            RowBatch(cells, batch.odd), self.positions, today=today, digest=digest
        )
        unread = (
            pl.DataFrame({"row_no": batch.cells["row_no"], VERDICT: split[VERDICT]})
            .filter(pl.col(VERDICT).is_not_null())
            .rows()
        )
        for row_no, code in unread:
            kept = [p for p in problems.get(row_no, []) if p["column"] not in _PART_VALUES]
            problems[row_no] = [*kept, problem(Column.FULL_NAME.value, f"full_name.{code}")]
        _said_of_full_name(problems)
        if unread:
            clean = clean.filter(~pl.col("row_no").is_in([row_no for row_no, _ in unread]))
        return problems, cells_of, clean


def _said_of_full_name(problems: dict[int, list[dict[str, Any]]]) -> None:
    """The parts' problems said of the "ФИО" column, each code once a row."""
    for row_no, found in problems.items():
        if not any(p["column"] in _PART_VALUES for p in found):
            continue
        seen: set[str] = set()
        said: list[dict[str, Any]] = []
        for one in found:
            if one["column"] in _PART_VALUES:
                if one["code"] in seen:
                    continue
                seen.add(one["code"])
                one = {**one, "column": Column.FULL_NAME.value}
            said.append(one)
        problems[row_no] = said
