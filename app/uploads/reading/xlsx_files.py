"""Reading an uploaded XLSX workbook: its first sheet's rows as Excel shows them.

Cells are rendered as the admin sees them (Russian dates, no ".0" on integers typed as
numbers) and merged ranges filled with their top-left value. The workbook is measured first
(`xlsx_bounds`), so nothing the reader allocates is left to the file.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from pathlib import Path

from python_calamine import CalamineError, CalamineSheet, CalamineWorkbook

from app.uploads.reading.columns import read_header
from app.uploads.reading.refusals import corrupt, no_rows
from app.uploads.reading.table import RawRow, Table, shape_rows
from app.uploads.reading.xlsx_bounds import XlsxLimits, check_workbook

__all__ = ["open_xlsx"]


def open_xlsx(path: Path, *, name: str, limits: XlsxLimits) -> Table:
    """Open the first sheet of a workbook within `limits`, or refuse it with `UploadRejected`."""
    # Everything calamine allocates follows from what this measured first.
    check_workbook(path, name=name, limits=limits)
    try:
        # The sheet keeps its parsed cells after the workbook (and its file) is closed.
        with CalamineWorkbook.from_path(str(path)) as workbook:
            sheet = workbook.get_sheet_by_index(0)
        merges = sheet.merged_cell_ranges or []
    except (CalamineError, OSError, ValueError) as e:  # calamine raises all three on damage
        raise corrupt(name) from e

    start = sheet.start
    # Rows come from Excel's row 1 on, but cells from the sheet's first used column.
    first_col = start[1] if start else 0
    rows = _xlsx_numbered(sheet, merges=merges, first_col=first_col)
    _, header_cells = next(rows, (1, []))
    # Stops at the first filled data row.
    has_rows = next(iter(shape_rows(rows, len(header_cells))), None) is not None
    header, columns = read_header(header_cells, name=name, has_rows=has_rows)
    if not has_rows:
        raise no_rows(name)
    end = sheet.end
    total = end[0] if end else 0  # index of the last row; the header is index 0

    def data_rows() -> Iterator[RawRow]:
        numbered = _xlsx_numbered(sheet, merges=merges, first_col=first_col)
        next(numbered, None)  # the header
        return shape_rows(numbered, len(header))

    return Table(
        format="xlsx",
        header=header,
        columns=columns,
        encoding=None,
        delimiter=None,
        total_rows=total,
        _rows=data_rows,
    )


class _Merges:
    """Merged ranges of the sheet, filling each with its top-left value as Excel shows it."""

    def __init__(
        self, ranges: list[tuple[tuple[int, int], tuple[int, int]]], *, first_col: int
    ) -> None:
        self._first_col = first_col
        self._starting: dict[int, list[tuple[int, int, int, int]]] = {}
        for (r0, c0), (r1, c1) in ranges:
            self._starting.setdefault(r0, []).append((r0, c0, r1, c1))
        # Ranges whose top-left row has been read: (last row, first col, last col, value).
        self._open: list[tuple[int, int, int, str]] = []

    def __bool__(self) -> bool:
        return bool(self._starting) or bool(self._open)

    def fill(self, row: int, cells: list[str]) -> None:
        """Put the top-left value of every merged range covering `row` into `cells`."""
        for _, c0, r1, c1 in self._starting.pop(row, ()):
            left = c0 - self._first_col
            value = cells[left] if 0 <= left < len(cells) else ""
            self._open.append((r1, c0, c1, value))
        if not self._open:
            return
        for _last_row, c0, c1, value in self._open:
            # Only the row's own cells: a range may reach column XFD of a narrow sheet.
            left = max(c0 - self._first_col, 0)
            right = min(c1 - self._first_col + 1, len(cells))
            cells[left:right] = [value] * max(right - left, 0)
        self._open = [m for m in self._open if m[0] > row]


def _xlsx_numbered(
    sheet: CalamineSheet,
    *,
    merges: list[tuple[tuple[int, int], tuple[int, int]]],
    first_col: int,
) -> Iterator[tuple[int, list[str]]]:
    """Every row of the sheet with its Excel row number, cells rendered, merged ranges filled.

    calamine holds the parsed sheet in memory (bounded by the zip checks); rows become Python
    objects one at a time.
    """
    merged = _Merges(merges, first_col=first_col)
    for index, values in enumerate(sheet.iter_rows()):
        cells = _render_row(values)
        if merged:
            merged.fill(index, cells)
        yield index + 1, cells


_XlsxValue = int | float | str | bool | dt.time | dt.date | dt.datetime | dt.timedelta | None


def _render_row(values: Sequence[_XlsxValue]) -> list[str]:
    return [v if type(v) is str else _render(v) for v in values]


def _render(value: _XlsxValue) -> str:
    """A cell value as the admin sees it in Excel (Russian date format, no ".0" on integers)."""
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    if isinstance(value, bool):  # before int: bool is an int
        return "TRUE" if value else "FALSE"
    if isinstance(value, float):
        if value.is_integer():
            # Phone numbers and ICCIDs typed into Excel are stored as floats: 79123456789.0.
            return str(int(value))
        return f"{value:.15g}"  # Excel shows at most 15 significant digits
    if isinstance(value, int):
        return str(value)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return _render_moment(value)
    return str(value)  # timedelta: a duration cell


def _render_moment(value: dt.datetime | dt.date | dt.time) -> str:
    """A date or time cell in the Russian format Excel shows: no midnight, no zero seconds."""
    if isinstance(value, dt.datetime):
        if value.time() == dt.time():
            return value.strftime("%d.%m.%Y")
        return value.strftime("%d.%m.%Y %H:%M" if not value.second else "%d.%m.%Y %H:%M:%S")
    if isinstance(value, dt.date):
        return value.strftime("%d.%m.%Y")
    return value.strftime("%H:%M" if not value.second else "%H:%M:%S")
