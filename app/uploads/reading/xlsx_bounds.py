"""An XLSX is measured before calamine reads it: nothing calamine allocates is left to the file.

calamine reads the first sheet whole, into a grid spanning every cell it finds from the first
to the last, 32 bytes a cell: one cell at A1 and one at XFD1048576 ask for 550 GB, and the
failed allocation aborts the process. It also keeps every shared string, and decompresses
whatever the zip holds, whatever sizes the zip declares.

So before calamine opens a workbook, the zip's directory is checked (what it declares), then
every part is decompressed here as a stream, its real size counted, and scanned for what
calamine would allocate from it: the dimension a sheet declares, the box its cells span, its
cells and columns, the shared strings and merged ranges. Every part is scanned, XML or not:
calamine reads whatever part the workbook names as its sheet. Only counts are kept, so memory
stays at one chunk.
"""

from __future__ import annotations

import copy
import html
import posixpath
import re
import sys
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote

import polars as pl

from app.uploads.reading.refusals import UploadRejected, Words, corrupt, not_a_table, words

__all__ = ["EXCEL_COLUMNS", "EXCEL_ROWS", "XlsxLimits", "check_workbook"]

# The largest sheet Excel makes: a cell beyond it is no Excel file.
EXCEL_ROWS = 1_048_576
EXCEL_COLUMNS = 16_384
# Merged ranges kept (python-calamine lists them all); lists merge a few cells, if any.
MAX_MERGED_RANGES = 100_000

_CHUNK = 4 * 1024 * 1024
# No tag Excel writes comes near this: the end of a chunk after its last '<' is carried to the
# next chunk only when shorter.
_MAX_TAG = 1024 * 1024

_PREFIX = r"(?:[A-Za-z_][\w.\-]*:)?"
# Every opening of an unprefixed cell tag; with its position first, as Excel (and every common
# writer) writes it, the opening takes the position in: a part whose cells are all written so
# is measured from these alone, in polars.
_CELL_OPENING = r'<c(?: r="[A-Za-z]{1,3}[0-9]{1,7}")?[\s/>]'
_EXCEL_CELL_REF = r'^<c r="([A-Za-z]+)([0-9]+)"'
# calamine reads cells by their local name, so <x:c> is a cell too.
_PREFIXED_CELL = r"<[A-Za-z_][\w.\-]*:c[\s/>]"
_SHARED_STRING = rf"<{_PREFIX}si[\s/>]"
_MERGED_RANGE = rf"<{_PREFIX}mergeCell[\s/>]"

# For the other parts: tags read one by one, as calamine reads them.
_ROW_OR_CELL = re.compile(rb"<(/?)(?:[A-Za-z_][\w.\-]*:)?(row|c)(?=[\s/>])")
_REST_OF_TAG = re.compile(rb"""((?:\s+[^\s=<>/"']+\s*=\s*(?:"[^"]*"|'[^']*'))*)\s*(/?)>""")
_ATTRIBUTE = re.compile(rb"""\s+([^\s=<>/"']+)\s*=\s*(?:"([^"]*)"|'([^']*)')""")
_DIMENSION = re.compile(rb"<(?:[A-Za-z_][\w.\-]*:)?dimension(?=[\s/>])")
_REF = re.compile(rb"([A-Za-z]+)([0-9]+)")
_TARGET = re.compile(rb"""\sTarget\s*=\s*(?:"([^"]*)"|'([^']*)')""")
# Parts no workbook reads as XML unless its relationships name them (see `_parts_read`).
_NOT_READ = ("xl/media/", "xl/embeddings/", "xl/printerSettings/")
_MAX_RELATIONSHIPS = 1024 * 1024


@dataclass(frozen=True)
class XlsxLimits:
    """What an uploaded workbook may hold (settings `xlsx_max_*`)."""

    max_unpacked_bytes: int = 500_000_000
    max_ratio: int = 200
    max_cells: int = 20_000_000
    max_columns: int = 256


def check_workbook(path: Path, *, name: str, limits: XlsxLimits) -> None:
    """Refuse, with `UploadRejected`, a zip that is not an XLSX, a zip bomb, or a workbook
    too large to read; `name` names the file in the messages."""
    infos = _directory(path, name=name, limits=limits)
    total = 0
    try:
        with zipfile.ZipFile(path) as archive:
            read = _parts_read(archive, limits)
            for info in infos:
                allowance = limits.max_unpacked_bytes - total
                scan = info.filename in read
                try:
                    total += _measure(archive, info, name, limits, allowance, scan=scan)
                except _NotAsExcelWrites:
                    total += _measure(archive, info, name, limits, allowance, scan=scan, exact=True)
    except (
        zipfile.BadZipFile,
        zipfile.LargeZipFile,
        OSError,
        EOFError,
        RuntimeError,  # an encrypted part
        ValueError,
        zlib.error,
    ) as e:
        raise corrupt(name) from e


