"""The matching cycle as one job: take in the portal's answers, run matching, send requests."""

from __future__ import annotations

import datetime as dt
from typing import Any

from app.core.runtime import Runtime
from app.db.session import unit_of_work
from app.matching.dispatch import collect_answers, send_queued
from app.matching.portal import IdentityPortal, build_portal
from app.matching.service import MATCHING_JOB, run_matching
from app.numbers.lifecycle import Actor


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
    with unit_of_work(runtime.sessions) as session:
        report = run_matching(
            session,
            now=runtime.clock.now(),
            window=dt.timedelta(days=runtime.settings.confirmation_window_days),
            operator_id=operator_id,
            actor=actor,
        )
    sent = send_queued(runtime, portal)
    return {
        **report.as_dict(),
        "answers_collected": collected.recorded,
        "requests_sent": sent.sent,
        "requests_waiting": sent.picked - sent.sent,
        "portal_unavailable": sent.portal_unavailable,
    }
