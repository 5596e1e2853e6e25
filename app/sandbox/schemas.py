"""Requests and responses of the sandbox identity provider."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, Field

from app.auth.service import Role
from app.core.integers import RowId
from app.core.schemas import StrictModel


class SandboxTokenRequest(StrictModel):
    role: Role
    subject: str | None = Field(
        default=None,
        max_length=200,
        description="Staff or admin login; for a person, their portal subject",
    )
    company_id: RowId | None = Field(default=None, description="For company_admin")
    operator_id: RowId | None = Field(default=None, description="For operator_system")


class SandboxToken(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_at: dt.datetime
    role: Role
    subject: str
