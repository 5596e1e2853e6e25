"""Authentication and role checks as FastAPI dependencies."""

from __future__ import annotations

import math
from typing import Annotated

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from app.auth.service import Principal, Role, Tenants, TokenService, hash_api_key
from app.core.deps import RuntimeDep
from app.core.errors import Forbidden, NotFound, TooManyRequests, Unauthorized
from app.core.messages import Text
from app.core.rate_limit import RateLimits
from app.core.runtime import Runtime

_bearer = HTTPBearer(auto_error=False, description="JWT from the identity provider")
_api_key = APIKeyHeader(name="X-API-Key", auto_error=False, description="Operator system key")


async def get_token_service(request: Request) -> TokenService:
    """The process's token service."""
    service: TokenService = request.app.state.tokens
    return service


def _limits(request: Request) -> RateLimits:
    limits: RateLimits = request.app.state.limits
    return limits


def _tenants(request: Request) -> Tenants:
    tenants: Tenants = request.app.state.tenants
    return tenants


async def get_principal(
    request: Request,
    runtime: RuntimeDep,
    tokens: Annotated[TokenService, Depends(get_token_service)],
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    api_key: Annotated[str | None, Depends(_api_key)],
) -> Principal:
    """The caller, from a bearer JWT or an operator's X-API-Key; 401 when neither is valid.

    A valid credential is always let through. A failed sign-in is counted against the client
    address and against the credential tried; when either has failed too often, the answer is
    429 instead of 401 (someone may be guessing keys)."""
    if bearer is None and not api_key:
        raise Unauthorized(Text("auth.credential.missing"))
    try:
        if bearer is not None:
            if tokens.fetches_keys:  # a JWKS fetch must not stall the event loop
                principal = await run_in_threadpool(tokens.verify, bearer.credentials)
            else:
                principal = tokens.verify(bearer.credentials)
            if not tokens.scope_known(principal):
                # The database is asked once per company or operator and process.
                await run_in_threadpool(_check_scope, runtime, _tenants(request), tokens, principal)
            return principal
        # The key is looked up in the database: off the event loop.
        return await run_in_threadpool(_operator_by_key, runtime, _tenants(request), api_key or "")
    except Unauthorized:
        tried = f"bearer:{bearer.credentials}" if bearer is not None else f"key:{api_key}"
        _count_failed_sign_in(request, hash_api_key(tried))
        raise


def _count_failed_sign_in(request: Request, credential: str) -> None:
    """Spend one failure of the client's address and of the credential (its hash); 429 when
    either has none left."""
    limiter = _limits(request).failed_logins
    if limiter is None:
        return
    # The address the trusted proxy reported (SIMREG_TRUSTED_PROXIES), else the peer's.
    address = request.client.host if request.client else "unknown"
    wait = max(limiter.take("address:" + address), limiter.take("credential:" + credential))
    if wait:
        raise TooManyRequests(
            Text("auth.failures.too_many", seconds=math.ceil(wait)), retry_after=wait
        )


def _check_scope(
    runtime: Runtime, tenants: Tenants, tokens: TokenService, principal: Principal
) -> None:
    """Refuse a token for a company or an operator the registry does not hold: a token of the
    identity provider can name any id, and answering it as an empty company would say
    nothing was wrong."""
    company, operator = principal.company_id, principal.operator_id
    with runtime.sessions() as session:
        if company is not None and not tenants.has_company(session, company):
            raise Unauthorized(Text("auth.company.unknown", company_id=company))
        if operator is not None and not tenants.has_operator(session, operator):
            raise Unauthorized(Text("auth.operator.unknown", operator_id=operator))
    tokens.remember_scope(principal)


def _operator_by_key(runtime: Runtime, tenants: Tenants, api_key: str) -> Principal:
    with runtime.sessions() as session:
        operator = tenants.operator_with_key(session, hash_api_key(api_key))
    if operator is None:
        raise Unauthorized(Text("auth.api_key.unknown"))
    operator_id, code = operator
    return Principal(Role.OPERATOR_SYSTEM, f"operator:{code}", operator_id=operator_id)


PrincipalDep = Annotated[Principal, Depends(get_principal)]


def _ensure_role(principal: Principal, roles: tuple[Role, ...]) -> None:
    if principal.role not in roles:
        allowed = ", ".join(r.value for r in roles)
        raise Forbidden(Text("auth.role.not_allowed", allowed=allowed, role=principal.role.value))


def require(*roles: Role) -> object:
    """Dependency that lets only `roles` through (403 for any other valid caller)."""

    async def check(principal: PrincipalDep) -> Principal:
        _ensure_role(principal, roles)
        return principal

    return Depends(check)


def spend_person_request(request: Request, principal: Principal) -> None:
    """Count one read of a person against their rate limit (429 with Retry-After when spent):
    the /me endpoints and the person's pages share it."""
    limiter = _limits(request).person
    if limiter is not None and (wait := limiter.take(principal.subject)):
        raise TooManyRequests(
            Text("auth.requests.too_many", seconds=math.ceil(wait)), retry_after=wait
        )


async def get_person(principal: PrincipalDep, request: Request) -> Principal:
    """The person calling a /me endpoint, within their rate limit (429 with Retry-After)."""
    _ensure_role(principal, (Role.PERSON,))
    spend_person_request(request, principal)
    return principal


PersonCaller = Annotated[Principal, Depends(get_person)]


def ensure_company_visible(principal: Principal, company_id: int) -> None:
    """Staff see every company; an admin only their own (others answer 404, revealing nothing)."""
    if principal.role is Role.OPERATOR_STAFF:
        return
    if principal.role is Role.COMPANY_ADMIN and principal.company_id == company_id:
        return
    if principal.role is Role.COMPANY_ADMIN:
        raise NotFound(Text("company.not_found", company_id=company_id))
    raise Forbidden(Text("auth.role.no_company_data", role=principal.role.value))
