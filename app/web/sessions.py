"""Who is signed in to the pages: a signed session cookie, its CSRF token, and the checks.

The cookie (Starlette's SessionMiddleware, signed with SIMREG_SESSION_SECRET) is HttpOnly,
SameSite=Lax and, in production, Secure. It holds the principal and a CSRF token, no personal
data. A session ends SIMREG_SESSION_MINUTES after sign-in, on the wall clock.
"""

from __future__ import annotations

import hmac
import secrets
import time
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, Request

from app.auth.dependencies import spend_person_request
from app.auth.service import Principal, Role
from app.core.errors import Forbidden
from app.core.messages import Text

SESSION_COOKIE = "simreg_session"
_PRINCIPAL = "principal"
_CSRF = "csrf"
CSRF_FIELD = "csrf"


class SignInNeeded(Exception):
    """No live session: the page answers with the way to the sign-in page."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


def sign_in(request: Request, principal: Principal) -> None:
    """Start a session for `principal`, with a fresh CSRF token (nothing of an earlier session
    or of the sign-in's own state is kept)."""
    request.session.clear()
    request.session[_PRINCIPAL] = {
        "role": principal.role.value,
        "sub": principal.subject,
        "company_id": principal.company_id,
        "operator_id": principal.operator_id,
        "since": int(time.time()),
    }
    request.session[_CSRF] = secrets.token_urlsafe(24)


def sign_out(request: Request) -> None:
    """End the session."""
    request.session.clear()


def session_principal(request: Request) -> Principal | None:
    """The signed-in principal, or None when there is no session or it has ended."""
    stored: dict[str, Any] | None = request.session.get(_PRINCIPAL)
    if not stored:
        return None
    minutes: int = request.app.state.runtime.settings.session_minutes
    if time.time() - int(stored.get("since", 0)) > minutes * 60:
        request.session.clear()
        return None
    try:
        return Principal(
            Role(stored["role"]),
            str(stored["sub"]),
            company_id=stored.get("company_id"),
            operator_id=stored.get("operator_id"),
        )
    except (KeyError, ValueError):
        request.session.clear()
        return None


def csrf_token(request: Request) -> str:
    """The session's CSRF token, made on first use (the sign-in form needs one too)."""
    token: str | None = request.session.get(_CSRF)
    if not token:
        token = secrets.token_urlsafe(24)
        request.session[_CSRF] = token
    return token


async def check_csrf(request: Request) -> None:
    """Refuse a form sent without the session's CSRF token (403)."""
    form = await request.form()
    sent = form.get(CSRF_FIELD)
    expected = request.session.get(_CSRF)
    if not (isinstance(sent, str) and expected and hmac.compare_digest(sent, expected)):
        raise Forbidden(Text("page.csrf.refused"))


def _next_path(request: Request) -> str:
    query = request.url.query
    return request.url.path + (f"?{query}" if query else "")


async def get_page_principal(request: Request) -> Principal:
    """The signed-in caller of a page; without a session, the way to the sign-in page."""
    principal = session_principal(request)
    if principal is None:
        raise SignInNeeded(_next_path(request))
    return principal


PageCaller = Annotated[Principal, Depends(get_page_principal)]
CsrfChecked = Depends(check_csrf)


def page_role(*roles: Role) -> Any:
    """Dependency letting only `roles` see a page (403 for anyone else signed in)."""

    async def check(principal: PageCaller) -> Principal:
        if principal.role not in roles:
            raise Forbidden(Text("page.role.not_allowed"))
        return principal

    return Depends(check)


async def get_page_person(principal: PageCaller, request: Request) -> Principal:
    """A person on their own pages, within the same rate limit as the API's /me reads."""
    if principal.role is not Role.PERSON:
        raise Forbidden(Text("page.role.not_allowed"))
    spend_person_request(request, principal)
    return principal


PagePerson = Annotated[Principal, Depends(get_page_person)]


def sign_in_address(next_path: str) -> str:
    """The sign-in page, coming back to `next_path` after."""
    return "/sign-in?next=" + quote(next_path, safe="/")
