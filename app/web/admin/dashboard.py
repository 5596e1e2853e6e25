"""The cabinet's overview: numbers by status, at risk and days to the nearest deadline,
overdue, the confirmation backlog and the latest uploads."""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

from fastapi import Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from app.auth.service import Principal
from app.core.clock import Clock
from app.core.deps import ClockDep, CursorDep, RuntimeDep, SessionDep
from app.core.integers import RowId
from app.core.messages import Language, LanguageDep
from app.core.pagination import CursorCodec
from app.core.runtime import Runtime
from app.reports.router import company_report
from app.reports.schemas import CompanyReport
from app.uploads.router import list_uploads
from app.uploads.schemas import UploadOut
from app.web.admin.cabinet import Reader, cabinet_page, page_router

router = page_router()
LAST_UPLOADS = 5


@dataclass(frozen=True)
class Dashboard:
    """What the overview shows."""

    company_name: str
    by_status: dict[str, int]
    total: int
    at_risk: int
    overdue: int
    suspended: int
    nearest_deadline: dt.datetime | None
    days_left: int | None
    backlog_queued: int
    backlog_sent: int
    backlog_answered: int
    backlog_sent_by: dt.datetime | None
    last_uploads: list[UploadOut]


def dashboard_data(
    session: Session,
    runtime: Runtime,
    clock: Clock,
    cursors: CursorCodec,
    reader: Principal,
    *,
    company_id: int,
    language: Language,
) -> Dashboard:
    """The overview's figures, from the company report and the uploads listing (the API's own
    operations, under their access rules)."""
    report: CompanyReport = company_report(company_id, session, runtime, clock, reader)
    uploads = list_uploads(company_id, session, cursors, reader, language, None, LAST_UPLOADS)
    now = clock.now()
    nearest = report.next_deadline_at
    return Dashboard(
        company_name=report.company_name,
        by_status=report.by_status,
        total=sum(report.by_status.values()),
        at_risk=report.at_risk.total - report.at_risk.by_bucket.get("overdue", 0),
        overdue=report.at_risk.by_bucket.get("overdue", 0),
        suspended=report.suspended,
        nearest_deadline=nearest,
        days_left=math.ceil((nearest - now).total_seconds() / 86400) if nearest else None,
        backlog_queued=report.confirmations.queued,
        backlog_sent=report.confirmations.sent,
        backlog_answered=report.confirmations.answered,
        backlog_sent_by=report.confirmations.all_sent_by,
        last_uploads=uploads.items,
    )


@router.get("/companies/{company_id}", response_class=HTMLResponse)
def dashboard_page(
    request: Request,
    company_id: RowId,
    session: SessionDep,
    runtime: RuntimeDep,
    clock: ClockDep,
    cursors: CursorDep,
    reader: Reader,
    language: LanguageDep,
) -> Response:
    """The company's overview."""
    data = dashboard_data(
        session, runtime, clock, cursors, reader, company_id=company_id, language=language
    )
    return cabinet_page(request, "admin/dashboard.html", company_id, data=data)
