"""The real identity portal over HTTP, and the signed wire format of its answers.

Wire format (the registry's side of the integration contract):

- ``POST {base}/v1/confirmation-requests`` with a JSON list of requests; the answer is
  ``{"results": [{"request_id", "portal_request_id"} | {"request_id", "status", "error"}]}``.
- ``GET {base}/v1/answers?limit=N`` gives ``{"answers": [...]}``; each answer is signed:
  ``signature`` = hex HMAC-SHA256, keyed with SIMREG_PORTAL_SIGNING_SECRET, of the answer's
  canonical JSON (every other field, keys sorted, no spaces, UTF-8).
- ``POST {base}/v1/answers/ack`` with ``{"ids": [portal_request_id, ...]}`` once stored.

Answers carry the person's verified passport and birth date: they are hashed on arrival and
never logged; a rejected answer is logged by its reason alone.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from typing import Any

import httpx
import structlog
from prometheus_client import Counter

from app.config import Environment, Settings
from app.portal.port import (
    InvalidPortalMessage,
    PortalAnswerMessage,
    PortalConfigError,
    PortalRequest,
    PortalUnavailable,
    SendOutcome,
    VerifiedIdentity,
)

log = structlog.get_logger("simreg.portal")

ANSWERS_REJECTED = Counter(
    "simreg_portal_answers_rejected_total",
    "Answers from the identity portal refused for a bad signature or shape.",
    ["reason"],
)

_MAX_ID = 64  # the width of portal_request_id and portal_subject columns
_VERIFIED_TEXT = ("last_name", "first_name", "birth_date", "doc_type", "doc_number")


def signing_secret(settings: Settings) -> str:
    """The answers' HMAC key; production refuses the development default."""
    default = Settings.model_fields["portal_signing_secret"].default
    if settings.env is Environment.PRODUCTION and settings.portal_signing_secret == default:
        raise PortalConfigError(
            "production refuses the development default of SIMREG_PORTAL_SIGNING_SECRET; "
            "set it to the key agreed with the identity portal"
        )
    return settings.portal_signing_secret


def canonical_json(answer: Mapping[str, Any]) -> bytes:
    """The bytes that are signed: every field but `signature`, keys sorted, no spaces."""
    body = {key: value for key, value in answer.items() if key != "signature"}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def sign_answer(answer: Mapping[str, Any], secret: str) -> str:
    """Hex HMAC-SHA256 of the answer's canonical JSON (what the portal puts in `signature`)."""
    return hmac.new(secret.encode(), canonical_json(answer), hashlib.sha256).hexdigest()


def _text(data: Mapping[str, Any], key: str, *, optional: bool = False) -> str | None:
    value = data.get(key)
    if value is None and optional:
        return None
    if not isinstance(value, str) or (not optional and not value.strip()):
        raise InvalidPortalMessage(f"field '{key}' is missing or not text", reason="shape")
    return value


def _verified(data: object) -> VerifiedIdentity:
    if not isinstance(data, Mapping):
        raise InvalidPortalMessage("field 'verified' is not an object", reason="shape")
    fields = {key: _text(data, key) for key in _VERIFIED_TEXT}
    birth_date = str(fields["birth_date"])
    try:
        dt.date.fromisoformat(birth_date)
    except ValueError as exc:
        raise InvalidPortalMessage("'verified.birth_date' is not a date", reason="shape") from exc
    return VerifiedIdentity(
        last_name=str(fields["last_name"]),
        first_name=str(fields["first_name"]),
        patronymic=_text(data, "patronymic", optional=True),
        birth_date=birth_date,
        doc_type=str(fields["doc_type"]),
        # A foreign document may have no series.
        doc_series=_text(data, "doc_series", optional=True) or "",
        doc_number=str(fields["doc_number"]),
    )


def parse_answer(data: object) -> PortalAnswerMessage:
    """Check the shape of one answer (signature already verified); InvalidPortalMessage if bad."""
    if not isinstance(data, Mapping):
        raise InvalidPortalMessage("an answer is not a JSON object", reason="shape")
    portal_request_id = str(_text(data, "portal_request_id"))
    portal_subject = str(_text(data, "portal_subject"))
    if len(portal_request_id) > _MAX_ID or len(portal_subject) > _MAX_ID:
        raise InvalidPortalMessage("an id is longer than 64 characters", reason="shape")
    request_id = str(_text(data, "request_id"))
    answer = data.get("answer")
    if answer not in ("confirmed", "declined"):
        raise InvalidPortalMessage("field 'answer' is not confirmed/declined", reason="shape")
    raw_verified = data.get("verified")
    if answer == "confirmed" and raw_verified is None:
        raise InvalidPortalMessage("a confirmation without verified data", reason="shape")
    verified = _verified(raw_verified) if raw_verified is not None else None
    return PortalAnswerMessage(
        portal_request_id=portal_request_id,
        request_id=request_id,
        answer="confirmed" if answer == "confirmed" else "declined",
        portal_subject=portal_subject,
        verified=verified,
    )


