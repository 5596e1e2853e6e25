"""The person's confirmation requests, the portal's answer webhook, the sandbox portal's switches.

`router` belongs in every environment (the webhook is how the real portal pushes answers);
`sandbox_router` only where the sandbox exists (dev and test).
"""

from __future__ import annotations

from typing import Annotated, Any

import structlog
from fastapi import APIRouter, Body, status
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from app.auth.dependencies import PersonCaller, require
from app.auth.service import Principal, Role
from app.companies.models import CorporateSubscriber
from app.core.deps import RuntimeDep, SessionDep
from app.core.errors import BadRequest, Conflict, DomainError, NotFound
from app.core.integers import RowId
from app.core.messages import DEFAULT, Language, LanguageDep, Text
from app.core.runtime import Runtime
from app.db.session import unit_of_work
from app.numbers.models import PhoneNumber
from app.people.service import find_person
from app.people.words import RequestState, request_words
from app.portal.answers import collect_answers, record_answer
from app.portal.backlog import queued_ahead, send_eta
from app.portal.http_portal import count_rejected, signing_secret, verify_signed_answer
from app.portal.models import ConfirmationRequest, RequestStatus
from app.portal.port import AnswerKind, InvalidPortalMessage, PortalConfigError
from app.portal.sandbox_portal import BEHAVIOUR, SandboxPortal
from app.portal.schemas import (
    ConfirmationRequestView,
    SandboxBehaviourIn,
    SandboxBehaviourOut,
    WebhookResult,
)

log = structlog.get_logger("simreg.portal")

router = APIRouter(prefix="/api/v1", tags=["confirmation"])
sandbox_router = APIRouter(prefix="/api/v1/sandbox", tags=["sandbox"])

Staff = Annotated[Principal, require(Role.OPERATOR_STAFF)]


class InvalidSignature(DomainError):
    """A pushed answer whose HMAC signature does not verify."""

    status = 401
    type_slug = "invalid-signature"


class PortalNotConfigured(DomainError):
    """The webhook cannot verify anything until the signing secret is set."""

    status = 503
    type_slug = "portal-not-configured"


def _views(
    runtime: Runtime, session: Session, *conditions: Any, language: Language = DEFAULT
) -> list[ConfirmationRequestView]:
    rows = session.execute(
        select(ConfirmationRequest, PhoneNumber.msisdn, CorporateSubscriber)
        .join(PhoneNumber, PhoneNumber.id == ConfirmationRequest.number_id)
        .join(CorporateSubscriber, CorporateSubscriber.id == ConfirmationRequest.subscriber_id)
        .where(*conditions)
        .order_by(ConfirmationRequest.id)
    ).all()
    now = runtime.clock.now()
    rate = runtime.settings.portal_rate_per_operator
    views = []
    for request, msisdn, company in rows:
        eta = None
        if request.status is RequestStatus.QUEUED:
            ahead = queued_ahead(session, operator_id=request.operator_id, request_id=request.id)
            eta = send_eta(ahead, rate=rate, now=now)
        state = RequestState(request.status.value, request.outcome, request.mismatch_fields)
        views.append(
            ConfirmationRequestView(
                id=request.id,
                msisdn=msisdn,
                company_name=company.name,
                company_inn=company.inn,
                status=request.status,
                expires_at=request.expires_at,
                sent_at=request.sent_at,
                answered_at=request.answered_at,
                answer=request.answer,
                outcome=request.outcome,
                mismatch_fields=(request.mismatch_fields or "").split(",")
                if request.mismatch_fields
                else [],
                expected_send_at=eta,
                outcome_text=request_words(
                    state, expires_at=request.expires_at, eta=eta, language=language
                ),
            )
        )
    return views


@router.get("/me/confirmation-requests", response_model=list[ConfirmationRequestView])
def my_confirmation_requests(
    runtime: RuntimeDep, session: SessionDep, caller: PersonCaller, language: LanguageDep
) -> list[ConfirmationRequestView]:
    """Every confirmation request that names the caller's document, with what came of it (a
    request withdrawn before it was sent never reached the caller and is left out)."""
    person = find_person(session, portal_subject=caller.subject)
    if person is None:
        return []
    return _views(
        runtime,
        session,
        ConfirmationRequest.doc_hash == person.doc_hash,
        or_(
            ConfirmationRequest.status != RequestStatus.CANCELLED,
            ConfirmationRequest.sent_at.is_not(None),
        ),
        language=language,
    )


