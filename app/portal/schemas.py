"""Responses of the person's confirmation requests and the portal's webhook; the sandbox portal's
switches."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, Field

from app.core.schemas import StrictModel
from app.portal.models import PortalAnswer, RequestStatus


class ConfirmationRequestView(BaseModel):
    """A confirmation request as the person it names sees it."""

    id: int
    msisdn: str
    company_name: str
    company_inn: str
    status: RequestStatus
    expires_at: dt.datetime
    sent_at: dt.datetime | None
    answered_at: dt.datetime | None
    answer: PortalAnswer | None
    outcome: str | None = Field(
        description="What came of it: active, mismatch, declined or expired (None: not yet)"
    )
    mismatch_fields: list[str] = Field(
        default_factory=list,
        description="Which of your data differed from what the company sent: full_name, "
        "birth_date, document (see outcome_text for them in words)",
    )
    expected_send_at: dt.datetime | None = Field(
        default=None, description="For a request not sent yet: when it is expected to go out"
    )
    outcome_text: str = Field(description="What became of the request, in plain words")


class SandboxBehaviourIn(StrictModel):
    """Fields left out keep their value."""

    delay_seconds: float | None = Field(default=None, ge=0, le=30)
    fail_sends: bool | None = None
    lose_answers: bool | None = None
    answers_delayed: bool | None = None


class SandboxBehaviourOut(BaseModel):
    """The sandbox portal's current behaviour."""

    delay_seconds: float
    fail_sends: bool
    lose_answers: bool
    answers_delayed: bool


class WebhookResult(BaseModel):
    """What became of a pushed answer: recorded, a duplicate, or ignored (unknown or late)."""

    status: str
