"""Responses of the matching step."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, Field

from app.portal.models import PortalAnswer, RequestStatus


class MatchRunOut(BaseModel):
    devices_activated: int
    requests_created: int
    requests_cancelled: int
    confirmed_active: int
    mismatched: int
    declined: int
    expired: int
    answers_collected: int = Field(description="Answers taken in from the portal first")
    requests_sent: int = Field(description="Confirmation requests sent to the portal")
    requests_waiting: int = Field(
        description="Requests still waiting to be sent: the dispatch job sends them at the "
        "portal's rate per operator"
    )
    portal_unavailable: bool


class ConfirmationRequestOut(BaseModel):
    id: int
    number_id: int
    registration_id: int
    status: RequestStatus
    created_at: dt.datetime
    sent_at: dt.datetime | None
    expires_at: dt.datetime
    answered_at: dt.datetime | None
    matched_at: dt.datetime | None
    answer: PortalAnswer | None
    outcome: str | None = Field(description="active, mismatch, declined or expired")
    mismatch_fields: list[str] = Field(
        default_factory=list,
        description="Fields whose company data differ from the verified data: full_name, "
        "birth_date, document. The verified values themselves are never shown.",
    )
