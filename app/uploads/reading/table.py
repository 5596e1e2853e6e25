"""An opened upload and its rows: what the reading stage hands to the checking stage.

Nothing here judges the values; a row is only found, numbered as Excel numbers it, and marked
when its number of cells differs from the header's.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Literal

import polars as pl

from app.uploads.reading.columns import Column

__all__ = ["CHUNK_BYTES", "NotPlain", "RawRow", "RowBatch", "Table", "is_blank", "shape_rows"]

# Read size of the byte-level passes: small enough that a decoded chunk is no memory concern.
CHUNK_BYTES = 256 * 1024


@dataclass(frozen=True, slots=True)
class RawRow:
    """One row as written: its number as Excel shows it, its cells, and any structural problem."""

    row_no: int
    cells: list[str]
    problem: tuple[str, str] | None = None
    # The values the problem's words need (catalog `row.row.<code>`): cells found, expected.
    values: dict[str, int] | None = None


@dataclass(frozen=True, slots=True)
class RowBatch:
    """A batch of data rows: header-wide rows as a frame of String columns — `row_no`, then
    the cells as written under the names "0", "1", … of their header positions ("" when
    empty) — and rows of the wrong width, already marked with their problem."""

    cells: pl.DataFrame
    odd: list[RawRow]

    @property
    def size(self) -> int:
        """Rows in the batch, of either kind."""
        return self.cells.height + len(self.odd)

    @property
    def last_row_no(self) -> int:
        """The highest row number in the batch."""
        return int(max([*self.cells["row_no"].tail(1).to_list(), *(r.row_no for r in self.odd)]))

    def written(self, row_nos: Sequence[int]) -> Iterator[tuple[int, list[str]]]:
        """The header-wide rows among `row_nos`, each number with its cells as written (only
        these become Python lists)."""
        cells = self.cells.select("row_no", *(str(i) for i in range(self.cells.width - 1)))
        for row_no, *values in cells.filter(pl.col("row_no").is_in(row_nos)).iter_rows():
            yield row_no, values

    def after(self, row_no: int) -> RowBatch:
        """The rows past `row_no` (a resumed upload skips what it committed)."""
        if row_no == 0:
            return self
        return RowBatch(
            self.cells.filter(pl.col("row_no") > row_no),
            [r for r in self.odd if r.row_no > row_no],
        )


class NotPlain(Exception):
    """polars read a chunk into another number of rows than it has lines."""


@dataclass(frozen=True)
class Table:
    """An opened upload: its header, the column each header names, and a way to stream its rows."""

    format: Literal["csv", "xlsx"]
    header: list[str]
    columns: list[Column | None]
    encoding: str | None
    delimiter: str | None
    total_rows: int
    # Produces the data rows from the start each time it is called (blank rows already skipped).
    _rows: Callable[[], Iterator[RawRow]] = field(repr=False, compare=False)
    # CSV only: (row number, cells) straight from the parser, for `row_batches`.
    _numbered: Callable[[], Iterator[tuple[int, list[str]]]] | None = field(
        default=None, repr=False, compare=False
    )
    # Plain CSV only (see `_is_plain`): frames of header-wide rows read by polars.
    _frames: Callable[[int], Iterator[pl.DataFrame]] | None = field(
        default=None, repr=False, compare=False
    )

    def row_batches(self, size: int = 50_000) -> Iterator[RowBatch]:
        """The rows of `batches`, for bulk work: header-wide rows as columns of a frame.

        A plain CSV goes straight from polars' reader into the frames, with no Python object
        per cell; any other file is read as `batches` reads it and turned into columns."""
        if size < 1:
            raise ValueError("batch size must be positive")
        done = 0
        if self._frames is not None:
            try:
                for frame in self._frames(size):
                    done = int(frame["row_no"][-1])
                    yield RowBatch(frame, [])
                return
            except NotPlain:
                pass  # read the rest with the csv module
        yield from self._parsed_batches(size, after=done)

    def _parsed_batches(self, size: int, *, after: int) -> Iterator[RowBatch]:
        width = len(self.header)
        source: Iterable[tuple[int, list[str]]] = (
            self._numbered() if self._numbered is not None else _unshape(self._rows())
        )
        if after:
            source = ((row_no, cells) for row_no, cells in source if row_no > after)
        row_nos: list[int] = []
        rows: list[list[str]] = []
        odd: list[RawRow] = []
        for row_no, cells in source:
            if len(cells) == width:
                if not any(cells) or "".join(cells).isspace():
                    continue
                row_nos.append(row_no)
                rows.append(cells)
            else:
                shaped = next(shape_rows([(row_no, cells)], width), None)
                if shaped is None:
                    continue
                if shaped.problem is None:
                    row_nos.append(row_no)
                    rows.append(shaped.cells)
                else:
                    odd.append(unmarked(shaped))
            if len(rows) + len(odd) >= size:
                yield RowBatch(_cells_frame(row_nos, rows, width), odd)
                row_nos, rows, odd = [], [], []
        if rows or odd:
            yield RowBatch(_cells_frame(row_nos, rows, width), odd)

    def batches(self, size: int = 50_000) -> Iterator[list[RawRow]]:
        """Stream the data rows in lists of at most `size`; only one batch is held at a time."""
        if size < 1:
            raise ValueError("batch size must be positive")
        batch: list[RawRow] = []
        for row in self._rows():
            batch.append(unmarked(row))
            if len(batch) >= size:
                yield batch
                batch = []
        if batch:
            yield batch


def _cells_frame(row_nos: list[int], rows: list[list[str]], width: int) -> pl.DataFrame:
    # Rows → columns in C (zip), not a Python loop per cell.
    columns = list(zip(*rows, strict=True)) if rows else [()] * width
    return without_text_marks(
        pl.DataFrame(
            {
                "row_no": pl.Series(row_nos, dtype=pl.Int64),
                **{str(i): pl.Series(column, dtype=pl.String) for i, column in enumerate(columns)},
            }
        )
    )


TEXT_MARK = "'"


def without_text_marks(frame: pl.DataFrame) -> pl.DataFrame:
    """The cells without Excel's text marker: a leading apostrophe, which Excel shows only
    while editing and which simreg's error files put before a value Excel would otherwise
    run as a formula (`app.core.excel.neutralise`). One is dropped, so a value that really
    starts with one (written twice in an error file) keeps it."""
    return frame.with_columns(pl.exclude("row_no").str.strip_prefix(TEXT_MARK))


def _unshape(rows: Iterator[RawRow]) -> Iterator[tuple[int, list[str]]]:
    for row in rows:
        yield row.row_no, row.cells


def shape_rows(numbered: Iterable[tuple[int, list[str]]], width: int) -> Iterator[RawRow]:
    """Skip blank rows and mark rows whose number of cells differs from the header's."""
    for row_no, cells in numbered:
        if is_blank(cells):
            continue
        found = len(cells)
        if found == width:
            yield RawRow(row_no, cells)
        elif found > width:
            # Excel sometimes writes trailing delimiters; only filled extra cells count.
            last = found
            while last > width and not cells[last - 1].strip():
                last -= 1
            if last == width:
                yield RawRow(row_no, cells[:width])
            else:
                counted = {"found": last, "expected": width}
                yield RawRow(row_no, cells, _too_many(**counted), counted)
        else:
            counted = {"found": found, "expected": width}
            yield RawRow(row_no, cells, _too_few(**counted), counted)


def unmarked(row: RawRow) -> RawRow:
    """The row's cells without Excel's text marker (see `without_text_marks`)."""
    cells = [cell.removeprefix(TEXT_MARK) for cell in row.cells]
    return RawRow(row.row_no, cells, row.problem, row.values)


def is_blank(cells: list[str]) -> bool:
    """Whether a row has no cell with anything but white space in it."""
    # Runs for every row: any() and join() stay in C; most rows fail the first test at once.
    return not any(cells) or "".join(cells).isspace()


def _too_many(*, found: int, expected: int) -> tuple[str, str]:
    return (
        "row.too_many_fields",
        f"the row has {found} cells but the header has {expected} columns; a value probably "
        "contains the delimiter and is not in double quotes",
    )


def _too_few(*, found: int, expected: int) -> tuple[str, str]:
    return (
        "row.too_few_fields",
        f"the row has {found} cells but the header has {expected} columns",
    )
