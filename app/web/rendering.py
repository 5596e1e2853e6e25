"""Rendering pages: the Jinja2 templates, the words they say, and errors as pages.

Templates say every word through `t(code, **values)` from the message catalogs (area `page`),
in the request's language: Russian unless `Accept-Language` prefers English.
"""

from __future__ import annotations

import datetime as dt
import inspect
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.routing import APIRoute
from fastapi.templating import Jinja2Templates
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.auth.service import Principal, Role
from app.core.clock import moscow_day, moscow_moment
from app.core.errors import DomainError
from app.core.messages import Language, Text, request_language, say, word
from app.web.sessions import (
    CSRF_FIELD,
    SignInNeeded,
    csrf_token,
    session_principal,
    sign_in_address,
)

_HERE = Path(__file__).parent
templates = Jinja2Templates(directory=_HERE / "templates")
# Pages carry personal data and forms: nothing from elsewhere runs or frames them.
_PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; "
    "frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    "Vary": "Accept-Language, Cookie",
}


def home_of(principal: Principal) -> str:
    """Where a signed-in person starts."""
    if principal.role is Role.COMPANY_ADMIN:
        return f"/companies/{principal.company_id}"
    if principal.role is Role.PERSON:
        return "/me"
    if principal.role is Role.OPERATOR_STAFF:
        return "/staff"
    return "/sign-in"


def _words(language: Language) -> Callable[..., str]:
    def t(code: str, /, **values: object) -> str:
        return say(code, language, **values)

    return t


def grouped(value: int | None) -> str:
    """1 234 567, as Russian writes large numbers (a narrow no-break space)."""
    return "—" if value is None else f"{value:,}".replace(",", "\u202f")


def _date(value: dt.date | dt.datetime | None) -> str:
    if value is None:
        return "—"
    if isinstance(value, dt.datetime):
        # Stored in UTC; people in Russia read Moscow time.
        moment = value if value.tzinfo else value.replace(tzinfo=dt.UTC)
        return moscow_moment(moment)
    return value.strftime("%d.%m.%Y")


def _day(value: dt.datetime | None) -> str:
    """A moment's day in Moscow: a deadline, say."""
    if value is None:
        return "—"
    return moscow_day(value if value.tzinfo else value.replace(tzinfo=dt.UTC))


templates.env.filters["grouped"] = grouped
templates.env.filters["day"] = _day
templates.env.filters["date"] = _date


def render(request: Request, name: str, *, status_code: int = 200, **context: Any) -> HTMLResponse:
    """The page `name` in the request's language, with who is signed in and their CSRF token."""
    language = request_language(request)
    principal = context.pop("principal", None) or session_principal(request)
    response = templates.TemplateResponse(
        request,
        name,
        {
            "t": _words(language),
            "w": lambda text: word(text, language),
            "lang": language,
            "principal": principal,
            "home": home_of(principal) if principal else "/sign-in",
            "csrf_field": CSRF_FIELD,
            "csrf": csrf_token(request),
            "flash": take_flash(request, language),
            **context,
        },
        status_code=status_code,
    )
    response.headers.update(_PAGE_HEADERS)
    response.headers["Content-Language"] = language
    return response


def error_page(request: Request, exc: DomainError) -> HTMLResponse:
    """A domain error as a page: its title and detail in the reader's language."""
    language = request_language(request)
    response = render(
        request,
        "error.html",
        status_code=exc.status,
        title=say(f"problem.{exc.type_slug}", language),
        detail=word(exc.detail, language),
        problems=[problem.as_dict(language) for problem in exc.errors],
    )
    if retry := exc.extra.get("retry_after"):
        response.headers["Retry-After"] = str(retry)
    return response


def _invalid_form(request: Request, exc: RequestValidationError) -> HTMLResponse:
    language = request_language(request)
    fields = [".".join(str(part) for part in err["loc"][1:]) for err in exc.errors()]
    return render(
        request,
        "error.html",
        status_code=422,
        title=say("problem.invalid-input", language),
        detail=say("page.form.invalid", language, fields=", ".join(fields)),
        problems=[],
    )


class PageRoute(APIRoute):
    """A page's route: errors answer as pages, and no session leads to the sign-in page."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def page_handler(request: Request) -> Response:
            try:
                return await handler(request)
            except SignInNeeded as needed:
                return RedirectResponse(sign_in_address(needed.next_path), status_code=303)
            except DomainError as exc:
                return error_page(request, exc)
            except RequestValidationError as exc:
                return _invalid_form(request, exc)

        return page_handler


def safe_next(path: str | None) -> str | None:
    """A path of this site to come back to (never another site's address)."""
    if path and path.startswith("/") and not path.startswith("//") and "\\" not in path:
        return path
    return None


def flash(request: Request, text: Text) -> None:
    """A message shown once on the next page (a form's outcome, after its redirect)."""
    request.session["flash"] = text.as_dict()


def take_flash(request: Request, language: Language) -> str | None:
    """The waiting message, worded, and forgotten."""
    stored = request.session.pop("flash", None)
    return Text.from_dict(stored)(language) if stored else None


def _wants_page(request: Request) -> bool:
    return not request.url.path.startswith("/api/") and "text/html" in request.headers.get(
        "accept", ""
    )


def install_page_errors(app: FastAPI) -> None:
    """A browser asking for an address that is not there gets a page; everyone else keeps
    the API's problem+json."""
    api_handler = app.exception_handlers[StarletteHTTPException]

    async def http_error(request: Request, exc: Exception) -> Response:
        if isinstance(exc, StarletteHTTPException) and _wants_page(request):
            language = request_language(request)
            slug = "not-found" if exc.status_code == 404 else "http-error"
            detail = (
                say("page.not_found", language)
                if exc.status_code == 404
                else say("problem.http-error.detail", language, status=exc.status_code)
            )
            return render(
                request,
                "error.html",
                status_code=exc.status_code,
                title=say(f"problem.{slug}", language),
                detail=detail,
                problems=[],
            )
        answer = api_handler(request, exc)
        return await answer if inspect.isawaitable(answer) else answer

    app.add_exception_handler(StarletteHTTPException, http_error)
