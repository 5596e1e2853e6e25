"""Request header limits: headers too large in total, or a credential too long to be one, are
refused with 431 problem+json before any middleware or dependency reads them (a 1 MB bearer
token would otherwise be parsed as a JWT and hashed as an API key)."""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Receive, Scope, Send

from app.core.errors import PROBLEM_JSON, TYPE_BASE
from app.core.messages import Language, Text, language_of

# Headers that carry a credential, each bounded on its own.
CREDENTIAL_HEADERS = (b"authorization", b"x-api-key")


class HeaderLimitMiddleware:
    """431 for a request whose headers pass `max_total` bytes (names and values), or whose
    Authorization or X-API-Key value passes `max_credential` bytes."""

    def __init__(self, app: ASGIApp, *, max_total: int, max_credential: int) -> None:
        self.app = app
        self.max_total = max_total
        self.max_credential = max_credential

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        total = 0
        asked = next((v for n, v in scope["headers"] if n == b"accept-language"), b"")
        # Only the start of Accept-Language is read: a huge one is itself refused here.
        language = language_of(asked[:256].decode("latin-1"))
        for name, value in scope["headers"]:
            total += len(name) + len(value)
            if name in CREDENTIAL_HEADERS and len(value) > self.max_credential:
                await _refuse(
                    send,
                    field=f"header.{name.decode()}",
                    detail=Text(
                        "problem.header-too-large.credential",
                        header=name.decode().title(),
                        limit=self.max_credential,
                    ),
                    limit=self.max_credential,
                    language=language,
                )
                return
        if total > self.max_total:
            await _refuse(
                send,
                field="headers",
                detail=Text("problem.header-too-large.total", limit=self.max_total),
                limit=self.max_total,
                language=language,
            )
            return
        await self.app(scope, receive, send)


async def _refuse(send: Send, *, field: str, detail: Text, limit: int, language: Language) -> None:
    words = detail(language)
    body = json.dumps(
        {
            "type": TYPE_BASE + "header-too-large",
            "title": Text("problem.header-too-large")(language),
            "status": 431,
            "detail": words,
            "errors": [{"field": field, "code": "header.too_large", "message": words}],
            "limit_bytes": limit,
        },
        ensure_ascii=False,
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 431,
            "headers": [
                (b"content-type", PROBLEM_JSON.encode()),
                (b"content-length", str(len(body)).encode()),
                (b"content-language", language.encode()),
                (b"vary", b"Accept-Language"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
