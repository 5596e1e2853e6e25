"""Turn an uploaded file into a header and batches of raw rows, in bounded memory.

Company lists come from Excel (DOMAIN.md, "Data the company submits"): XLSX, or CSV saved by
Russian Excel — Windows-1251, ";" delimiter, Russian headers — or CSV in UTF-8 with or
without BOM. Nothing here judges the values; it only finds the rows and says which canonical
column each cell belongs to. A file that cannot be read as a table is refused as a whole
(`UploadRejected`) before any row is handed out, so an upload never half-succeeds.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Literal

import polars as pl
from python_calamine import CalamineError, CalamineSheet, CalamineWorkbook

from app.uploads.columns import WHITESPACE, Column, column_for_header
from app.uploads.refusals import SAVE_HINT, UploadRejected, corrupt, not_a_table
from app.uploads.xlsx_bounds import XlsxLimits, check_workbook

__all__ = ["RawRow", "Table", "UploadRejected", "open_table"]

_HEAD_BYTES = 8 * 1024
# Read size of the byte-level passes: small enough that a decoded chunk is no memory concern.
_CHUNK = 256 * 1024
# Enough text to hold a header line, even one with long quoted header cells.
_HEADER_SAMPLE_CHARS = 64 * 1024
# What the encoding guess looks at; rows past it are still decoded strictly in the counting pass.
_ENCODING_SAMPLE_BYTES = 256 * 1024

# Bytes of a plain CSV handed to polars at a time, cut at a line end (about 30k rows):
# bigger chunks read no faster and raise the peak memory of an upload.
_FRAME_CHUNK = 4 * 1024 * 1024
# Encodings whose text polars reads as UTF-8 as is or after re-encoding a chunk.
_FRAME_ENCODINGS = ("utf-8", "utf-8-sig", "cp1251")

# Preference on a tie: ";" is what Russian Excel writes, "\t" what "Unicode text" export writes.
_DELIMITERS = (";", ",", "\t")

# The save-as types as Russian Excel names them (its plain "CSV" writes cp1251 with ";").
_ENCODING_HINT = (
    'save it from Excel as "CSV UTF-8 (разделитель - запятая)" or '
    '"CSV (разделители - запятые)", or as .xlsx'
)

# Signatures of files people upload by mistake, checked before anything is decoded.
_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"%PDF", "a PDF document"),
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF87a", "a GIF image"),
    (b"GIF89a", "a GIF image"),
    # OLE2 compound file: Excel 97–2003 .xls, old .doc, and also a password-protected .xlsx.
    (
        b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1",
        "an old-format Excel 97–2003 workbook (.xls) or a password-protected Excel file",
    ),
    (b"Rar!\x1a\x07", "a RAR archive"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"{\\rtf", "an RTF document"),
)

_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")


@dataclass(frozen=True, slots=True)
class RawRow:
    """One row as written: its number as Excel shows it, its cells, and any structural problem."""

    row_no: int
    cells: list[str]
    problem: tuple[str, str] | None = None


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


class _NotPlain(Exception):
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
            except _NotPlain:
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
                shaped = next(_shape_rows([(row_no, cells)], width), None)
                if shaped is None:
                    continue
                if shaped.problem is None:
                    row_nos.append(row_no)
                    rows.append(shaped.cells)
                else:
                    odd.append(shaped)
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
            batch.append(row)
            if len(batch) >= size:
                yield batch
                batch = []
        if batch:
            yield batch


def _cells_frame(row_nos: list[int], rows: list[list[str]], width: int) -> pl.DataFrame:
    # Rows → columns in C (zip), not a Python loop per cell.
    columns = list(zip(*rows, strict=True)) if rows else [()] * width
    return pl.DataFrame(
        {
            "row_no": pl.Series(row_nos, dtype=pl.Int64),
            **{str(i): pl.Series(column, dtype=pl.String) for i, column in enumerate(columns)},
        }
    )


def open_table(
    path: Path,
    *,
    filename: str,
    xlsx_limits: XlsxLimits | None = None,
) -> Table:
    """Open an uploaded CSV or XLSX file, or refuse it with `UploadRejected`.

    The format is told by content, not by `filename` (which only names the file in messages).
    Every whole-file problem (wrong kind of file, encoding, unclosed quote, bad header,
    zip bomb) is raised here, so rows handed out by `Table.batches` are never taken back.
    """
    name = f'"{filename}"'
    with path.open("rb") as f:
        head = f.read(_HEAD_BYTES)

    if head.startswith(_ZIP_MAGIC):
        return _open_xlsx(
            path,
            name=name,
            limits=xlsx_limits or XlsxLimits(),
        )
    for magic, what in _SIGNATURES:
        if head.startswith(magic):
            raise not_a_table(name, what)
    if _is_blank_file(path, head):
        raise UploadRejected("file.empty", f"{name} is empty; there is no table in it")
    return _open_csv(path, head=head, name=name)


# --- CSV ----------------------------------------------------------------------------------


def _open_csv(path: Path, *, head: bytes, name: str) -> Table:
    encoding = _detect_encoding(path, head=head, name=name)
    with path.open(encoding=encoding, newline="", errors="strict") as text:
        try:
            sample = text.read(_HEADER_SAMPLE_CHARS)
        except UnicodeDecodeError as e:
            raise _unknown_encoding(name) from e
    delimiter, header_cells = _detect_delimiter(sample)
    is_plain = encoding in _FRAME_ENCODINGS and _is_plain(path)
    # A plain UTF-8 file (already decoded whole by the encoding check) is counted line by line
    # in bytes; anything else, or anything the csv parser would object to, takes its pass.
    counted = (
        _count_plain_records(path, delimiter=delimiter, width=len(header_cells))
        if is_plain and encoding in ("utf-8", "utf-8-sig")
        else None
    )
    data_rows, same_width = counted or _count_data_records(
        path, encoding=encoding, delimiter=delimiter, name=name, width=len(header_cells)
    )
    header, columns = _read_header(header_cells, name=name, has_rows=data_rows > 0)
    if data_rows == 0:
        raise _no_rows(name)
    plain = same_width and len(header) == len(header_cells) and is_plain

    def rows() -> Iterator[RawRow]:
        return _csv_rows(path, encoding=encoding, delimiter=delimiter, width=len(header))

    def numbered() -> Iterator[tuple[int, list[str]]]:
        return _csv_numbered(path, encoding=encoding, delimiter=delimiter)

    def frames(size: int) -> Iterator[pl.DataFrame]:
        return _sized(
            _csv_frames(path, encoding=encoding, delimiter=delimiter, width=len(header)), size
        )

    return Table(
        format="csv",
        header=header,
        columns=columns,
        encoding=encoding,
        delimiter=delimiter,
        total_rows=data_rows,
        _rows=rows,
        _numbered=numbered,
        _frames=frames if plain else None,
    )


def _detect_encoding(path: Path, *, head: bytes, name: str) -> str:
    """The file's encoding: a BOM decides; otherwise UTF-8 if all of it decodes, else cp1251."""
    # Excel's "Unicode text" export is UTF-16 with a BOM (tab-delimited); the codec reads the BOM.
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    if b"\x00" in head:
        if _looks_like_utf16(head):
            raise UploadRejected(
                "file.unknown_encoding",
                f"{name} looks like UTF-16 text without a byte-order mark, "
                f"which cannot be read reliably; {_ENCODING_HINT}",
            )
        raise not_a_table(name, "a binary file")
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if _decodes_as_utf8(path):
        return "utf-8"
    with path.open("rb") as f:
        sample = f.read(_ENCODING_SAMPLE_BYTES)
    # A cut at the end of the sample cannot split a character: cp1251 is one byte per character.
    if _plausible_cp1251(sample):
        return "cp1251"
    raise _unknown_encoding(name)


