"""Rules for numbers: adding them in bulk, finding them, naming their users, changing status."""

from __future__ import annotations

import datetime as dt
import itertools
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import ColumnElement, Select, func, insert, select
from sqlalchemy.orm import Session

from app.companies.models import Contract, CorporateSubscriber, SubscriberStatus
from app.core.actors import Actor
from app.core.clock import MOSCOW
from app.core.errors import Conflict, FieldProblem, InvalidInput, NotFound, PreconditionFailed
from app.core.identifiers import InvalidIdentifier, normalize_iccid, normalize_msisdn
from app.core.messages import Text
from app.core.personal_data import (
    PersonalDataVault,
    mask_birth_date,
    mask_passport,
    mask_snils,
)
from app.numbers import lifecycle, new_user
from app.numbers.models import NumberStatus, PhoneNumber, Registration, SimKind, StatusEvent
from app.numbers.registration_rules import (
    CleanDevice,
    CleanEmployee,
    birth_date_hash,
    check_device,
    check_employee,
    document_hash,
)
from app.numbers.schemas import DeviceIn, EmployeeIn, NumberIn, RegistrationOut

_INSERT_CHUNK = 5_000


def add_numbers(
    session: Session,
    *,
    contract_id: int,
    items: Sequence[NumberIn],
    actor: Actor,
    now: dt.datetime,
    max_count: int,
) -> list[tuple[int, str]]:
    """Add the numbers a company holds under a contract, all or none.

    Every bad phone or ICCID is reported at once; numbers that already exist for the operator
    (or repeat within the request) make a 409 that lists them. New numbers start `unregistered`.
    """
    if len(items) > max_count:
        raise InvalidInput(
            Text("numbers.too_many", count=len(items), max_count=max_count),
            errors=[
                FieldProblem(
                    "numbers", "numbers.too_many", Text("numbers.too_many.field", count=max_count)
                )
            ],
        )
    contract = _open_contract(session, contract_id)
    rows = _clean_numbers(items, today=now.astimezone(MOSCOW).date())
    _refuse_numbers_held(session, operator_id=contract.operator_id, wanted=[m for m, _, _ in rows])
    created = _insert_numbers(session, contract, rows, now=now)
    lifecycle.record_creation(
        session, [i for i, _ in created], actor=actor, reason="number added to the registry", at=now
    )
    return created


def _open_contract(session: Session, contract_id: int) -> Contract:
    """The contract numbers are added under; NotFound, or Conflict once its company is gone."""
    contract = session.get(Contract, contract_id)
    if contract is None:
        raise NotFound(Text("contract.not_found", contract_id=contract_id))
    subscriber = session.get(CorporateSubscriber, contract.subscriber_id)
    if subscriber is None or subscriber.status is SubscriberStatus.LIQUIDATED:
        raise Conflict(Text("contract.company_liquidated", contract_id=contract_id))
    return contract


def _clean_numbers(
    items: Sequence[NumberIn], *, today: dt.date
) -> list[tuple[str, str | None, dt.date]]:
    """Each number's msisdn, ICCID and service start in normal form; InvalidInput naming every
    bad phone or ICCID at once."""
    problems: list[FieldProblem] = []
    rows: list[tuple[str, str | None, dt.date]] = []
    for index, item in enumerate(items):
        try:
            msisdn = normalize_msisdn(item.msisdn)
        except InvalidIdentifier as exc:
            problems.append(FieldProblem(f"numbers[{index}].msisdn", exc.code, exc.message))
            continue
        iccid = None
        if item.iccid:
            try:
                iccid = normalize_iccid(item.iccid)
            except InvalidIdentifier as exc:
                problems.append(FieldProblem(f"numbers[{index}].iccid", exc.code, exc.message))
                continue
        rows.append((msisdn, iccid, item.service_start_on or today))
    if problems:
        raise InvalidInput(
            Text("numbers.invalid", count=len(problems), total=len(items)),
            errors=problems,
        )
    return rows


