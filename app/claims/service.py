"""Flow B (DOMAIN.md, "Employee-initiated"): a person claims a corporate number themselves.

The person names the number, the company's INN and the company's name as written in the
register. The claim is rejected when any of them does not fit the registry; it confirms the
number at once when the company had already named this very person; otherwise it waits for
the company admin, whose approval becomes a registration built from the person's verified
identity data (so it needs no further confirmation).

Rejection reasons say which of number, INN or name did not fit, but never show another
company's name or INN: the claimant must already know them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app.claims.company_names import normalize_company_name
from app.claims.models import Claim, ClaimStatus
from app.companies.models import CorporateSubscriber, SubscriberStatus
from app.core.actors import Actor, ActorKind
from app.core.errors import FieldProblem, InvalidInput
from app.core.identifiers import InvalidIdentifier, normalize_inn, normalize_msisdn
from app.core.messages import Text
from app.numbers import lifecycle
from app.numbers.models import NumberStatus, PhoneNumber, Registration, SimKind
from app.numbers.service import current_registration
from app.people.models import Person
from app.portal.models import LIVE_REQUEST_STATUSES, ConfirmationRequest, RequestStatus
from app.work.models import WorkKind
from app.work.service import enqueue

__all__ = [
    "CLAIM_SOURCE",
    "ClaimOutcome",
    "activate_confirmed",
    "claims_of_company",
    "claims_of_person",
    "person_actor",
    "submit_claim",
]

# `Registration.source` of a registration created by approving a claim.
CLAIM_SOURCE = "claim"

_LEFT_REGISTRY = (NumberStatus.TERMINATED, NumberStatus.TRANSFERRED)

# Statuses in which the company's registration is waiting for the person's word: their own
# claim gives it. Mismatch is left out on purpose: the matching step found the company's data
# wrong, so only the admin (approving the claim, which rewrites the data) may settle it.
_CONFIRMABLE = frozenset(
    {
        NumberStatus.PENDING_CONFIRMATION,
        NumberStatus.SUSPENDED,  # reactivation: DOMAIN.md, "Deadlines and suspension"
        NumberStatus.EXPIRED,
        NumberStatus.DECLINED,
        NumberStatus.ACTIVE,  # nothing to move; the claim is simply confirmed
    }
)

# --- Submitting a claim --------------------------------------------------------------------


@dataclass(frozen=True)
class ClaimOutcome:
    """A submitted claim, and whether it is new (False: the person's pending claim, again)."""

    claim: Claim
    created: bool


def person_actor(person: Person) -> Actor:
    """The person as they appear in the event log: by their identity-portal subject."""
    return Actor(ActorKind.PERSON, person.portal_subject)


def _clean_input(msisdn: str, company_inn: str) -> tuple[str, str]:
    """Both identifiers in normal form, or InvalidInput naming every bad field at once."""
    problems: list[FieldProblem] = []
    clean_msisdn = clean_inn = ""
    try:
        clean_msisdn = normalize_msisdn(msisdn)
    except InvalidIdentifier as exc:
        problems.append(FieldProblem("msisdn", exc.code, exc.message))
    try:
        clean_inn = normalize_inn(company_inn)
    except InvalidIdentifier as exc:
        problems.append(FieldProblem("company_inn", exc.code, exc.message))
    if problems:
        raise InvalidInput(Text("claim.invalid", count=len(problems)), errors=problems)
    return clean_msisdn, clean_inn


def _find_number(
    session: Session, *, msisdn: str, inn: str
) -> tuple[PhoneNumber, CorporateSubscriber] | None:
    """The number the claim is about; when several operators hold the msisdn, the claimed
    company's one (and of those, one still in the registry) wins."""
    rows = session.execute(
        select(PhoneNumber, CorporateSubscriber)
        .join(CorporateSubscriber, CorporateSubscriber.id == PhoneNumber.subscriber_id)
        .where(PhoneNumber.msisdn == msisdn)
        .order_by(PhoneNumber.id)
    ).all()
    if not rows:
        return None
    best = min(
        rows,
        key=lambda row: (row[1].inn != inn, row[0].status in _LEFT_REGISTRY, row[0].id),
    )
    return best[0], best[1]


_LEFT_WORDS = {NumberStatus.TERMINATED: "отключён", NumberStatus.TRANSFERRED: "переоформлен"}


def _rejection(
    msisdn: str,
    inn: str,
    name: str,
    company: CorporateSubscriber | None,
    found: tuple[PhoneNumber, CorporateSubscriber] | None,
) -> str | None:
    """Why the claim cannot stand, or None; in Russian, for the person. The company with the
    INN claimed is checked first (name, liquidation: the state register is public), then the
    number: one that is not in the registry and one another company holds get the same
    answer, so a claim cannot probe which numbers the registry holds, or for whom."""
    not_found = (
        f"Номер {msisdn} не найден среди корпоративных номеров компании с ИНН {inn}. "
        "Проверьте номер и ИНН компании, которая выдала вам SIM-карту."
    )
    if company is None:
        return not_found
    if normalize_company_name(company.name) != normalize_company_name(name):
        return (
            f"Название не совпадает с названием компании с ИНН {inn}. Напишите его так, "
            "как оно указано в ЕГРЮЛ или ЕГРИП."
        )
    if company.status is SubscriberStatus.LIQUIDATED:
        return "Компания ликвидирована: её номера выбыли из реестра корпоративных номеров."
    if found is None or found[1].id != company.id:
        return not_found
    number = found[0]
    if number.status in _LEFT_REGISTRY:
        return (
            f"Номер {msisdn} выбыл из реестра корпоративных номеров "
            f"({_LEFT_WORDS.get(number.status, number.status.value)})."
        )
    return None


def _names_this_person(registration: Registration | None, person: Person) -> bool:
    """Whether the company's current registration is exactly this verified person: the same
    document, birth date and name, compared as the matching step compares them."""
    return (
        registration is not None
        and registration.kind is SimKind.EMPLOYEE
        and registration.doc_hash == person.doc_hash
        and registration.birth_date_hash == person.birth_date_hash
        and registration.name_key == person.name_key
    )


def _settle_requests(
    session: Session, *, registration_id: int, person: Person, now: dt.datetime
) -> None:
    """The person's claim answers any confirmation request still out for the registration."""
    session.execute(
        update(ConfirmationRequest)
        .where(
            ConfirmationRequest.registration_id == registration_id,
            ConfirmationRequest.status.in_([s.value for s in LIVE_REQUEST_STATUSES]),
        )
        .values(
            status=RequestStatus.MATCHED,
            outcome="active",
            matched_at=now,
            portal_subject=person.portal_subject,
            verified_name_key=person.name_key,
            verified_doc_hash=person.doc_hash,
            verified_birth_hash=person.birth_date_hash,
        )
        .execution_options(synchronize_session=False)
    )


def submit_claim(
    session: Session,
    *,
    person: Person,
    msisdn: str,
    company_inn: str,
    company_name: str,
    now: dt.datetime,
) -> ClaimOutcome:
    """Record a person's claim on a number and decide what can be decided at once.

    Bad identifiers raise InvalidInput (nothing stored). Otherwise the claim is stored as
    rejected (number, INN or name do not fit; the number or company has left the registry),
    confirmed (the company already named this person: the number becomes active), or pending
    (the company admin decides). A second claim on a number while one is pending returns
    that pending claim with `created` False.
    """
    clean_msisdn, clean_inn = _clean_input(msisdn, company_inn)
    name = company_name.strip()
    pending = _pending_claim_of(session, person=person, msisdn=clean_msisdn)
    if pending is not None:
        return ClaimOutcome(pending, created=False)

    claim = Claim(
        person_id=person.id,
        msisdn=clean_msisdn,
        company_inn=clean_inn,
        company_name=name,
        created_at=now,
    )
    found = _find_number_locked(session, msisdn=clean_msisdn, inn=clean_inn)
    if found is not None and found[1].inn == clean_inn:
        # Only a claim on the claimed company's own number is linked to it: a claim naming
        # the wrong company must not show up in the holder's list of claims.
        claim.number_id, claim.subscriber_id = found[0].id, found[1].id
    company = session.scalars(
        select(CorporateSubscriber).where(CorporateSubscriber.inn == clean_inn).limit(1)
    ).one_or_none()
    reason = _rejection(clean_msisdn, clean_inn, name, company, found)
    if reason is not None or found is None:
        claim.status, claim.reason, claim.decided_at = ClaimStatus.REJECTED, reason, now
    else:
        _confirm_or_wait(session, claim, number=found[0], person=person, now=now)
    session.add(claim)
    session.flush()
    return ClaimOutcome(claim, created=True)


def _pending_claim_of(session: Session, *, person: Person, msisdn: str) -> Claim | None:
    """The person's pending claim on the number, if they made one already."""
    # Locking the person serialises their own claims (on PostgreSQL), so two quick submits
    # cannot both miss each other's pending claim.
    session.scalars(select(Person.id).where(Person.id == person.id).with_for_update()).one()
    return session.scalars(
        select(Claim)
        .where(
            Claim.person_id == person.id,
            Claim.msisdn == msisdn,
            Claim.status == ClaimStatus.PENDING,
        )
        .order_by(Claim.id)
        .limit(1)
    ).one_or_none()


def _find_number_locked(
    session: Session, *, msisdn: str, inn: str
) -> tuple[PhoneNumber, CorporateSubscriber] | None:
    """`_find_number`, with the number locked and read afresh, so that its status cannot change
    between the decision on the claim and the transition (a concurrent approval, a suspension
    run)."""
    found = _find_number(session, msisdn=msisdn, inn=inn)
    if found is None:
        return None
    locked = session.scalars(
        select(PhoneNumber)
        .where(PhoneNumber.id == found[0].id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one()
    return locked, found[1]


def _confirm_or_wait(
    session: Session, claim: Claim, *, number: PhoneNumber, person: Person, now: dt.datetime
) -> None:
    """A claim that fits: confirmed at once when the company already named this very person
    (the number becomes active), otherwise left for the company admin."""
    current = current_registration(session, number_id=number.id)
    if (
        current is not None
        and _names_this_person(current, person)
        and number.status in _CONFIRMABLE
    ):
        actor = person_actor(person)
        activate_confirmed(
            session,
            number,
            actor=actor,
            reason="confirmed by the person's own claim",
            registration_id=current.id,
            now=now,
        )
        _settle_requests(session, registration_id=current.id, person=person, now=now)
        claim.status = ClaimStatus.CONFIRMED
        claim.reason = "Компания уже указала вас пользователем этого номера: номер активен."
        claim.registration_id = current.id
        claim.decided_at, claim.decided_by = now, actor.id
    else:
        claim.status = ClaimStatus.PENDING
        claim.reason = "Заявка ждёт решения администратора компании."


# --- Listing -------------------------------------------------------------------------------


def claims_of_person(session: Session, *, person: Person) -> list[Claim]:
    """Every claim the person made, newest first."""
    return list(
        session.scalars(select(Claim).where(Claim.person_id == person.id).order_by(Claim.id.desc()))
    )


def claims_of_company(
    session: Session,
    *,
    subscriber_id: int,
    statuses: Sequence[ClaimStatus] = (),
    after_id: int | None = None,
    limit: int = 50,
) -> list[tuple[Claim, Person]]:
    """A page of claims on a company's numbers with their claimants, oldest first (the
    admin works through them in order), keyset-paginated by id."""
    query = (
        select(Claim, Person)
        .join(Person, Person.id == Claim.person_id)
        .where(Claim.subscriber_id == subscriber_id)
        .order_by(Claim.id)
        .limit(limit)
    )
    if statuses:
        query = query.where(Claim.status.in_(statuses))
    if after_id is not None:
        query = query.where(Claim.id > after_id)
    return [(claim, person) for claim, person in session.execute(query).all()]


def activate_confirmed(
    session: Session,
    number: PhoneNumber,
    *,
    actor: Actor,
    reason: str,
    registration_id: int,
    now: dt.datetime,
) -> None:
    """The person is confirmed: the number becomes active (unless it is) and the operator's
    systems switch the SIM on, as after a match: one work item. Shared by a claim that
    confirms at once and by the admin's approval."""
    moved = lifecycle.transition_unless(
        session,
        number,
        NumberStatus.ACTIVE,
        kept={NumberStatus.ACTIVE},
        actor=actor,
        reason=reason,
        at=now,
        registration_id=registration_id,
    )
    if moved:
        enqueue(
            session,
            number_ids=select(PhoneNumber.id).where(PhoneNumber.id == number.id),
            kind=WorkKind.ACTIVATE,
            now=now,
        )
