"""Domain errors and their RFC 9457 problem+json rendering."""

from __future__ import annotations

import math
import traceback
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.core.messages import Language, Text, codes, language_of, request_language, say, word

PROBLEM_JSON = "application/problem+json"
TYPE_BASE = "https://simreg.dev/problems/"
_log = structlog.get_logger("simreg.errors")


@dataclass(frozen=True)
class FieldProblem:
    """One field that is wrong and what to do about it."""

    field: str
    code: str
    message: str | Text

    def as_dict(self, language: Language | None = None) -> dict[str, str]:
        """Shape used in the `errors` member of a problem, worded in `language`."""
        message = word(self.message, language) if language else word(self.message)
        return {"field": self.field, "code": self.code, "message": message}


class DomainError(Exception):
    """Base of the errors the API turns into problem+json. The title is the catalog's
    `problem.<type_slug>`; the detail a :class:`Text` worded in the caller's language."""

    status: int = 400
    type_slug: str = "bad-request"

    def __init__(
        self, detail: str | Text, *, errors: list[FieldProblem] | None = None, **extra: Any
    ) -> None:
        super().__init__(word(detail, "en"))
        self.detail = detail
        self.errors = errors or []
        self.extra = extra


class InvalidInput(DomainError):
    """Input that parses but breaks a rule: a wrong check digit, a date in the future."""

    status = 422
    type_slug = "invalid-input"


class BadRequest(DomainError):
    """A request that cannot be read at all, or a tampered cursor."""

    status = 400
    type_slug = "bad-request"


class NotFound(DomainError):
    """Missing, or not visible to the caller: both answer 404 so tenants learn nothing."""

    status = 404
    type_slug = "not-found"


class Conflict(DomainError):
    """The request clashes with what is stored (a duplicate number, a state)."""

    status = 409
    type_slug = "conflict"


class PreconditionFailed(DomainError):
    """An If-Match that no longer matches: what the caller read has changed since."""

    status = 412
    type_slug = "precondition-failed"


class Unauthorized(DomainError):
    """No valid credentials."""

    status = 401
    type_slug = "unauthorized"


class Forbidden(DomainError):
    """Valid credentials, but this role may not do this."""

    status = 403
    type_slug = "forbidden"


class TooManyRequests(DomainError):
    """Over a rate limit; `retry_after` seconds until the next attempt is let through."""

    status = 429
    type_slug = "too-many-requests"

    def __init__(self, detail: str | Text, *, retry_after: float) -> None:
        self.retry_after = max(1, math.ceil(retry_after))
        super().__init__(detail, retry_after_seconds=self.retry_after)


class DatabaseUnavailable(DomainError):
    """The database does not answer (restarting, unreachable); the client retries."""

    status = 503
    type_slug = "database-unavailable"
    retry_after = 5

    def __init__(self, cause: str = "") -> None:
        super().__init__(Text("problem.database-unavailable.detail"))
        self.cause = cause


class PayloadTooLarge(DomainError):
    """The body is over a size limit."""

    status = 413
    type_slug = "payload-too-large"


class BodyTooLarge(Exception):
    """The body went over its limit while streaming (BodyLimitMiddleware answers 413)."""