def _insert_numbers(
    session: Session,
    contract: Contract,
    rows: Sequence[tuple[str, str | None, dt.date]],
    *,
    now: dt.datetime,
) -> list[tuple[int, str]]:
    """Insert the new numbers, `unregistered`, in chunks; their ids and msisdns."""
    created: list[tuple[int, str]] = []
    for start in range(0, len(rows), _INSERT_CHUNK):
        chunk = rows[start : start + _INSERT_CHUNK]
        result = session.execute(
            insert(PhoneNumber).returning(PhoneNumber.id, PhoneNumber.msisdn),
            [
                {
                    "operator_id": contract.operator_id,
                    "subscriber_id": contract.subscriber_id,
                    "contract_id": contract.id,
                    "msisdn": msisdn,
                    "iccid": iccid,
                    "status": NumberStatus.UNREGISTERED,
                    "sim_kind": None,
                    "deadline_at": None,
                    "deadline_stale": True,
                    "service_start_on": start_on,
                    "status_changed_at": now,
                    "created_at": now,
                }
                for msisdn, iccid, start_on in chunk
            ],
        )
        created += [(r.id, r.msisdn) for r in result]
    return created


def _refuse_numbers_held(session: Session, *, operator_id: int, wanted: list[str]) -> None:
    """Conflict when a wanted msisdn repeats in the request, exists for this operator already,
    or is held by another operator: a number in the registry belongs to one operator (and so
    one company) at a time, until it leaves (terminated, transferred)."""
    repeated = [m for m, count in Counter(wanted).items() if count > 1]
    existing: list[str] = []
    elsewhere: list[str] = []
    for start in range(0, len(wanted), _INSERT_CHUNK):
        found = session.execute(
            select(PhoneNumber.msisdn, PhoneNumber.operator_id).where(
                PhoneNumber.msisdn.in_(wanted[start : start + _INSERT_CHUNK]),
                (PhoneNumber.operator_id == operator_id) | ~PhoneNumber.left_registry,
            )
        ).all()
        existing += [m for m, holder in found if holder == operator_id]
        elsewhere += [m for m, holder in found if holder != operator_id]
    if elsewhere:
        held = sorted(set(elsewhere))
        raise Conflict(
            Text("numbers.held_elsewhere", count=len(held)),
            errors=[
                FieldProblem(
                    "msisdn",
                    "msisdn.held_by_another_operator",
                    Text("msisdn.held_by_another_operator", msisdn=m),
                )
                for m in held[:1000]
            ],
            held_elsewhere=held[:1000],
        )
    if repeated or existing:
        duplicates = sorted(set(repeated) | set(existing))
        raise Conflict(
            Text("numbers.duplicates", count=len(duplicates)),
            errors=[
                FieldProblem("msisdn", "msisdn.duplicate", Text("msisdn.duplicate", msisdn=m))
                for m in duplicates[:1000]
            ],
            duplicates=duplicates[:1000],
        )


@dataclass(frozen=True)
class NumberFilter:
    """What an admin may filter their numbers by."""

    statuses: Sequence[NumberStatus] = ()
    kind: SimKind | None = None
    deadline_before: dt.datetime | None = None
    text: str | None = None


def filter_conditions(flt: NumberFilter) -> list[ColumnElement[bool]]:
    """The WHERE conditions of `flt`: the listing and the export of the list share them."""
    conditions: list[ColumnElement[bool]] = []
    if flt.statuses:
        conditions.append(PhoneNumber.status.in_(flt.statuses))
    if flt.kind is not None:
        conditions.append(PhoneNumber.sim_kind == flt.kind)
    if flt.deadline_before is not None:
        conditions.append(PhoneNumber.deadline_at < flt.deadline_before)
    digits = filter_digits(flt)
    if digits:
        conditions.append(PhoneNumber.msisdn.contains(digits, autoescape=True))
    return conditions


def filter_digits(flt: NumberFilter) -> str:
    """The digits the admin searched for: the rest of what they typed is ignored."""
    return "".join(ch for ch in flt.text or "" if ch.isdigit())


