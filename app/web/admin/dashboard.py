"""The cabinet's overview: numbers by status, at risk and days to the nearest deadline,
overdue, the confirmation backlog and the latest uploads."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from app.auth.service import Principal
from app.companies.service import get_subscriber
from app.core.clock import Clock
from app.core.deps import ClockDep, CursorDep, RuntimeDep, SessionDep
from app.core.integers import RowId
from app.core.messages import Language, LanguageDep
from app.core.pagination import CursorCodec
from app.core.runtime import Runtime
from app.reports.router import company_overview
from app.reports.schemas import CompanyOverview
from app.uploads.router import list_uploads
from app.uploads.schemas import UploadOut
from app.web.admin.cabinet import Reader, cabinet_page, page_router

router = page_router()
LAST_UPLOADS = 5


@dataclass(frozen=True)
class Dashboard:
    """What the overview shows."""

    company_name: str
    overview: CompanyOverview
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
    """The overview's figures: the API's company overview and uploads listing, under their
    access rules (the uploads listing words each upload's status)."""
    overview = company_overview(company_id, session, runtime, clock, reader)
    uploads = list_uploads(company_id, session, cursors, reader, language, None, LAST_UPLOADS)
    return Dashboard(
        company_name=get_subscriber(session, subscriber_id=company_id).name,
        overview=overview,
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