def problem_response(
    *,
    status: int,
    type_slug: str,
    detail: str | Text,
    language: Language,
    instance: str | None = None,
    errors: list[dict[str, str]] | None = None,
    extra: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    """Build one problem+json response, its title and detail worded in `language`."""
    body: dict[str, Any] = {
        "type": TYPE_BASE + type_slug,
        "title": say(f"problem.{type_slug}", language),
        "status": status,
        "detail": word(detail, language),
    }
    if instance:
        body["instance"] = instance
    if errors:
        body["errors"] = errors
    if extra:
        body.update(extra)
    headers = {**(headers or {}), "Content-Language": language, "Vary": "Accept-Language"}
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def _location(loc: tuple[Any, ...] | list[Any]) -> str:
    parts = [str(p) for p in loc if p not in ("body",)]
    return ".".join(parts) or "body"


def install_problem_handlers(app: FastAPI) -> None:
    """Answer every error, ours or the framework's, as problem+json."""
    handlers: dict[type[Exception], Callable[[Request, Any], Awaitable[JSONResponse]]] = {
        DomainError: _domain,
        RequestValidationError: _validation,
        OperationalError: _database_down,
        DBAPIError: _database_error,
        IntegrityError: _integrity,
        Exception: _unexpected,
        StarletteHTTPException: _http,
    }
    for error, handler in handlers.items():
        app.add_exception_handler(error, handler)


async def _domain(request: Request, exc: DomainError) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
    if isinstance(exc, TooManyRequests | DatabaseUnavailable):
        headers = {"Retry-After": str(exc.retry_after)}
    if isinstance(exc, DatabaseUnavailable):
        _log.error("database unavailable", path=request.url.path, error=exc.cause)
    language = request_language(request)
    return problem_response(
        status=exc.status,
        type_slug=exc.type_slug,
        detail=exc.detail,
        language=language,
        instance=request.url.path,
        errors=[e.as_dict(language) for e in exc.errors],
        extra=exc.extra,
        headers=headers,
    )


async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
    language = request_language(request)
    errors = [field_problem(err, language) for err in exc.errors()]
    if any(e["code"] == "json_invalid" for e in errors):
        return problem_response(
            status=400,
            type_slug="malformed-json",
            detail=Text("problem.malformed-json.detail"),
            language=language,
            instance=request.url.path,
            errors=errors,
        )
    return problem_response(
        status=422,
        type_slug="invalid-input",
        detail=Text("problem.invalid-input.detail", count=len(errors)),
        language=language,
        instance=request.url.path,
        errors=errors,
    )


def field_problem(err: Mapping[str, Any], language: Language) -> dict[str, str]:
    """One of pydantic's errors as the problem's `errors` item, worded from the catalog
    (`validation.<type>`, with pydantic's context values) where it has the type; pydantic's
    own English words otherwise. A validator of ours raises ValueError (or fails an assert)
    with a catalog code, which is worded itself."""
    kind = str(err.get("type", "invalid"))
    context = {key: _plain(value) for key, value in (err.get("ctx") or {}).items()}
    if language == "ru" and isinstance(context.get("expected"), str):
        # pydantic lists the allowed values as "'a', 'b' or 'c'"
        context["expected"] = str(context["expected"]).replace("' or '", "' или '")
    own = str(context.get("error", "")) if kind in _OWN_VALIDATORS else ""
    try:
        if own in codes(language):
            message = say(own, language)
        else:
            message = say(f"validation.{kind}", language, **context)
    except (KeyError, IndexError):
        message = str(err.get("msg", "invalid value"))
    location = list(err.get("loc", ()))
    if kind in _TAGGED:  # the field that picks the variant is what is wrong, not the body
        location.append(str(context.get("discriminator", "")).strip("'"))
    return {"field": _location(location), "code": kind, "message": message}


_OWN_VALIDATORS = ("value_error", "assertion_error")
_TAGGED = ("union_tag_invalid", "union_tag_not_found")


def _plain(value: object) -> object:
    """A context value as the message shows it (numbers as they are, the rest as text)."""
    return value if isinstance(value, int | float | str) else str(value)


async def _database_down(request: Request, exc: DBAPIError) -> JSONResponse:
    return await _domain(request, DatabaseUnavailable(type(exc.orig).__name__))


async def _database_error(request: Request, exc: DBAPIError) -> JSONResponse:
    # A connection cut by a database restart can surface as another DBAPI error class.
    if exc.connection_invalidated:
        return await _database_down(request, exc)
    return await _unexpected(request, exc)


async def _integrity(request: Request, exc: IntegrityError) -> JSONResponse:
    # A concurrent request stored the same thing first; the checks before it could not see it.
    _log.warning("integrity conflict", path=request.url.path, error=type(exc.orig).__name__)
    return problem_response(
        status=409,
        type_slug="conflict",
        detail=Text("problem.conflict.concurrent"),
        language=request_language(request),
        instance=request.url.path,
    )


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    # The last resort, outside every middleware; UnexpectedErrorMiddleware answers first.
    _log_unexpected(request.url.path, exc)
    return internal_error(request.url.path, request_language(request))


_HTTP_SLUGS = {404: "not-found", 405: "method-not-allowed", 401: "unauthorized"}


async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    slug = _HTTP_SLUGS.get(exc.status_code, "http-error")
    language = request_language(request)
    detail = (
        Text(f"problem.{slug}.detail", method=request.method, path=request.url.path)
        if exc.status_code in _HTTP_SLUGS
        else Text("problem.http-error.detail", status=exc.status_code)
    )
    return problem_response(
        status=exc.status_code,
        type_slug=slug,
        detail=detail,
        language=language,
        instance=request.url.path,
        headers=dict(exc.headers) if exc.headers else None,
    )


def internal_error(path: str, language: Language) -> JSONResponse:
    """The 500 problem: no stack trace, no message of the exception."""
    return problem_response(
        status=500,
        type_slug="internal-error",
        detail=Text("problem.internal-error.detail"),
        language=language,
        instance=path,
    )


def _log_unexpected(path: str, exc: BaseException) -> None:
    # The exception's message may quote a value of the request (personal data): the log gets
    # its type and where it was raised, which is enough to find it.
    frames = traceback.extract_tb(exc.__traceback__)
    where = f"{frames[-1].filename}:{frames[-1].lineno}" if frames else ""
    _log.error("unexpected error", path=path, error=type(exc).__name__, where=where)


class UnexpectedErrorMiddleware:
    """Answers an exception no handler took with the 500 problem, from inside the middlewares,
    so that a 500 carries the security headers and the request id like every other answer
    (Starlette's own last-resort handler answers from outside all of them)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except BodyTooLarge:
            raise
        except Exception as exc:
            if started:  # too late for another answer: the server cuts the connection
                raise
            _log_unexpected(scope["path"], exc)
            language = language_of(Headers(scope=scope).get("accept-language"))
            await internal_error(scope["path"], language)(scope, receive, send)
