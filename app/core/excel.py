"""What every file simreg hands out for Russian Excel follows, reports and upload refusals alike.

CSV goes out as UTF-8 with a BOM, ";" and CRLF, which Excel opens without an import dialog.
Text that came from outside is neutralised before it goes back out, so a file can never run a
formula the company admin did not write, in a way that survives the trip back into simreg:

- a CSV cell Excel would run gets Excel's text marker, a leading apostrophe, which simreg's
  reader drops again (a value that starts with an apostrophe gets a second one);
- a CSV cell holding any delimiter Excel might split on (";", ",", tab), a quote or a line
  end is quoted, whatever the file's own delimiter: a comma-delimited upload's cell
  `x;=1+2` must not become a formula cell in Russian Excel, which splits on ";";
- XLSX cells are written as strings (`xlsx_text`), which Excel never runs: they need no
  marker, and none is added."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import xlsxwriter

CSV_BOM = "\ufeff"
# Excel treats a cell starting with one of these as a formula (DDE/CSV injection); a cell
# starting with the text marker itself gets another, so the reader's drop leaves it whole.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "'")
# A cell with any of these is quoted in CSV, whatever the file's delimiter.
_NEEDS_QUOTES = re.compile(r'[;,\t"\r\n]')
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
    """The cell with a leading apostrophe if Excel would run it as a formula (or it starts
    with one), else unchanged. For CSV; an XLSX string cell needs none."""
    if cell.startswith(_FORMULA_STARTS):
        return "'" + cell
    return cell


def xlsx_text(value: str) -> str:
    """`value` as an XLSX cell can hold it: illegal characters replaced, cut to Excel's limit."""
    return _XML_ILLEGAL.sub("\ufffd", value)[:XLSX_MAX_CELL]


def csv_line(cells: Iterable[str | int], delimiter: str = ";") -> str:
    """One CSV record for Excel: each cell quoted when it holds a delimiter of any kind, a
    quote or a line end (quotes inside doubled), CRLF at the end."""
    return (
        delimiter.join(
            f'"{text.replace(chr(34), chr(34) * 2)}"'
            if _NEEDS_QUOTES.search(text := str(cell)) or delimiter in text
            else text
            for cell in cells
        )
        + "\r\n"
    )


def excel_csv(
    header: Sequence[str], rows: Iterable[Sequence[str | int]], *, delimiter: str = ";"
) -> Iterator[bytes]:
    """`header` and `rows` as CSV chunks for Excel: UTF-8 with a BOM first, CRLF line ends,
    about 64 KiB each so a long file never sits whole in memory. Every text cell is
    neutralised here (the reader drops the marker again); integers are written as they are."""
    yield (CSV_BOM + csv_line([neutralise(h) for h in header], delimiter)).encode("utf-8")
    lines: list[str] = []
    size = 0
    for row in rows:
        line = csv_line([neutralise(c) if isinstance(c, str) else c for c in row], delimiter)
        lines.append(line)
        size += len(line)
        if size >= _CSV_FLUSH_CHARS:
            yield "".join(lines).encode("utf-8")
            lines, size = [], 0
    if lines:
        yield "".join(lines).encode("utf-8")


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
    header. Text cells are written as string cells as they are (a string cell never runs as
    a formula, so it needs no marker), integers as numbers. Constant-memory mode streams each
    row to a temporary file as it is written, so a million rows never sit in memory; past
    Excel's last row, `truncated` says the list goes on."""
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
            sheet.write_string(0, col, xlsx_text(title), bold)
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
