"""Checks and normal forms of the data a company submits about a SIM's user.

Shared by the API and by uploads, so a row and a request are judged by the same rules.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from app.core.errors import FieldProblem
from app.core.identifiers import (
    InvalidIdentifier,
    normalize_device_id,
    normalize_issuer_code,
    normalize_passport_ru,
    normalize_snils,
    validate_birth_date,
)
from app.core.messages import Text
from app.core.names import is_cyrillic_name, normalize_full_name
from app.core.personal_data import PersonalDataVault
from app.numbers.schemas import DeviceIn, DocumentType, EmployeeIn


@dataclass(frozen=True)
class CleanEmployee:
    """An employee's data in normal form, ready to seal and store."""

    last_name: str
    first_name: str
    patronymic: str | None
    name_key: str
    doc_type: DocumentType
    doc_series: str
    doc_number: str
    birth_date: dt.date
    issued_on: dt.date | None
    issuer: str | None
    issuer_code: str | None
    snils: str | None

    def sealed_payload(self) -> dict[str, Any]:
        """What goes into the encrypted blob."""
        return {
            "doc_series": self.doc_series,
            "doc_number": self.doc_number,
            "birth_date": self.birth_date.isoformat(),
            "issued_on": self.issued_on.isoformat() if self.issued_on else None,
            "issuer": self.issuer,
            "issuer_code": self.issuer_code,
            "snils": self.snils,
        }

    def doc_key(self) -> str:
        """The document as one string, for its keyed hash."""
        return f"{self.doc_type.value}:{self.doc_series}{self.doc_number}"


@dataclass(frozen=True)
class CleanDevice:
    """A device's data in normal form."""

    device_type: str
    model: str
    identifier: str
    identifier_kind: str
    install_address: str | None


def document_hash(vault: PersonalDataVault, doc_key: str) -> str:
    """Keyed hash of a document, equal for equal documents whoever submitted them."""
    return vault.lookup_hash("doc", doc_key)


def birth_date_hash(vault: PersonalDataVault, birth_date: dt.date) -> str:
    """Keyed hash of a birth date."""
    return vault.lookup_hash("birth", birth_date.isoformat())


def check_employee(
    data: EmployeeIn, *, today: dt.date
) -> tuple[CleanEmployee | None, list[FieldProblem]]:
    """Every problem of an employee's data (not only the first), or its normal form."""
    problems = _name_problems(data)
    series, number = _document_number(data, problems)
    try:
        validate_birth_date(data.birth_date, today=today)
    except InvalidIdentifier as exc:
        problems.append(FieldProblem("birth_date", exc.code, exc.message))
    problems.extend(_issue_date_problems(data, today=today))
    issuer_code = _normal_or_problem(
        "doc_issuer_code", data.doc_issuer_code, normalize_issuer_code, problems
    )
    snils = _normal_or_problem("snils", data.snils, normalize_snils, problems)
    if problems:
        return None, problems
    patronymic = data.patronymic or None
    return (
        CleanEmployee(
            last_name=data.last_name,
            first_name=data.first_name,
            patronymic=patronymic,
            name_key=normalize_full_name(data.last_name, data.first_name, patronymic),
            doc_type=data.doc_type,
            doc_series=series,
            doc_number=number,
            birth_date=data.birth_date,
            issued_on=data.doc_issued_on,
            issuer=data.doc_issuer,
            issuer_code=issuer_code,
            snils=snils,
        ),
        [],
    )


def _name_problems(data: EmployeeIn) -> list[FieldProblem]:
    """A Russian passport holder's names must be written in Cyrillic, as in the passport."""
    if data.doc_type is not DocumentType.RU_PASSPORT:
        return []
    return [
        FieldProblem(
            field,
            "name.not_cyrillic",
            Text("name.not_cyrillic"),
        )
        for field, value in (
            ("last_name", data.last_name),
            ("first_name", data.first_name),
            ("patronymic", data.patronymic),
        )
        if value and not is_cyrillic_name(value)
    ]


def _document_number(data: EmployeeIn, problems: list[FieldProblem]) -> tuple[str, str]:
    """The document's (series, number) in normal form; a problem is added when it is invalid."""
    if data.doc_type is DocumentType.RU_PASSPORT:
        try:
            return normalize_passport_ru(data.doc_number)
        except InvalidIdentifier as exc:
            problems.append(FieldProblem("doc_number", exc.code, exc.message))
            return "", ""
    number = "".join(data.doc_number.split()).upper()
    if not 5 <= len(number) <= 20 or not number.isalnum():
        problems.append(
            FieldProblem(
                "doc_number",
                "document.invalid",
                Text("document.foreign.invalid"),
            )
        )
    return "", number


def _issue_date_problems(data: EmployeeIn, *, today: dt.date) -> list[FieldProblem]:
    """An issue date may be neither in the future nor before the holder was born."""
    issued = data.doc_issued_on
    if issued is None:
        return []
    if issued > today:
        return [FieldProblem("doc_issued_on", "date.future", Text("doc_issued_on.future"))]
    if issued < data.birth_date:
        return [
            FieldProblem("doc_issued_on", "date.before_birth", Text("doc_issued_on.before_birth"))
        ]
    return []


def _normal_or_problem(
    field: str, value: str | None, normalize: Callable[[str], str], problems: list[FieldProblem]
) -> str | None:
    """An optional identifier in normal form, or None with a problem added when it is invalid."""
    if not value:
        return None
    try:
        return normalize(value)
    except InvalidIdentifier as exc:
        problems.append(FieldProblem(field, exc.code, exc.message))
        return None


def check_device(data: DeviceIn) -> tuple[CleanDevice | None, list[FieldProblem]]:
    """A device's identifier checked as IMEI (Luhn) or MAC, or kept as a serial number (at
    least 5 letters or digits)."""
    try:
        identifier, kind = normalize_device_id(data.identifier, data.identifier_kind)
    except InvalidIdentifier as exc:
        return None, [FieldProblem("identifier", exc.code, exc.message)]
    return (
        CleanDevice(
            device_type=data.device_type.value,
            model=data.model,
            identifier=identifier,
            identifier_kind=kind,
            install_address=data.install_address or None,
        ),
        [],
    )
