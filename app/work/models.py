"""The operator systems' work queue: what their own systems must do in the network."""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import JSON, Index, Integer, String, text
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base, BigIntPK, UtcDateTime, str_enum


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
