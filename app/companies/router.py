"""HTTP endpoints for operators, corporate subscribers and contracts."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, status

from app.auth.dependencies import PrincipalDep, ensure_company_visible, require
from app.auth.service import Principal, Role
from app.companies import service
from app.companies.schemas import (
    ContractCreate,
    ContractOut,
    LiquidationOut,
    LiquidationRequest,
    OperatorCreate,
    OperatorOut,
    OperatorWithKey,
    SubscriberCreate,
    SubscriberOut,
    SubscriberPage,
)
from app.core.deps import ClockDep, CursorDep, SessionDep
from app.core.errors import NotFound
from app.core.integers import RowId
from app.core.messages import Text

router = APIRouter(prefix="/api/v1", tags=["companies"])

_COMPANIES = {"list": "companies"}

Staff = Annotated[Principal, require(Role.OPERATOR_STAFF)]
StaffOrOperator = Annotated[Principal, require(Role.OPERATOR_STAFF, Role.OPERATOR_SYSTEM)]


@router.post("/operators", status_code=status.HTTP_201_CREATED, response_model=OperatorWithKey)
def create_operator(
    body: OperatorCreate, session: SessionDep, clock: ClockDep, _: Staff
) -> OperatorWithKey:
    """Add a mobile operator; the answer carries its API key, shown this once."""
    operator, key = service.create_operator(
        session, code=body.code, name=body.name, now=clock.now()
    )
    return OperatorWithKey(**OperatorOut.model_validate(operator).model_dump(), api_key=key)


@router.get("/operators", response_model=list[OperatorOut])
def list_operators(session: SessionDep, _: Staff) -> list[OperatorOut]:
    """Every operator."""
    return [OperatorOut.model_validate(o) for o in service.list_operators(session)]


@router.post("/operators/{operator_id}/api-key", response_model=OperatorWithKey)
def rotate_operator_key(operator_id: RowId, session: SessionDep, _: Staff) -> OperatorWithKey:
    """Issue a new API key for an operator; the previous one stops working."""
    operator, key = service.rotate_operator_key(session, operator_id=operator_id)
    return OperatorWithKey(**OperatorOut.model_validate(operator).model_dump(), api_key=key)


@router.post("/companies", status_code=status.HTTP_201_CREATED, response_model=SubscriberOut)
def create_company(
    body: SubscriberCreate, session: SessionDep, clock: ClockDep, _: Staff
) -> SubscriberOut:
    """Register a corporate subscriber (legal entity by a 10-digit INN, ИП by a 12-digit one)."""
    subscriber = service.create_subscriber(
        session, name=body.name, inn=body.inn, ogrn=body.ogrn, kpp=body.kpp, now=clock.now()
    )
    return SubscriberOut.model_validate(subscriber)


@router.get("/companies", response_model=SubscriberPage)
def list_companies(
    session: SessionDep,
    cursors: CursorDep,
    _: Staff,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> SubscriberPage:
    """Corporate subscribers, a page at a time."""
    after = int(cursors.decode(cursor, scope=_COMPANIES)["after"]) if cursor else None
    rows = service.list_subscribers(session, after_id=after, limit=limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = cursors.encode({"after": rows[-1].id, "scope": _COMPANIES}) if more else None
    return SubscriberPage(
        items=[SubscriberOut.model_validate(r) for r in rows], next_cursor=next_cursor
    )


@router.get("/companies/{company_id}", response_model=SubscriberOut)
def get_company(company_id: RowId, session: SessionDep, principal: PrincipalDep) -> SubscriberOut:
    """One corporate subscriber: staff see any, an admin only their own."""
    ensure_company_visible(principal, company_id)
    return SubscriberOut.model_validate(service.get_subscriber(session, subscriber_id=company_id))


@router.post("/companies/{company_id}/liquidation", response_model=LiquidationOut)
def liquidate_company(
    company_id: RowId,
    body: LiquidationRequest,
    session: SessionDep,
    clock: ClockDep,
    staff: Staff,
) -> LiquidationOut:
    """Mark a company liquidated; its numbers leave the corporate registry (`transferred`)."""
    subscriber, moved = service.liquidate_subscriber(
        session,
        subscriber_id=company_id,
        liquidated_on=body.liquidated_on,
        reason=body.reason,
        actor=staff.actor,
        now=clock.now(),
    )
    return LiquidationOut(
        subscriber=SubscriberOut.model_validate(subscriber), numbers_transferred=moved
    )


@router.post(
    "/companies/{company_id}/contracts",
    status_code=status.HTTP_201_CREATED,
    response_model=ContractOut,
)
def create_contract(
    company_id: RowId,
    body: ContractCreate,
    session: SessionDep,
    clock: ClockDep,
    caller: StaffOrOperator,
) -> ContractOut:
    """Record a contract; an operator system may only sign contracts for itself."""
    if caller.role is Role.OPERATOR_SYSTEM and caller.operator_id != body.operator_id:
        raise NotFound(Text("operator.not_found", operator_id=body.operator_id))
    contract = service.create_contract(
        session,
        subscriber_id=company_id,
        operator_id=body.operator_id,
        contract_no=body.contract_no,
        signed_on=body.signed_on,
        now=clock.now(),
    )
    return ContractOut.model_validate(contract)


@router.get("/companies/{company_id}/contracts", response_model=list[ContractOut])
def list_contracts(
    company_id: RowId, session: SessionDep, principal: PrincipalDep
) -> list[ContractOut]:
    """A company's contracts."""
    ensure_company_visible(principal, company_id)
    service.get_subscriber(session, subscriber_id=company_id)
    return [
        ContractOut.model_validate(c)
        for c in service.list_contracts(session, subscriber_id=company_id)
    ]
