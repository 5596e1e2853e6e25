"""The employee's page, «Мои номера» (`/me`): their numbers, the confirmation requests waiting
for them, a claim on a number, and what came of their earlier requests and claims.

Each read and each answer is the API's own operation, called in-process with the signed-in
person (app/people/router.py, app/portal/router.py, app/claims/router.py): what the page shows
and allows is what the API shows and allows to the same person.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated

from fastapi import APIRouter, Form, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import ValidationError
from sqlalchemy.orm import Session

from app.auth.service import Principal
from app.claims import router as claims_api
from app.claims.schemas import ClaimCreate, ClaimOut
from app.core.deps import ClockDep, RuntimeDep, SessionDep, VaultDep
from app.core.errors import DomainError, InvalidInput, NotFound
from app.core.integers import RowId
from app.core.messages import Language, LanguageDep, Text
from app.core.personal_data import PersonalDataVault
from app.core.runtime import Runtime
from app.people import router as people_api
from app.portal import router as portal_api
from app.portal.models import RequestStatus
from app.portal.schemas import ConfirmationRequestView
from app.web.forms import worded_problems
from app.web.rendering import PageRoute, flash, render
from app.web.sessions import CsrfChecked, PagePerson

router = APIRouter(route_class=PageRoute, include_in_schema=False)

# Requests still on their way to the person or waiting for their answer.
_WAITING = (RequestStatus.QUEUED, RequestStatus.SENT)


@dataclass
class ClaimForm:
    """The claim form as the person filled it, and what is wrong with each field."""

    msisdn: str = ""
    company_inn: str = ""
    company_name: str = ""
    errors: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class _Context:
    """What `/me` needs besides the request, shared by the page and a refused claim form."""

    runtime: Runtime
    session: Session
    vault: PersonalDataVault
    person: Principal
    language: Language


def _my_claims(context: _Context) -> list[ClaimOut]:
    try:
        return claims_api.my_claims(context.session, context.person)
    except NotFound:  # the portal has not shared the person's data yet: no claims either
        return []


def _page(
    request: Request, context: _Context, form: ClaimForm | None = None, *, status_code: int = 200
) -> HTMLResponse:
    numbers = people_api.my_numbers(
        context.session, context.vault, context.person, context.language
    )
    requests = portal_api.my_confirmation_requests(
        context.runtime, context.session, context.person, context.language
    )
    return render(
        request,
        "person/me.html",
        status_code=status_code,
        numbers=numbers,
        waiting=[r for r in requests if r.status in _WAITING],
        answered=[r for r in requests if r.status not in _WAITING],
        claims=_my_claims(context),
        form=form or ClaimForm(),
        answerable=RequestStatus.SENT,
    )


@router.get("/me", response_class=HTMLResponse)
def my_numbers_page(
    request: Request,
    runtime: RuntimeDep,
    session: SessionDep,
    vault: VaultDep,
    person: PagePerson,
    language: LanguageDep,
) -> HTMLResponse:
    """«Мои номера»: the person's numbers, requests waiting for them, a claim, their history."""
    return _page(request, _Context(runtime, session, vault, person, language))


def _refusal(exc: DomainError) -> Text:
    """A refused answer as one readable sentence: the API's own detail."""
    if isinstance(exc.detail, Text):
        return exc.detail
    return Text("page.person.refused", reason=exc.detail)


def _answer(
    request: Request, runtime: Runtime, person: Principal, request_id: int, verb: str
) -> Response:
    operation = portal_api.confirm if verb == "confirm" else portal_api.decline
    try:
        view: ConfirmationRequestView = operation(request_id, runtime, person)
    except DomainError as exc:
        flash(request, _refusal(exc))
    else:
        flash(
            request,
            Text(f"page.person.answer.{verb}", msisdn=view.msisdn, company=view.company_name),
        )
    return RedirectResponse("/me#requests", status_code=303)


@router.post("/me/confirmation-requests/{request_id}/confirm", dependencies=[CsrfChecked])
def confirm_request(
    request: Request, request_id: RowId, runtime: RuntimeDep, person: PagePerson
) -> Response:
    """«Подтвердить»: the API's confirm, then back to the page with its outcome."""
    return _answer(request, runtime, person, request_id, "confirm")


@router.post("/me/confirmation-requests/{request_id}/decline", dependencies=[CsrfChecked])
def decline_request(
    request: Request, request_id: RowId, runtime: RuntimeDep, person: PagePerson
) -> Response:
    """«Отклонить»: the API's decline, then back to the page with its outcome."""
    return _answer(request, runtime, person, request_id, "decline")


def _claim_outcome(claim: ClaimOut) -> Text:
    code = f"page.person.claim.sent.{claim.status.value}"
    return Text(code, msisdn=claim.msisdn, reason=claim.reason or "")


@router.post("/me/claims", dependencies=[CsrfChecked])
def submit_claim(
    request: Request,
    runtime: RuntimeDep,
    session: SessionDep,
    vault: VaultDep,
    clock: ClockDep,
    person: PagePerson,
    language: LanguageDep,
    msisdn: Annotated[str, Form()] = "",
    company_inn: Annotated[str, Form()] = "",
    company_name: Annotated[str, Form()] = "",
) -> Response:
    """A claim through the API's own submit; a refused form comes back as typed, each field
    with its message."""
    form = ClaimForm(msisdn, company_inn, company_name)
    try:
        body = ClaimCreate(msisdn=msisdn, company_inn=company_inn, company_name=company_name)
        claim = claims_api.submit_claim(body, Response(), session, clock, person)
    except (ValidationError, InvalidInput) as exc:
        form.errors = worded_problems(exc, language)
    else:
        flash(request, _claim_outcome(claim))
        return RedirectResponse("/me#claims", status_code=303)
    context = _Context(runtime, session, vault, person, language)
    return _page(request, context, form, status_code=422)
