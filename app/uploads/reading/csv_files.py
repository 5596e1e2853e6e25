"""Reading an uploaded CSV: its delimiter, its records counted, its rows as frames.

CSV comes from Russian Excel (";" delimiter, Russian headers) or in UTF-8 with or without
BOM. The whole file is parsed once before any row is handed out, so a quote left open or a
text in no known encoding refuses the file instead of half an upload.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from pathlib import Path

import polars as pl

from app.uploads.reading.columns import WHITESPACE, column_for_header, read_header
from app.uploads.reading.csv_encodings import detect_encoding, unknown_encoding
from app.uploads.reading.refusals import UploadRejected, no_rows, words
from app.uploads.reading.table import (
    CHUNK_BYTES,
    NotPlain,
    RawRow,
    Table,
    is_blank,
    shape_rows,
    without_text_marks,
)

__all__ = ["open_csv"]

# Enough text to hold a header line, even one with long quoted header cells.
_HEADER_SAMPLE_CHARS = 64 * 1024


# Bytes of a plain CSV handed to polars at a time, cut at a line end (about 30k rows):
# bigger chunks read no faster and raise the peak memory of an upload.
_FRAME_CHUNK = 4 * 1024 * 1024


# Encodings whose text polars reads as UTF-8 as is or after re-encoding a chunk.
_FRAME_ENCODINGS = ("utf-8", "utf-8-sig", "cp1251")


# Preference on a tie: ";" is what Russian Excel writes, "\t" what "Unicode text" export writes.
_DELIMITERS = (";", ",", "\t")


def open_csv(path: Path, *, head: bytes, name: str) -> Table:
    """Open a CSV file (`head` is its first bytes) or refuse it with `UploadRejected`."""
    encoding = detect_encoding(path, head=head, name=name)
    with path.open(encoding=encoding, newline="", errors="strict") as text:
        try:
            sample = text.read(_HEADER_SAMPLE_CHARS)
        except UnicodeDecodeError as e:
            raise unknown_encoding(name) from e
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
    header, columns = read_header(header_cells, name=name, has_rows=data_rows > 0)
    if data_rows == 0:
        raise no_rows(name)
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
                    if records > 1 and not is_blank(cells):
                        data_rows += 1
                        if len(cells) != width:
                            same_width = False
                break
            except UnicodeDecodeError as e:
                raise unknown_encoding(name) from e
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
        while chunk := f.read(CHUNK_BYTES):
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
            raise NotPlain
        first = next_row_no
        next_row_no += lines
        found = (
            frame.with_columns(pl.all().fill_null(""))
            .with_row_index("row_no", offset=first)
            .with_columns(pl.col("row_no").cast(pl.Int64))
            .filter((pl.col("row_no") > 1) & (cells.str.strip_chars(WHITESPACE) != ""))
        )
        # Most lists hold no apostrophe at all: one search of the bytes spares a pass over
        # every cell.
        yield without_text_marks(found) if b"'" in data else found


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
            words("upload.file.unclosed_quote_or_long", name=name, row=row_no),
        )
    if "unexpected end of data" in detail:
        return UploadRejected(
            "file.unclosed_quote", words("upload.file.unclosed_quote", name=name, row=row_no)
        )
    return None


def _csv_rows(path: Path, *, encoding: str, delimiter: str, width: int) -> Iterator[RawRow]:
    """Second pass: the data rows, with too-many/too-few cells marked on the row."""
    yield from shape_rows(_csv_numbered(path, encoding=encoding, delimiter=delimiter), width)


def _csv_numbered(path: Path, *, encoding: str, delimiter: str) -> Iterator[tuple[int, list[str]]]:
    """The data records with their row numbers, as the parser gives them."""
    with path.open(encoding=encoding, newline="") as text:
        # Lenient like Excel: '"abc"def' reads as 'abcdef'. Quotes left open were refused above.
        reader = csv.reader(text, delimiter=delimiter, strict=False)
        next(reader, None)  # the header
        yield from enumerate(reader, start=2)