def _decodes_as_utf8(path: Path) -> bool:
    """Whether the whole file is valid UTF-8, checked in chunks so it is never held as one str."""
    decoder = codecs.getincrementaldecoder("utf-8")("strict")
    try:
        with path.open("rb") as f:
            while chunk := f.read(_CHUNK):
                decoder.decode(chunk)
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def _looks_like_utf16(head: bytes) -> bool:
    """Text in UTF-16 without a BOM: NUL bytes in most even or most odd positions, not both."""
    even, odd = head[0::2], head[1::2]
    if not even or not odd:
        return False
    even_nul = even.count(0) / len(even)
    odd_nul = odd.count(0) / len(odd)
    return max(even_nul, odd_nul) > 0.2 and min(even_nul, odd_nul) < 0.02


# Characters Russian text in cp1251 is not made of (C0 controls other than \t\r\n never are).
_UNUSUAL = re.compile(r"[^\tА-яЁё\x20-\x7e\r\n\xa0«»–—№“”„‘’…•°]")
# A lower-case Cyrillic letter followed by an upper-case one inside a word: KOI8-R read as
# cp1251 swaps the two cases ("Иванов" becomes "йЧБОПЧ"), real Russian text almost never has it.
_CASE_FLIP = re.compile(r"[а-яё][А-ЯЁ]")
_CYRILLIC_WORD = re.compile(r"[А-яЁё]{2,}")


