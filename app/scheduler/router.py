"""HTTP endpoints: scheduled jobs (operator staff) and, outside production, the dev clock."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter

from app.auth.dependencies import require
from app.auth.service import Principal, Role
from app.core.clock import FixedClock, SystemClock
from app.core.deps import RuntimeDep
from app.core.dev_clock import SharedClock
from app.core.errors import FieldProblem, InvalidInput
from app.core.messages import Text
from app.scheduler import service
from app.scheduler.schemas import ClockIn, ClockOut, JobOut, JobRunOut

router = APIRouter(prefix="/api/v1", tags=["jobs"])
sandbox_router = APIRouter(prefix="/api/v1/sandbox", tags=["sandbox"])

Staff = Annotated[Principal, require(Role.OPERATOR_STAFF)]


@router.get("/jobs", response_model=list[JobOut])
def list_jobs(runtime: RuntimeDep, _: Staff) -> list[JobOut]:
    """Every scheduled job, its interval and its latest run."""
    return [JobOut(**vars(status)) for status in service.job_statuses(runtime)]


@router.post("/jobs/{name}/run", response_model=JobRunOut)
def run_job(name: str, runtime: RuntimeDep, staff: Staff) -> JobRunOut:
    """Run a job now and answer what it did (the deadline run waits for a running one)."""
    outcome = service.run_now(runtime, name, claimed_by=f"api:{staff.subject}")
    return JobRunOut(**vars(outcome))


@sandbox_router.get("/clock", response_model=ClockOut)
def get_clock(runtime: RuntimeDep) -> ClockOut:
    """The clock this process runs on (dev and test only)."""
    return ClockOut(now=runtime.clock.now(), fixed=runtime.clock.fixed)


@sandbox_router.put("/clock", response_model=ClockOut)
def set_clock(body: ClockIn, runtime: RuntimeDep, _: Staff) -> ClockOut:
    """Move this process's clock (dev and test only): to the day after a deadline, say, then
    run the deadline job to see the suspensions. Jobs and requests use the moved clock."""
    if (body.now is None) == (body.advance_days is None):
        raise InvalidInput(
            Text("clock.one_of"),
            errors=[FieldProblem("now", "clock.one_of", Text("clock.one_of.field"))],
        )
    current = runtime.clock.now()
    target = (
        body.now if body.now is not None else current + dt.timedelta(days=body.advance_days or 0)
    )
    if isinstance(runtime.clock, SharedClock | FixedClock):
        runtime.clock.set(target)  # a shared clock moves every process on the database
    else:
        runtime.clock = FixedClock(target)
    return ClockOut(now=runtime.clock.now(), fixed=True)


@sandbox_router.delete("/clock", response_model=ClockOut)
def reset_clock(runtime: RuntimeDep, _: Staff) -> ClockOut:
    """Back to the wall clock (for every process on the database when the clock is shared)."""
    if isinstance(runtime.clock, SharedClock):
        runtime.clock.reset()
    else:
        runtime.clock = SystemClock()
    return ClockOut(now=runtime.clock.now(), fixed=False)
