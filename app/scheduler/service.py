"""Running jobs exactly once per tick, however many schedulers were started.

APScheduler 3 keeps no cross-process guard: two schedulers sharing a job store both run a
tick (its FAQ says so; measured here: 5 duplicate runs in 5 ticks on PostgreSQL). Each
scheduler therefore keeps its jobs in memory and, at every tick, first inserts a claim row
(job, slot) with ON CONFLICT DO NOTHING: only the scheduler whose insert took the row runs.
Slots are aligned to the epoch, so every scheduler names the same tick the same way. A job
marked `every_process` (the metrics job) claims a slot of its own per scheduler instead.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import socket
import time
import uuid
from dataclasses import dataclass
from typing import Any

import structlog
from sqlalchemy import delete, exists, func, select, update
from sqlalchemy.orm import Session, aliased

from app.core.errors import NotFound
from app.core.messages import Text
from app.core.metrics import JOB_DURATION, JOB_RUNS
from app.core.runtime import Runtime
from app.db.session import insert_ignoring_duplicates, unit_of_work
from app.scheduler.jobs import JOBS, Job
from app.scheduler.models import JobClaim

log = structlog.get_logger("simreg.scheduler")


def instance_name() -> str:
    """Who claims: host and process, for the claim rows and the logs."""
    return f"{socket.gethostname()}:{os.getpid()}"


def slot_of(interval_seconds: int, wall_seconds: float | None = None) -> str:
    """The tick a moment belongs to: the same for every scheduler, whenever it started."""
    moment = time.time() if wall_seconds is None else wall_seconds
    return f"{interval_seconds}s:{int(moment // interval_seconds)}"


def claim(session: Session, *, job: str, slot: str, claimed_by: str) -> bool:
    """Insert the claim row; True when this caller got it (and must run the tick)."""
    statement = (
        insert_ignoring_duplicates(session, JobClaim.__table__)
        .values(job=job, slot=slot, claimed_by=claimed_by, started_at=dt.datetime.now(dt.UTC))
        .returning(JobClaim.job)
    )
    return session.execute(statement).first() is not None


def prune_claims(session: Session, *, older_than: dt.datetime) -> int:
    """Delete claims of ticks started before `older_than`, keeping each job's latest claim
    (`simreg jobs list` shows it); returns how many went."""
    newer = aliased(JobClaim)
    has_newer = exists().where(newer.job == JobClaim.job, newer.started_at > JobClaim.started_at)
    result = session.execute(
        delete(JobClaim)
        .where(JobClaim.started_at < older_than, has_newer)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


@dataclass
class JobOutcome:
    """What one run of a job did."""

    job: str
    slot: str
    ran: bool
    outcome: str | None = None
    summary: dict[str, Any] | None = None
    seconds: float | None = None


def get_job(name: str) -> Job:
    """A job by name, or NotFound naming the jobs there are."""
    job = JOBS.get(name)
    if job is None:
        raise NotFound(Text("job.unknown", name=name, jobs=", ".join(sorted(JOBS))))
    return job


def run_tick(runtime: Runtime, name: str, *, slot: str, claimed_by: str) -> JobOutcome:
    """Claim (job, slot) and, if this caller got it, run the job and record how it went."""
    job = get_job(name)
    if job.every_process:
        # A slot of its own per scheduler, so each one wins its claim (the row is its record).
        slot = f"{slot}:{hashlib.sha256(claimed_by.encode()).hexdigest()[:12]}"
    with unit_of_work(runtime.sessions) as session:
        won = claim(session, job=name, slot=slot, claimed_by=claimed_by)
    if not won:
        log.info("job tick taken by another scheduler", job=name, slot=slot)
        return JobOutcome(job=name, slot=slot, ran=False)
    started = time.perf_counter()
    try:
        summary = job.run(runtime)
        outcome = "ok"
    except Exception as exc:
        # The next tick tries again; the claim row keeps the failure for `simreg jobs list`.
        log.exception("job failed", job=name, slot=slot)
        summary = {"error": f"{type(exc).__name__}: {str(exc)[:300]}"}
        outcome = "failed"
    seconds = round(time.perf_counter() - started, 3)
    JOB_RUNS.labels(job=name, outcome=outcome).inc()
    JOB_DURATION.labels(job=name, outcome=outcome).observe(seconds)
    with unit_of_work(runtime.sessions) as session:
        session.execute(
            update(JobClaim)
            .where(JobClaim.job == name, JobClaim.slot == slot)
            .values(
                finished_at=dt.datetime.now(dt.UTC),
                outcome=outcome,
                summary=json.dumps({**summary, "seconds": seconds}, default=str),
            )
        )
    log.info("job ran", job=name, slot=slot, outcome=outcome, seconds=seconds)
    return JobOutcome(
        job=name, slot=slot, ran=True, outcome=outcome, summary=summary, seconds=seconds
    )


def run_now(runtime: Runtime, name: str, *, claimed_by: str) -> JobOutcome:
    """Run a job at once, outside its schedule (`simreg jobs run`, the jobs API). Each job is
    safe beside a scheduled run of itself: the deadline run waits for the other to finish."""
    get_job(name)
    return run_tick(runtime, name, slot=f"manual:{uuid.uuid4().hex}", claimed_by=claimed_by)


@dataclass
class JobStatus:
    """A job and its latest run."""

    name: str
    description: str
    interval_seconds: int
    last_slot: str | None
    last_started_at: dt.datetime | None
    last_finished_at: dt.datetime | None
    last_outcome: str | None
    last_summary: dict[str, Any] | None
    last_claimed_by: str | None


def job_statuses(runtime: Runtime) -> list[JobStatus]:
    """Every job with its latest claimed run."""
    with runtime.sessions() as session:
        latest = (
            select(JobClaim.job, func.max(JobClaim.started_at).label("started_at"))
            .group_by(JobClaim.job)
            .subquery()
        )
        rows = {
            claim.job: claim
            for claim in session.scalars(
                select(JobClaim).join(
                    latest,
                    (latest.c.job == JobClaim.job) & (latest.c.started_at == JobClaim.started_at),
                )
            )
        }
    statuses = []
    for job in JOBS.values():
        last = rows.get(job.name)
        statuses.append(
            JobStatus(
                name=job.name,
                description=job.description,
                interval_seconds=job.interval(runtime.settings),
                last_slot=last.slot if last else None,
                last_started_at=last.started_at if last else None,
                last_finished_at=last.finished_at if last else None,
                last_outcome=last.outcome if last else None,
                last_summary=json.loads(last.summary) if last and last.summary else None,
                last_claimed_by=last.claimed_by if last else None,
            )
        )
    return statuses
