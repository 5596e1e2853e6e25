"""APScheduler wiring: in the API process (`make run`) or in its own (`simreg scheduler`)."""

from __future__ import annotations

import datetime as dt

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.interval import IntervalTrigger

from app.core.runtime import Runtime
from app.scheduler.jobs import JOBS
from app.scheduler.service import instance_name, run_tick, slot_of

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def _tick(runtime: Runtime, name: str, interval: int, claimed_by: str) -> None:
    run_tick(runtime, name, slot=slot_of(interval), claimed_by=claimed_by)


def build_scheduler(runtime: Runtime, *, blocking: bool = False) -> BaseScheduler:
    """A scheduler with every job, its triggers aligned to the epoch so that all schedulers
    fire (and name) the same ticks; jobs live in memory, the claim rows do the guarding."""
    scheduler: BaseScheduler = (
        BlockingScheduler(timezone=dt.UTC) if blocking else BackgroundScheduler(timezone=dt.UTC)
    )
    claimed_by = instance_name()
    for job in JOBS.values():
        interval = job.interval(runtime.settings)
        scheduler.add_job(
            _tick,
            IntervalTrigger(seconds=interval, start_date=_EPOCH, timezone=dt.UTC),
            args=[runtime, job.name, interval, claimed_by],
            id=job.name,
            name=job.description,
            max_instances=1,
            coalesce=True,
            misfire_grace_time=max(1, interval // 2),
        )
    return scheduler
