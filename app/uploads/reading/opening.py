"""Opening an uploaded file: its format told by content, and what is no table refused at once.

A file that cannot be read as a table is refused as a whole (`UploadRejected`) before any row
is handed out, so an upload never half-succeeds.
"""

from __future__ import annotations

import codecs
from pathlib import Path
from typing import IO

from app.uploads.reading.csv_files import open_csv
from app.uploads.reading.refusals import UploadRejected, not_a_table, words
from app.uploads.reading.table import CHUNK_BYTES, Table
from app.uploads.reading.xlsx_bounds import XlsxLimits
from app.uploads.reading.xlsx_files import open_xlsx

__all__ = ["open_table"]

_HEAD_BYTES = 8 * 1024


# Signatures of files people upload by mistake, checked before anything is decoded.
# Each kind is worded by the catalog's `upload.what.<kind>`.
_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"%PDF", "pdf"),
    (b"\x89PNG\r\n\x1a\n", "png"),
    (b"\xff\xd8\xff", "jpeg"),
    (b"GIF87a", "gif"),
    (b"GIF89a", "gif"),
    # OLE2 compound file: Excel 97–2003 .xls, old .doc, and also a password-protected .xlsx.
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "xls"),
    (b"Rar!\x1a\x07", "rar"),
    (b"7z\xbc\xaf\x27\x1c", "7z"),
    (b"\x1f\x8b", "gzip"),
    (b"{\\rtf", "rtf"),
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
    name = filename
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
        raise UploadRejected("file.empty", words("upload.file.empty", name=name))
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
