"""HTTP endpoints of the matching step: runs, and the company's view of its requests."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, status

from app.auth.dependencies import PrincipalDep, ensure_company_visible, require
from app.auth.service import Principal, Role
from app.core.deps import ClockDep, RuntimeDep, SessionDep
from app.core.integers import RowId
from app.matching import service
from app.matching.jobs import matching_cycle
from app.matching.schemas import ConfirmationRequestOut, MatchRunOut
from app.numbers.service import get_number
from app.portal.models import ConfirmationRequest

router = APIRouter(prefix="/api/v1", tags=["matching"])

Runner = Annotated[Principal, require(Role.OPERATOR_SYSTEM, Role.OPERATOR_STAFF)]
Admin = Annotated[Principal, require(Role.COMPANY_ADMIN)]


def request_view(request: ConfirmationRequest) -> ConfirmationRequestOut:
    """A request as the company sees it: which fields differed, never the verified values."""
    fields = {name: getattr(request, name) for name in ConfirmationRequestOut.model_fields}
    fields["mismatch_fields"] = (
        request.mismatch_fields.split(",") if request.mismatch_fields else []
    )
    return ConfirmationRequestOut.model_validate(fields)


@router.post("/operator/matching-runs", response_model=MatchRunOut)
def run_matching(runtime: RuntimeDep, caller: Runner) -> MatchRunOut:
    """Run the matching cycle now (the portal's answers in, the run, new requests out): an
    operator system over its own numbers, staff over all."""
    operator_id = caller.operator_id if caller.role is Role.OPERATOR_SYSTEM else None
    return MatchRunOut(**matching_cycle(runtime, operator_id=operator_id, actor=caller.actor))


@router.get(
    "/companies/{company_id}/numbers/{number_id}/confirmation-requests",
    response_model=list[ConfirmationRequestOut],
)
def list_requests(
    company_id: RowId, number_id: RowId, session: SessionDep, principal: PrincipalDep
) -> list[ConfirmationRequestOut]:
    """Every request to confirm this number, with outcomes and the fields that differed."""
    ensure_company_visible(principal, company_id)
    number = get_number(session, number_id=number_id, subscriber_id=company_id)
    return [request_view(r) for r in service.requests_of_number(session, number_id=number.id)]


@router.post(
    "/companies/{company_id}/numbers/{number_id}/confirmation-requests",
    status_code=status.HTTP_201_CREATED,
    response_model=ConfirmationRequestOut,
)
def resend_request(
    company_id: RowId,
    number_id: RowId,
    session: SessionDep,
    clock: ClockDep,
    runtime: RuntimeDep,
    admin: Admin,
) -> ConfirmationRequestOut:
    """Ask the person again after they declined or did not answer in time."""
    ensure_company_visible(admin, company_id)
    number = get_number(session, number_id=number_id, subscriber_id=company_id, for_update=True)
    request = service.resend_request(
        session,
        number=number,
        actor=admin.actor,
        now=clock.now(),
        window=dt.timedelta(days=runtime.settings.confirmation_window_days),
    )
    return request_view(request)
