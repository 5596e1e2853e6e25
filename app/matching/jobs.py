"""The matching cycle, a scheduled job: the portal's answers in, the matching run, new requests
out (their dispatch at the portal's rate is the portal's own job)."""

from __future__ import annotations

import datetime as dt
from functools import partial
from typing import Any

from sqlalchemy import func, select

from app.core.actors import Actor
from app.core.metrics import MATCHING_OUTCOMES
from app.core.runtime import Runtime
from app.db.batches import over_id_batches
from app.db.locks import one_at_a_time
from app.db.session import unit_of_work
from app.matching.service import MATCHING_JOB, MatchReport, run_matching
from app.numbers.service import number_id_ranges
from app.portal.answers import collect_answers
from app.portal.dispatch import send_queued
from app.portal.models import ConfirmationRequest, RequestStatus
from app.portal.port import IdentityPortal, build_portal

_ADVISORY_KEY = 0x51_4D_52_45_47_02  # "simreg" matching run


def run_matching_in_batches(
    runtime: Runtime, *, operator_id: int | None = None, actor: Actor = MATCHING_JOB
) -> MatchReport:
    """The matching run over ranges of number ids, one transaction per range (PostgreSQL runs
    SIMREG_BULK_WORKERS of them side by side: they touch disjoint numbers). Every step of the
    run selects only rows that still need it, so a run that stops part-way is finished by the
    next; runs never overlap (an advisory lock on PostgreSQL, a process lock for SQLite)."""
    settings = runtime.settings
    window = dt.timedelta(days=settings.confirmation_window_days)
    with one_at_a_time(runtime.engine, _ADVISORY_KEY):
        now = runtime.clock.now()

        def one_batch(numbers: tuple[int, int]) -> MatchReport:
            with unit_of_work(runtime.sessions) as session:
                return run_matching(
                    session,
                    now=now,
                    window=window,
                    operator_id=operator_id,
                    actor=actor,
                    numbers=numbers,
                )

        parts = over_id_batches(
            runtime.sessions,
            partial(number_id_ranges, step=settings.matching_batch_ids),
            one_batch,
            workers=settings.bulk_workers,
            name="matching",
        )
    total = MatchReport()
    for part in parts:
        for name, value in part.as_dict().items():
            setattr(total, name, getattr(total, name) + value)
    return total


def matching_cycle(
    runtime: Runtime,
    *,
    operator_id: int | None = None,
    actor: Actor = MATCHING_JOB,
    portal: IdentityPortal | None = None,
) -> dict[str, Any]:
    """Answers first (so this run can apply them), then the run, then the new requests out.

    Each step is its own unit of work: a portal that is down fails only the sending, which the
    next cycle retries; the matching run itself never waits on the portal."""
    portal = portal or build_portal(runtime)
    collected = collect_answers(runtime, portal)
    report = run_matching_in_batches(runtime, operator_id=operator_id, actor=actor)
    for result, count in report.as_dict().items():
        MATCHING_OUTCOMES.labels(result=result).inc(count)
    # The first requests of this run leave at once; the dispatch job sends the rest.
    sent = send_queued(runtime, portal)
    return {
        **report.as_dict(),
        "answers_collected": collected.recorded,
        "requests_sent": sent.sent,
        "requests_waiting": _queued(runtime, operator_id),
        "portal_unavailable": sent.portal_unavailable,
    }


def _queued(runtime: Runtime, operator_id: int | None) -> int:
    """Requests still waiting to be sent (the dispatch job sends them at the portal's rate)."""
    scope = [] if operator_id is None else [ConfirmationRequest.operator_id == operator_id]
    with runtime.sessions() as session:
        return int(
            session.scalar(
                select(func.count()).where(
                    ConfirmationRequest.status == RequestStatus.QUEUED, *scope
                )
            )
            or 0
        )
