"""The registry's scheduled jobs: what each does and how often."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from app.config import Settings
from app.core.runtime import Runtime


def _matching(runtime: Runtime) -> dict[str, Any]:
    from app.matching.jobs import matching_cycle

    return matching_cycle(runtime)


def _dispatch(runtime: Runtime) -> dict[str, Any]:
    from app.portal.jobs import dispatch_cycle

    return dispatch_cycle(runtime)


def _deadlines(runtime: Runtime) -> dict[str, Any]:
    from app.deadlines.service import run_deadlines

    return run_deadlines(runtime).as_dict()


def _notifications(runtime: Runtime) -> dict[str, Any]:
    from app.notifications.jobs import deliver_notifications

    return dict(deliver_notifications(runtime))


def _uploads(runtime: Runtime) -> dict[str, Any]:
    from app.uploads import intake as uploads
    from app.uploads.worker import run_upload

    with runtime.sessions() as session:
        stale = uploads.stale_uploads(session, now=runtime.clock.now())
    for upload_id in stale:
        run_upload(runtime, upload_id)  # in a worker process: a file cannot stop the jobs
    return {"uploads_resumed": len(stale)}


def _metrics(runtime: Runtime) -> dict[str, Any]:
    from app.portal.backlog import refresh_backlog_gauges
    from app.scheduler.gauges import refresh_gauges

    return {**refresh_gauges(runtime), **refresh_backlog_gauges(runtime)}


def _housekeeping(runtime: Runtime) -> dict[str, Any]:
    from pathlib import Path

    from app.db.session import unit_of_work
    from app.scheduler.service import prune_claims
    from app.uploads import files

    keep = dt.timedelta(days=runtime.settings.job_claims_keep_days)
    with unit_of_work(runtime.sessions) as session:
        pruned = prune_claims(session, older_than=dt.datetime.now(dt.UTC) - keep)
        swept = files.sweep(session, upload_dir=Path(runtime.settings.upload_dir))
    return {"claims_pruned": pruned, "upload_files_deleted": swept}


def _tallies(runtime: Runtime) -> dict[str, Any]:
    from app.db.session import unit_of_work
    from app.numbers.tallies import compact_tallies

    with unit_of_work(runtime.sessions) as session:
        return {"companies_folded": compact_tallies(session)}


@dataclass(frozen=True)
class Job:
    """One scheduled job. An `every_process` job runs in each scheduler at every tick instead
    of once across them: it only reads, and what it computes stays in the process."""

    name: str
    description: str
    interval: Callable[[Settings], int]
    run: Callable[[Runtime], dict[str, Any]]
    every_process: bool = False


JOBS: dict[str, Job] = {
    job.name: job
    for job in (
        Job(
            "matching",
            "Take in the portal's answers, run the matching step, send new requests.",
            lambda s: s.matching_interval_seconds,
            _matching,
        ),
        Job(
            "dispatch",
            "Send queued confirmation requests to the identity portal at its rate per operator, "
            "for as long as there is a backlog.",
            lambda s: s.dispatch_interval_seconds,
            _dispatch,
        ),
        Job(
            "deadlines",
            "Recompute changed deadlines, suspend overdue numbers, flag those at risk, "
            "queue person messages and company digests.",
            lambda s: s.deadlines_interval_seconds,
            _deadlines,
        ),
        Job(
            "notifications",
            "Deliver the notification outbox (log, e-mail, webhook), with retries.",
            lambda s: s.notifications_interval_seconds,
            _notifications,
        ),
        Job(
            "uploads",
            "Resume uploads whose worker stopped (a crash or a restart).",
            lambda s: max(s.upload_lease_seconds, 30),
            _uploads,
        ),
        Job(
            "housekeeping",
            "Delete job claims older than SIMREG_JOB_CLAIMS_KEEP_DAYS (each job's latest stays) "
            "and uploaded files no unfinished upload needs.",
            lambda s: 86_400,
            _housekeeping,
        ),
        Job(
            "tallies",
            "Fold each company's number tallies (the deltas its dashboard sums, PostgreSQL) "
            "into one row per status, kind and deadline once they reach 1,000 rows.",
            lambda s: 600,
            _tallies,
        ),
        Job(
            "metrics",
            "Recount numbers by status, the notification backlog and each operator's queue of "
            "confirmation requests for GET /metrics.",
            lambda s: s.metrics_interval_seconds,
            _metrics,
            # Prometheus gauges belong to the process that sets them: each scheduler keeps its own
            # fresh, rather than one of them taking the tick and the others going stale.
            every_process=True,
        ),
    )
}
