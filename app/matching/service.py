"""The operator's matching run (DOMAIN.md, flow A), set-based and idempotent.

devices with valid data → active at once; employees → one confirmation request each;
answers: declined → declined, confirmed → the company's data compared with the person's
verified data through keyed hashes inside SQL → active or mismatch (naming the fields, never
the values); no answer within the window → expired. Running it twice changes nothing the
second time: every step selects only rows that still need it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import (
    Select,
    String,
    Update,
    case,
    exists,
    func,
    insert,
    literal,
    not_,
    select,
    update,
)
from sqlalchemy.orm import Session

from app.core.actors import Actor, ActorKind
from app.core.errors import Conflict, NotFound
from app.core.messages import Text
from app.db.base import UtcDateTime
from app.matching import repository
from app.numbers import lifecycle
from app.numbers.models import NumberStatus, PhoneNumber, Registration, SimKind
from app.portal.models import (
    LIVE_REQUEST_STATUSES,
    ConfirmationRequest,
    PortalAnswer,
    RequestStatus,
)
from app.work.models import WorkKind

MATCHING_JOB = Actor(ActorKind.OPERATOR_JOB, "matching")
S = NumberStatus
_LIVE = [s.value for s in LIVE_REQUEST_STATUSES]


@dataclass
class MatchReport:
    """What one run did."""

    devices_activated: int = 0
    requests_created: int = 0
    requests_cancelled: int = 0
    confirmed_active: int = 0
    mismatched: int = 0
    declined: int = 0
    expired: int = 0

    def as_dict(self) -> dict[str, int]:
        """For the API and the command line."""
        return asdict(self)


AnySelect = Select[*tuple[Any, ...]]


NumberRange = tuple[int, int] | None


def _scope(query: AnySelect, operator_id: int | None, numbers: NumberRange = None) -> AnySelect:
    if operator_id is not None:
        query = query.where(PhoneNumber.operator_id == operator_id)
    if numbers is not None:
        query = query.where(PhoneNumber.id >= numbers[0], PhoneNumber.id < numbers[1])
    return query


def _request_scope(operator_id: int | None, numbers: NumberRange) -> list[Any]:
    """The same scope, said of confirmation requests."""
    scope: list[Any] = []
    if operator_id is not None:
        scope.append(ConfirmationRequest.operator_id == operator_id)
    if numbers is not None:
        scope += [
            ConfirmationRequest.number_id >= numbers[0],
            ConfirmationRequest.number_id < numbers[1],
        ]
    return scope


def _registration_scope(numbers: NumberRange) -> list[Any]:
    """The id range, said of registrations: it lets each batch read its own registrations by
    the current-registration index instead of scanning all of them."""
    if numbers is None:
        return []
    return [Registration.number_id >= numbers[0], Registration.number_id < numbers[1]]


def run_matching(
    session: Session,
    *,
    now: dt.datetime,
    window: dt.timedelta,
    operator_id: int | None = None,
    actor: Actor = MATCHING_JOB,
    numbers: NumberRange = None,
) -> MatchReport:
    """One matching run over every number (or one operator's, or the ids in `numbers` =
    [low, high)). The caller commits."""
    report = MatchReport()
    report.requests_cancelled = _cancel_orphaned_requests(
        session, now=now, operator_id=operator_id, numbers=numbers
    )
    report.devices_activated = _activate_devices(
        session, now=now, operator_id=operator_id, actor=actor, numbers=numbers
    )
    answered = _apply_answers(
        session, now=now, operator_id=operator_id, actor=actor, numbers=numbers
    )
    report.confirmed_active, report.mismatched, report.declined = answered
    # After the answers: a number they decided is no longer waiting for a request, so the
    # search for registrations without one skips it (a million answered numbers cost 3 s).
    report.requests_created = _create_requests(
        session, now=now, window=window, operator_id=operator_id, numbers=numbers
    )
    report.expired = _expire(
        session, now=now, operator_id=operator_id, actor=actor, numbers=numbers
    )
    return report


def _cancel_orphaned_requests(
    session: Session, *, now: dt.datetime, operator_id: int | None, numbers: NumberRange
) -> int:
    """A request for a registration that was replaced or removed has nobody to ask any more."""
    result = session.execute(
        update(ConfirmationRequest)
        .where(
            *_request_scope(operator_id, numbers),
            ConfirmationRequest.status.in_(_LIVE),
            ConfirmationRequest.registration_id.in_(
                select(Registration.id).where(Registration.ended_at.is_not(None))
            ),
        )
        .values(status=RequestStatus.CANCELLED, matched_at=now)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def _current(kind: SimKind) -> Any:
    return exists().where(
        Registration.number_id == PhoneNumber.id,
        Registration.ended_at.is_(None),
        Registration.kind == kind,
    )


def _activate_devices(
    session: Session,
    *,
    now: dt.datetime,
    operator_id: int | None,
    actor: Actor,
    numbers: NumberRange,
) -> int:
    """Device SIMs need no person: valid data submitted → active (a suspended one resumes)."""
    waiting = [S.UNREGISTERED, S.SUSPENDED]
    candidates = _scope(
        select(PhoneNumber.id).where(PhoneNumber.status.in_(waiting), _current(SimKind.DEVICE)),
        operator_id,
        numbers,
    )
    # The operator's systems switch the SIM on in the network: one work item each.
    return lifecycle.transition_selected(
        session,
        candidates,
        S.ACTIVE,
        actor=actor,
        reason="device data valid; activated by the matching step",
        at=now,
        only_from=waiting,
        work_kind=WorkKind.ACTIVATE.value,
    )


def _create_requests(
    session: Session,
    *,
    now: dt.datetime,
    window: dt.timedelta,
    operator_id: int | None,
    numbers: NumberRange,
) -> int:
    """One confirmation request per current employee registration that has never had one."""
    needs = _scope(
        select(
            Registration.id,
            PhoneNumber.id,
            PhoneNumber.operator_id,
            PhoneNumber.subscriber_id,
            Registration.doc_hash,
            literal(RequestStatus.QUEUED.value, String()),
            literal(0),
            literal(now, UtcDateTime()),
            literal(now + window, UtcDateTime()),
        )
        .join(PhoneNumber, PhoneNumber.id == Registration.number_id)
        .where(
            Registration.ended_at.is_(None),
            Registration.kind == SimKind.EMPLOYEE,
            PhoneNumber.status.in_([S.PENDING_CONFIRMATION, S.SUSPENDED]),
            *_registration_scope(numbers),
            # A registration's requests are those of its number: the number index finds them,
            # and the range keeps a batch to its own requests.
            not_(
                exists().where(
                    ConfirmationRequest.number_id == Registration.number_id,
                    ConfirmationRequest.registration_id == Registration.id,
                    *_request_scope(None, numbers),
                )
            ),
        ),
        operator_id,
        numbers,
    )
    columns = [
        "registration_id", "number_id", "operator_id", "subscriber_id", "doc_hash", "status",
        "attempts", "created_at", "expires_at",
    ]  # fmt: skip
    result = session.execute(
        insert(ConfirmationRequest)
        .from_select(columns, needs)
        # psycopg's row count of an INSERT … SELECT is dropped unless asked for.
        .execution_options(preserve_rowcount=True)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


# Where an answered request's number goes, by the outcome the matching decided.
_ANSWER_MOVES = {
    # A suspended number whose user is confirmed is reactivated automatically.
    "active": lifecycle.Move(
        S.ACTIVE,
        "the person confirmed; the company's data match the verified data",
        only_from=(S.PENDING_CONFIRMATION, S.SUSPENDED),
        work_kind=WorkKind.ACTIVATE.value,
    ),
    "mismatch": lifecycle.Move(
        S.MISMATCH,
        "the person confirmed, but the company's data differ from the verified data",
        only_from=(S.PENDING_CONFIRMATION,),
    ),
    "declined": lifecycle.Move(
        S.DECLINED,
        "the person declined: they do not use this number",
        only_from=(S.PENDING_CONFIRMATION,),
    ),
}


def _apply_answers(
    session: Session,
    *,
    now: dt.datetime,
    operator_id: int | None,
    actor: Actor,
    numbers: NumberRange,
) -> tuple[int, int, int]:
    """Compare every answered request with the company's data and move its number."""
    # First one pass over the answered requests joined to their registrations (UPDATE … FROM)
    # decides each: the outcome and the names of the fields that differed, never the values.
    # The numbers then move by the decided outcome, with no second look at the registrations.
    decide = _decision(now=now, operator_id=operator_id, numbers=numbers)

    def numbers_decided(outcome: str) -> AnySelect:
        """Numbers of the requests this run has just decided with `outcome`."""
        return select(ConfirmationRequest.number_id).where(
            ConfirmationRequest.status == RequestStatus.MATCHED,
            ConfirmationRequest.matched_at == literal(now, UtcDateTime()),
            ConfirmationRequest.outcome == outcome,
            *_request_scope(operator_id, numbers),
        )

    moved = repository.decide_and_move(
        session, decide, _ANSWER_MOVES, actor=actor, now=now, decided_numbers=numbers_decided
    )
    return moved["active"], moved["mismatch"], moved["declined"]


