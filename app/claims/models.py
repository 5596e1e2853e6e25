"""Flow B: a person's own claims on corporate numbers."""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import BigInteger, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base, BigIntPK, UtcDateTime, str_enum


class ClaimStatus(enum.StrEnum):
    """Flow B: an employee claims a number themselves."""

    REJECTED = "rejected"  # wrong company, name or INN, or the number cannot be claimed
    CONFIRMED = "confirmed"  # the company had submitted this person: active at once
    PENDING = "pending"  # waits for the company admin
    APPROVED = "approved"  # the admin approved: a registration confirmed by the person
    DECLINED = "declined"  # the admin rejected it


class Claim(Base):
    """A person's own claim on a corporate number."""

    __tablename__ = "claims"
    __table_args__ = (
        Index("ix_claims_subscriber_status", "subscriber_id", "status"),
        Index("ix_claims_person", "person_id"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"))
    msisdn: Mapped[str] = mapped_column(String(16))
    company_inn: Mapped[str] = mapped_column(String(12))
    company_name: Mapped[str] = mapped_column(String(500))
    number_id: Mapped[int | None] = mapped_column(ForeignKey("numbers.id"))
    subscriber_id: Mapped[int | None] = mapped_column(ForeignKey("corporate_subscribers.id"))
    status: Mapped[ClaimStatus] = mapped_column(str_enum(ClaimStatus, 24))
    reason: Mapped[str | None] = mapped_column(Text)
    registration_id: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    decided_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    decided_by: Mapped[str | None] = mapped_column(String(200))
