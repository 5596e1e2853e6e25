"""What the cabinet's pages share: who may open them, and a refused action told after its
redirect."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlalchemy.orm import Session

from app.auth.service import Principal, Role
from app.core.errors import DomainError, Forbidden, NotFound, Unauthorized
from app.core.messages import Language, Text, word
from app.web.rendering import PageRoute, flash, render
from app.web.sessions import page_role

# Reading a company's pages: its admin, or operator staff (the API's `Reader`).
Reader = Annotated[Principal, page_role(Role.COMPANY_ADMIN, Role.OPERATOR_STAFF)]
# Acting for a company (uploading, resending, deciding a claim): its admin alone, as in the API.
Admin = Annotated[Principal, page_role(Role.COMPANY_ADMIN)]


def page_router() -> APIRouter:
    """A router of cabinet pages: errors as pages, no session leads to the sign-in page."""
    return APIRouter(route_class=PageRoute, include_in_schema=False)


def base(company_id: int) -> str:
    """The cabinet's address."""
    return f"/companies/{company_id}"


def see_other(path: str) -> RedirectResponse:
    """After a form: to the page that shows its outcome."""
    return RedirectResponse(path, status_code=303)


def told_refusal(
    request: Request, session: Session, exc: DomainError, code: str, language: Language
) -> None:
    """An action the rules refused: nothing of it is kept, and the reason is shown on the next
    page. Not seeing the company or the thing (404, 403) stays an error page."""
    if isinstance(exc, NotFound | Forbidden | Unauthorized):
        raise exc
    session.rollback()
    flash(request, Text(code, reason=word(exc.detail, language)))


def cabinet_page(
    request: Request, name: str, company_id: int, *, status_code: int = 200, **context: Any
) -> HTMLResponse:
    """A page of the company's cabinet (its links start at `cabinet`)."""
    return render(
        request,
        name,
        status_code=status_code,
        company_id=company_id,
        cabinet=base(company_id),
        **context,
    )