def _plausible_cp1251(sample: bytes) -> bool:
    """Whether `sample` decodes as cp1251 into something that reads like Russian text."""
    try:
        text = sample.decode("cp1251")
    except UnicodeDecodeError:
        return False
    if not text:
        return False
    if re.search(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]", text):
        return False
    if len(_UNUSUAL.findall(text)) > 0.01 * len(text):
        return False
    words = flipped = 0
    for word in _CYRILLIC_WORD.finditer(text):
        words += 1
        flipped += _CASE_FLIP.search(word.group()) is not None
    return flipped <= 0.05 * words


def _detect_delimiter(sample: str) -> tuple[str, list[str]]:
    """The delimiter that splits the header into the most recognised columns, and the header.

    On a tie (e.g. a header with no known columns) the one splitting it into the most cells
    wins, and after that the order of `_DELIMITERS`. The header is parsed as the row pass
    parses rows (leniently), so header and rows always agree.
    """
    best: tuple[str, list[str]] = (_DELIMITERS[0], [])
    best_score = (-1, -1)
    for delimiter in _DELIMITERS:
        cells = next(csv.reader(io.StringIO(sample), delimiter=delimiter), [])
        recognised = len({c for c in map(column_for_header, cells) if c is not None})
        score = (recognised, len(cells))
        if score > best_score:
            best, best_score = (delimiter, cells), score
    return best


def _count_data_records(
    path: Path, *, encoding: str, delimiter: str, name: str, width: int
) -> tuple[int, bool]:
    """First pass: the number of non-blank data records, and whether every one of them has
    `width` cells and the parser met nothing it had to tolerate.

    Runs the same csv parser as the row pass (strictly, so a quote left open shows as an error
    at the end of the file instead of swallowing it), which lets the whole file be refused
    before any row is handed out.
    """
    records = 0  # records fully read; the one being read when an error strikes is records + 1
    data_rows = 0
    same_width = True
    with path.open(encoding=encoding, newline="", errors="strict") as text:
        reader = csv.reader(text, delimiter=delimiter, strict=True)
        while True:
            try:
                for cells in reader:
                    records += 1
                    if records > 1 and not _is_blank(cells):
                        data_rows += 1
                        if len(cells) != width:
                            same_width = False
                break
            except UnicodeDecodeError as e:
                raise _unknown_encoding(name) from e
            except csv.Error as e:
                fatal = _csv_structure_error(str(e), row_no=records + 1, name=name)
                if fatal is not None:
                    raise fatal from e
                # A stray quote after a closing one ('"abc"def'): the lenient row pass reads it
                # as Excel does ('abcdef'), and the reader goes on with the next line.
                records += 1
                data_rows += records > 1
                same_width = False
    return data_rows, same_width


# A line this long could hold a field over the csv module's limit: left to its pass to judge.
_PLAIN_LINE_LIMIT = csv.field_size_limit()
_PRINTABLE = frozenset(range(0x21, 0x7F))


def _count_plain_records(path: Path, *, delimiter: str, width: int) -> tuple[int, bool] | None:
    """`_count_data_records` for a plain UTF-8 file (see `_is_plain`), in bytes: each line is a
    record and its cells are the text between delimiters, so a blank record is a line whose
    text without delimiters is empty or white space. None when a line holds something the csv
    parser would refuse (a NUL, an over-long line): the parser's own pass then reports it."""
    sep = delimiter.encode()
    records = data_rows = 0
    same_width = True

    def count(lines: list[bytes]) -> bool:
        nonlocal records, data_rows, same_width
        for line in lines:
            if len(line) > _PLAIN_LINE_LIMIT:
                return False
            records += 1
            if records == 1:
                continue  # the header
            text = line.removesuffix(b"\r").replace(sep, b"")
            if not text or (
                text[0] not in _PRINTABLE and text.decode("utf-8", "replace").isspace()
            ):
                continue
            data_rows += 1
            if line.count(sep) != width - 1:
                same_width = False
        return True

    for data in _whole_lines(path):
        if b"\x00" in data:
            return None
        lines = data.split(b"\n")
        if data.endswith(b"\n"):
            lines.pop()  # the empty text after the last line end
        if not count(lines):
            return None
    return data_rows, same_width


