"""Claims of scheduled job ticks: the first scheduler to insert (job, slot) runs that tick."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base, UtcDateTime


class JobClaim(Base):
    """One tick of one job. The primary key (job, slot) is the guard: `INSERT … ON CONFLICT DO
    NOTHING` lets exactly one scheduler run it, however many were started."""

    __tablename__ = "job_claims"
    __table_args__ = (Index("ix_job_claims_job_started", "job", "started_at"),)

    job: Mapped[str] = mapped_column(String(64), primary_key=True)
    slot: Mapped[str] = mapped_column(String(64), primary_key=True)
    claimed_by: Mapped[str] = mapped_column(String(200))
    started_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    outcome: Mapped[str | None] = mapped_column(String(16))  # ok, failed
    summary: Mapped[str | None] = mapped_column(Text)  # JSON of what the run did, or the error
