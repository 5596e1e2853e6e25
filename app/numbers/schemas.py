"""Requests and responses about numbers, registrations and their history."""

from __future__ import annotations

import datetime as dt
import enum
from typing import Annotated, Literal, Self

from pydantic import BaseModel, ConfigDict, Field

from app.core.actors import ActorKind
from app.core.messages import Language, say
from app.core.schemas import StrictModel
from app.numbers.models import NumberStatus, SimKind


class DeviceType(enum.StrEnum):
    """Equipment that carries a device SIM (DOMAIN.md, "Two kinds of SIM")."""

    PAYMENT_TERMINAL = "payment_terminal"
    ATM = "atm"
    CASH_REGISTER = "cash_register"
    BARRIER = "barrier"
    MODEM = "modem"
    ROUTER = "router"
    TRACKER = "tracker"
    ALARM = "alarm"
    METER = "meter"
    CAMERA = "camera"
    OTHER = "other"


class DocumentType(enum.StrEnum):
    """Identity documents an employee row may carry."""

    RU_PASSPORT = "ru_passport"
    FOREIGN_PASSPORT = "foreign_passport"
    RESIDENCE_PERMIT = "residence_permit"


class NumberIn(StrictModel):
    msisdn: str = Field(examples=["+7 912 345 67 89"], description="Any common spelling")
    iccid: str | None = Field(default=None, examples=["8970101234567890123"])
    service_start_on: dt.date | None = Field(
        default=None,
        description="The day service starts (Moscow); today when not given. New contracts' "
        "deadlines count from it: an employee SIM before use, a device SIM 3 working days before.",
    )


class NumbersAdd(StrictModel):
    numbers: list[NumberIn] = Field(min_length=1)


class NumberBrief(BaseModel):
    id: int
    msisdn: str


class NumbersAdded(BaseModel):
    created: int
    numbers: list[NumberBrief]


class EmployeeIn(StrictModel):
    kind: Literal["employee"]
    last_name: str = Field(min_length=1, max_length=200, examples=["Иванов"])
    first_name: str = Field(min_length=1, max_length=200, examples=["Иван"])
    patronymic: str | None = Field(default=None, max_length=200, examples=["Иванович"])
    birth_date: dt.date = Field(examples=["1985-04-12"])
    doc_type: DocumentType = DocumentType.RU_PASSPORT
    doc_number: str = Field(examples=["45 12 345678"], description="Series and number")
    doc_issued_on: dt.date | None = None
    doc_issuer: str | None = Field(default=None, max_length=500)
    doc_issuer_code: str | None = Field(default=None, examples=["123-456"])
    snils: str | None = Field(default=None, examples=["112-233-445 95"])


class DeviceIn(StrictModel):
    kind: Literal["device"]
    device_type: DeviceType
    model: str = Field(min_length=1, max_length=200)
    identifier: str = Field(min_length=1, max_length=64, description="IMEI, MAC or serial")
    identifier_kind: Literal["imei", "mac", "serial"] | None = Field(
        default=None, description="Detected from the identifier when left out"
    )
    install_address: str | None = Field(default=None, max_length=1000)


RegistrationIn = Annotated[EmployeeIn | DeviceIn, Field(discriminator="kind")]


class StatusChange(StrictModel):
    status: NumberStatus
    reason: str = Field(min_length=3, max_length=500)


class RegistrationRemoval(StrictModel):
    reason: str = Field(default="user removed by the company", min_length=3, max_length=500)


class NumberOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    msisdn: str
    iccid: str | None
    operator_id: int
    subscriber_id: int
    contract_id: int
    status: NumberStatus
    sim_kind: SimKind | None
    deadline_at: dt.datetime | None
    flag_days: int | None = Field(
        description="The nearest threshold (days before the deadline) this number was flagged at"
    )
    service_start_on: dt.date | None
    status_changed_at: dt.datetime
    status_text: str = Field(
        default="", description="The status in plain words, in the request's language"
    )

    @classmethod
    def of(cls, number: object, language: Language) -> Self:
        """The view of a number, its status worded in `language`."""
        view = cls.model_validate(number)
        view.status_text = say(f"number.status.{view.status.value}", language)
        return view


class NumberPage(BaseModel):
    items: list[NumberOut]
    next_cursor: str | None


class RegistrationOut(BaseModel):
    id: int
    kind: SimKind
    current: bool
    created_at: dt.datetime
    ended_at: dt.datetime | None
    end_reason: str | None
    source: str
    last_name: str | None = None
    first_name: str | None = None
    patronymic: str | None = None
    birth_date: str | None = Field(default=None, description="Masked except for the person")
    doc_type: str | None = None
    doc_number: str | None = Field(default=None, description="Masked except for the person")
    snils: str | None = Field(default=None, description="Masked except for the person")
    device_type: str | None = None
    device_model: str | None = None
    device_id: str | None = None
    device_id_kind: str | None = None
    install_address: str | None = None


class EventOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    from_status: NumberStatus | None
    to_status: NumberStatus
    at: dt.datetime
    actor_kind: ActorKind
    actor_id: str
    reason: str


class DeadlineMoveOut(BaseModel):
    """One move of the number's deadline and the rule behind it."""

    model_config = ConfigDict(from_attributes=True)

    old_deadline_at: dt.datetime | None
    new_deadline_at: dt.datetime | None
    rule_id: int | None
    at: dt.datetime
    actor_kind: ActorKind
    actor_id: str
    reason: str


class NumberConfirmationOut(BaseModel):
    """Where the request to confirm the current user is."""

    request_id: int
    status: str = Field(
        description="queued (waiting to be sent to the portal), sent (waiting for the "
        "person), answered (the next matching run decides), matched, expired or cancelled"
    )
    created_at: dt.datetime
    sent_at: dt.datetime | None
    answered_at: dt.datetime | None
    expires_at: dt.datetime
    outcome: str | None
    queued_ahead: int | None = Field(
        description="Requests ahead of it in its operator's queue (queued only)"
    )
    expected_send_at: dt.datetime | None = Field(
        description="When it is expected to be sent at the portal's rate (queued only)"
    )
    last_error: str | None = Field(description="Why the last try to send it failed, if it did")


class NumberDetail(NumberOut):
    next_step: str = Field(description="What to do next, in the request's language")
    confirmation: NumberConfirmationOut | None = Field(
        default=None, description="The request to confirm the current employee user"
    )
    deadline_rule: str | None = Field(description="Code of the rule that set the deadline")
    registrations: list[RegistrationOut]
    events: list[EventOut]
    deadline_moves: list[DeadlineMoveOut]


class RegistrationResult(BaseModel):
    outcome: Literal["created", "superseded", "unchanged"]
    number: NumberOut
    registration_id: int


class MyNumberStatus(BaseModel):
    """A number of the caller's: its status in plain words, the next step, the deadline."""

    id: int
    msisdn: str
    status: NumberStatus
    status_text: str
    next_step: str
    deadline_at: dt.datetime | None
    company_name: str


class MyNumber(MyNumberStatus):
    """The same, with the company's INN and the registration (shown in clear to the person)."""

    company_inn: str
    registration: RegistrationOut
