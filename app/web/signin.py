"""The way in and out: `/` leads to the sign-in page (or home), the sandbox sign-in with the demo
accounts (outside production), OpenID Connect sign-in, and sign-out."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.auth.service import Principal, Role, Tenants
from app.companies.models import CorporateSubscriber
from app.core.deps import RuntimeDep, SessionDep
from app.core.errors import NotFound, Unauthorized
from app.core.integers import RowId
from app.core.messages import Text
from app.core.runtime import Runtime
from app.people.models import Person
from app.sandbox.router import principal_for
from app.sandbox.schemas import SandboxTokenRequest
from app.web import oidc
from app.web.rendering import PageRoute, home_of, render, safe_next
from app.web.sessions import CsrfChecked, session_principal, sign_in, sign_out

router = APIRouter(route_class=PageRoute, include_in_schema=False)
# Outside production only: signing in as a demo account, without a password.
sandbox_router = APIRouter(route_class=PageRoute, include_in_schema=False)
_DEMO_ACCOUNTS = 12
STAFF_DEMO_SUBJECT = "staff@demo"


@router.get("/")
def front(request: Request) -> Response:
    """Home for the signed in, the sign-in page for everyone else."""
    principal = session_principal(request)
    return RedirectResponse(home_of(principal) if principal else "/sign-in", status_code=303)


def _demo_accounts(session: Session) -> dict[str, list[tuple[str, str]]]:
    companies = session.execute(
        select(CorporateSubscriber.id, CorporateSubscriber.name)
        .order_by(CorporateSubscriber.id)
        .limit(_DEMO_ACCOUNTS)
    ).all()
    people = session.execute(
        select(Person.portal_subject, Person.last_name, Person.first_name)
        .order_by(Person.id)
        .limit(_DEMO_ACCOUNTS)
    ).all()
    return {
        "admins": [(str(company_id), name) for company_id, name in companies],
        "people": [(subject, f"{last} {first}") for subject, last, first in people],
    }


@router.get("/sign-in", response_class=HTMLResponse)
def sign_in_page(
    request: Request, session: SessionDep, runtime: RuntimeDep, next: str | None = None
) -> Response:
    """Sign-in: the configured providers, and outside production the demo accounts."""
    settings = runtime.settings
    return render(
        request,
        "sign_in.html",
        providers=oidc.provider_names(settings),
        demo=_demo_accounts(session) if settings.is_sandbox else None,
        staff_subject=STAFF_DEMO_SUBJECT,
        next=safe_next(next) or "",
    )


def _after_sign_in(request: Request, principal: Principal, next_path: str | None) -> Response:
    sign_in(request, principal)
    return RedirectResponse(safe_next(next_path) or home_of(principal), status_code=303)


@sandbox_router.post("/sign-in/sandbox", dependencies=[CsrfChecked])
def sandbox_sign_in(
    request: Request,
    session: SessionDep,
    role: Annotated[Role, Form()],
    subject: Annotated[str | None, Form(max_length=200)] = None,
    company_id: Annotated[RowId | None, Form()] = None,
    next: Annotated[str | None, Form()] = None,
) -> Response:
    """Sign in as a demo account (dev and test only; production has no such door)."""
    if role is Role.OPERATOR_SYSTEM:
        raise Unauthorized(Text("page.sign_in.role_not_for_pages", role=role.value))
    wanted = SandboxTokenRequest(role=role, subject=subject or None, company_id=company_id)
    return _after_sign_in(request, principal_for(session, wanted), next)


def _provider(request: Request, name: str) -> oidc.OAuth:
    providers: oidc.OAuth = request.app.state.oidc
    if name not in oidc.provider_names(request.app.state.runtime.settings):
        raise NotFound(Text("page.not_found"))
    return providers


@router.get("/sign-in/oidc/{provider}")
async def oidc_start(request: Request, provider: str, next: str | None = None) -> Response:
    """To the provider's sign-in, with a PKCE challenge; back to the callback."""
    client = _provider(request, provider).create_client(provider)
    request.session["next"] = safe_next(next)
    callback = str(request.url_for("oidc_callback", provider=provider))
    response: Response = await client.authorize_redirect(request, callback)
    return response


@router.get("/sign-in/oidc/{provider}/callback", name="oidc_callback")
async def oidc_callback(request: Request, provider: str, runtime: RuntimeDep) -> Response:
    """The provider's answer: the code exchanged (with the PKCE verifier) and the ID token
    checked; then the session starts."""
    client = _provider(request, provider).create_client(provider)
    try:
        token = await client.authorize_access_token(request)
    except oidc.OAuthError as exc:
        # The provider's codes are for developers; a refusal at the provider is said in words.
        if exc.error == "access_denied":
            raise Unauthorized(Text("page.sign_in.denied")) from exc
        raise Unauthorized(Text("page.sign_in.failed", reason=exc.error or "")) from exc
    claims = dict(token.get("userinfo") or {})
    tenants: Tenants = request.app.state.tenants
    principal = await run_in_threadpool(_principal, runtime, provider, claims, tenants)
    return _after_sign_in(request, principal, request.session.get("next"))


def _principal(
    runtime: Runtime, provider: str, claims: dict[str, object], tenants: Tenants
) -> Principal:
    with runtime.sessions() as session:
        return oidc.principal_from_provider(provider, claims, session, tenants)


@router.post("/sign-out", dependencies=[CsrfChecked])
def sign_out_page(request: Request) -> Response:
    """End the session; back to the sign-in page."""
    sign_out(request)
    return RedirectResponse("/sign-in", status_code=303)