def _answer(
    runtime: Runtime, caller: Principal, request_id: int, answer: AnswerKind
) -> ConfirmationRequestView:
    settings = runtime.settings
    with runtime.sessions() as session:
        person = find_person(session, portal_subject=caller.subject)
        request = session.get(ConfirmationRequest, request_id)
        # Someone else's request and a missing one look the same: nothing is revealed.
        if person is None or request is None or request.doc_hash != person.doc_hash:
            raise NotFound(Text("confirmation.not_found", request_id=request_id))
        if not (settings.is_sandbox and settings.portal_adapter == "sandbox"):
            raise Conflict(
                Text("confirmation.answer_in_portal"),
                code="answer_in_portal",
            )
        if request.status in (RequestStatus.ANSWERED, RequestStatus.MATCHED):
            if request.answer == answer:
                return _views(runtime, session, ConfirmationRequest.id == request_id)[0]
            raise Conflict(
                Text("confirmation.already_answered", answer=request.answer),
                code="already_answered",
            )
        if request.status in (RequestStatus.EXPIRED, RequestStatus.CANCELLED) or (
            request.expires_at <= runtime.clock.now()
        ):
            raise Conflict(
                Text("confirmation.closed"),
                code="request_closed",
            )
        if request.status is RequestStatus.QUEUED or request.portal_request_id is None:
            raise Conflict(
                Text("confirmation.not_delivered_yet"),
                code="not_delivered_yet",
            )
        portal_request_id = request.portal_request_id
    portal = SandboxPortal.from_runtime(runtime)
    portal.answer(portal_request_id, person=person, answer=answer)
    # The real portal would push the answer at once; collecting now gives the same effect.
    collect_answers(runtime, portal)
    with runtime.sessions() as session:
        return _views(runtime, session, ConfirmationRequest.id == request_id)[0]


@router.post(
    "/me/confirmation-requests/{request_id}/confirm", response_model=ConfirmationRequestView
)
def confirm(
    request_id: RowId, runtime: RuntimeDep, caller: PersonCaller
) -> ConfirmationRequestView:
    """Answer "yes, I use this number" (sandbox; in production the person uses the portal)."""
    return _answer(runtime, caller, request_id, "confirmed")


@router.post(
    "/me/confirmation-requests/{request_id}/decline", response_model=ConfirmationRequestView
)
def decline(
    request_id: RowId, runtime: RuntimeDep, caller: PersonCaller
) -> ConfirmationRequestView:
    """Answer "I do not use this number" (sandbox; in production the person uses the portal)."""
    return _answer(runtime, caller, request_id, "declined")


@router.post("/portal/answers", status_code=status.HTTP_202_ACCEPTED, response_model=WebhookResult)
def portal_answer_webhook(body: Annotated[Any, Body()], runtime: RuntimeDep) -> WebhookResult:
    """The identity portal pushes one signed answer (no bearer token: the HMAC signs it)."""
    try:
        secret = signing_secret(runtime.settings)
    except PortalConfigError as exc:
        log.error("portal webhook refused: signing secret not configured")
        raise PortalNotConfigured(Text("portal.not_configured")) from exc
    try:
        message = verify_signed_answer(body, secret)
    except InvalidPortalMessage as exc:
        count_rejected(exc, source="webhook")
        if exc.reason == "signature":
            raise InvalidSignature(Text("portal.signature.invalid")) from exc
        raise BadRequest(Text("portal.answer.malformed"), code="invalid_answer") from exc
    with unit_of_work(runtime.sessions) as session:
        outcome = record_answer(session, runtime.vault, message, now=runtime.clock.now())
    if outcome == "invalid":
        raise BadRequest(Text("portal.answer.unreadable"), code="invalid_answer")
    if outcome in ("unknown", "late"):
        return WebhookResult(status="ignored")
    return WebhookResult(status=outcome)


@sandbox_router.post("/portal/behaviour", response_model=SandboxBehaviourOut)
def set_sandbox_behaviour(
    body: SandboxBehaviourIn, runtime: RuntimeDep, _: Staff
) -> SandboxBehaviourOut:
    """Make the sandbox portal slow, down, or lose or hold back answers (dev and test only)."""
    if not runtime.settings.is_sandbox:
        raise NotFound(Text("sandbox.absent"))
    for name, value in body.model_dump(exclude_none=True).items():
        setattr(BEHAVIOUR, name, value)
    log.info("sandbox portal behaviour changed", **body.model_dump(exclude_none=True))
    return SandboxBehaviourOut(
        delay_seconds=BEHAVIOUR.delay_seconds,
        fail_sends=BEHAVIOUR.fail_sends,
        lose_answers=BEHAVIOUR.lose_answers,
        answers_delayed=BEHAVIOUR.answers_delayed,
    )
