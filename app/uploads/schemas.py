"""Responses about uploads."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, Field

from app.uploads.models import UploadMode, UploadStatus


class RowError(BaseModel):
    row: int = Field(description="Row as Excel shows it: the header is row 1")
    column: str = Field(description="The column's stable name (msisdn, last_name, …)")
    header: str | None = Field(
        default=None, description="The column's header as the uploaded file wrote it"
    )
    code: str
    message: str = Field(description="What is wrong and how to fix it, in the asked language")


class SeenBefore(BaseModel):
    """The company's latest earlier upload of the same file: this one was checked again."""

    upload_id: int
    mode: UploadMode
    created_at: dt.datetime


class Progress(BaseModel):
    rows_read: int
    rows_total: int
    percent: float


class Counts(BaseModel):
    accepted: int = Field(description="Rows that passed every check")
    rejected: int
    created: int = Field(description="Accepted rows that named a user for a number without one")
    unchanged: int = Field(description="Accepted rows equal to the number's current user")
    superseded: int = Field(description="Accepted rows that replaced another user")


class UploadOut(BaseModel):
    id: int
    company_id: int
    mode: UploadMode
    status: UploadStatus
    status_text: str = Field(description="The status in plain words, in the asked language")
    filename: str
    size_bytes: int
    file_format: str | None
    encoding: str | None
    delimiter: str | None
    progress: Progress
    counts: Counts
    first_errors: list[RowError]
    failure_code: str | None
    failure_message: str | None
    created_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    errors_csv: str | None = Field(description="Refused rows, ready to fix and upload again")
    errors_xlsx: str | None
    seen_before: SeenBefore | None = Field(
        default=None,
        description="The same file was uploaded before (and checked again now): when",
    )


class UploadPage(BaseModel):
    items: list[UploadOut]
    next_cursor: str | None
