"""Authentication and role checks as FastAPI dependencies."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import select

from app.auth.service import Principal, Role, TokenService, hash_api_key
from app.companies.models import Operator
from app.core.deps import RuntimeDep
from app.core.errors import Forbidden, NotFound, Unauthorized

_bearer = HTTPBearer(auto_error=False, description="JWT from the identity provider")
_api_key = APIKeyHeader(name="X-API-Key", auto_error=False, description="Operator system key")


def get_token_service(request: Request) -> TokenService:
    """The process's token service."""
    service: TokenService = request.app.state.tokens
    return service


def get_principal(
    runtime: RuntimeDep,
    tokens: Annotated[TokenService, Depends(get_token_service)],
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    api_key: Annotated[str | None, Depends(_api_key)],
) -> Principal:
    """The caller, from a bearer JWT or an operator's X-API-Key; 401 when neither is valid."""
    if bearer is not None:
        return tokens.verify(bearer.credentials)
    if api_key:
        with runtime.sessions() as session:
            operator = session.scalars(
                select(Operator).where(Operator.api_key_hash == hash_api_key(api_key))
            ).one_or_none()
        if operator is None:
            raise Unauthorized("The X-API-Key is not known; ask operator staff for a new key.")
        return Principal(Role.OPERATOR_SYSTEM, f"operator:{operator.code}", operator_id=operator.id)
    raise Unauthorized("Send a bearer token (Authorization: Bearer …) or an operator X-API-Key.")


PrincipalDep = Annotated[Principal, Depends(get_principal)]


def require(*roles: Role) -> object:
    """Dependency that lets only `roles` through (403 for any other valid caller)."""

    def check(principal: PrincipalDep) -> Principal:
        if principal.role not in roles:
            allowed = ", ".join(r.value for r in roles)
            raise Forbidden(f"This needs the role {allowed}; your token is for {principal.role}.")
        return principal

    return Depends(check)


def ensure_company_visible(principal: Principal, company_id: int) -> None:
    """Staff see every company; an admin only their own (others answer 404, revealing nothing)."""
    if principal.role is Role.OPERATOR_STAFF:
        return
    if principal.role is Role.COMPANY_ADMIN and principal.company_id == company_id:
        return
    if principal.role is Role.COMPANY_ADMIN:
        raise NotFound(f"Company {company_id} was not found.")
    raise Forbidden(f"The role {principal.role} has no access to companies' data.")
