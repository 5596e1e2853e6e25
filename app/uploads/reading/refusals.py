"""Refusing a whole uploaded file: the exception, and the wording the file checks share."""

from __future__ import annotations

__all__ = ["SAVE_HINT", "UploadRejected", "corrupt", "no_rows", "not_a_table"]

SAVE_HINT = 'save the list from Excel as .xlsx or as "CSV UTF-8"'


class UploadRejected(Exception):
    """The whole file is refused before any row is read."""

    def __init__(
        self, code: str, message: str, *, status: int = 422, column: str | None = None
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status
        self.column = column

    def __repr__(self) -> str:
        return f"UploadRejected({self.code!r}, {self.message!r}, status={self.status})"


def not_a_table(name: str, what: str) -> UploadRejected:
    """The file is something else (a PDF, an image, a Word document)."""
    return UploadRejected(
        "file.not_a_table", f"{name} is {what}, not a CSV or XLSX table; {SAVE_HINT}"
    )


def corrupt(name: str) -> UploadRejected:
    """The file is a damaged workbook."""
    return UploadRejected(
        "file.corrupt",
        f"{name} is damaged and cannot be opened as an XLSX workbook; open it in Excel and save "
        "it again as .xlsx",
    )


def no_rows(name: str) -> UploadRejected:
    """The file has a header but no data rows."""
    return UploadRejected(
        "file.no_rows",
        f"{name}: the file has a header row but no data rows; add the rows below the header",
    )