def _decision(*, now: dt.datetime, operator_id: int | None, numbers: NumberRange) -> Update:
    """The UPDATE that decides each answered request in scope: its outcome and the names of
    the fields that differed."""
    declined = ConfirmationRequest.answer == PortalAnswer.DECLINED

    def differs(mine: Any, verified: Any) -> Any:
        return case((mine.is_distinct_from(verified), 1), else_=0)

    name_differs = differs(Registration.name_key, ConfirmationRequest.verified_name_key)
    birth_differs = differs(Registration.birth_date_hash, ConfirmationRequest.verified_birth_hash)
    doc_differs = differs(Registration.doc_hash, ConfirmationRequest.verified_doc_hash)
    fields = func.trim(
        case((name_differs == 1, "full_name "), else_="")
        + case((birth_differs == 1, "birth_date "), else_="")
        + case((doc_differs == 1, "document"), else_="")
    )
    return (
        update(ConfirmationRequest)
        .where(
            ConfirmationRequest.status == RequestStatus.ANSWERED,
            *_request_scope(operator_id, numbers),
            Registration.id == ConfirmationRequest.registration_id,
            # Answered requests are for current registrations (the orphans were cancelled
            # above), so the batch reads its own registrations by the current-number index.
            Registration.ended_at.is_(None),
            *_registration_scope(numbers),
        )
        .values(
            status=RequestStatus.MATCHED,
            matched_at=now,
            outcome=case(
                (declined, "declined"),
                ((name_differs + birth_differs + doc_differs) == 0, "active"),
                else_="mismatch",
            ),
            mismatch_fields=case(
                (declined, None),
                else_=func.nullif(func.replace(fields, " ", ","), ""),
            ),
        )
    )


