"""Requests to persons through the identity portal: the confirmation requests and their answers,
the sandbox portal's inbox, and each operator's allowance of sends. Only keyed hashes of the
person's verified data are kept."""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import JSON, Float, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base, BigIntPK, UtcDateTime, str_enum


class RequestStatus(enum.StrEnum):
    """Where a confirmation request is."""

    QUEUED = "queued"  # created by the matching run, not yet accepted by the portal
    SENT = "sent"  # the portal has it; waiting for the person
    ANSWERED = "answered"  # the person answered; the next matching run compares the data
    MATCHED = "matched"  # compared and applied to the number: see `outcome`
    EXPIRED = "expired"  # no answer within the confirmation window
    CANCELLED = "cancelled"  # the registration it was for was replaced or removed


class PortalAnswer(enum.StrEnum):
    """What the person told the portal."""

    CONFIRMED = "confirmed"
    DECLINED = "declined"


LIVE_REQUEST_STATUSES = (RequestStatus.QUEUED, RequestStatus.SENT, RequestStatus.ANSWERED)


class ConfirmationRequest(Base):
    """One request to a person to confirm that they use a number, and its answer."""

    __tablename__ = "confirmation_requests"
    __table_args__ = (
        # Never two live requests for the same registration.
        Index(
            "uq_confirmation_requests_live_registration",
            "registration_id",
            unique=True,
            sqlite_where=text("status IN ('queued', 'sent', 'answered')"),
            postgresql_where=text("status IN ('queued', 'sent', 'answered')"),
        ),
        # On PostgreSQL only the requests each index serves are in it (dispatch: queued; expiry:
        # queued or sent), so deciding a million answers writes none of their entries.
        # The send queue: each operator's queued requests, oldest first. The dispatcher reads
        # it from the head, and a request's place in it is its expected time to be sent.
        Index(
            "ix_confirmation_requests_queue",
            "operator_id",
            "id",
            sqlite_where=text("status = 'queued'"),
            postgresql_where=text("status = 'queued'"),
        ),
        Index(
            "ix_confirmation_requests_status_expires",
            "status",
            "expires_at",
            postgresql_where=text("status IN ('queued', 'sent')"),
        ),
        # A company's requests on their way (the admin's report counts them by status).
        Index(
            "ix_confirmation_requests_company_live",
            "subscriber_id",
            "status",
            sqlite_where=text("status IN ('queued', 'sent', 'answered')"),
            postgresql_where=text("status IN ('queued', 'sent', 'answered')"),
        ),
        # Also a registration's requests: they are among its number's (no index of their own,
        # which every decided request would write again).
        Index("ix_confirmation_requests_number", "number_id"),
        # A company's requests waiting for the person, oldest sent first (its dashboard).
        Index(
            "ix_confirmation_requests_company_sent",
            "subscriber_id",
            "sent_at",
            sqlite_where=text("status = 'sent'"),
            postgresql_where=text("status = 'sent'"),
        ),
        # A person lists every request that named them, whatever became of it.
        Index("ix_confirmation_requests_doc_hash", "doc_hash"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    registration_id: Mapped[int] = mapped_column(ForeignKey("registrations.id"))
    number_id: Mapped[int] = mapped_column(ForeignKey("numbers.id"))
    operator_id: Mapped[int] = mapped_column(ForeignKey("operators.id"))
    subscriber_id: Mapped[int] = mapped_column(ForeignKey("corporate_subscribers.id"))
    # The person the company named (copied from the registration, for the person's own list).
    doc_hash: Mapped[str | None] = mapped_column(String(32))
    status: Mapped[RequestStatus] = mapped_column(str_enum(RequestStatus, 24))
    portal_request_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    sent_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    expires_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    answered_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    matched_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    answer: Mapped[PortalAnswer | None] = mapped_column(str_enum(PortalAnswer, 24))
    portal_subject: Mapped[str | None] = mapped_column(String(64))
    verified_name_key: Mapped[str | None] = mapped_column(String(600))
    verified_doc_hash: Mapped[str | None] = mapped_column(String(32))
    verified_birth_hash: Mapped[str | None] = mapped_column(String(32))
    outcome: Mapped[str | None] = mapped_column(String(16))
    # Names of the fields that differed ("full_name", "birth_date", "document"); never values.
    mismatch_fields: Mapped[str | None] = mapped_column(String(100))


class SandboxDelivery(Base):
    """The sandbox identity portal's own inbox (dev and test only): requests it delivered to
    its test people, and their answers. A real portal keeps this on its side."""

    __tablename__ = "sandbox_portal_deliveries"
    __table_args__ = (
        Index("ix_sandbox_portal_deliveries_doc_hash", "doc_hash"),
        # The registry's own id of a request: the portal delivers each one once, however often
        # it is sent (a sender killed after sending sends the same requests again).
        Index("uq_sandbox_portal_deliveries_request_id", "request_id", unique=True),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    portal_request_id: Mapped[str] = mapped_column(String(64), unique=True)
    request_id: Mapped[str] = mapped_column(String(64))
    doc_hash: Mapped[str] = mapped_column(String(32))
    payload: Mapped[dict[str, object]] = mapped_column(JSON)
    state: Mapped[str] = mapped_column(String(16))  # delivered | answered | fetched | lost
    answer: Mapped[str | None] = mapped_column(String(16))
    portal_subject: Mapped[str | None] = mapped_column(String(64))
    delivered_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    answered_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)


class PortalSendAllowance(Base):
    """How many confirmation requests an operator may still send to the portal now: a token
    bucket shared by every dispatcher on the database (a row lock orders them), so the
    portal's rate per operator holds however many instances send. A portal that was down
    pauses the operator's sending until `paused_until`."""

    __tablename__ = "portal_send_allowances"

    operator_id: Mapped[int] = mapped_column(BigIntPK, ForeignKey("operators.id"), primary_key=True)
    tokens: Mapped[float] = mapped_column(Float)
    refilled_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)  # on the registry's clock
    paused_until: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    failures: Mapped[int] = mapped_column(Integer, default=0)  # portal down, in a row
