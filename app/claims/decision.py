"""The company admin's decision on a person's claim (DOMAIN.md, flow B): approving makes the
person the number's user, already confirmed, with a registration built from their verified
identity data; rejecting leaves the number and its registration as they are."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app.claims.models import Claim, ClaimStatus
from app.claims.service import CLAIM_SOURCE, activate_confirmed
from app.core.actors import Actor
from app.core.clock import MOSCOW
from app.core.errors import Conflict, NotFound
from app.core.messages import Text
from app.core.personal_data import PersonalDataVault
from app.deadlines.recompute import settle_stale_deadlines
from app.numbers import lifecycle
from app.numbers.models import PhoneNumber, Registration, SimKind
from app.numbers.schemas import DocumentType
from app.numbers.service import current_registration
from app.people.models import Person
from app.portal.models import LIVE_REQUEST_STATUSES, ConfirmationRequest, RequestStatus


def _pending_claim(session: Session, *, subscriber_id: int, claim_id: int) -> Claim:
    """The company's claim, locked; NotFound outside the company, Conflict once decided."""
    claim = session.scalars(
        select(Claim)
        .where(Claim.id == claim_id, Claim.subscriber_id == subscriber_id)
        .with_for_update()
    ).one_or_none()
    if claim is None:
        raise NotFound(Text("claim.not_found", claim_id=claim_id))
    if claim.status is not ClaimStatus.PENDING:
        raise Conflict(
            Text("claim.decided", claim_id=claim_id, status=claim.status.value),
            claim_id=claim_id,
            current_status=claim.status.value,
        )
    return claim


def _registration_from_person(
    vault: PersonalDataVault, person: Person, *, number_id: int, actor: Actor, now: dt.datetime
) -> Registration:
    """A company registration whose data are the person's portal-verified data."""
    pd = vault.open(person.pd_sealed)
    snils = pd.get("snils")
    return Registration(
        number_id=number_id,
        kind=SimKind.EMPLOYEE,
        last_name=person.last_name,
        first_name=person.first_name,
        patronymic=person.patronymic,
        name_key=person.name_key,
        doc_type=DocumentType.RU_PASSPORT.value,
        # The same payload shape as a company-submitted employee; the portal gives no issue
        # details, so those stay empty.
        pd_sealed=vault.seal(
            {
                "doc_series": pd["doc_series"],
                "doc_number": pd["doc_number"],
                "birth_date": pd["birth_date"],
                "issued_on": None,
                "issuer": None,
                "issuer_code": None,
                "snils": snils,
            }
        ),
        pd_key_id=vault.active_key_id,
        doc_hash=person.doc_hash,
        birth_date_hash=person.birth_date_hash,
        snils_hash=vault.lookup_hash("snils", snils) if snils else None,
        source=CLAIM_SOURCE,
        submitted_by=actor.id,
        created_at=now,
    )


def approve_claim(
    session: Session,
    vault: PersonalDataVault,
    *,
    subscriber_id: int,
    claim_id: int,
    actor: Actor,
    now: dt.datetime,
) -> Claim:
    """The admin approves: the person becomes the number's user, already confirmed.

    The current registration (if any) ends; the new one carries the person's verified data
    and source "claim"; the number becomes active. Conflict when the claim is not pending or
    the number has left the registry since (reject the claim then).
    """
    claim = _pending_claim(session, subscriber_id=subscriber_id, claim_id=claim_id)
    number = _number_of_claim(session, claim, subscriber_id=subscriber_id)
    person = session.get_one(Person, claim.person_id)
    old = _end_current_registration(session, number_id=number.id, now=now)
    registration = _registration_from_person(
        vault, person, number_id=number.id, actor=actor, now=now
    )
    session.add(registration)
    session.flush()
    number.sim_kind = SimKind.EMPLOYEE
    number.deadline_stale = True
    if old is not None:
        number.user_changed_on = now.astimezone(MOSCOW).date()
    activate_confirmed(
        session,
        number,
        actor=actor,
        reason="the company approved the person's own claim; the person is confirmed",
        registration_id=registration.id,
        now=now,
    )
    claim.status = ClaimStatus.APPROVED
    claim.reason = "Компания одобрила заявку: номер зарегистрирован на вас и активен."
    claim.registration_id = registration.id
    claim.decided_at, claim.decided_by = now, actor.id
    session.flush()
    settle_stale_deadlines(session, scope=[PhoneNumber.id == number.id], actor=actor, now=now)
    session.refresh(number)
    return claim


def _number_of_claim(session: Session, claim: Claim, *, subscriber_id: int) -> PhoneNumber:
    """The claimed number, locked; IllegalTransition once it has left the registry."""
    if claim.number_id is None:  # pending claims always name their number
        raise Conflict(Text("claim.no_number", claim_id=claim.id))
    number = session.scalars(
        select(PhoneNumber)
        .where(PhoneNumber.id == claim.number_id, PhoneNumber.subscriber_id == subscriber_id)
        .with_for_update()
    ).one_or_none()
    if number is None or number.status in lifecycle.LEAVING:
        raise lifecycle.IllegalTransition(
            Text("claim.number_left", claim_id=claim.id),
            claim_id=claim.id,
        )
    return number


def _end_current_registration(
    session: Session, *, number_id: int, now: dt.datetime
) -> Registration | None:
    """End the number's current registration, if any, for the person's; the one ended."""
    old = current_registration(session, number_id=number_id)
    if old is None:
        return None
    old.ended_at = now
    old.end_reason = "superseded by the person's approved claim"
    # Requests for the old registration have nobody to ask any more.
    session.execute(
        update(ConfirmationRequest)
        .where(
            ConfirmationRequest.registration_id == old.id,
            ConfirmationRequest.status.in_([s.value for s in LIVE_REQUEST_STATUSES]),
        )
        .values(status=RequestStatus.CANCELLED, matched_at=now)
        .execution_options(synchronize_session=False)
    )
    # The partial unique index allows one current registration per number: end the old one
    # in the database before the new one is inserted.
    session.flush()
    return old


def reject_claim(
    session: Session,
    *,
    subscriber_id: int,
    claim_id: int,
    reason: str | None,
    actor: Actor,
    now: dt.datetime,
) -> Claim:
    """The admin rejects the claim; the number and its registration stay as they are."""
    claim = _pending_claim(session, subscriber_id=subscriber_id, claim_id=claim_id)
    claim.status = ClaimStatus.DECLINED
    claim.reason = reason or "Компания отклонила заявку."
    claim.decided_at, claim.decided_by = now, actor.id
    session.flush()
    return claim