def _is_plain(path: Path) -> bool:
    """Whether the file has no quote character and no line ending in a bare CR.

    In such a file every line is one record and its cells are the text between delimiters,
    which polars' reader (without quoting) gives exactly as csv.reader does."""
    previous_cr = False
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            if b'"' in chunk or (previous_cr and not chunk.startswith(b"\n")):
                return False
            if chunk.count(b"\r") != chunk.count(b"\r\n") + chunk.endswith(b"\r"):
                return False
            previous_cr = chunk.endswith(b"\r")
    return not previous_cr


def _csv_frames(path: Path, *, encoding: str, delimiter: str, width: int) -> Iterator[pl.DataFrame]:
    """The non-blank data rows of a plain CSV (see `_is_plain`), read by polars in chunks cut
    at line ends, numbered as the csv pass numbers them (blank lines count)."""
    names = [str(i) for i in range(width)]
    # A first line of `width` empty cells fixes the number of columns whatever the chunk's
    # first line is (polars would take it from that line); it is dropped again.
    shape = (delimiter * (width - 1) + "\n").encode()
    cells = pl.concat_str(names)
    next_row_no = 1  # the header
    for data in _whole_lines(path):
        lines = data.count(b"\n") + (not data.endswith(b"\n"))
        if encoding == "cp1251":
            data = data.decode(encoding).encode()
        # UTF-8 goes as it is (a BOM sits in the header line, which is dropped).
        frame = pl.read_csv(
            shape + data,
            has_header=False,
            new_columns=names,
            separator=delimiter,
            quote_char=None,
            infer_schema=False,
            truncate_ragged_lines=True,
        ).slice(1)
        if frame.height != lines:
            raise _NotPlain
        first = next_row_no
        next_row_no += lines
        yield (
            frame.with_columns(pl.all().fill_null(""))
            .with_row_index("row_no", offset=first)
            .with_columns(pl.col("row_no").cast(pl.Int64))
            .filter((pl.col("row_no") > 1) & (cells.str.strip_chars(WHITESPACE) != ""))
        )


def _whole_lines(path: Path) -> Iterator[bytes]:
    """The file in chunks of about `_FRAME_CHUNK` bytes cut at line ends (a line longer than a
    chunk comes whole in a longer one); the last chunk may lack its final line end."""
    with path.open("rb") as f:
        rest = b""
        while True:
            block = f.read(_FRAME_CHUNK)
            if not block and not rest:
                return
            data = rest + block
            cut = data.rfind(b"\n") + 1 if block else len(data)
            if cut == 0:
                rest = data  # a line longer than a chunk: read on
                continue
            rest = data[cut:]
            yield data[:cut]


def _sized(frames: Iterable[pl.DataFrame], size: int) -> Iterator[pl.DataFrame]:
    """The rows of `frames` again, in frames of `size` rows (the last one may be shorter)."""
    held: list[pl.DataFrame] = []
    count = 0
    for frame in frames:
        held.append(frame)
        count += frame.height
        while count >= size:
            joined = pl.concat(held)
            yield joined.head(size)
            held, count = [joined.slice(size)], count - size
    if count:
        yield pl.concat(held)


def _csv_structure_error(detail: str, *, row_no: int, name: str) -> UploadRejected | None:
    """The refusal for a strict-parser error, or None for one the row pass tolerates."""
    if "field larger than field limit" in detail:
        # Excel cells hold at most 32,767 characters; a longer one is text swallowed by a quote.
        return UploadRejected(
            "file.unclosed_quote",
            f"in {name} a quote opened in row {row_no} is never closed (or row {row_no} holds "
            "a cell far longer than Excel allows); close the quote, or put the value in "
            f'double quotes with any quote inside doubled (""), or {SAVE_HINT}',
        )
    if "unexpected end of data" in detail:
        return UploadRejected(
            "file.unclosed_quote",
            f"in {name} a quote opened in row {row_no} is never closed, so everything after it "
            'would be read as one cell; close the quote, or double a quote inside a value (""), '
            f"or {SAVE_HINT}",
        )
    return None


def _csv_rows(path: Path, *, encoding: str, delimiter: str, width: int) -> Iterator[RawRow]:
    """Second pass: the data rows, with too-many/too-few cells marked on the row."""
    yield from _shape_rows(_csv_numbered(path, encoding=encoding, delimiter=delimiter), width)


def _csv_numbered(path: Path, *, encoding: str, delimiter: str) -> Iterator[tuple[int, list[str]]]:
    """The data records with their row numbers, as the parser gives them."""
    with path.open(encoding=encoding, newline="") as text:
        # Lenient like Excel: '"abc"def' reads as 'abcdef'. Quotes left open were refused above.
        reader = csv.reader(text, delimiter=delimiter, strict=False)
        next(reader, None)  # the header
        yield from enumerate(reader, start=2)


