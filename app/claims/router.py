"""HTTP endpoints of flow B: a person claims a number; the company admin approves or rejects.

Person: `POST /me/claims`, `GET /me/claims`. Company admin (own company) or operator staff:
`GET /companies/{id}/claims`. Company admin: `POST /companies/{id}/claims/{claim_id}/approve`
and `/reject`.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response, status
from sqlalchemy.orm import Session

from app.auth.dependencies import PersonCaller, PrincipalDep, ensure_company_visible, require
from app.auth.service import Principal, Role
from app.claims import decision
from app.claims import service as claims
from app.claims.models import Claim, ClaimStatus
from app.claims.schemas import (
    Claimant,
    ClaimCreate,
    ClaimOut,
    ClaimPage,
    ClaimRejection,
    CompanyClaimOut,
)
from app.companies.models import CorporateSubscriber
from app.core.deps import ClockDep, CursorDep, SessionDep, VaultDep
from app.core.errors import NotFound
from app.core.integers import RowId
from app.core.messages import Text
from app.people.models import Person
from app.people.service import find_person

router = APIRouter(prefix="/api/v1", tags=["claims"])

Admin = Annotated[Principal, require(Role.COMPANY_ADMIN)]


def _company_view(claim: Claim, person: Person) -> CompanyClaimOut:
    return CompanyClaimOut(
        **ClaimOut.model_validate(claim).model_dump(),
        claimant=Claimant.model_validate(person),
        decided_by=claim.decided_by,
    )


def _me(session: Session, principal: Principal) -> Person:
    person = find_person(session, portal_subject=principal.subject)
    if person is None:
        raise NotFound(Text("person.not_shared"))
    return person


@router.post(
    "/me/claims",
    status_code=status.HTTP_201_CREATED,
    response_model=ClaimOut,
    responses={200: {"description": "A claim on this number is pending already: that claim"}},
)
def submit_claim(
    body: ClaimCreate,
    response: Response,
    session: SessionDep,
    clock: ClockDep,
    principal: PersonCaller,
) -> ClaimOut:
    """Claim a corporate number: rejected, confirmed at once, or pending the company admin."""
    outcome = claims.submit_claim(
        session,
        person=_me(session, principal),
        msisdn=body.msisdn,
        company_inn=body.company_inn,
        company_name=body.company_name,
        now=clock.now(),
    )
    if not outcome.created:
        response.status_code = status.HTTP_200_OK
    return ClaimOut.model_validate(outcome.claim)


@router.get("/me/claims", response_model=list[ClaimOut])
def my_claims(session: SessionDep, principal: PersonCaller) -> list[ClaimOut]:
    """The caller's own claims, newest first."""
    person = _me(session, principal)
    return [ClaimOut.model_validate(c) for c in claims.claims_of_person(session, person=person)]


@router.get("/companies/{company_id}/claims", response_model=ClaimPage)
def company_claims(
    company_id: RowId,
    session: SessionDep,
    cursors: CursorDep,
    principal: PrincipalDep,
    status_: Annotated[list[ClaimStatus] | None, Query(alias="status")] = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> ClaimPage:
    """Claims on the company's numbers (e.g. `?status=pending`), oldest first, a page at a time."""
    ensure_company_visible(principal, company_id)
    if session.get(CorporateSubscriber, company_id) is None:
        raise NotFound(Text("company.not_found", company_id=company_id))
    scope = {"claims_of": company_id}
    after = int(cursors.decode(cursor, scope=scope)["after"]) if cursor else None
    rows = claims.claims_of_company(
        session,
        subscriber_id=company_id,
        statuses=status_ or (),
        after_id=after,
        limit=limit + 1,
    )
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = cursors.encode({"after": rows[-1][0].id, "scope": scope}) if more else None
    return ClaimPage(items=[_company_view(c, p) for c, p in rows], next_cursor=next_cursor)


@router.post("/companies/{company_id}/claims/{claim_id}/approve", response_model=CompanyClaimOut)
def approve_claim(
    company_id: RowId,
    claim_id: RowId,
    session: SessionDep,
    vault: VaultDep,
    clock: ClockDep,
    admin: Admin,
) -> CompanyClaimOut:
    """Approve a pending claim: the person becomes the number's confirmed user; it is active."""
    ensure_company_visible(admin, company_id)
    claim = decision.approve_claim(
        session,
        vault,
        subscriber_id=company_id,
        claim_id=claim_id,
        actor=admin.actor,
        now=clock.now(),
    )
    return _company_view(claim, session.get_one(Person, claim.person_id))


@router.post("/companies/{company_id}/claims/{claim_id}/reject", response_model=CompanyClaimOut)
def reject_claim(
    company_id: RowId,
    claim_id: RowId,
    session: SessionDep,
    clock: ClockDep,
    admin: Admin,
    body: ClaimRejection | None = None,
) -> CompanyClaimOut:
    """Reject a pending claim; the person sees the reason. The number stays as it is."""
    ensure_company_visible(admin, company_id)
    claim = decision.reject_claim(
        session,
        subscriber_id=company_id,
        claim_id=claim_id,
        reason=(body or ClaimRejection()).reason,
        actor=admin.actor,
        now=clock.now(),
    )
    return _company_view(claim, session.get_one(Person, claim.person_id))
