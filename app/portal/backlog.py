"""The confirmation backlog as people need to see it: how many requests wait to be sent, for how
long, when each will go at the portal's rate, and which numbers' deadlines come first.

Requests leave each operator's queue oldest first at SIMREG_PORTAL_RATE_PER_OPERATOR, so a
queued request's place in its queue tells when it will be sent: now + place / rate. A number
whose deadline falls before that moment would be suspended with its request still waiting:
staff see how many there are (GET /api/v1/reports/confirmation-backlog and the metric
`simreg_confirmation_queue_late_numbers`) before it happens.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from prometheus_client import Gauge
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.companies.models import Operator
from app.core.runtime import Runtime
from app.portal import repository
from app.portal.models import ConfirmationRequest, PortalSendAllowance, RequestStatus

QUEUE_REQUESTS = Gauge(
    "simreg_confirmation_queue_requests",
    "Confirmation requests waiting to be sent to the identity portal, by operator "
    "(refreshed by the metrics job).",
    ["operator"],
)
QUEUE_OLDEST_AGE = Gauge(
    "simreg_confirmation_queue_oldest_age_seconds",
    "Age of the oldest confirmation request waiting to be sent, by operator.",
    ["operator"],
)
QUEUE_DRAIN = Gauge(
    "simreg_confirmation_queue_drain_seconds",
    "Time to send every waiting confirmation request at the portal's rate, by operator.",
    ["operator"],
)
QUEUE_LATE = Gauge(
    "simreg_confirmation_queue_late_numbers",
    "Numbers whose deadline falls before their waiting confirmation request can be sent at "
    "the portal's rate, by operator.",
    ["operator"],
)

Q = ConfirmationRequest


def send_eta(queued_before: int, *, rate: float, now: dt.datetime) -> dt.datetime:
    """When a request with `queued_before` requests ahead of it in its queue will be sent."""
    if rate <= 0:
        return now
    return now + dt.timedelta(seconds=(queued_before + 1) / rate)


@dataclass
class OperatorBacklog:
    """One operator's send queue."""

    operator_id: int
    operator_code: str
    queued: int
    waiting_to_retry: int  # queued, but held back after an error
    oldest_queued_at: dt.datetime | None
    sent_awaiting_answer: int
    drain_seconds: float | None  # None: no rate limit
    last_sent_eta: dt.datetime | None
    late_numbers: int  # deadline before their request can be sent
    paused_until: dt.datetime | None  # the portal was down

    def as_dict(self) -> dict[str, Any]:
        """For the job log."""
        return {
            k: (v.isoformat() if isinstance(v, dt.datetime) else v) for k, v in vars(self).items()
        }


def operator_backlogs(session: Session, *, rate: float, now: dt.datetime) -> list[OperatorBacklog]:
    """Every operator's queue; a few GROUP BYs over the queued and sent requests."""
    queued = {
        row.operator_id: row
        for row in session.execute(
            select(
                Q.operator_id,
                func.count().label("queued"),
                func.min(Q.created_at).label("oldest"),
                func.count(Q.next_attempt_at).filter(Q.next_attempt_at > now).label("retry"),
            )
            .where(Q.status == RequestStatus.QUEUED)
            .group_by(Q.operator_id)
        )
    }
    sent = dict(
        session.execute(
            select(Q.operator_id, func.count())
            .where(Q.status == RequestStatus.SENT)
            .group_by(Q.operator_id)
        ).all()
    )
    late = repository.late_numbers_by_operator(session, rate=rate, now=now) if rate > 0 else {}
    paused = dict(
        session.execute(
            select(PortalSendAllowance.operator_id, PortalSendAllowance.paused_until).where(
                PortalSendAllowance.paused_until > now
            )
        ).all()
    )
    result = []
    for operator_id, code in session.execute(
        select(Operator.id, Operator.code).order_by(Operator.id)
    ):
        row = queued.get(operator_id)
        count = int(row.queued) if row else 0
        result.append(
            OperatorBacklog(
                operator_id=operator_id,
                operator_code=code,
                queued=count,
                waiting_to_retry=int(row.retry) if row else 0,
                oldest_queued_at=row.oldest if row else None,
                sent_awaiting_answer=int(sent.get(operator_id, 0)),
                drain_seconds=count / rate if rate > 0 else None,
                last_sent_eta=send_eta(count - 1, rate=rate, now=now) if count else None,
                late_numbers=int(late.get(operator_id, 0)),
                paused_until=paused.get(operator_id),
            )
        )
    return result


def queued_ahead(session: Session, *, operator_id: int, request_id: int) -> int:
    """Requests before this one in its operator's queue (an index-only count)."""
    return int(
        session.scalar(
            select(func.count()).where(
                Q.operator_id == operator_id,
                Q.status == RequestStatus.QUEUED,
                Q.id < request_id,
            )
        )
        or 0
    )