def _directory(path: Path, *, name: str, limits: XlsxLimits) -> list[zipfile.ZipInfo]:
    """The parts of the zip, refusing non-XLSX zips and what the directory declares too large."""
    try:
        with zipfile.ZipFile(path) as archive:
            infos = archive.infolist()
            names = {info.filename for info in infos}
            if "xl/workbook.xml" not in names:
                raise not_a_table(name, _what_zip(archive, names))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError) as e:
        raise corrupt(name) from e
    if len(names) != len(infos):
        raise corrupt(name)  # two parts of one name: which one a reader takes is anyone's guess
    if any(i.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED) for i in infos):
        raise corrupt(name)  # Excel deflates or stores
    declared = sum(info.file_size for info in infos)
    if declared > limits.max_unpacked_bytes:
        raise _too_large_unpacked(name, words("upload.why.unpacks_to", size=declared))
    for info in infos:
        if info.file_size > limits.max_ratio * max(info.compress_size, 1):
            raise _too_large_unpacked(name, _ratio(info, info.file_size))
    return infos


def _parts_read(archive: zipfile.ZipFile, limits: XlsxLimits) -> set[str]:
    """The parts the reader may read as XML: every part under xl/, but for pictures and
    other media, which only drawings point to (random bytes of a picture may look like the
    start of a tag). Whatever part the workbook's relationships name is read, even one under
    xl/media/: the reader opens the sheet the workbook names, wherever it is."""
    names = set(archive.namelist())
    named: set[str] = set()
    if "xl/_rels/workbook.xml.rels" in names:
        with archive.open("xl/_rels/workbook.xml.rels") as stream:
            relationships = stream.read(min(limits.max_unpacked_bytes, _MAX_RELATIONSHIPS) + 1)
        for found in _TARGET.finditer(relationships):
            target = (found.group(1) or found.group(2) or b"").decode("utf-8", "replace")
            # Every way a reader may take the target: escaped or not, from the package root
            # or from xl/, as written or normalised.
            for form in {target, html.unescape(target), unquote(html.unescape(target))}:
                named.update((form.lstrip("/"), f"xl/{form}", posixpath.normpath(f"xl/{form}")))
    return {
        part
        for part in names
        if part in named or (part.startswith("xl/") and not part.startswith(_NOT_READ))
    }


def _measure(
    archive: zipfile.ZipFile,
    info: zipfile.ZipInfo,
    name: str,
    limits: XlsxLimits,
    allowance: int,
    *,
    scan: bool,
    exact: bool = False,
) -> int:
    """Decompress one part as it really unpacks, refusing it past `allowance` bytes or the
    ratio, and (with `scan`) scan it; its real size. Raises `_NotAsExcelWrites` when `exact`
    is off and a cell needs it.

    zipfile stops reading a part at the size the zip declares; told no size, it reads on to
    the real end (this stops at the allowance), and the CRC at the end still checks every
    byte."""
    real = copy.copy(info)
    real.file_size = sys.maxsize
    scanner = _PartScan(name, limits, exact=exact) if scan else None
    size = 0
    with archive.open(real) as stream:
        while chunk := stream.read(_CHUNK):
            size += len(chunk)
            if size > allowance:
                raise _too_large_unpacked(
                    name, words("upload.why.unpacks_over", size=limits.max_unpacked_bytes)
                )
            if size > limits.max_ratio * max(info.compress_size, 1):
                raise _too_large_unpacked(name, _ratio(info, size))
            if scanner is not None:
                scanner.feed(chunk)
    if scanner is not None:
        scanner.close()
    return size


class _NotAsExcelWrites(Exception):
    """A cell tag without its position first: the part is read again, tag by tag."""