def _expire(
    session: Session,
    *,
    now: dt.datetime,
    operator_id: int | None,
    actor: Actor,
    numbers: NumberRange,
) -> int:
    """No answer within the confirmation window: the request and its number expire."""
    overdue = [
        ConfirmationRequest.status.in_([RequestStatus.QUEUED, RequestStatus.SENT]),
        ConfirmationRequest.expires_at < now,
        *_request_scope(operator_id, numbers),
    ]
    lifecycle.transition_selected(
        session,
        select(ConfirmationRequest.number_id).where(*overdue),
        S.EXPIRED,
        actor=actor,
        reason="no answer within the confirmation window",
        at=now,
        only_from=[S.PENDING_CONFIRMATION],
    )
    result = session.execute(
        update(ConfirmationRequest)
        .where(*overdue)
        .values(status=RequestStatus.EXPIRED, outcome="expired", matched_at=now)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def resend_request(
    session: Session,
    *,
    number: PhoneNumber,
    actor: Actor,
    now: dt.datetime,
    window: dt.timedelta,
) -> ConfirmationRequest:
    """The admin asks the person again after the request expired or was declined."""
    current = session.scalars(
        select(Registration).where(
            Registration.number_id == number.id, Registration.ended_at.is_(None)
        )
    ).one_or_none()
    if current is None or current.kind is not SimKind.EMPLOYEE:
        raise Conflict(Text("confirmation.no_employee", number_id=number.id))
    live = session.scalar(
        select(ConfirmationRequest.id).where(
            ConfirmationRequest.registration_id == current.id,
            ConfirmationRequest.status.in_(_LIVE),
        )
    )
    if live is not None:
        raise Conflict(Text("confirmation.on_its_way", number_id=number.id))
    if number.status not in (S.EXPIRED, S.DECLINED, S.SUSPENDED):
        raise Conflict(
            Text("confirmation.resend_refused", number_id=number.id, status=number.status.value)
        )
    request = ConfirmationRequest(
        registration_id=current.id,
        number_id=number.id,
        operator_id=number.operator_id,
        subscriber_id=number.subscriber_id,
        doc_hash=current.doc_hash,
        status=RequestStatus.QUEUED,
        attempts=0,
        created_at=now,
        expires_at=now + window,
    )
    session.add(request)
    # A suspended number stays suspended until the person confirms.
    lifecycle.transition_unless(
        session,
        number,
        S.PENDING_CONFIRMATION,
        kept={S.SUSPENDED},
        actor=actor,
        reason="the company resent the confirmation request",
        at=now,
        registration_id=current.id,
    )
    session.flush()
    return request


def requests_of_number(session: Session, *, number_id: int) -> list[ConfirmationRequest]:
    """Every confirmation request of a number, newest first."""
    return list(
        session.scalars(
            select(ConfirmationRequest)
            .where(ConfirmationRequest.number_id == number_id)
            .order_by(ConfirmationRequest.id.desc())
        )
    )


def get_request(session: Session, *, request_id: int) -> ConfirmationRequest:
    """One request or NotFound."""
    request = session.get(ConfirmationRequest, request_id)
    if request is None:
        raise NotFound(Text("confirmation.not_found", request_id=request_id))
    return request
