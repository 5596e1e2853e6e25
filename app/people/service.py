"""People as the identity portal knows them, what is registered to them, and audit of reads."""

from __future__ import annotations

import datetime as dt
import secrets

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.companies.models import CorporateSubscriber
from app.core.errors import Conflict, FieldProblem, InvalidInput
from app.core.identifiers import (
    InvalidIdentifier,
    normalize_passport_ru,
    normalize_snils,
    validate_birth_date,
)
from app.core.messages import Text
from app.core.names import normalize_full_name
from app.core.personal_data import PersonalDataVault, mask_birth_date, mask_passport, mask_snils
from app.numbers.models import PhoneNumber, Registration
from app.numbers.registration_rules import birth_date_hash, document_hash
from app.numbers.schemas import DocumentType
from app.people.models import Person, PersonalDataRead
from app.people.schemas import PersonOut
from app.people.words import RequestState
from app.portal.models import ConfirmationRequest


def create_person(
    session: Session,
    vault: PersonalDataVault,
    *,
    last_name: str,
    first_name: str,
    patronymic: str | None,
    birth_date: dt.date,
    passport: str,
    snils: str | None,
    portal_subject: str | None,
    now: dt.datetime,
    today: dt.date,
) -> Person:
    """Record a person with portal-verified identity data (the sandbox portal's people)."""
    problems: list[FieldProblem] = []
    series = number = ""
    clean_snils = None
    try:
        series, number = normalize_passport_ru(passport)
    except InvalidIdentifier as exc:
        problems.append(FieldProblem("passport", exc.code, exc.message))
    try:
        validate_birth_date(birth_date, today=today)
    except InvalidIdentifier as exc:
        problems.append(FieldProblem("birth_date", exc.code, exc.message))
    if snils:
        try:
            clean_snils = normalize_snils(snils)
        except InvalidIdentifier as exc:
            problems.append(FieldProblem("snils", exc.code, exc.message))
    if problems:
        raise InvalidInput(Text("person.invalid", count=len(problems)), errors=problems)
    subject = portal_subject or f"sbx-{secrets.token_hex(8)}"
    if session.scalar(select(Person.id).where(Person.portal_subject == subject)) is not None:
        raise Conflict(Text("person.duplicate", subject=subject))
    sealed = vault.seal(
        {
            "doc_series": series,
            "doc_number": number,
            "birth_date": birth_date.isoformat(),
            "snils": clean_snils,
        }
    )
    person = Person(
        portal_subject=subject,
        last_name=last_name,
        first_name=first_name,
        patronymic=patronymic,
        name_key=normalize_full_name(last_name, first_name, patronymic),
        pd_sealed=sealed,
        pd_key_id=vault.active_key_id,
        doc_hash=document_hash(vault, f"{DocumentType.RU_PASSPORT.value}:{series}{number}"),
        birth_date_hash=birth_date_hash(vault, birth_date),
        created_at=now,
    )
    session.add(person)
    session.flush()
    return person


def person_view(person: Person, vault: PersonalDataVault, *, reveal: bool) -> PersonOut:
    """A person's record: in clear for themself, masked for anyone else."""
    pd = vault.open(person.pd_sealed)
    snils = pd.get("snils")
    return PersonOut(
        id=person.id,
        portal_subject=person.portal_subject,
        last_name=person.last_name,
        first_name=person.first_name,
        patronymic=person.patronymic,
        birth_date=pd["birth_date"] if reveal else mask_birth_date(pd["birth_date"]),
        passport=f"{pd['doc_series']} {pd['doc_number']}"
        if reveal
        else mask_passport(pd["doc_series"], pd["doc_number"]),
        snils=(snils if reveal else mask_snils(snils)) if snils else None,
    )


def find_person(session: Session, *, portal_subject: str) -> Person | None:
    """The person behind a portal subject, if the registry knows them."""
    return session.scalars(
        select(Person).where(Person.portal_subject == portal_subject)
    ).one_or_none()


def numbers_of_person(
    session: Session, *, person: Person
) -> list[tuple[PhoneNumber, Registration, CorporateSubscriber, RequestState]]:
    """Numbers whose current registration names this person's document (a birth date the
    company mistyped does not hide them), each with its latest confirmation request."""
    rows = session.execute(
        select(PhoneNumber, Registration, CorporateSubscriber)
        .join(Registration, Registration.number_id == PhoneNumber.id)
        .join(CorporateSubscriber, CorporateSubscriber.id == PhoneNumber.subscriber_id)
        .where(Registration.ended_at.is_(None), Registration.doc_hash == person.doc_hash)
        .order_by(PhoneNumber.id)
    ).all()
    latest: dict[int, RequestState] = {}
    if rows:
        # A registration's requests are found among its number's (indexed by number).
        for request in session.scalars(
            select(ConfirmationRequest)
            .where(ConfirmationRequest.number_id.in_([n.id for n, _, _ in rows]))
            .order_by(ConfirmationRequest.id)
        ):
            latest[request.registration_id] = RequestState(
                request.status.value, request.outcome, request.mismatch_fields
            )
    return [(n, r, c, latest.get(r.id, RequestState())) for n, r, c in rows]


def log_personal_data_read(
    session: Session, *, staff: str, resource: str, resource_id: int, route: str, now: dt.datetime
) -> None:
    """Audit one read of personal data by operator staff."""
    session.add(
        PersonalDataRead(
            at=now,
            staff_subject=staff,
            resource=resource,
            resource_id=str(resource_id),
            route=route,
        )
    )
    session.flush()
