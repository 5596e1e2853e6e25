"""Requests and responses of flow B: a person's claim, and the company's view of its claims."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, ConfigDict, Field

from app.claims.models import ClaimStatus
from app.core.schemas import StrictModel


class ClaimCreate(StrictModel):
    """A person's claim on a corporate number."""

    msisdn: str = Field(min_length=1, max_length=32, examples=["8 (912) 345-67-89"])
    company_inn: str = Field(min_length=1, max_length=20, examples=["7707083893"])
    company_name: str = Field(
        min_length=1,
        max_length=500,
        examples=['ООО "Ромашка"'],
        description="As written in the state register; case, quotes and the spelling of the "
        "legal form (ООО or Общество с ограниченной ответственностью) do not matter",
    )


class ClaimRejection(StrictModel):
    """Why the company rejects a claim; shown to the person."""

    reason: str | None = Field(default=None, min_length=3, max_length=500)


class ClaimOut(BaseModel):
    """A claim as its person sees it."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    msisdn: str
    company_inn: str
    company_name: str = Field(description="As the person wrote it")
    number_id: int | None
    status: ClaimStatus
    reason: str | None
    registration_id: int | None
    created_at: dt.datetime
    decided_at: dt.datetime | None


class Claimant(BaseModel):
    """Who claims the number, as the identity portal verified them (names only)."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    last_name: str
    first_name: str
    patronymic: str | None


class CompanyClaimOut(ClaimOut):
    """A claim as the company admin and staff see it: with the claimant and the decider."""

    claimant: Claimant
    decided_by: str | None


class ClaimPage(BaseModel):
    """A page of a company's claims."""

    items: list[CompanyClaimOut]
    next_cursor: str | None
