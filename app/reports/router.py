"""HTTP endpoints of reports: a company's numbers at risk of suspension, and the ranking of
companies by them for operator staff."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query
from fastapi.responses import Response, StreamingResponse

from app.auth.dependencies import ensure_company_visible, require
from app.auth.service import Principal, Role
from app.core.clock import MOSCOW
from app.core.deps import ClockDep, CursorDep, RuntimeDep, SessionDep
from app.core.downloads import attachment, spooled_file
from app.core.integers import RowId
from app.core.messages import LanguageDep
from app.portal.backlog import operator_backlogs
from app.reports import overview, service
from app.reports.schemas import (
    CompanyOverview,
    CompanyReport,
    CompanyRiskPage,
    ConfirmationBacklog,
    OperatorBacklog,
)
from app.reports.spreadsheets import at_risk_csv, at_risk_xlsx

router = APIRouter(prefix="/api/v1", tags=["reports"])

Reader = Annotated[Principal, require(Role.COMPANY_ADMIN, Role.OPERATOR_STAFF)]
Staff = Annotated[Principal, require(Role.OPERATOR_STAFF)]


@router.get("/companies/{company_id}/report", response_model=CompanyReport)
def company_report(
    company_id: RowId,
    session: SessionDep,
    runtime: RuntimeDep,
    clock: ClockDep,
    reader: Reader,
) -> CompanyReport:
    """Numbers by status, numbers at risk of suspension by days left, and the next deadline."""
    ensure_company_visible(reader, company_id)
    return service.company_report(
        session,
        company_id=company_id,
        now=clock.now(),
        thresholds=runtime.settings.deadline_flag_days,
        rate=runtime.settings.portal_rate_per_operator,
    )


@router.get("/companies/{company_id}/overview", response_model=CompanyOverview)
def company_overview(
    company_id: RowId,
    session: SessionDep,
    runtime: RuntimeDep,
    clock: ClockDep,
    reader: Reader,
) -> CompanyOverview:
    """The dashboard: numbers by status and kind, at risk within the warning window and
    overdue, the nearest deadline, open confirmations and the latest uploads."""
    ensure_company_visible(reader, company_id)
    return overview.company_overview(
        session,
        company_id,
        now=clock.now(),
        thresholds=runtime.settings.deadline_flag_days,
    )


@router.get("/companies/{company_id}/report/at-risk.{fmt}")
def download_at_risk(
    company_id: RowId,
    fmt: Literal["csv", "xlsx"],
    runtime: RuntimeDep,
    clock: ClockDep,
    reader: Reader,
    language: LanguageDep,
) -> Response:
    """The numbers at risk, overdue or suspended, earliest deadline first, with their users,
    days left and which of the three each is (for Excel, titled in the request's language)."""
    ensure_company_visible(reader, company_id)
    # No request-long session: the rows are read in chunks, each with a connection of its own,
    # and a request holding one while it waits for another could drain the pool.
    with runtime.sessions() as session:
        inn = service.get_company(session, company_id=company_id).inn
    now = clock.now()
    filename = f"simreg-at-risk-{inn}-{now.astimezone(MOSCOW):%Y-%m-%d}.{fmt}"
    headers = {"Content-Disposition": attachment(filename)}
    numbers = service.at_risk_numbers(runtime.sessions, company_id=company_id)
    if fmt == "csv":
        return StreamingResponse(
            at_risk_csv(numbers, now=now, language=language),
            media_type="text/csv; charset=utf-8",
            headers=headers,
        )
    return spooled_file(
        lambda path: at_risk_xlsx(numbers, now=now, path=path, language=language),
        filename=filename,
        prefix="simreg-at-risk-",
    )


@router.get("/reports/confirmation-backlog", response_model=ConfirmationBacklog)
def confirmation_backlog(
    session: SessionDep, runtime: RuntimeDep, clock: ClockDep, staff: Staff
) -> ConfirmationBacklog:
    """Each operator's queue of requests to the identity portal: how many wait, the oldest,
    when the queue will have been sent at the portal's rate, and how many numbers would reach
    their deadline before their request goes out."""
    now = clock.now()
    rate = runtime.settings.portal_rate_per_operator
    return ConfirmationBacklog(
        generated_at=now,
        rate_per_operator=rate,
        operators=[
            OperatorBacklog(
                **vars(b),
                oldest_queued_age_seconds=(now - b.oldest_queued_at).total_seconds()
                if b.oldest_queued_at
                else None,
            )
            for b in operator_backlogs(session, rate=rate, now=now)
        ],
    )


@router.get("/reports/companies-at-risk", response_model=CompanyRiskPage)
def companies_at_risk(
    session: SessionDep,
    runtime: RuntimeDep,
    clock: ClockDep,
    cursors: CursorDep,
    staff: Staff,
    operator_id: RowId | None = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> CompanyRiskPage:
    """Companies ranked by numbers at risk of suspension: the accounts to call first.

    Companies whose numbers are only suspended follow those with numbers at risk."""
    now = clock.now()
    thresholds = runtime.settings.deadline_flag_days
    scope = {"o": operator_id}
    after = None
    if cursor:
        at_risk, company_id = cursors.decode(cursor, scope=scope)["after"]
        after = (int(at_risk), int(company_id))
    items = service.rank_companies(
        session,
        now=now,
        thresholds=thresholds,
        operator_id=operator_id,
        after=after,
        limit=limit + 1,
    )
    more = len(items) > limit
    items = items[:limit]
    next_cursor = (
        cursors.encode({"after": [items[-1].at_risk.total, items[-1].id], "scope": scope})
        if more
        else None
    )
    return CompanyRiskPage(
        generated_at=now, thresholds=list(thresholds), items=items, next_cursor=next_cursor
    )
