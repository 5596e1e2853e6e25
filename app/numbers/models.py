"""Numbers, who uses them (registrations), and the append-only log of their status changes."""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from app.core.actors import ActorKind
from app.db.base import Base, BigIntPK, UtcDateTime, str_enum


class NumberStatus(enum.StrEnum):
    """Status of a number as people see it (DOMAIN.md, "Number status")."""

    UNREGISTERED = "unregistered"
    PENDING_CONFIRMATION = "pending_confirmation"
    ACTIVE = "active"
    MISMATCH = "mismatch"
    DECLINED = "declined"
    EXPIRED = "expired"
    SUSPENDED = "suspended"
    TERMINATED = "terminated"
    TRANSFERRED = "transferred"


class SimKind(enum.StrEnum):
    """Who uses the SIM: a person, or a piece of equipment."""

    EMPLOYEE = "employee"
    DEVICE = "device"


class PhoneNumber(Base):
    """A corporate MSISDN held under a contract, with its current status and deadline."""

    __tablename__ = "numbers"
    # PostgreSQL (migration 0017): no index of `numbers` holds a column that a move of status
    # or a new user changes (status, sim kind, deadline-stale mark, user change day), and
    # each page keeps half its room free (fillfactor 50). A million moves of an upload or a
    # matching run are then HOT updates: the new version goes on the same page and no index
    # takes a new entry, where each of them used to write five. SQLite has no HOT update;
    # there the status and deadline indexes stay. The primary key and the msisdn index keep
    # half of each leaf free (0016), for the moves that find their page full.
    __table_args__ = (
        # msisdn first: the same index finds a number by msisdn alone (a person's claim), by
        # msisdn and company (uploads) and by msisdn and operator (adding numbers).
        UniqueConstraint("msisdn", "operator_id"),
        # A number in the registry is held by one operator (and so one company) at a time; one
        # that has left it (terminated, transferred) frees its msisdn (migration 0020). The
        # predicate is a column only leaving changes, not the status: moves stay HOT updates.
        Index(
            "uq_numbers_msisdn_in_registry",
            "msisdn",
            unique=True,
            sqlite_where=text("NOT left_registry"),
            postgresql_where=text("NOT left_registry"),
            postgresql_with={"fillfactor": 50},
        ),
        # A company's numbers, in id order (its listing pages, its reports).
        Index("ix_numbers_subscriber_id", "subscriber_id", "id").ddl_if(dialect="postgresql"),
        Index("ix_numbers_subscriber_status", "subscriber_id", "status").ddl_if(dialect="sqlite"),
        Index("ix_numbers_status_deadline", "status", "deadline_at").ddl_if(dialect="sqlite"),
        # The deadline run recomputes only numbers whose user or service start changed
        # (PostgreSQL finds them by their id ranges, reading the rows).
        Index("ix_numbers_deadline_stale", "id", sqlite_where=text("deadline_stale")).ddl_if(
            dialect="sqlite"
        ),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    operator_id: Mapped[int] = mapped_column(ForeignKey("operators.id"))
    subscriber_id: Mapped[int] = mapped_column(ForeignKey("corporate_subscribers.id"))
    # No index: nothing looks numbers up by contract, and contracts are never deleted.
    contract_id: Mapped[int] = mapped_column(ForeignKey("contracts.id"))
    msisdn: Mapped[str] = mapped_column(String(16))
    iccid: Mapped[str | None] = mapped_column(String(20))
    status: Mapped[NumberStatus] = mapped_column(str_enum(NumberStatus, 32))
    sim_kind: Mapped[SimKind | None] = mapped_column(str_enum(SimKind, 16))
    deadline_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    # Which deadline rule gave `deadline_at`; true `deadline_stale` asks the next deadline run
    # to recompute it (a new user, a new service start). Policy changes recompute every number.
    deadline_rule_id: Mapped[int | None] = mapped_column(ForeignKey("deadline_rules.id"))
    deadline_stale: Mapped[bool] = mapped_column(Boolean, default=True, server_default=text("true"))
    # Moscow days the day-based rules count from: service start, and the last change of user.
    service_start_on: Mapped[dt.date | None] = mapped_column(Date)
    user_changed_on: Mapped[dt.date | None] = mapped_column(Date)
    # The nearest threshold (days before the deadline) this number has been flagged at.
    flag_days: Mapped[int | None] = mapped_column(Integer)
    # True once the number is terminated or transferred (set by the status machine with the
    # move): its msisdn may then be held by another operator.
    left_registry: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=text("false")
    )
    status_changed_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)


