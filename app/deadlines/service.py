"""The deadline run (DOMAIN.md, "Deadlines and suspension"): recompute the deadlines that
changed, suspend unconfirmed numbers whose deadline passed, terminate long-suspended ones when
the policy says so, flag the numbers that crossed a threshold, and tell people exactly once.
Its stages have their own modules: `recompute`, `suspension`, `flagging`, `notices` and
`digests`; this one runs them in order, batch by batch.

Set-based and batched by ranges of number ids: each batch is one transaction of a few
statements; a run that dies mid-way leaves whole batches done and the next run finishes the
rest. Exactly-once: the status machine moves a number only from a status that allows it, the
`deadline_notices` ledger has one row per number, kind, threshold and deadline (ON CONFLICT DO
NOTHING), and each person message and company digest has its own outbox key. Runs never
overlap: a PostgreSQL advisory lock (and a process lock for SQLite) serialises them, so a run
started by hand beside the scheduler waits, then finds nothing left to do.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from dataclasses import asdict, dataclass
from functools import partial
from typing import Any

from sqlalchemy import select, update

from app.core.actors import Actor, ActorKind
from app.core.runtime import Runtime
from app.db.batches import over_id_batches
from app.db.locks import one_at_a_time
from app.db.session import unit_of_work
from app.deadlines import repository
from app.deadlines.calendar import WorkingCalendar
from app.deadlines.digests import queue_company_digests
from app.deadlines.flagging import AT_RISK, flag_numbers_at_risk
from app.deadlines.models import DeadlineRecompute, DeadlineRun, RecomputeStatus
from app.deadlines.recompute import USER_OR_START_CHANGED, enabled_rules, recompute_batch
from app.deadlines.suspension import suspend_overdue_numbers, terminate_long_suspended
from app.numbers.models import PhoneNumber
from app.numbers.service import number_id_ranges

N = PhoneNumber
DEADLINE_JOB = Actor(ActorKind.OPERATOR_JOB, "deadlines")
# Read from here by the benchmarks, beside the run they measure.
__all__ = ["AT_RISK", "DEADLINE_JOB", "DeadlineRunReport", "recompute_deadlines", "run_deadlines"]
_ADVISORY_KEY = 0x51_4D_52_45_47_01  # "simreg" deadline run


@dataclass
class DeadlineRunReport:
    """What one run did."""

    run_id: str
    deadlines_moved: int = 0
    suspended: int = 0
    terminated: int = 0
    flagged: int = 0
    person_messages: int = 0
    company_digests: int = 0
    batches: int = 0

    def as_dict(self) -> dict[str, Any]:
        """For the API, the command line and the job log."""
        return asdict(self)

    def add(self, part: DeadlineRunReport) -> None:
        """Count one batch's work in."""
        self.suspended += part.suspended
        self.terminated += part.terminated
        self.flagged += part.flagged
        self.person_messages += part.person_messages
        self.batches += part.batches


def run_deadlines(runtime: Runtime, *, actor: Actor = DEADLINE_JOB) -> DeadlineRunReport:
    """One whole deadline run at the runtime clock's now."""
    settings = runtime.settings
    with one_at_a_time(runtime.engine, _ADVISORY_KEY):
        now = runtime.clock.now()
        report = DeadlineRunReport(run_id=f"{now:%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:8]}")
        with unit_of_work(runtime.sessions) as session:
            session.add(DeadlineRun(run_id=report.run_id, started_at=now))
        report.deadlines_moved = recompute_deadlines(runtime, now=now, actor=actor)

        def one_batch(bounds: tuple[int, int]) -> DeadlineRunReport:
            return _run_batch(runtime, *bounds, now=now, run_id=report.run_id, actor=actor)

        for part in over_id_batches(
            runtime.sessions,
            partial(number_id_ranges, step=settings.deadline_batch_ids),
            one_batch,
            workers=settings.bulk_workers,
            name="deadlines",
        ):
            report.add(part)
        with unit_of_work(runtime.sessions) as session:
            report.company_digests = queue_company_digests(session, run_id=report.run_id, now=now)
            session.execute(
                update(DeadlineRun)
                .where(DeadlineRun.run_id == report.run_id)
                .values(finished_at=runtime.clock.now(), summary=json.dumps(report.as_dict()))
            )
        return report


def _run_batch(
    runtime: Runtime, low: int, high: int, *, now: dt.datetime, run_id: str, actor: Actor
) -> DeadlineRunReport:
    """Suspend, terminate, flag and tell, for numbers with ids in [low, high): one transaction."""
    settings = runtime.settings
    part = DeadlineRunReport(run_id=run_id, batches=1)
    with unit_of_work(runtime.sessions) as session:
        in_range = [N.id >= low, N.id < high]
        part.suspended, part.person_messages = suspend_overdue_numbers(
            session, in_range, now=now, run_id=run_id, actor=actor
        )
        if settings.deadline_termination_enabled:
            part.terminated, told = terminate_long_suspended(
                session,
                in_range,
                now=now,
                after=dt.timedelta(days=settings.deadline_termination_days),
                run_id=run_id,
                actor=actor,
            )
            part.person_messages += told
        part.flagged, told = flag_numbers_at_risk(
            session, in_range, now=now, thresholds=settings.deadline_flag_days, run_id=run_id
        )
        part.person_messages += told
        part.person_messages += repository.queue_untold_messages(
            session, low, high, run_id=run_id, now=now
        )
    return part


def recompute_deadlines(runtime: Runtime, *, now: dt.datetime, actor: Actor) -> int:
    """Numbers marked stale (a new user, a new service start) get their deadline again; after
    a change of policy, every number does. Returns how many deadlines moved."""
    step = runtime.settings.deadline_batch_ids
    with runtime.sessions() as session:
        rules = enabled_rules(session)
        calendar = WorkingCalendar.load(session)
        pending = session.execute(
            select(DeadlineRecompute.id, DeadlineRecompute.reason)
            .where(DeadlineRecompute.status == RecomputeStatus.PENDING)
            .order_by(DeadlineRecompute.id)
        ).all()
        stale_ranges = number_id_ranges(session, step, N.deadline_stale.is_(True))
        all_ranges = number_id_ranges(session, step) if pending else []
    moved = 0
    for low, high in stale_ranges:
        with unit_of_work(runtime.sessions) as session:
            moved += recompute_batch(
                session,
                rules=rules,
                calendar=calendar,
                scope=[N.id >= low, N.id < high, N.deadline_stale.is_(True)],
                clear_stale=True,
                actor=actor,
                reason=USER_OR_START_CHANGED,
                now=now,
            )
    if not pending:
        return moved
    reason = "deadline policy changed: " + "; ".join(row.reason for row in pending)
    policy_moved = 0
    for low, high in all_ranges:
        with unit_of_work(runtime.sessions) as session:
            policy_moved += recompute_batch(
                session,
                rules=rules,
                calendar=calendar,
                scope=[N.id >= low, N.id < high],
                clear_stale=False,
                actor=actor,
                reason=reason[:2000],
                now=now,
            )
    with unit_of_work(runtime.sessions) as session:
        session.execute(
            update(DeadlineRecompute)
            .where(DeadlineRecompute.id.in_([row.id for row in pending]))
            .values(status=RecomputeStatus.DONE, done_at=now, numbers_moved=policy_moved)
        )
    return moved + policy_moved