class _PartScan:
    """What calamine would allocate from one part, counted chunk by chunk. Tags are never cut:
    each chunk ends before its last '<', which goes with the next."""

    def __init__(self, name: str, limits: XlsxLimits, *, exact: bool) -> None:
        self.name = name
        self.limits = limits
        self.cells = 0
        self.shared = 0
        self.merged = 0
        # The box the cells span, 1-based: first and last row, first and last column.
        self.box: tuple[int, int, int, int] | None = None
        self._carry = b""
        self._exact = _CellWalk(self) if exact else None

    def feed(self, chunk: bytes) -> None:
        data = self._carry + chunk
        cut = data.rfind(b"<")
        if cut == -1 or len(data) - cut > _MAX_TAG:
            # No tag starts near the end (text, an image): nothing to carry. A tag longer
            # than that, cut here, is no cell tag as Excel writes it, and is read as such.
            cut = len(data)
        self._carry = data[cut:]
        self._scan(data[:cut])

    def close(self) -> None:
        self._scan(self._carry)
        self._carry = b""
        if self.box is not None:
            self._check_box(self.box, "sheet")

    def _scan(self, data: bytes) -> None:
        if not data:
            return
        # As text without copying it (a chunk is cut before a '<', never inside a character);
        # decoded with replacement only where it is no UTF-8 (a picture).
        try:
            text = pl.Series([data], dtype=pl.Binary).cast(pl.String)
        except pl.exceptions.PolarsError:
            text = pl.Series([data.decode("utf-8", "replace")])

        def holds(word: str) -> bool:
            return bool(text.str.contains(word, literal=True).item())

        cells = text.str.extract_all(_CELL_OPENING).explode().drop_nulls()
        prefixed = int(text.str.count_matches(_PREFIXED_CELL).item()) if holds(":c") else 0
        opened = len(cells) + prefixed
        if opened:
            self.cells += opened
            if self.cells > self.limits.max_cells:
                raise _too_many(
                    self.name, words("upload.why.cells_over", cells=self.limits.max_cells)
                )
            if self._exact is not None:
                self._exact.walk(data)
            else:
                self._excel_cells(cells, opened)
        if holds("si"):
            self.shared += int(text.str.count_matches(_SHARED_STRING).item())
            if self.shared > self.limits.max_cells:
                raise _too_many(
                    self.name, words("upload.why.strings_over", strings=self.limits.max_cells)
                )
        if holds("mergeCell"):
            self.merged += int(text.str.count_matches(_MERGED_RANGE).item())
            if self.merged > MAX_MERGED_RANGES:
                raise _too_many(
                    self.name, words("upload.why.merged_over", ranges=MAX_MERGED_RANGES)
                )
        if holds("dimension"):
            self._declared(data)

    def _excel_cells(self, cells: pl.Series, opened: int) -> None:
        """The box of cells all written as Excel writes them (else `_NotAsExcelWrites`)."""
        placed = cells.filter(cells.str.len_bytes() > len("<c "))
        if len(placed) != opened:
            raise _NotAsExcelWrites
        parts = placed.str.extract_groups(_EXCEL_CELL_REF).struct.unnest()
        rows = parts["2"].cast(pl.Int64)
        columns = [_column_number(letters) for letters in parts["1"].unique().to_list()]
        self.note(int(rows.min()), int(rows.max()), min(columns), max(columns))  # type: ignore[arg-type]

    def note(self, first_row: int, last_row: int, first_col: int, last_col: int) -> None:
        """Widen the box to take in these rows and columns."""
        if last_row > EXCEL_ROWS or last_col > EXCEL_COLUMNS:
            where = f"{_column_name(last_col)}{last_row}"
            raise _too_large_sheet(self.name, words("upload.why.cell_beyond", cell=where))
        if self.box is not None:
            r0, r1, c0, c1 = self.box
            first_row, last_row = min(first_row, r0), max(last_row, r1)
            first_col, last_col = min(first_col, c0), max(last_col, c1)
        self.box = (first_row, last_row, first_col, last_col)

    def _declared(self, data: bytes) -> None:
        """The dimension a sheet declares is held to the limits of the cells it has."""
        at = data.find(b"dimension")
        while at != -1:
            start = data.rfind(b"<", max(0, at - 64), at)
            found = _DIMENSION.match(data, start) if start != -1 else None
            rest = _REST_OF_TAG.match(data, found.end()) if found else None
            if rest is not None:
                self._check_declared(_attributes(rest.group(1)).get(b"ref", b""))
            at = data.find(b"dimension", at + 1)

    def _check_declared(self, ref: bytes) -> None:
        corners = [_REF.fullmatch(part) for part in ref.split(b":")]
        if len(corners) > 2 or any(c is None for c in corners):
            return  # calamine refuses the sheet itself
        cells = [(int(c.group(2)), _column_number(c.group(1).decode())) for c in corners if c]
        rows = sorted(r for r, _ in cells)
        columns = sorted(c for _, c in cells)
        self._check_box((rows[0], rows[-1], columns[0], columns[-1]), "declared")

    def _check_box(self, box: tuple[int, int, int, int], what: str) -> None:
        first_row, last_row, first_col, last_col = box
        rows, columns = last_row - first_row + 1, last_col - first_col + 1
        span = {
            "what": words(f"upload.why.{what}"),
            "box": f"{_column_name(first_col)}{first_row}:{_column_name(last_col)}{last_row}",
            "rows": rows,
            "columns": columns,
        }
        if columns > self.limits.max_columns:
            raise _too_large_sheet(
                self.name, words("upload.why.span_columns", **span, most=self.limits.max_columns)
            )
        if rows * columns > self.limits.max_cells or last_row > EXCEL_ROWS:
            raise _too_large_sheet(
                self.name,
                words(
                    "upload.why.span_cells",
                    **span,
                    cells=rows * columns,
                    most=self.limits.max_cells,
                ),
            )


