"""Uploads of user lists, the rows they refused, and the rows waiting to be applied."""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base, BigIntPK, UtcDateTime, str_enum
from app.numbers.models import NamedUser


class UploadStatus(enum.StrEnum):
    """Where an upload is in its life."""

    RECEIVED = "received"
    VALIDATING = "validating"
    APPLYING = "applying"
    DONE = "done"
    FAILED = "failed"


class UploadMode(enum.StrEnum):
    """A dry run, or the real thing."""

    VALIDATE = "validate"
    APPLY = "apply"


class Upload(Base):
    """One uploaded file and what became of it."""

    __tablename__ = "uploads"
    __table_args__ = (
        Index(
            "uq_uploads_idempotency_key",
            "subscriber_id",
            "idempotency_key",
            unique=True,
            sqlite_where=text("idempotency_key IS NOT NULL"),
            postgresql_where=text("idempotency_key IS NOT NULL"),
        ),
        Index("ix_uploads_subscriber_sha", "subscriber_id", "content_sha256", "mode"),
        Index("ix_uploads_status", "status"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    subscriber_id: Mapped[int] = mapped_column(ForeignKey("corporate_subscribers.id"))
    mode: Mapped[UploadMode] = mapped_column(str_enum(UploadMode, 16))
    status: Mapped[UploadStatus] = mapped_column(str_enum(UploadStatus, 16))
    filename: Mapped[str] = mapped_column(String(300))
    content_sha256: Mapped[str] = mapped_column(String(64))
    idempotency_key: Mapped[str | None] = mapped_column(String(200))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    stored_path: Mapped[str] = mapped_column(String(1000))
    file_format: Mapped[str | None] = mapped_column(String(8))
    encoding: Mapped[str | None] = mapped_column(String(16))
    delimiter: Mapped[str | None] = mapped_column(String(4))
    header: Mapped[list[str] | None] = mapped_column(JSON)
    # Each column simreg read (Column value) with its header as the admin's file wrote it,
    # so problems name it in the admin's words.
    header_names: Mapped[dict[str, str] | None] = mapped_column(JSON)
    rows_total: Mapped[int] = mapped_column(Integer, default=0)
    rows_read: Mapped[int] = mapped_column(Integer, default=0)
    accepted: Mapped[int] = mapped_column(Integer, default=0)
    rejected: Mapped[int] = mapped_column(Integer, default=0)
    created: Mapped[int] = mapped_column(Integer, default=0)
    unchanged: Mapped[int] = mapped_column(Integer, default=0)
    superseded: Mapped[int] = mapped_column(Integer, default=0)
    failure_code: Mapped[str | None] = mapped_column(String(64))
    failure_message: Mapped[str | None] = mapped_column(Text)
    # The failure's words as a catalog code and values (`Text.as_dict`), worded when read.
    failure_text: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    started_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    # Rows up to here are staged or rejected and committed: a resumed upload starts after it.
    resume_after_row: Mapped[int] = mapped_column(Integer, default=0)
    # A worker holds an upload while its lease runs; an expired lease means the worker died.
    lease_until: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)


class UploadRejection(Base):
    """A refused row as the admin wrote it, with every problem found in it."""

    __tablename__ = "upload_rejections"
    __table_args__ = (Index("ix_upload_rejections_upload_row", "upload_id", "row_no"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    upload_id: Mapped[int] = mapped_column(ForeignKey("uploads.id", ondelete="CASCADE"))
    row_no: Mapped[int] = mapped_column(Integer)
    # The cells as written, sealed like a registration's personal data ({"cells": [...]}):
    # any cell of a refused row may hold a passport, a birth date or a SNILS. Opened only to
    # write the error report.
    cells_sealed: Mapped[bytes] = mapped_column(LargeBinary)
    pd_key_id: Mapped[str] = mapped_column(String(32))
    # Codes and messages, which never repeat a passport, birth date or SNILS.
    problems: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    # Last ten digits of the phone cell, so a repeated number is caught even in a bad row.
    msisdn_digits: Mapped[str | None] = mapped_column(String(10))


class StagedRow(NamedUser, Base):
    """An accepted row waiting to be applied: the registration it will become (its user's
    columns are a registration's own), sealed."""

    __tablename__ = "upload_staged_rows"
    __table_args__ = (Index("ix_upload_staged_rows_upload_number", "upload_id", "number_id"),)

    # A row of one upload's file is its own key (migration 0014: no surrogate id to index).
    # No foreign key: the worker writes a live upload's rows by the million and deletes them
    # itself; the check per row cost more than a third of taking them in (migration 0011).
    upload_id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=False)
    row_no: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    number_id: Mapped[int] = mapped_column(BigInteger)
    msisdn: Mapped[str] = mapped_column(String(16))
    iccid: Mapped[str | None] = mapped_column(String(20))
    prev_registration_id: Mapped[int | None] = mapped_column(BigInteger)
    outcome: Mapped[str | None] = mapped_column(String(16))
