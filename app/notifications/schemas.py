"""Requests and responses about notification settings and the outbox."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from app.core.schemas import StrictModel
from app.notifications.channels import ChannelName
from app.notifications.models import Audience, NotificationStatus


class NotificationSettingsIn(StrictModel):
    """Where a company's notifications go. PUT replaces the e-mail and the webhook URL (left
    out or null: not used); the secret is kept when left out and removed when null."""

    notify_email: str | None = Field(
        default=None, max_length=320, examples=["sim-admin@romashka.ru"]
    )
    notify_webhook_url: str | None = Field(
        default=None,
        max_length=2000,
        examples=["https://hooks.romashka.ru/simreg"],
        description="https; plain http only to localhost or 127.0.0.1, and not in production.",
    )
    webhook_secret: str | None = Field(
        default=None,
        min_length=16,
        max_length=200,
        examples=["8f3c2a9e1b7d4f60a5c2e9b1d7f3a6c4"],
        description="Key of the X-Simreg-Signature HMAC; write-only, never shown again.",
    )


class NotificationSettingsOut(BaseModel):
    company_id: int
    notify_email: str | None
    notify_webhook_url: str | None
    webhook_secret_set: bool
    channel: ChannelName = Field(
        description="Where the company's messages go now: its webhook, else e-mail when the "
        "registry has an SMTP server, else only the registry's log."
    )


class NotificationOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int = Field(description="Stable id: receivers drop a message whose id they have seen.")
    audience: Audience
    event: str
    subscriber_id: int
    number_id: int | None
    msisdn: str | None
    threshold: int | None
    deadline_at: dt.datetime | None
    payload: dict[str, Any] | None
    status: NotificationStatus
    channel: str | None
    attempts: int
    next_attempt_at: dt.datetime
    last_error: str | None
    created_at: dt.datetime
    sent_at: dt.datetime | None

    @field_validator("payload", mode="before")
    @classmethod
    def _parse_payload(cls, value: object) -> object:
        # Stored as JSON text.
        if isinstance(value, str):
            try:
                return json.loads(value)
            except ValueError:
                return {"unreadable": True}
        return value


class NotificationPage(BaseModel):
    items: list[NotificationOut]
    next_cursor: str | None


class Backlog(BaseModel):
    pending: int = Field(description="Waiting for a (next) delivery attempt.")
    due: int = Field(description="Pending and due now: what the next delivery run takes.")
    failing: int = Field(description="Pending after at least one failed attempt.")
    dead: int = Field(description="Given up after the last attempt.")
    oldest_pending_at: dt.datetime | None


class NotificationBoard(NotificationPage):
    backlog: Backlog