class _CellWalk:
    """Cells of a part read one by one, placed as calamine places them: a cell without a
    position goes after the one before it, in the row after the row before (or the row its
    row tag names). Self-closing tags count too, which only ever places cells further out."""

    def __init__(self, scan: _PartScan) -> None:
        self.scan = scan
        self.row = 1
        self.column = 1

    def walk(self, data: bytes) -> None:
        for found in _ROW_OR_CELL.finditer(data):
            closing, tag = found.group(1), found.group(2)
            rest = _REST_OF_TAG.match(data, found.end())
            if rest is None or (closing and rest.group(1)):
                raise corrupt(self.scan.name)
            if closing:
                if tag == b"row":
                    self._end_of_row()
                continue
            position = _attributes(rest.group(1)).get(b"r")
            if tag == b"row":
                if position is not None:
                    self.row = self._row_of(position)
                if rest.group(2):  # <row/>: ends where it starts
                    self._end_of_row()
                continue
            if position is not None:
                ref = _REF.fullmatch(position)
                if ref is None:
                    raise corrupt(self.scan.name)
                row, self.column = int(ref.group(2)), _column_number(ref.group(1).decode())
            else:
                row = self.row
            self.scan.note(row, row, self.column, self.column)
            self.column += 1

    def _end_of_row(self) -> None:
        self.row += 1
        self.column = 1

    def _row_of(self, position: bytes) -> int:
        ref = re.fullmatch(rb"[A-Za-z]*([0-9]+)", position)
        if ref is None:
            raise corrupt(self.scan.name)
        return int(ref.group(1))


def _attributes(text: bytes) -> dict[bytes, bytes]:
    """The attributes of a tag, by exact name (a name inside a value is no attribute)."""
    return {m.group(1): m.group(2) or m.group(3) or b"" for m in _ATTRIBUTE.finditer(text)}


def _column_number(letters: str) -> int:
    """'A' -> 1, 'XFD' -> 16384; past four letters, a number beyond any sheet."""
    if len(letters) > 4:
        return EXCEL_COLUMNS * 27
    number = 0
    for letter in letters.upper():
        number = number * 26 + ord(letter) - ord("A") + 1
    return number


def _column_name(number: int) -> str:
    letters = ""
    while number > 0:
        number, rest = divmod(number - 1, 26)
        letters = chr(ord("A") + rest) + letters
    return letters


def _ratio(info: zipfile.ZipInfo, size: int) -> Words:
    return words("upload.why.ratio", part=info.filename, times=size // max(info.compress_size, 1))


def _what_zip(archive: zipfile.ZipFile, names: set[str]) -> str:
    if "word/document.xml" in names:
        return "docx"
    if "ppt/presentation.xml" in names:
        return "pptx"
    if "mimetype" in names and archive.getinfo("mimetype").file_size < 200:
        mimetype = archive.read("mimetype")
        if b"opendocument.spreadsheet" in mimetype:
            return "ods"
        if b"opendocument" in mimetype:
            return "opendocument"
    return "zip"


def _too_large_unpacked(name: str, why: Words) -> UploadRejected:
    return _too_large("file.xlsx_too_large_unpacked", name, why)


def _too_large_sheet(name: str, why: Words) -> UploadRejected:
    return _too_large("file.xlsx_too_large_sheet", name, why)


def _too_many(name: str, why: Words) -> UploadRejected:
    return _too_large("file.xlsx_too_many_cells", name, why)


def _too_large(code: str, name: str, why: Words) -> UploadRejected:
    return UploadRejected(code, words(f"upload.{code}", name=name, why=why), status=413)
