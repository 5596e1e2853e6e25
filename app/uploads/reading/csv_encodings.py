"""Which encoding an uploaded CSV is in: a BOM, UTF-8 throughout, or Russian Excel's cp1251.

Company lists come from Excel (DOMAIN.md, "Data the company submits"): CSV saved by Russian
Excel is Windows-1251, its "CSV UTF-8" is UTF-8 with a BOM, its "Unicode text" UTF-16.
"""

from __future__ import annotations

import codecs
import re
from pathlib import Path

from app.uploads.reading.refusals import UploadRejected, not_a_table, words
from app.uploads.reading.table import CHUNK_BYTES

__all__ = ["detect_encoding", "unknown_encoding"]

# What the encoding guess looks at; rows past it are still decoded strictly in the counting pass.
_ENCODING_SAMPLE_BYTES = 256 * 1024


def detect_encoding(path: Path, *, head: bytes, name: str) -> str:
    """The file's encoding: a BOM decides; otherwise UTF-8 if all of it decodes, else cp1251."""
    # Excel's "Unicode text" export is UTF-16 with a BOM (tab-delimited); the codec reads the BOM.
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    if b"\x00" in head:
        if _looks_like_utf16(head):
            raise UploadRejected(
                "file.unknown_encoding", words("upload.file.utf16_no_bom", name=name)
            )
        raise not_a_table(name, "binary")
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if _decodes_as_utf8(path):
        return "utf-8"
    with path.open("rb") as f:
        sample = f.read(_ENCODING_SAMPLE_BYTES)
    # A cut at the end of the sample cannot split a character: cp1251 is one byte per character.
    if _plausible_cp1251(sample):
        return "cp1251"
    raise unknown_encoding(name)


def _decodes_as_utf8(path: Path) -> bool:
    """Whether the whole file is valid UTF-8, checked in chunks so it is never held as one str."""
    decoder = codecs.getincrementaldecoder("utf-8")("strict")
    try:
        with path.open("rb") as f:
            while chunk := f.read(CHUNK_BYTES):
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


def unknown_encoding(name: str) -> UploadRejected:
    """The refusal of a text in neither UTF-8 nor Windows-1251."""
    return UploadRejected("file.unknown_encoding", words("upload.file.unknown_encoding", name=name))
