"""The operator's matching step: confirmation requests to persons, their claims, and the
operator systems' work queue. Only keyed hashes of the person's verified data are kept."""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import JSON, BigInteger, Float, ForeignKey, Index, Integer, String, Text, text
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


class WorkKind(enum.StrEnum):
    """What an operator's own systems must do in the network for a number."""

    ACTIVATE = "activate"
    SUSPEND = "suspend"
    TERMINATE = "terminate"


class WorkStatus(enum.StrEnum):
    """Where a work item is."""

    QUEUED = "queued"
    LEASED = "leased"
    DONE = "done"
    FAILED = "failed"


class WorkItem(Base):
    """One thing an operator system must do; leased in batches, its result recorded once."""

    __tablename__ = "work_items"
    __table_args__ = (
        Index("ix_work_items_operator_status_id", "operator_id", "status", "id"),
        # Only leased items can have a lease to expire (PostgreSQL keeps just those).
        Index(
            "ix_work_items_status_lease",
            "status",
            "lease_until",
            postgresql_where=text("status = 'leased'"),
        ),
        # One open item of a kind per number; queueing inserts ON CONFLICT DO NOTHING on it.
        Index(
            "uq_work_items_open_number_kind",
            "number_id",
            "kind",
            unique=True,
            sqlite_where=text("status IN ('queued', 'leased')"),
            postgresql_where=text("status IN ('queued', 'leased')"),
        ),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    # No foreign keys: queued by the hundred thousand in the statement that moves the numbers;
    # numbers and operators are never deleted (triggers refuse it).
    operator_id: Mapped[int] = mapped_column(BigIntPK)
    number_id: Mapped[int] = mapped_column(BigIntPK)
    kind: Mapped[WorkKind] = mapped_column(str_enum(WorkKind, 24))
    status: Mapped[WorkStatus] = mapped_column(str_enum(WorkStatus, 24))
    lease_until: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    leased_by: Mapped[str | None] = mapped_column(String(200))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    result: Mapped[dict[str, object] | None] = mapped_column(JSON)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    done_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)


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
