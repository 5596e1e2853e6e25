"""Request header limits: headers too large in total, or a credential too long to be one, are
refused with 431 problem+json before any middleware or dependency reads them (a 1 MB bearer
token would otherwise be parsed as a JWT and hashed as an API key)."""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Receive, Scope, Send

from app.core.errors import PROBLEM_JSON, TYPE_BASE

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
        for name, value in scope["headers"]:
            total += len(name) + len(value)
            if name in CREDENTIAL_HEADERS and len(value) > self.max_credential:
                await _refuse(
                    send,
                    field=f"header.{name.decode()}",
                    detail=f"The {name.decode().title()} header is over {self.max_credential} "
                    "bytes, longer than any credential the registry issues or accepts; send "
                    "the token or key itself.",
                    limit=self.max_credential,
                )
                return
        if total > self.max_total:
            await _refuse(
                send,
                field="headers",
                detail=f"The request's headers are over {self.max_total} bytes in all; send "
                "fewer or shorter headers (cookies of other sites, repeated headers).",
                limit=self.max_total,
            )
            return
        await self.app(scope, receive, send)


async def _refuse(send: Send, *, field: str, detail: str, limit: int) -> None:
    body = json.dumps(
        {
            "type": TYPE_BASE + "header-too-large",
            "title": "Request header fields too large",
            "status": 431,
            "detail": detail,
            "errors": [{"field": field, "code": "header.too_large", "message": detail}],
            "limit_bytes": limit,
        }
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 431,
            "headers": [
                (b"content-type", PROBLEM_JSON.encode()),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
