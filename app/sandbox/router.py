"""The sandbox identity provider: mints tokens for demo people, admins and operators.

Mounted only outside production; there the path does not exist (404)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Depends
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.auth.dependencies import get_token_service
from app.auth.service import Principal, Role, TokenService
from app.companies.models import CorporateSubscriber, Operator
from app.companies.service import get_operator, get_subscriber
from app.core.deps import RuntimeDep, SessionDep
from app.core.errors import FieldProblem, InvalidInput, NotFound
from app.core.messages import Text
from app.people.models import Person
from app.people.service import find_person
from app.sandbox.schemas import SandboxToken, SandboxTokenRequest

router = APIRouter(prefix="/api/v1/sandbox", tags=["sandbox"])


def _missing(field: str) -> InvalidInput:
    why = Text(f"sandbox.token.needs.{field}")
    return InvalidInput(
        Text("sandbox.token.missing", field=field), errors=[FieldProblem(field, "missing", why)]
    )


@router.post("/tokens", response_model=SandboxToken)
def mint_token(
    body: SandboxTokenRequest,
    session: SessionDep,
    runtime: RuntimeDep,
    tokens: Annotated[TokenService, Depends(get_token_service)],
) -> SandboxToken:
    """A ready token for a role and subject (dev and test only)."""
    principal = principal_for(session, body)
    return _issue(tokens, principal, ttl_minutes=runtime.settings.sandbox_token_ttl_minutes)


def principal_for(session: Session, body: SandboxTokenRequest) -> Principal:
    """The principal a sandbox sign-in asks for, once its company, operator or person is
    known to the registry (the sandbox token and the sandbox sign-in page alike)."""
    subject = body.subject
    if body.role is Role.COMPANY_ADMIN:
        if body.company_id is None:
            raise _missing("company_id")
        get_subscriber(session, subscriber_id=body.company_id)
        principal = Principal(
            body.role, subject or f"admin@company-{body.company_id}", company_id=body.company_id
        )
    elif body.role is Role.OPERATOR_SYSTEM:
        if body.operator_id is None:
            raise _missing("operator_id")
        operator = get_operator(session, operator_id=body.operator_id)
        principal = Principal(
            body.role, subject or f"operator:{operator.code}", operator_id=operator.id
        )
    elif body.role is Role.PERSON:
        if not subject:
            raise _missing("subject")
        if find_person(session, portal_subject=subject) is None:
            raise NotFound(Text("sandbox.person.unknown", subject=subject))
        principal = Principal(body.role, subject)
    else:
        principal = Principal(body.role, subject or "staff@operator")
    return principal


def _issue(tokens: TokenService, principal: Principal, *, ttl_minutes: int) -> SandboxToken:
    # Token lifetimes run on the wall clock: a pinned demo clock must not expire them.
    now = dt.datetime.now(dt.UTC)
    ttl = dt.timedelta(minutes=ttl_minutes)
    return SandboxToken(
        access_token=tokens.mint(principal, now=now, ttl=ttl),
        expires_at=now + ttl,
        role=principal.role,
        subject=principal.subject,
    )


@router.get("/demo-tokens/{role}", response_model=SandboxToken)
def demo_token(
    role: Role,
    session: SessionDep,
    runtime: RuntimeDep,
    tokens: Annotated[TokenService, Depends(get_token_service)],
) -> SandboxToken:
    """A token for the demo data's own admin, person, operator or staff member."""
    principal = demo_principal(session, role)
    return _issue(tokens, principal, ttl_minutes=runtime.settings.sandbox_token_ttl_minutes)


def demo_principal(session: Session, role: Role) -> Principal:
    """The demo subject of a role: the first company, operator and person of the registry."""
    if role is Role.OPERATOR_STAFF:
        return Principal(role, "staff@demo")
    if role is Role.COMPANY_ADMIN:
        company_id = session.scalar(select(func.min(CorporateSubscriber.id)))
        if company_id is None:
            raise NotFound(Text("sandbox.demo.no_company"))
        return Principal(role, "admin@demo", company_id=company_id)
    if role is Role.OPERATOR_SYSTEM:
        operator = session.scalars(select(Operator).order_by(Operator.id).limit(1)).first()
        if operator is None:
            raise NotFound(Text("sandbox.demo.no_operator"))
        return Principal(role, f"operator:{operator.code}", operator_id=operator.id)
    subject = session.scalar(select(Person.portal_subject).order_by(Person.id).limit(1))
    if subject is None:
        raise NotFound(Text("sandbox.demo.no_person"))
    return Principal(role, subject)
