"""Employees' claims on the company's numbers (flow B), approved or rejected by the admin."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import Form, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError

from app.auth.service import Role
from app.claims.models import ClaimStatus
from app.claims.router import approve_claim, company_claims, reject_claim
from app.claims.schemas import ClaimRejection
from app.core.deps import ClockDep, CursorDep, SessionDep, VaultDep
from app.core.errors import DomainError
from app.core.integers import RowId
from app.core.messages import LanguageDep, Text
from app.web.admin.cabinet import (
    Admin,
    Reader,
    base,
    cabinet_page,
    page_router,
    see_other,
    told_refusal,
)
from app.web.forms import worded_problems
from app.web.rendering import flash
from app.web.sessions import CsrfChecked

router = page_router()
PAGE_SIZE = 50


@router.get("/companies/{company_id}/claims", response_class=HTMLResponse)
def claims_page(
    request: Request,
    company_id: RowId,
    session: SessionDep,
    cursors: CursorDep,
    reader: Reader,
    status: Literal["pending", ""] = "",
    cursor: str | None = None,
) -> Response:
    """The claims, oldest first (only those awaiting a decision, when asked)."""
    wanted = [ClaimStatus.PENDING] if status else None
    page = company_claims(company_id, session, cursors, reader, wanted, cursor, PAGE_SIZE)
    return cabinet_page(
        request,
        "admin/claims.html",
        company_id,
        claims=page.items,
        next_cursor=page.next_cursor,
        first_page=cursor is None,
        only_pending=bool(status),
        may_decide=reader.role is Role.COMPANY_ADMIN,
    )


@router.post("/companies/{company_id}/claims/{claim_id}/approve", dependencies=[CsrfChecked])
def approve(
    request: Request,
    company_id: RowId,
    claim_id: RowId,
    session: SessionDep,
    vault: VaultDep,
    clock: ClockDep,
    admin: Admin,
    language: LanguageDep,
) -> Response:
    """Approve a pending claim (the API's approve): the person becomes the confirmed user."""
    try:
        claim = approve_claim(company_id, claim_id, session, vault, clock, admin)
    except DomainError as exc:
        told_refusal(request, session, exc, "page.admin.claims.refused", language)
    else:
        flash(request, Text("page.admin.claims.approved", msisdn=claim.msisdn))
    return see_other(f"{base(company_id)}/claims")


@router.post("/companies/{company_id}/claims/{claim_id}/reject", dependencies=[CsrfChecked])
def reject(
    request: Request,
    company_id: RowId,
    claim_id: RowId,
    session: SessionDep,
    clock: ClockDep,
    admin: Admin,
    language: LanguageDep,
    reason: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    """Reject a pending claim with the reason the person will read (the API's reject)."""
    try:
        body = ClaimRejection(reason=reason.strip() or None)
        claim = reject_claim(company_id, claim_id, session, clock, admin, body)
    except ValidationError as exc:
        said = "; ".join(worded_problems(exc, language).values())
        flash(request, Text("page.admin.claims.refused", reason=said))
    except DomainError as exc:
        told_refusal(request, session, exc, "page.admin.claims.refused", language)
    else:
        flash(request, Text("page.admin.claims.rejected", msisdn=claim.msisdn))
    return see_other(f"{base(company_id)}/claims")