# The columns a listing shows of each number, in `NumberOut`'s order.
PAGE_COLUMNS = (
    PhoneNumber.id,
    PhoneNumber.msisdn,
    PhoneNumber.iccid,
    PhoneNumber.operator_id,
    PhoneNumber.subscriber_id,
    PhoneNumber.contract_id,
    PhoneNumber.status,
    PhoneNumber.sim_kind,
    PhoneNumber.deadline_at,
    PhoneNumber.flag_days,
    PhoneNumber.service_start_on,
    PhoneNumber.status_changed_at,
)


def number_page_query(
    *, subscriber_id: int, flt: NumberFilter, after_id: int | None, limit: int
) -> Select[*tuple[Any, ...]]:
    """The listing's columns of a page of a company's numbers, in id order (keyset)."""
    query = (
        select(*PAGE_COLUMNS)
        .where(PhoneNumber.subscriber_id == subscriber_id, *filter_conditions(flt))
        .order_by(PhoneNumber.id)
        .limit(limit)
    )
    if after_id is not None:
        query = query.where(PhoneNumber.id > after_id)
    return query


def list_numbers(
    session: Session,
    *,
    subscriber_id: int | None = None,
    operator_id: int | None = None,
    flt: NumberFilter,
    after_id: int | None,
    limit: int,
) -> list[PhoneNumber]:
    """A page of numbers of one company or one operator, in id order (keyset pagination)."""
    query = select(PhoneNumber).order_by(PhoneNumber.id).limit(limit)
    if subscriber_id is not None:
        query = query.where(PhoneNumber.subscriber_id == subscriber_id)
    if operator_id is not None:
        query = query.where(PhoneNumber.operator_id == operator_id)
    if after_id is not None:
        query = query.where(PhoneNumber.id > after_id)
    return list(session.scalars(query.where(*filter_conditions(flt))))


def get_number(
    session: Session,
    *,
    number_id: int,
    subscriber_id: int | None = None,
    operator_id: int | None = None,
    for_update: bool = False,
) -> PhoneNumber:
    """One number inside the caller's scope; a number outside it is NotFound, as if absent."""
    query = select(PhoneNumber).where(PhoneNumber.id == number_id)
    if subscriber_id is not None:
        query = query.where(PhoneNumber.subscriber_id == subscriber_id)
    if operator_id is not None:
        query = query.where(PhoneNumber.operator_id == operator_id)
    if for_update:
        query = query.with_for_update()
    number = session.scalars(query).one_or_none()
    if number is None:
        raise NotFound(Text("number.not_found", number_id=number_id))
    return number


def current_registration(session: Session, *, number_id: int) -> Registration | None:
    """The number's current registration, if any."""
    return session.scalars(
        select(Registration).where(
            Registration.number_id == number_id, Registration.ended_at.is_(None)
        )
    ).one_or_none()


def registration_view(
    registration: Registration, vault: PersonalDataVault, *, reveal: bool
) -> RegistrationOut:
    """A registration as the caller may see it: personal data in clear only when `reveal`."""
    out = RegistrationOut(
        id=registration.id,
        kind=registration.kind,
        current=registration.ended_at is None,
        created_at=registration.created_at,
        ended_at=registration.ended_at,
        end_reason=registration.end_reason,
        source=registration.source,
    )
    if registration.kind is SimKind.DEVICE:
        out.device_type = registration.device_type
        out.device_model = registration.device_model
        out.device_id = registration.device_id
        out.device_id_kind = registration.device_id_kind
        out.install_address = registration.install_address
        return out
    out.last_name = registration.last_name
    out.first_name = registration.first_name
    out.patronymic = registration.patronymic
    out.doc_type = registration.doc_type
    if registration.pd_sealed is not None:
        pd = vault.open(registration.pd_sealed)
        if reveal:
            out.birth_date = pd["birth_date"]
            out.doc_number = f"{pd['doc_series']} {pd['doc_number']}".strip()
            out.snils = pd.get("snils")
        else:
            out.birth_date = mask_birth_date(pd["birth_date"])
            out.doc_number = (
                mask_passport(pd["doc_series"], pd["doc_number"])
                if pd["doc_series"]
                else "***" + pd["doc_number"][-3:]
            )
            out.snils = mask_snils(pd["snils"]) if pd.get("snils") else None
    return out


