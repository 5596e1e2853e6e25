"""One number: its status and next step, its current user (masked), its deadline, its whole
history in words, the requests to confirm it, and the button that sends a request again."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, Response

from app.auth.service import Role
from app.core.deps import ClockDep, RuntimeDep, SessionDep, VaultDep
from app.core.errors import DomainError
from app.core.integers import RowId
from app.core.messages import Language, LanguageDep, Text, say
from app.matching.router import list_requests, resend_request
from app.matching.schemas import ConfirmationRequestOut
from app.numbers.models import NumberStatus
from app.numbers.router import get_company_number
from app.numbers.schemas import EventOut
from app.web.admin.cabinet import (
    Admin,
    Reader,
    base,
    cabinet_page,
    page_router,
    see_other,
    told_refusal,
)
from app.web.rendering import flash
from app.web.sessions import CsrfChecked

router = page_router()


def event_words(event: EventOut, language: Language) -> dict[str, Any]:
    """An event of the history in words: the change of status, who made it, and the reason
    as the log recorded it."""
    to = say(f"export.status.{event.to_status.value}", language)
    if event.from_status is None:
        change = f"{say('page.admin.number.entered', language)}: {to}"
    else:
        change = f"{say(f'export.status.{event.from_status.value}', language)} → {to}"
    return {
        "at": event.at,
        "change": change,
        "who": say(f"page.admin.actor.{event.actor_kind.value}", language),
        "reason": event.reason,
    }


def request_words(request: ConfirmationRequestOut, language: Language) -> dict[str, Any]:
    """A confirmation request in words: where it is, its outcome and what differed."""
    fields = ", ".join(say(f"field.{name}", language) for name in request.mismatch_fields)
    return {
        "created_at": request.created_at,
        "state": say(f"page.admin.request.status.{request.status.value}", language),
        "expires_at": request.expires_at,
        "answered_at": request.answered_at,
        "outcome": say(f"export.status.{request.outcome}", language) if request.outcome else "",
        "mismatch": say("page.admin.number.mismatch", language, fields=fields) if fields else "",
    }


# The statuses after which the company may ask its employee again (the resend's own rule
# decides; the button is offered only where it can succeed).
RESENDABLE = (NumberStatus.EXPIRED, NumberStatus.DECLINED, NumberStatus.SUSPENDED)


@router.get("/companies/{company_id}/numbers/{number_id}", response_class=HTMLResponse)
def number_page(
    request: Request,
    company_id: RowId,
    number_id: RowId,
    session: SessionDep,
    vault: VaultDep,
    clock: ClockDep,
    runtime: RuntimeDep,
    reader: Reader,
    language: LanguageDep,
) -> Response:
    """The number as the API's detail shows it (personal data masked), with its requests."""
    detail = get_company_number(
        company_id, number_id, request, Response(), session, vault, clock, runtime, reader, language
    )
    requests = list_requests(company_id, number_id, session, reader)
    return cabinet_page(
        request,
        "admin/number.html",
        company_id,
        number=detail,
        user=next((r for r in detail.registrations if r.current), None),
        events=[event_words(e, language) for e in detail.events],
        requests=[request_words(r, language) for r in requests],
        may_resend=reader.role is Role.COMPANY_ADMIN and detail.status in RESENDABLE,
    )


@router.post("/companies/{company_id}/numbers/{number_id}/resend", dependencies=[CsrfChecked])
def resend(
    request: Request,
    company_id: RowId,
    number_id: RowId,
    session: SessionDep,
    clock: ClockDep,
    runtime: RuntimeDep,
    admin: Admin,
    language: LanguageDep,
) -> Response:
    """Ask the person again (the API's resend); the outcome is shown on the number's page."""
    try:
        resend_request(company_id, number_id, session, clock, runtime, admin)
    except DomainError as exc:
        told_refusal(request, session, exc, "page.admin.number.resend_refused", language)
    else:
        flash(request, Text("page.admin.number.resent"))
    return see_other(f"{base(company_id)}/numbers/{number_id}")
