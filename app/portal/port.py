"""The port to the identity portal (ЕСИА / Госуслуги): what the registry sends and receives.

The portal is outside the project (DOMAIN.md, "The actors"). Everything the registry needs
from it fits in three calls: hand over confirmation requests, fetch the persons' answers, and
acknowledge the answers once they are stored. Delivery of answers is at least once: an answer
stays with the portal until acknowledged, so a crash between fetching and committing loses
nothing, and recording an answer twice changes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Protocol

if TYPE_CHECKING:
    from app.core.runtime import Runtime

AnswerKind = Literal["confirmed", "declined"]


@dataclass(frozen=True)
class PortalRequest:
    """What goes to the portal for one ConfirmationRequest: the company's claim about a person.

    The portal needs the document and birth date to find the person's account; this object is
    built in memory right before sending and never stored or logged.
    """

    request_id: str  # ours: f"cr-{confirmation_request.id}"; the portal deduplicates on it
    msisdn: str
    company_name: str
    company_inn: str
    last_name: str
    first_name: str
    patronymic: str | None
    birth_date: str  # ISO date
    doc_type: str
    doc_series: str
    doc_number: str
    snils: str | None


@dataclass(frozen=True)
class VerifiedIdentity:
    """The person's data as the portal verified them (not what the company typed)."""

    last_name: str
    first_name: str
    patronymic: str | None
    birth_date: str  # ISO date
    doc_type: str
    doc_series: str
    doc_number: str


@dataclass(frozen=True)
class PortalAnswerMessage:
    """One person's answer to one request; `verified` is always present for "confirmed"."""

    portal_request_id: str
    request_id: str
    answer: AnswerKind
    portal_subject: str
    verified: VerifiedIdentity | None


@dataclass(frozen=True)
class SendOutcome:
    """What became of one request in a send: accepted (`portal_request_id`) or an error.

    `retryable` tells a passing problem (try again later) from a refusal of the request itself.
    """

    request_id: str
    portal_request_id: str | None
    error: str | None
    retryable: bool


class PortalUnavailable(Exception):
    """The whole portal is down or timed out: retry later; nothing was lost."""


class InvalidPortalMessage(Exception):
    """A message from the portal has a bad signature or shape; `reason` is one short code."""

    def __init__(self, message: str, *, reason: Literal["signature", "shape"]) -> None:
        super().__init__(message)
        self.reason = reason


class PortalConfigError(ValueError):
    """The portal settings cannot be used; the message names the setting."""


class IdentityPortal(Protocol):
    """The identity portal as the registry uses it."""

    def send(self, requests: Sequence[PortalRequest]) -> list[SendOutcome]:
        """Hand requests over; one outcome per request. Re-sending a request_id is harmless.

        Raises PortalUnavailable when the portal cannot take any of them now."""
        ...

    def fetch_answers(self, *, limit: int = 1000) -> list[PortalAnswerMessage]:
        """Answers not yet acknowledged, at most `limit`. Bad messages are skipped, not raised.

        Raises PortalUnavailable when the portal cannot be reached."""
        ...

    def acknowledge(self, portal_request_ids: Sequence[str]) -> None:
        """Tell the portal these answers are stored, so it stops handing them out."""
        ...


def portal_request_key(confirmation_request_id: int) -> str:
    """Our id of a confirmation request as the portal sees it."""
    return f"cr-{confirmation_request_id}"


def build_portal(runtime: Runtime) -> IdentityPortal:
    """The adapter chosen by SIMREG_PORTAL_ADAPTER: "sandbox" (dev/test only) or "http"."""
    settings = runtime.settings
    if settings.portal_adapter == "sandbox":
        if not settings.is_sandbox:
            raise PortalConfigError(
                "SIMREG_PORTAL_ADAPTER=sandbox is refused in production; set it to 'http' "
                "and set SIMREG_PORTAL_URL and SIMREG_PORTAL_API_KEY"
            )
        from app.portal.sandbox_portal import SandboxPortal

        return SandboxPortal.from_runtime(runtime)
    if settings.portal_adapter == "http":
        from app.portal.http_portal import HttpPortal, signing_secret

        if not settings.portal_url:
            raise PortalConfigError("SIMREG_PORTAL_ADAPTER=http needs SIMREG_PORTAL_URL")
        if not settings.portal_api_key:
            raise PortalConfigError("SIMREG_PORTAL_ADAPTER=http needs SIMREG_PORTAL_API_KEY")
        return HttpPortal(
            settings.portal_url,
            api_key=settings.portal_api_key,
            signing_secret=signing_secret(settings),
            timeout=settings.portal_timeout_seconds,
        )
    raise PortalConfigError(
        f"SIMREG_PORTAL_ADAPTER '{settings.portal_adapter}' is unknown; use 'sandbox' or 'http'"
    )
