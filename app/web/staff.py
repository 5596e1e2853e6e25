"""The operator staff's pages: companies ranked by numbers at risk (`/staff`), each operator's
confirmation backlog (`/staff/backlog`), and the scheduler's jobs (`/staff/jobs`).

Each page calls the API's own operation (app/reports/router.py, app/scheduler/router.py,
app/notifications/router.py, app/companies/router.py) with the signed-in staff member, so it
shows what the API shows them, paged the way the API pages.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse

from app.auth.service import Principal, Role
from app.companies import router as companies_api
from app.core.deps import ClockDep, CursorDep, RuntimeDep, SessionDep
from app.core.integers import RowId
from app.core.messages import Language, LanguageDep, Text, codes, say
from app.notifications import router as notifications_api
from app.reports import router as reports_api
from app.scheduler import router as jobs_api
from app.scheduler.schemas import JobOut, JobRunOut
from app.web.rendering import PageRoute, flash, render
from app.web.sessions import CsrfChecked, page_role

router = APIRouter(route_class=PageRoute, include_in_schema=False)

Staff = Annotated[Principal, page_role(Role.OPERATOR_STAFF)]
_PAGE_SIZE = 50


@router.get("/staff", response_class=HTMLResponse)
def ranking_page(
    request: Request,
    session: SessionDep,
    runtime: RuntimeDep,
    clock: ClockDep,
    cursors: CursorDep,
    staff: Staff,
    operator_id: RowId | None = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = _PAGE_SIZE,
    rank: Annotated[int, Query(ge=1)] = 1,
) -> HTMLResponse:
    """Companies ranked by numbers at risk: who to call first, with where the registry writes
    to each of them; a page at a time, optionally for one operator."""
    page = reports_api.companies_at_risk(
        session, runtime, clock, cursors, staff, operator_id, cursor, limit
    )
    contacts = {
        company.id: notifications_api.get_notification_settings(company.id, session, runtime)
        for company in page.items
    }
    return render(
        request,
        "staff/ranking.html",
        page=page,
        contacts=contacts,
        operators=companies_api.list_operators(session, staff),
        operator_id=operator_id,
        limit=limit,
        rank=rank,
        next_rank=rank + len(page.items),
    )


@router.get("/staff/backlog", response_class=HTMLResponse)
def backlog_page(
    request: Request,
    session: SessionDep,
    runtime: RuntimeDep,
    clock: ClockDep,
    staff: Staff,
    language: LanguageDep,
) -> HTMLResponse:
    """Each operator's queue of requests to the identity portal."""
    backlog = reports_api.confirmation_backlog(session, runtime, clock, staff)
    return render(
        request,
        "staff/backlog.html",
        backlog=backlog,
        duration=lambda seconds: duration(seconds, language),
    )


def duration(seconds: float | None, language: Language) -> str:
    """A span of time as people say it: 2 ч 05 мин, 40 с."""
    if seconds is None:
        return "—"
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return say("page.staff.duration.hours", language, hours=hours, minutes=f"{minutes:02d}")
    if minutes:
        return say("page.staff.duration.minutes", language, minutes=minutes)
    return say("page.staff.duration.seconds", language, seconds=secs)


def _job_words(job: str, language: Language) -> str | None:
    """What a job does, in the reader's language (None: only the API's own words exist)."""
    code = f"page.staff.job.{job}"
    return say(code, language) if code in codes(language) else None


def summary_text(summary: dict[str, Any] | None, language: Language) -> str:
    """What a run did, on one line in the reader's language: the counts that are not zero
    (a count the catalog does not word keeps the API's key)."""
    if not summary:
        return "—"
    known = codes(language)
    parts = []
    for key, value in summary.items():
        if not value:
            continue
        if isinstance(value, bool):
            value = say(f"job.summary.{'yes' if value else 'no'}", language)
        code = f"job.summary.{key}"
        parts.append(f"{say(code, language) if code in known else key}: {value}")
    return ", ".join(parts) or say("job.summary.nothing", language)


@router.get("/staff/jobs", response_class=HTMLResponse)
def jobs_page(
    request: Request, runtime: RuntimeDep, staff: Staff, language: LanguageDep
) -> HTMLResponse:
    """The scheduler's jobs, their intervals and latest runs, each with «Запустить сейчас»."""
    jobs: list[JobOut] = jobs_api.list_jobs(runtime, staff)
    return render(
        request,
        "staff/jobs.html",
        jobs=jobs,
        about={job.name: _job_words(job.name, language) for job in jobs},
        summary=lambda summary: summary_text(summary, language),
        duration=lambda seconds: duration(seconds, language),
    )


def _run_outcome(run: JobRunOut, language: Language) -> Text:
    if not run.ran:
        return Text("page.staff.job.run.taken", job=run.job)
    if run.outcome == "ok":
        return Text(
            "page.staff.job.run.ok",
            job=run.job,
            seconds=run.seconds or 0,
            summary=summary_text(run.summary, language),
        )
    summary = summary_text(run.summary, language)
    return Text("page.staff.job.run.failed", job=run.job, summary=summary)


@router.post("/staff/jobs/{name}/run", dependencies=[CsrfChecked])
def run_job(
    request: Request, name: str, runtime: RuntimeDep, staff: Staff, language: LanguageDep
) -> Response:
    """«Запустить сейчас»: the API's run of the job, its outcome flashed on the jobs page."""
    flash(request, _run_outcome(jobs_api.run_job(name, runtime, staff), language))
    return RedirectResponse("/staff/jobs", status_code=303)
