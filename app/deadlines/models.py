"""The deadline policy (rules and the working-day calendar), and what the deadline run did."""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import (
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from app.core.actors import ActorKind
from app.db.base import Base, BigIntPK, UtcDateTime, str_enum


class DeadlineBasis(enum.StrEnum):
    """What a rule counts the deadline from."""

    FIXED = "fixed"  # one moment for every number it covers (the 2021 and 2023 deadlines)
    SERVICE_START = "service_start"  # the day the number's service starts (new contracts)
    USER_CHANGE = "user_change"  # the day the number got a new user (grace period)
    CAMPAIGN = "campaign"  # a re-verification campaign: N days from its notice


class RuleSimKind(enum.StrEnum):
    """Which SIMs a rule covers; a number with no user named yet counts as an employee SIM."""

    EMPLOYEE = "employee"
    DEVICE = "device"
    ANY = "any"


class DeadlineRule(Base):
    """One rule of the deadline policy. A number's deadline is the latest any rule gives it."""

    __tablename__ = "deadline_rules"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    title: Mapped[str] = mapped_column(String(300))
    basis: Mapped[DeadlineBasis] = mapped_column(str_enum(DeadlineBasis, 20))
    sim_kind: Mapped[RuleSimKind] = mapped_column(str_enum(RuleSimKind, 16))
    # The contract regime as data: contracts signed in [from, to] (open ends allowed).
    contracts_signed_from: Mapped[dt.date | None] = mapped_column(Date)
    contracts_signed_to: Mapped[dt.date | None] = mapped_column(Date)
    subscriber_id: Mapped[int | None] = mapped_column(ForeignKey("corporate_subscribers.id"))
    # FIXED and CAMPAIGN rules resolve to one moment, kept here (campaign: notice + offset).
    deadline_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    notice_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    offset_days: Mapped[int] = mapped_column(Integer, default=0)
    working_days: Mapped[bool] = mapped_column(Boolean, default=False)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    version: Mapped[int] = mapped_column(Integer, default=1)
    note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    updated_by: Mapped[str] = mapped_column(String(200))


class CalendarDay(Base):
    """A day that differs from the Monday-to-Friday week: a holiday, or a working weekend day."""

    __tablename__ = "calendar_days"

    day: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    is_working: Mapped[bool] = mapped_column(Boolean)
    note: Mapped[str] = mapped_column(String(200))


class DeadlineDay(Base):
    """A day-based rule's deadline for numbers whose basis day is `day` (the working-day
    arithmetic is done once per distinct day in Python, and joined in SQL)."""

    __tablename__ = "deadline_days"

    rule_id: Mapped[int] = mapped_column(ForeignKey("deadline_rules.id"), primary_key=True)
    day: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    deadline_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)


class RecomputeStatus(enum.StrEnum):
    """Whether a requested recomputation of every deadline has run."""

    PENDING = "pending"
    DONE = "done"


class DeadlineRecompute(Base):
    """A change of policy waiting to move the deadlines of the numbers it affects."""

    __tablename__ = "deadline_recomputes"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    status: Mapped[RecomputeStatus] = mapped_column(str_enum(RecomputeStatus, 16), index=True)
    reason: Mapped[str] = mapped_column(Text)
    requested_by: Mapped[str] = mapped_column(String(200))
    requested_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    done_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    numbers_moved: Mapped[int | None] = mapped_column(Integer)


class DeadlineChange(Base):
    """One move of a number's deadline, with the rule that set it and why (append-only)."""

    __tablename__ = "deadline_changes"
    __table_args__ = (Index("ix_deadline_changes_number", "number_id", "id"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    number_id: Mapped[int] = mapped_column(ForeignKey("numbers.id"))
    old_deadline_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    new_deadline_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    rule_id: Mapped[int | None] = mapped_column(ForeignKey("deadline_rules.id"))
    at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    actor_kind: Mapped[ActorKind] = mapped_column(str_enum(ActorKind, 32))
    actor_id: Mapped[str] = mapped_column(String(200))
    reason: Mapped[str] = mapped_column(Text)


class NoticeKind(enum.StrEnum):
    """What the deadline run told people about a number."""

    FLAG = "flag"  # a threshold before the deadline was crossed
    SUSPEND = "suspend"
    TERMINATE = "terminate"


class DeadlineNotice(Base):
    """The ledger that makes notices exactly-once: one row per number, deadline, kind and
    threshold, whatever the number of runs. Company digests are made per run from it."""

    __tablename__ = "deadline_notices"
    __table_args__ = (
        UniqueConstraint("number_id", "kind", "threshold", "deadline_at"),
        Index("ix_deadline_notices_run", "run_id", "number_id"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    # No foreign keys: hundreds of thousands of rows per run, each derived in the same statement
    # from a number row that is never deleted; the checks cost a third of the statement.
    number_id: Mapped[int] = mapped_column(BigIntPK)
    subscriber_id: Mapped[int] = mapped_column(BigIntPK)
    kind: Mapped[NoticeKind] = mapped_column(str_enum(NoticeKind, 16))
    threshold: Mapped[int] = mapped_column(Integer)  # days before the deadline; 0 at and after
    deadline_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    run_id: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)


class DeadlineRun(Base):
    """One deadline run; a run that died before its digest is digested by the next one."""

    __tablename__ = "deadline_runs"

    run_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    started_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, index=True)
    digested_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    summary: Mapped[str | None] = mapped_column(Text)