def registrations_of(session: Session, *, number_id: int) -> list[Registration]:
    """All registrations of a number, newest first."""
    return list(
        session.scalars(
            select(Registration)
            .where(Registration.number_id == number_id)
            .order_by(Registration.id.desc())
        )
    )


def events_of(session: Session, *, number_id: int) -> list[StatusEvent]:
    """The number's status history, oldest first."""
    return list(
        session.scalars(
            select(StatusEvent).where(StatusEvent.number_id == number_id).order_by(StatusEvent.id)
        )
    )


def _employee_row(clean: CleanEmployee, vault: PersonalDataVault) -> dict[str, object]:
    return {
        "kind": SimKind.EMPLOYEE,
        "last_name": clean.last_name,
        "first_name": clean.first_name,
        "patronymic": clean.patronymic,
        "name_key": clean.name_key,
        "doc_type": clean.doc_type.value,
        "pd_sealed": vault.seal(clean.sealed_payload()),
        "pd_key_id": vault.active_key_id,
        "doc_hash": document_hash(vault, clean.doc_key()),
        "birth_date_hash": birth_date_hash(vault, clean.birth_date),
        "snils_hash": vault.lookup_hash("snils", clean.snils) if clean.snils else None,
    }


def _device_row(clean: CleanDevice) -> dict[str, object]:
    return {
        "kind": SimKind.DEVICE,
        "device_type": clean.device_type,
        "device_model": clean.model,
        "device_id": clean.identifier,
        "device_id_kind": clean.identifier_kind,
        "install_address": clean.install_address,
    }


Outcome = Literal["created", "superseded", "unchanged"]


class VersionRequired(Conflict):
    """A confirmed user would be replaced by a request that did not show it knew them."""

    type_slug = "registration-version-required"


@dataclass(frozen=True)
class ReplaceConsent:
    """What a request to name a user brought to replace a confirmed one: the ETag it read
    (`If-Match`) or `replace=true`. Uploads and claims do not ask for it."""

    if_match: str | None = None
    replace: bool = False


def registration_version(number: PhoneNumber, current: Registration | None) -> str:
    """The ETag of the number's registration: its current registration and status, so a new
    user, a removal or a confirmation each make it another."""
    return f'"{current.id if current is not None else 0}-{number.status.value}"'


def _check_consent(
    number: PhoneNumber,
    current: Registration | None,
    consent: ReplaceConsent,
    *,
    same_user: bool,
) -> None:
    """412 for an If-Match that is not the current version; 409 for replacing a confirmed user
    (an active number's) with neither If-Match nor replace=true."""
    if consent.if_match is not None:
        sent = {tag.strip().removeprefix("W/") for tag in consent.if_match.split(",")}
        if registration_version(number, current) not in sent:
            raise PreconditionFailed(
                Text("registration.replace.stale", number_id=number.id), number_id=number.id
            )
        return
    confirmed = current is not None and number.status is NumberStatus.ACTIVE
    if confirmed and not same_user and not consent.replace:
        raise VersionRequired(
            Text("registration.replace.confirmed", number_id=number.id), number_id=number.id
        )


# Terminated and transferred numbers have left the registry: no new user, no removal.
_FINAL = (NumberStatus.TERMINATED, NumberStatus.TRANSFERRED)


