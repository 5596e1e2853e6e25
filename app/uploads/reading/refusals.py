"""Refusing a whole uploaded file: the exception, and the wording the file checks share.

A refusal is kept as a catalog code with its values (`Words`), worded when read: Russian by
default, English on request (catalog area `uploads`). A value may itself be words (what kind
of file it is, why a workbook is too large), worded in the same language; whole numbers are
written as the language writes them (1 000 000, 1,000,000).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from app.core.messages import DEFAULT, Language, say

__all__ = [
    "UploadRejected",
    "Words",
    "corrupt",
    "no_rows",
    "not_a_table",
    "say_words",
    "words",
]

Words = dict[str, Any]
"""A catalog code and its values: ``{"code": ..., "values": {...}}``, stored as JSON."""


def words(code: str, /, **values: object) -> Words:
    """Words to be said later: `code` of the uploads catalog with its values."""
    return {"code": code, "values": values}


def say_words(found: Mapping[str, Any], language: Language = DEFAULT) -> str:
    """`found` worded in `language`, its nested words and numbers too."""
    values = {
        name: value if name == "count" else _value(value, language)
        for name, value in found.get("values", {}).items()
    }
    return say(found["code"], language, **values)


def _value(value: object, language: Language) -> object:
    if isinstance(value, Mapping) and "code" in value:
        return say_words(value, language)
    if isinstance(value, list):
        # Titles, quoted as the language quotes them.
        quoted = "«{}»" if language == "ru" else "'{}'"
        return ", ".join(quoted.format(item) for item in value)
    if isinstance(value, int) and not isinstance(value, bool):
        # Russian groups thousands with a narrow no-break space, English with a comma.
        return f"{value:,}".replace(",", "\u202f") if language == "ru" else f"{value:,}"
    return value


class UploadRejected(Exception):
    """The whole file is refused before any row is read."""

    def __init__(
        self, code: str, reason: Words, *, status: int = 422, column: str | None = None
    ) -> None:
        super().__init__(code)
        self.code = code
        self.reason = reason
        self.status = status
        self.column = column

    @property
    def message(self) -> str:
        """The reason in English (for logs of no personal data, and tests)."""
        return say_words(self.reason, "en")

    def text(self, language: Language = DEFAULT) -> str:
        """The reason in `language`."""
        return say_words(self.reason, language)

    def __repr__(self) -> str:
        return f"UploadRejected({self.code!r}, {self.reason['code']!r}, status={self.status})"


def not_a_table(name: str, what: str) -> UploadRejected:
    """The file is something else (a PDF, an image, a Word document): `what` is its kind's
    code (`upload.what.<kind>`)."""
    return UploadRejected(
        "file.not_a_table",
        words("upload.file.not_a_table", name=name, what=words(f"upload.what.{what}")),
    )


def corrupt(name: str) -> UploadRejected:
    """The file is a damaged workbook."""
    return UploadRejected("file.corrupt", words("upload.file.corrupt", name=name))


def no_rows(name: str) -> UploadRejected:
    """The file has a header but no data rows."""
    return UploadRejected("file.no_rows", words("upload.file.no_rows", name=name))