class NamedUser:
    """The columns that say who uses a number: a person (identity data sealed) or a device.
    Declared once, for a registration and for an upload's row waiting to become one."""

    kind: Mapped[SimKind] = mapped_column(str_enum(SimKind, 16))
    # Employee: names stay readable (shown to the admin); documents are sealed in pd_sealed.
    last_name: Mapped[str | None] = mapped_column(String(200))
    first_name: Mapped[str | None] = mapped_column(String(200))
    patronymic: Mapped[str | None] = mapped_column(String(200))
    name_key: Mapped[str | None] = mapped_column(String(600))
    doc_type: Mapped[str | None] = mapped_column(String(32))
    pd_sealed: Mapped[bytes | None] = mapped_column(LargeBinary)
    pd_key_id: Mapped[str | None] = mapped_column(String(32))
    doc_hash: Mapped[str | None] = mapped_column(String(32))
    birth_date_hash: Mapped[str | None] = mapped_column(String(32))
    snils_hash: Mapped[str | None] = mapped_column(String(32))
    # Device.
    device_type: Mapped[str | None] = mapped_column(String(64))
    device_model: Mapped[str | None] = mapped_column(String(200))
    device_id: Mapped[str | None] = mapped_column(String(64))
    device_id_kind: Mapped[str | None] = mapped_column(String(16))
    install_address: Mapped[str | None] = mapped_column(Text)


class Registration(NamedUser, Base):
    """Who uses a number: a person (identity data sealed) or a device. One current per number."""

    __tablename__ = "registrations"
    __table_args__ = (
        Index(
            "uq_registrations_current_number",
            "number_id",
            unique=True,
            sqlite_where=text("ended_at IS NULL"),
            postgresql_where=text("ended_at IS NULL"),
        ),
        # Only ever looked up by the exact hash: PostgreSQL's hash index is cheaper to write
        # than a B-tree over random 32-character keys (migration 0015).
        Index("ix_registrations_doc_hash", "doc_hash", postgresql_using="hash"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    # No foreign key: uploads insert registrations by the hundred thousand for numbers they
    # have just looked up, and numbers are never deleted (triggers refuse it).
    number_id: Mapped[int] = mapped_column(BigIntPK)
    source: Mapped[str] = mapped_column(String(16))
    submitted_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    ended_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    end_reason: Mapped[str | None] = mapped_column(String(200))


class StatusEvent(Base):
    """One change of a number's status; rows are never updated or deleted (database triggers)."""

    __tablename__ = "status_events"
    __table_args__ = (Index("ix_status_events_number_at", "number_id", "id"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    # No foreign key: every move of every number writes a row (millions per run); numbers are
    # never deleted (a trigger refuses it), so the reference cannot dangle.
    number_id: Mapped[int] = mapped_column(BigIntPK)
    from_status: Mapped[NumberStatus | None] = mapped_column(str_enum(NumberStatus, 32))
    to_status: Mapped[NumberStatus] = mapped_column(str_enum(NumberStatus, 32))
    at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    actor_kind: Mapped[ActorKind] = mapped_column(str_enum(ActorKind, 32))
    actor_id: Mapped[str] = mapped_column(String(200))
    reason: Mapped[str] = mapped_column(Text)
    registration_id: Mapped[int | None] = mapped_column(BigInteger)


class NumberTally(Base):
    """How many of a company's numbers are in each (status, kind, deadline): one company's
    dashboard counts a million numbers from a few hundred rows of it (PostgreSQL).

    Append-only deltas: every statement that adds or changes numbers inserts, from a
    statement-level trigger over its transition tables (migration 0024), one row per
    (company, status, kind, deadline) whose count it changed, +n or -n; the sum of a group's
    rows is its count. No row is ever updated by a writer, so concurrent writers never wait on
    each other, and a reader's snapshot sees exactly the deltas of the numbers it sees.
    `compact_tallies` folds a company's rows into one per group now and then. Deadlines are
    ends of Moscow days or rule dates, so a company has few distinct ones. SQLite (one process,
    small registries) counts its numbers directly and leaves this table empty.
    """

    __tablename__ = "number_tallies"
    __table_args__ = (Index("ix_number_tallies_subscriber", "subscriber_id"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    # No foreign key: written by a trigger with every move of every number.
    subscriber_id: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[NumberStatus] = mapped_column(str_enum(NumberStatus, 32))
    sim_kind: Mapped[SimKind | None] = mapped_column(str_enum(SimKind, 16))
    deadline_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    n: Mapped[int] = mapped_column(BigInteger)