def register_user(
    session: Session,
    vault: PersonalDataVault,
    *,
    number: PhoneNumber,
    data: EmployeeIn | DeviceIn,
    actor: Actor,
    source: str,
    now: dt.datetime,
    today: dt.date,
    consent: ReplaceConsent | None = None,
) -> tuple[Outcome, Registration]:
    """Name who uses a number (flow A / C), by the rule of `app.numbers.new_user`.

    An employee needs the person's confirmation: the number goes to `pending_confirmation`.
    A device waits for the operator's matching step, which activates it; if the number was
    serving someone else, it counts as unregistered until then. A suspended number stays
    suspended until the new user is confirmed. The same user again changes nothing. With
    `consent` (the API's PUT), a confirmed user is replaced only by a request that shows the
    current version or says replace=true.
    """
    if number.status in new_user.FINAL:
        raise lifecycle.IllegalTransition(
            Text("number.left_registry", number_id=number.id, status=number.status.value),
            number_id=number.id,
            current_status=number.status.value,
        )
    row = _user_row(data, vault, today=today)
    current = current_registration(session, number_id=number.id)
    same = current is not None and new_user.same_user(current, row)
    if consent is not None:
        _check_consent(number, current, consent, same_user=same)
    if current is not None and same:
        return "unchanged", current
    if current is not None:
        current.ended_at = now
        current.end_reason = new_user.end_reason()
        session.flush()
    registration = Registration(
        number_id=number.id, source=source, submitted_by=actor.id, created_at=now, **row
    )
    session.add(registration)
    session.flush()
    values = new_user.number_values(registration.kind, superseded=current is not None, now=now)
    for name, value in values.items():
        setattr(number, name, value)
    number.deadline_stale = True  # the caller settles it (`settle_stale_deadlines`)
    move = new_user.MOVES[registration.kind]
    if number.status in move.sources:
        lifecycle.transition(
            session,
            number,
            move.target,
            actor=actor,
            reason=move.reason,
            at=now,
            registration_id=registration.id,
        )
    return ("superseded" if current is not None else "created"), registration


def _user_row(
    data: EmployeeIn | DeviceIn, vault: PersonalDataVault, *, today: dt.date
) -> dict[str, object]:
    """A registration's user columns from a request, or InvalidInput with every problem."""
    if isinstance(data, EmployeeIn):
        clean_employee, problems = check_employee(data, today=today)
        row = _employee_row(clean_employee, vault) if clean_employee else {}
    else:
        clean_device, problems = check_device(data)
        row = _device_row(clean_device) if clean_device else {}
    if problems:
        raise InvalidInput(Text("registration.invalid", count=len(problems)), errors=problems)
    return row


def remove_registration(
    session: Session, *, number: PhoneNumber, actor: Actor, reason: str, now: dt.datetime
) -> Registration:
    """Flow C: the user left; the number counts as unregistered (a suspended one stays so)."""
    current = current_registration(session, number_id=number.id)
    if current is None:
        raise Conflict(Text("registration.none_to_remove", number_id=number.id))
    if number.status in _FINAL:
        raise lifecycle.IllegalTransition(
            Text("number.closed", number_id=number.id, status=number.status.value),
            number_id=number.id,
            current_status=number.status.value,
        )
    current.ended_at = now
    current.end_reason = reason
    number.sim_kind = None
    number.deadline_stale = True
    lifecycle.transition_unless(
        session,
        number,
        NumberStatus.UNREGISTERED,
        kept={NumberStatus.UNREGISTERED, NumberStatus.SUSPENDED},
        actor=actor,
        reason=reason,
        at=now,
        registration_id=current.id,
    )
    session.flush()
    return current


def number_id_ranges(
    session: Session, step: int, *where: ColumnElement[bool], workers: int = 1
) -> list[tuple[int, int]]:
    """[low, high) ranges of number ids, at most `step` wide, covering the numbers meeting
    `where`: the batches of the set-based runs (deadlines, matching). Their count is a multiple
    of `workers`, so that workers running them side by side finish together (five 250k batches
    on two workers ran the last one alone: a sixth of the run on one core)."""
    low, high = session.execute(
        select(func.min(PhoneNumber.id), func.max(PhoneNumber.id)).where(*where)
    ).one()
    if low is None:
        return []
    return split_ids(low, high + 1, step=step, workers=workers)


def split_ids(low: int, high: int, *, step: int, workers: int = 1) -> list[tuple[int, int]]:
    """[low, high) cut into equal ranges at most `step` wide, as many as a multiple of
    `workers` (see `number_id_ranges`)."""
    span = high - low
    count = -(-span // step)
    count = min(span, -(-count // workers) * workers)
    cuts = [low + span * k // count for k in range(count + 1)]
    return list(itertools.pairwise(cuts))
