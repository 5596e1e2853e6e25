"""Telling people of the deadline run's work exactly once: the `deadline_notices` ledger (one row
per number, kind, threshold and deadline) and the person messages queued from it.

A flag goes to a person who holds a request to confirm; a suspension or termination to the
person the current registration names, if they were asked and did not decline. The company's
digest (`app.deadlines.digests`) covers every number.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import ColumnElement, Select, String, and_, cast, exists, func, literal, or_, select
from sqlalchemy.orm import Session, aliased

from app.db.base import UtcDateTime
from app.db.session import insert_ignoring_duplicates
from app.deadlines.models import DeadlineNotice, NoticeKind
from app.notifications.models import Audience, Notification, NotificationStatus
from app.numbers.models import NumberStatus, PhoneNumber, Registration
from app.portal.models import ConfirmationRequest, PortalAnswer, RequestStatus

N = PhoneNumber

NOTICE_COLUMNS = [
    "number_id", "subscriber_id", "kind", "threshold", "deadline_at", "run_id", "created_at",
]  # fmt: skip
MESSAGE_COLUMNS = [
    "dedupe_key", "audience", "event", "subscriber_id", "number_id", "msisdn", "threshold",
    "deadline_at", "status", "attempts", "next_attempt_at", "created_at",
]  # fmt: skip


def notices_of_moved(
    session: Session,
    in_range: list[ColumnElement[bool]],
    *,
    kind: NoticeKind,
    status: NumberStatus,
    now: dt.datetime,
    run_id: str,
) -> None:
    """Ledger rows for the numbers this run just moved to `status` (moved at `now`)."""
    rows = select(
        N.id,
        N.subscriber_id,
        literal(kind.value, String()),
        literal(0),
        N.deadline_at,
        literal(run_id, String()),
        literal(now, UtcDateTime()),
    ).where(
        *in_range,
        N.status == status,
        N.status_changed_at == literal(now, UtcDateTime()),
        N.deadline_at.is_not(None),
    )
    session.execute(
        insert_ignoring_duplicates(session, DeadlineNotice.__table__).from_select(
            NOTICE_COLUMNS, rows
        )
    )


def message_rows(notice: Any, msisdn: Any, now: dt.datetime) -> Select[Any]:
    """Outbox rows of person messages, one per notice; the notice id is the message's key."""
    return select(
        literal("notice:", String()) + cast(notice.c.id, String()),
        literal(Audience.PERSON.value, String()),
        notice.c.kind,
        notice.c.subscriber_id,
        notice.c.number_id,
        msisdn,
        notice.c.threshold,
        notice.c.deadline_at,
        literal(NotificationStatus.PENDING.value, String()),
        literal(0),
        literal(now, UtcDateTime()),
        literal(now, UtcDateTime()),
    )


def _latest_request(number_id: Any) -> Any:
    """The latest confirmation request of the number's current registration (its id)."""
    # Aliased: the callers' EXISTS reads confirmation_requests too, and would otherwise take
    # this subquery's rows for its own (correlation).
    request, current = aliased(ConfirmationRequest), aliased(Registration)
    return (
        select(func.max(request.id))
        .select_from(request)
        .join(current, current.id == request.registration_id)
        .where(request.number_id == number_id, current.ended_at.is_(None))
        .correlate_except(request, current)
        .scalar_subquery()
    )


def request_waits_for_person(number_id: Any) -> ColumnElement[bool]:
    """The person has the number's request in hand (sent, not answered): a warning tells them
    to confirm it. Before it is sent there is nothing they can do, and no warning."""
    return exists().where(
        ConfirmationRequest.id == _latest_request(number_id),
        ConfirmationRequest.status == RequestStatus.SENT,
    )


def person_was_asked(number_id: Any) -> ColumnElement[bool]:
    """The person the current registration names was asked, and did not say the number is not
    theirs: only they are told of its suspension. Someone who declined, or whose registration
    ended, is not; the company's digest covers every number."""
    return exists().where(
        ConfirmationRequest.id == _latest_request(number_id),
        ConfirmationRequest.sent_at.is_not(None),
        or_(
            ConfirmationRequest.answer.is_(None),
            ConfirmationRequest.answer != PortalAnswer.DECLINED,
        ),
    )


def queue_person_messages(
    session: Session, low: int, high: int, *, run_id: str, now: dt.datetime
) -> int:
    """One outbox message per notice of this run whose number has a person to tell: a flag
    goes to a person asked to confirm; a suspension or termination to an employee user."""
    notice = DeadlineNotice
    for_person = or_(
        and_(
            notice.kind == NoticeKind.FLAG,
            N.status == NumberStatus.PENDING_CONFIRMATION,
            request_waits_for_person(N.id),
        ),
        and_(notice.kind != NoticeKind.FLAG, person_was_asked(N.id)),
    )
    table = DeadlineNotice.__table__
    rows = (
        message_rows(table, N.msisdn, now)
        .join(N, N.id == notice.number_id)
        .where(
            notice.run_id == run_id,
            notice.number_id >= low,
            notice.number_id < high,
            for_person,
        )
    )
    result = session.execute(
        insert_ignoring_duplicates(session, Notification.__table__)
        .from_select(MESSAGE_COLUMNS, rows)
        .execution_options(preserve_rowcount=True)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
