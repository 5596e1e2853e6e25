"""Opaque, signed keyset cursors: a tampered cursor is refused, not misread."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from typing import Any

from app.core.errors import BadRequest, FieldProblem
from app.core.messages import Text

_BAD = Text("problem.bad-request.cursor")


class CursorCodec:
    """Turns a position into a signed token and back."""

    def __init__(self, secret: str) -> None:
        self._key = secret.encode()

    def _sign(self, payload: bytes) -> bytes:
        return hmac.new(self._key, payload, hashlib.sha256).digest()[:16]

    def encode(self, position: dict[str, Any]) -> str:
        """Sign a position and make it URL-safe."""
        payload = json.dumps(position, separators=(",", ":"), sort_keys=True).encode()
        return base64.urlsafe_b64encode(self._sign(payload) + payload).decode().rstrip("=")

    def decode(self, token: str, *, scope: dict[str, Any] | None = None) -> dict[str, Any]:
        """Verify and read a cursor; BadRequest naming the `cursor` parameter when it fails.

        A cursor minted for another listing (`scope`) is refused like a tampered one."""
        problem = FieldProblem("cursor", "cursor.invalid", Text("cursor.invalid"))
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        except (binascii.Error, ValueError) as exc:
            raise BadRequest(_BAD, errors=[problem]) from exc
        signature, payload = raw[:16], raw[16:]
        if len(signature) < 16 or not hmac.compare_digest(signature, self._sign(payload)):
            raise BadRequest(_BAD, errors=[problem])
        position: dict[str, Any] = json.loads(payload)
        if scope is not None and position.get("scope") != scope:
            raise BadRequest(_BAD, errors=[problem])
        return position