def verify_signed_answer(data: object, secret: str) -> PortalAnswerMessage:
    """Verify the signature, then the shape; InvalidPortalMessage names which one failed."""
    if not isinstance(data, Mapping):
        raise InvalidPortalMessage("an answer is not a JSON object", reason="shape")
    signature = data.get("signature")
    if not isinstance(signature, str):
        raise InvalidPortalMessage("the answer carries no signature", reason="signature")
    try:
        expected = sign_answer(data, secret)
    except (TypeError, ValueError) as exc:
        # Values JSON cannot encode cannot have been signed by the portal.
        raise InvalidPortalMessage("the answer cannot be canonicalised", reason="shape") from exc
    if not hmac.compare_digest(expected, signature.lower()):
        raise InvalidPortalMessage("the answer's signature does not match", reason="signature")
    return parse_answer(data)


def count_rejected(exc: InvalidPortalMessage, *, source: str) -> None:
    """Count and log one refused answer: the reason only, never a field of the answer."""
    ANSWERS_REJECTED.labels(reason=exc.reason).inc()
    log.warning("portal answer rejected", reason=exc.reason, source=source)


class HttpPortal:
    """The identity portal's HTTP API (see the module docstring for the wire format)."""

    def __init__(
        self,
        base_url: str,
        *,
        api_key: str,
        signing_secret: str,
        timeout: float,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._secret = signing_secret
        self._client = httpx.Client(
            base_url=base_url.rstrip("/"),
            timeout=timeout,
            headers={"Authorization": f"Bearer {api_key}"},
            transport=transport,
        )

    def close(self) -> None:
        """Release the connection pool."""
        self._client.close()

    def __enter__(self) -> HttpPortal:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self._client.request(method, path, **kwargs)
        except httpx.TimeoutException as exc:
            raise PortalUnavailable(f"{method} {path} timed out") from exc
        except httpx.TransportError as exc:
            raise PortalUnavailable(f"{method} {path} failed: {type(exc).__name__}") from exc
        # Our key refused, throttled or a server fault: the requests themselves may be fine,
        # so they wait for a retry rather than being marked as refused.
        if response.status_code >= 500 or response.status_code in (401, 403, 408, 429):
            raise PortalUnavailable(f"{method} {path} answered {response.status_code}")
        return response

    def send(self, requests: Sequence[PortalRequest]) -> list[SendOutcome]:
        """POST the requests; per-item 4xx are refusals, per-item 5xx/429 are retryable."""
        if not requests:
            return []
        response = self._call(
            "POST", "/v1/confirmation-requests", json=[asdict(r) for r in requests]
        )
        if response.status_code >= 400:
            # The batch as a whole was refused (400, 413, 422 …): each request is refused.
            return [
                SendOutcome(r.request_id, None, f"portal refused: {response.status_code}", False)
                for r in requests
            ]
        try:
            results = response.json()["results"]
            by_id = {str(item["request_id"]): item for item in results}
        except (ValueError, KeyError, TypeError) as exc:
            # We cannot tell which requests were taken; resending is safe (idempotent ids).
            raise PortalUnavailable("the portal's send response could not be read") from exc
        return [self._outcome(r.request_id, by_id.get(r.request_id)) for r in requests]

    @staticmethod
    def _outcome(request_id: str, item: Mapping[str, Any] | None) -> SendOutcome:
        if item is None:
            return SendOutcome(request_id, None, "no result from the portal", True)
        portal_id = item.get("portal_request_id")
        if isinstance(portal_id, str) and portal_id and len(portal_id) <= _MAX_ID:
            return SendOutcome(request_id, portal_id, None, False)
        status = item.get("status")
        code = status if isinstance(status, int) else 400
        error = str(item.get("error") or f"refused with {code}")[:500]
        return SendOutcome(request_id, None, error, code >= 500 or code == 429)

    def fetch_answers(self, *, limit: int = 1000) -> list[PortalAnswerMessage]:
        """GET the waiting answers; a bad one is skipped, counted and logged, never raised."""
        response = self._call("GET", "/v1/answers", params={"limit": limit})
        try:
            raw = response.json()["answers"]
            if not isinstance(raw, list):
                raise TypeError("answers is not a list")
        except (ValueError, KeyError, TypeError) as exc:
            raise PortalUnavailable("the portal's answers could not be read") from exc
        messages: list[PortalAnswerMessage] = []
        for item in raw:
            try:
                messages.append(verify_signed_answer(item, self._secret))
            except InvalidPortalMessage as exc:
                # Left unacknowledged: if our key is the one that is wrong, the answer is
                # still there once the key is fixed.
                count_rejected(exc, source="fetch")
        return messages

    def acknowledge(self, portal_request_ids: Sequence[str]) -> None:
        """POST the ids of stored answers so the portal stops handing them out."""
        if not portal_request_ids:
            return
        response = self._call("POST", "/v1/answers/ack", json={"ids": list(portal_request_ids)})
        if response.status_code >= 400:
            # Unacknowledged answers come again and are recorded as duplicates: harmless.
            log.warning("portal refused the acknowledgement", status=response.status_code)
