"""Requests and responses about people known through the identity portal."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, Field

from app.core.schemas import StrictModel


class SandboxPersonCreate(StrictModel):
    last_name: str = Field(min_length=1, max_length=200, examples=["Иванов"])
    first_name: str = Field(min_length=1, max_length=200, examples=["Иван"])
    patronymic: str | None = Field(default=None, max_length=200, examples=["Иванович"])
    birth_date: dt.date = Field(examples=["1985-04-12"])
    passport: str = Field(examples=["45 12 345678"])
    snils: str | None = Field(default=None, examples=["112-233-445 95"])
    portal_subject: str | None = Field(
        default=None, max_length=64, description="Left out: the sandbox picks one"
    )


class PersonOut(BaseModel):
    id: int
    portal_subject: str
    last_name: str
    first_name: str
    patronymic: str | None
    birth_date: str
    passport: str
    snils: str | None
