"""The notification outbox: rows written in the transaction of the change that causes them."""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base, BigIntPK, UtcDateTime, str_enum


class Audience(enum.StrEnum):
    """Who a notification is for."""

    COMPANY = "company"  # the company's admins: one digest per run
    PERSON = "person"  # the person using the number: one message per number and threshold


class NotificationStatus(enum.StrEnum):
    """Where a notification is in its delivery."""

    PENDING = "pending"  # waiting for (another) delivery attempt
    SENT = "sent"
    DEAD = "dead"  # gave up after the last attempt; kept for staff to look at


class Notification(Base):
    """One message to deliver at least once. `id` is its stable identity: receivers drop a
    message whose id they have seen; `dedupe_key` keeps the same cause from writing it twice."""

    __tablename__ = "notifications"
    __table_args__ = (
        Index("ix_notifications_status_next", "status", "next_attempt_at"),
        Index("ix_notifications_subscriber", "subscriber_id", "id"),
        Index("ix_notifications_number", "number_id"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    dedupe_key: Mapped[str] = mapped_column(String(120), unique=True)
    audience: Mapped[Audience] = mapped_column(str_enum(Audience, 16))
    event: Mapped[str] = mapped_column(String(32))  # flag, suspend, terminate, digest, …
    # No foreign keys: the deadline run writes these by the hundred thousand, derived in the
    # same statement from rows that are never deleted; the checks cost a third of the insert.
    subscriber_id: Mapped[int] = mapped_column(BigIntPK)
    number_id: Mapped[int | None] = mapped_column(BigIntPK)
    msisdn: Mapped[str | None] = mapped_column(String(16))
    threshold: Mapped[int | None] = mapped_column(Integer)
    deadline_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    payload: Mapped[str | None] = mapped_column(Text)  # JSON, for digests
    status: Mapped[NotificationStatus] = mapped_column(str_enum(NotificationStatus, 16))
    channel: Mapped[str | None] = mapped_column(String(16))  # set by the delivery that sent it
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    lease_until: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    sent_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