def company_queue_eta(
    session: Session, *, subscriber_id: int, rate: float, now: dt.datetime
) -> dt.datetime | None:
    """When the company's last waiting request will have been sent (None: nothing waits)."""
    last = session.execute(
        select(Q.operator_id, func.max(Q.id))
        .where(Q.subscriber_id == subscriber_id, Q.status == RequestStatus.QUEUED)
        .group_by(Q.operator_id)
    ).all()
    etas = [
        send_eta(
            queued_ahead(session, operator_id=operator_id, request_id=request_id),
            rate=rate,
            now=now,
        )
        for operator_id, request_id in last
    ]
    return max(etas, default=None)


def refresh_backlog_gauges(runtime: Runtime) -> dict[str, Any]:
    """Set the queue gauges from the registry (the metrics job)."""
    now = runtime.clock.now()
    with runtime.sessions() as session:
        backlogs = operator_backlogs(
            session, rate=runtime.settings.portal_rate_per_operator, now=now
        )
    for b in backlogs:
        QUEUE_REQUESTS.labels(operator=b.operator_code).set(b.queued)
        age = (now - b.oldest_queued_at).total_seconds() if b.oldest_queued_at else 0
        QUEUE_OLDEST_AGE.labels(operator=b.operator_code).set(max(age, 0))
        QUEUE_DRAIN.labels(operator=b.operator_code).set(b.drain_seconds or 0)
        QUEUE_LATE.labels(operator=b.operator_code).set(b.late_numbers)
    return {
        "confirmation_queue": sum(b.queued for b in backlogs),
        "confirmation_queue_late": sum(b.late_numbers for b in backlogs),
    }


@dataclass
class CompanyConfirmations:
    """A company's confirmation requests on their way, for its admin."""

    queued: int  # waiting to be sent to the portal
    sent: int  # waiting for the person's answer
    answered: int  # answered; the next matching run decides
    all_sent_by: dt.datetime | None  # when the last queued one will have gone, at the rate


def company_confirmations(
    session: Session, *, subscriber_id: int, rate: float, now: dt.datetime
) -> CompanyConfirmations:
    """The company's live requests by status, and when its queue will have been sent."""
    counts = dict(
        session.execute(
            select(Q.status, func.count())
            .where(
                Q.subscriber_id == subscriber_id,
                Q.status.in_([RequestStatus.QUEUED, RequestStatus.SENT, RequestStatus.ANSWERED]),
            )
            .group_by(Q.status)
        ).all()
    )
    return CompanyConfirmations(
        queued=int(counts.get(RequestStatus.QUEUED, 0)),
        sent=int(counts.get(RequestStatus.SENT, 0)),
        answered=int(counts.get(RequestStatus.ANSWERED, 0)),
        all_sent_by=company_queue_eta(session, subscriber_id=subscriber_id, rate=rate, now=now)
        if counts.get(RequestStatus.QUEUED)
        else None,
    )


@dataclass
class NumberConfirmation:
    """The latest confirmation request of a number's current registration, for its admin."""

    request_id: int
    status: RequestStatus
    created_at: dt.datetime
    sent_at: dt.datetime | None
    answered_at: dt.datetime | None
    expires_at: dt.datetime
    outcome: str | None
    queued_ahead: int | None  # requests before it in its operator's queue (queued only)
    expected_send_at: dt.datetime | None
    last_error: str | None


def number_confirmation(
    session: Session, *, number_id: int, registration_id: int, rate: float, now: dt.datetime
) -> NumberConfirmation | None:
    """Where the request to confirm the number's current user is: queued (and when it will
    go), sent, answered, or decided."""
    request = session.scalars(
        select(Q)
        .where(Q.number_id == number_id, Q.registration_id == registration_id)
        .order_by(Q.id.desc())
        .limit(1)
    ).one_or_none()
    if request is None:
        return None
    ahead = eta = None
    if request.status is RequestStatus.QUEUED:
        ahead = queued_ahead(session, operator_id=request.operator_id, request_id=request.id)
        eta = send_eta(ahead, rate=rate, now=now)
        if request.next_attempt_at is not None and request.next_attempt_at > eta:
            eta = request.next_attempt_at
    return NumberConfirmation(
        request_id=request.id,
        status=request.status,
        created_at=request.created_at,
        sent_at=request.sent_at,
        answered_at=request.answered_at,
        expires_at=request.expires_at,
        outcome=request.outcome,
        queued_ahead=ahead,
        expected_send_at=eta,
        last_error=request.last_error,
    )
