"""Opening an uploaded file: its format told by content, and what is no table refused at once.

A file that cannot be read as a table is refused as a whole (`UploadRejected`) before any row
is handed out, so an upload never half-succeeds.
"""

from __future__ import annotations

import codecs
from pathlib import Path
from typing import IO

from app.uploads.reading.csv_files import open_csv
from app.uploads.reading.refusals import UploadRejected, not_a_table
from app.uploads.reading.table import CHUNK_BYTES, Table
from app.uploads.reading.xlsx_bounds import XlsxLimits
from app.uploads.reading.xlsx_files import open_xlsx

__all__ = ["open_table"]

_HEAD_BYTES = 8 * 1024


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
        return open_xlsx(
            path,
            name=name,
            limits=xlsx_limits or XlsxLimits(),
        )
    for magic, what in _SIGNATURES:
        if head.startswith(magic):
            raise not_a_table(name, what)
    if _is_blank_file(path, head):
        raise UploadRejected("file.empty", f"{name} is empty; there is no table in it")
    return open_csv(path, head=head, name=name)


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
    while chunk := f.read(CHUNK_BYTES):
        if chunk.strip(_WHITESPACE):
            return False
    return True
