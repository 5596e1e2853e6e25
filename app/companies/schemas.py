"""Requests and responses about operators, corporate subscribers and contracts."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, ConfigDict, Field

from app.companies.models import SubscriberKind, SubscriberStatus
from app.core.integers import RowId
from app.core.schemas import StrictModel


class OperatorCreate(StrictModel):
    code: str = Field(min_length=2, max_length=32, pattern=r"^[a-z0-9_-]+$", examples=["mts"])
    name: str = Field(min_length=1, max_length=200, examples=["МТС"])


class OperatorOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    code: str
    name: str
    created_at: dt.datetime


class OperatorWithKey(OperatorOut):
    api_key: str = Field(description="Shown once; only its hash is stored.")


class SubscriberCreate(StrictModel):
    name: str = Field(min_length=1, max_length=500, examples=['ООО "Ромашка"'])
    inn: str = Field(examples=["7707083893"], description="10 digits (legal entity) or 12 (ИП)")
    ogrn: str = Field(examples=["1027700132195"], description="OGRN (13) or OGRNIP (15)")
    kpp: str | None = Field(default=None, examples=["773601001"], description="Legal entities")


class SubscriberOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    kind: SubscriberKind
    name: str
    inn: str
    ogrn: str
    kpp: str | None
    status: SubscriberStatus
    liquidated_on: dt.date | None
    created_at: dt.datetime


class SubscriberPage(BaseModel):
    items: list[SubscriberOut]
    next_cursor: str | None


class LiquidationRequest(StrictModel):
    liquidated_on: dt.date
    reason: str = Field(default="company liquidated", max_length=500)


class LiquidationOut(BaseModel):
    subscriber: SubscriberOut
    numbers_transferred: int


class ContractCreate(StrictModel):
    operator_id: RowId
    contract_no: str = Field(min_length=1, max_length=64)
    signed_on: dt.date


class ContractOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    subscriber_id: int
    operator_id: int
    contract_no: str
    signed_on: dt.date
    is_legacy: bool
