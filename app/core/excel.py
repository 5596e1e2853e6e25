"""What every file simreg hands out for Russian Excel follows, reports and upload refusals alike.

CSV goes out as UTF-8 with a BOM, ";" and CRLF, which Excel opens without an import dialog.
Text that came from outside is neutralised before it goes back out, so a file can never run a
formula the company admin did not write."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import xlsxwriter

CSV_BOM = "\ufeff"
# Excel treats a cell starting with one of these as a formula (DDE/CSV injection).
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# XLSX (XML 1.0) cannot hold these control characters; they cannot be typed in Excel anyway.
_XML_ILLEGAL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
# Excel's sheet ends here; a row past it would be silently dropped.
XLSX_MAX_ROWS = 1_048_576
XLSX_MAX_CELL = 32_767
XLSX_TRUNCATED = (
    "Отчёт обрезан: в лист Excel больше строк не помещается; скачайте отчёт в CSV, там все строки"
)
_CSV_FLUSH_CHARS = 64 * 1024


def neutralise(cell: str) -> str:
    """The cell with a leading apostrophe if Excel would run it as a formula, else unchanged."""
    if cell.startswith(_FORMULA_STARTS):
        return "'" + cell
    return cell


def xlsx_text(value: str) -> str:
    """`value` as an XLSX cell can hold it: illegal characters replaced, cut to Excel's limit."""
    return _XML_ILLEGAL.sub("\ufffd", value)[:XLSX_MAX_CELL]


def excel_csv(
    header: Sequence[str], rows: Iterable[Sequence[str | int]], *, delimiter: str = ";"
) -> Iterator[bytes]:
    """`header` (neutralised) and `rows` (written as given) as CSV chunks for Excel: UTF-8 with
    a BOM first, CRLF line ends, about 64 KiB each so a long file never sits whole in memory."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n")
    writer.writerow([neutralise(h) for h in header])
    yield (CSV_BOM + _take(buffer)).encode("utf-8")
    for row in rows:
        writer.writerow(row)
        if buffer.tell() >= _CSV_FLUSH_CHARS:
            yield _take(buffer).encode("utf-8")
    if buffer.tell():
        yield _take(buffer).encode("utf-8")


def excel_xlsx(
    path: Path,
    *,
    sheet_name: str,
    header: Sequence[str],
    widths: Sequence[int],
    rows: Iterable[Sequence[str | int]],
    truncated: str = XLSX_TRUNCATED,
) -> None:
    """`header` and `rows` as an XLSX file at `path`, one sheet with a bold, frozen, filtered
    header. Text cells are written as text (already neutralised by the caller), integers as
    numbers. Constant-memory mode streams each row to a temporary file as it is written, so a
    million rows never sit in memory; past Excel's last row, `truncated` says the list goes on.
    """
    workbook = xlsxwriter.Workbook(
        str(path),
        {
            "constant_memory": True,
            "strings_to_formulas": False,
            "strings_to_numbers": False,
            "strings_to_urls": False,
        },
    )
    try:
        bold = workbook.add_format({"bold": True})
        sheet = workbook.add_worksheet(sheet_name)
        for col, width in enumerate(widths):
            sheet.set_column(col, col, width)
        for col, title in enumerate(header):
            sheet.write_string(0, col, neutralise(title), bold)
        sheet.freeze_panes(1, 0)
        last = 0
        for line, row in enumerate(rows, start=1):
            if line == XLSX_MAX_ROWS - 1:
                sheet.write_string(line, 0, truncated)
                break
            for col, value in enumerate(row):
                if isinstance(value, int):
                    sheet.write_number(line, col, value)
                else:
                    sheet.write_string(line, col, xlsx_text(value))
            last = line
        sheet.autofilter(0, 0, last, len(header) - 1)
    finally:
        workbook.close()


def _take(buffer: io.StringIO) -> str:
    text = buffer.getvalue()
    buffer.seek(0)
    buffer.truncate()
    return text
