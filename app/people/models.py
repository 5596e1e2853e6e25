"""People known to the registry through the identity portal, and the log of staff reads."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Index, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base, BigIntPK, UtcDateTime


class Person(Base):
    """A person as the identity portal verified them; `portal_subject` is their portal id."""

    __tablename__ = "people"
    __table_args__ = (Index("ix_people_doc_hash", "doc_hash"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    portal_subject: Mapped[str] = mapped_column(String(64), unique=True)
    last_name: Mapped[str] = mapped_column(String(200))
    first_name: Mapped[str] = mapped_column(String(200))
    patronymic: Mapped[str | None] = mapped_column(String(200))
    name_key: Mapped[str] = mapped_column(String(600))
    pd_sealed: Mapped[bytes] = mapped_column(LargeBinary)
    pd_key_id: Mapped[str] = mapped_column(String(32))
    doc_hash: Mapped[str] = mapped_column(String(32))
    birth_date_hash: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)


class PersonalDataRead(Base):
    """Every read of personal data by operator staff (152-FZ: log every read by staff)."""

    __tablename__ = "personal_data_reads"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(UtcDateTime, index=True)
    staff_subject: Mapped[str] = mapped_column(String(200))
    resource: Mapped[str] = mapped_column(String(64))
    resource_id: Mapped[str] = mapped_column(String(64))
    route: Mapped[str] = mapped_column(String(200))