def _unshape(rows: Iterator[RawRow]) -> Iterator[tuple[int, list[str]]]:
    for row in rows:
        yield row.row_no, row.cells


def _shape_rows(numbered: Iterable[tuple[int, list[str]]], width: int) -> Iterator[RawRow]:
    """Skip blank rows and mark rows whose number of cells differs from the header's."""
    for row_no, cells in numbered:
        if _is_blank(cells):
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
                yield RawRow(row_no, cells, _too_many(found=last, expected=width))
        else:
            yield RawRow(row_no, cells, _too_few(found=found, expected=width))


def _is_blank(cells: list[str]) -> bool:
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


# --- Header -------------------------------------------------------------------------------


def _read_header(
    cells: list[str], *, name: str, has_rows: bool
) -> tuple[list[str], list[Column | None]]:
    """The header as written (stripped, trailing empty cells dropped) and its columns."""
    header = [cell.strip() for cell in cells]
    while header and not header[-1]:
        header.pop()
    if not header:
        if not has_rows:
            raise UploadRejected("file.empty", f"{name} is empty; there is no table in it")
        raise UploadRejected(
            "file.no_header",
            f"the first row of {name} is empty; put the column headers "
            "(Номер телефона, Фамилия, Имя, …) in the first row",
        )
    columns = [column_for_header(cell) if cell else None for cell in header]
    first_seen: dict[Column, int] = {}
    for position, column in enumerate(columns):
        if column is None:
            continue
        if column in first_seen:
            earlier = first_seen[column]
            same = header[earlier] == header[position]
            what = (
                f'the column "{header[position]}" appears twice'
                if same
                else f'the columns "{header[earlier]}" and "{header[position]}" mean the same'
            )
            raise UploadRejected(
                "header.duplicate_column",
                f"in {name} {what} (columns {earlier + 1} and {position + 1}); keep one of them",
                column=column.value,
            )
        first_seen[column] = position
    return header, columns


# --- XLSX ---------------------------------------------------------------------------------


def _open_xlsx(path: Path, *, name: str, limits: XlsxLimits) -> Table:
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
    has_rows = next(iter(_shape_rows(rows, len(header_cells))), None) is not None
    header, columns = _read_header(header_cells, name=name, has_rows=has_rows)
    if not has_rows:
        raise _no_rows(name)
    end = sheet.end
    total = end[0] if end else 0  # index of the last row; the header is index 0

    def data_rows() -> Iterator[RawRow]:
        numbered = _xlsx_numbered(sheet, merges=merges, first_col=first_col)
        next(numbered, None)  # the header
        return _shape_rows(numbered, len(header))

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
    if isinstance(value, dt.datetime):
        if value.time() == dt.time():
            return value.strftime("%d.%m.%Y")
        return value.strftime("%d.%m.%Y %H:%M" if not value.second else "%d.%m.%Y %H:%M:%S")
    if isinstance(value, dt.date):
        return value.strftime("%d.%m.%Y")
    if isinstance(value, dt.time):
        return value.strftime("%H:%M" if not value.second else "%H:%M:%S")
    return str(value)  # timedelta: a duration cell


# --- Whole-file checks and messages -------------------------------------------------------

_WHITESPACE = b" \t\r\n\x0b\x0c"


def _is_blank_file(path: Path, head: bytes) -> bool:
    """Whether the file holds nothing but a BOM and whitespace (read only as far as needed)."""
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        # UTF-16 whitespace is the ASCII whitespace byte next to a NUL.
        return path.stat().st_size <= _HEAD_BYTES and not head[2:].replace(b"\x00", b"").strip(
            _WHITESPACE
        )
    if head.removeprefix(codecs.BOM_UTF8).strip(_WHITESPACE):
        return False
    with path.open("rb") as f:
        f.seek(len(head))
        return _rest_is_blank(f)


def _rest_is_blank(f: IO[bytes]) -> bool:
    while chunk := f.read(_CHUNK):
        if chunk.strip(_WHITESPACE):
            return False
    return True


def _unknown_encoding(name: str) -> UploadRejected:
    return UploadRejected(
        "file.unknown_encoding",
        f"the text of {name} is in an encoding that cannot be recognised "
        f"(neither UTF-8 nor Windows-1251); {_ENCODING_HINT}",
    )


def _no_rows(name: str) -> UploadRejected:
    return UploadRejected(
        "file.no_rows",
        f"{name}: the file has a header row but no data rows; add the rows below the header",
    )
