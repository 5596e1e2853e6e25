"""Between "queued" and "answered": sending confirmation requests to the portal, taking answers.

Sending is rate limited per operator (SIMREG_PORTAL_RATE_PER_OPERATOR) and retried with
exponential backoff; a request is never dropped: a portal that is down, slow or refusing
leaves it queued with a later `next_attempt_at`. Answers are recorded as keyed hashes of the
person's verified data, never the data themselves, and recording one twice changes nothing.
"""

from __future__ import annotations

import datetime as dt
import secrets
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import structlog
from prometheus_client import Counter
from sqlalchemy import or_, select
from sqlalchemy.orm import Session
from sqlalchemy.sql import ColumnElement

from app.companies.models import CorporateSubscriber
from app.core.names import normalize_full_name
from app.core.personal_data import PersonalDataVault
from app.core.runtime import Runtime
from app.matching.models import ConfirmationRequest, PortalAnswer, RequestStatus
from app.matching.portal import (
    IdentityPortal,
    PortalAnswerMessage,
    PortalRequest,
    PortalUnavailable,
    SendOutcome,
    portal_request_key,
)
from app.numbers.models import PhoneNumber, Registration
from app.numbers.registration_rules import birth_date_hash, document_hash

log = structlog.get_logger("simreg.portal")

ANSWERS_UNKNOWN = Counter(
    "simreg_portal_answers_unknown_total",
    "Answers from the identity portal for requests the registry does not know.",
)

_ERROR_WIDTH = 500
_random = secrets.SystemRandom()


# --- rate limit -----------------------------------------------------------------------------


class TokenBucket:
    """`rate` requests per second with bursts up to `rate`, on the registry's clock."""

    def __init__(self, rate: float, now: dt.datetime) -> None:
        self.rate = rate
        self.tokens = max(rate, 1.0)
        self.updated = now

    def available(self, now: dt.datetime, rate: float) -> int:
        """Whole requests that may go now (refilled for the time passed since last asked)."""
        self.rate = rate
        # A clock moved backwards (tests, a corrected wall clock) refills nothing.
        elapsed = max((now - self.updated).total_seconds(), 0.0)
        self.tokens = min(max(rate, 1.0), self.tokens + elapsed * rate)
        self.updated = max(now, self.updated)
        return int(self.tokens)

    def take(self, count: int) -> None:
        """Spend `count` requests."""
        self.tokens -= count


class OperatorRateLimiter:
    """One token bucket per operator, shared by every dispatch of this process."""

    def __init__(self) -> None:
        self._buckets: dict[int, TokenBucket] = {}
        self._lock = threading.Lock()

    def reserve(self, operator_id: int, wanted: int, *, rate: float, now: dt.datetime) -> int:
        """Take up to `wanted` requests for the operator; returns how many were granted."""
        with self._lock:
            bucket = self._buckets.setdefault(operator_id, TokenBucket(rate, now))
            granted = min(wanted, bucket.available(now, rate))
            bucket.take(granted)
            return granted

    def refund(self, operator_id: int, count: int) -> None:
        """Give back requests reserved but not sent (fewer rows were due than granted)."""
        if count > 0:
            with self._lock:
                self._buckets[operator_id].take(-count)


# Operator ids mean something only within one database, so buckets are kept per database.
_limiters: dict[str, OperatorRateLimiter] = {}
_limiters_lock = threading.Lock()


def limiter_for(runtime: Runtime) -> OperatorRateLimiter:
    """The process's rate limiter for the runtime's database."""
    with _limiters_lock:
        return _limiters.setdefault(runtime.settings.database_url, OperatorRateLimiter())


# --- backoff --------------------------------------------------------------------------------


def backoff_seconds(attempts: int, *, base: float, cap: float) -> float:
    """Delay before the next try after `attempts` tries: base × 2^(attempts-1), at most `cap`,
    then ±10% jitter so requests that failed together do not all come back together."""
    exponent = min(max(attempts - 1, 0), 60)
    return min(base * 2.0**exponent, cap) * _random.uniform(0.9, 1.1)


# --- sending --------------------------------------------------------------------------------


@dataclass
class SendReport:
    """What one send_queued call did."""

    picked: int = 0
    sent: int = 0
    retry_later: int = 0  # passing errors: tried again after the backoff
    refused: int = 0  # the portal refused the request itself; tried again after the longest wait
    cancelled: int = 0  # the registration ended before its request went out
    portal_unavailable: bool = False
    errors: list[str] = field(default_factory=list)


def _due(now: dt.datetime) -> list[ColumnElement[bool]]:
    return [
        ConfirmationRequest.status == RequestStatus.QUEUED,
        or_(
            ConfirmationRequest.next_attempt_at.is_(None),
            ConfirmationRequest.next_attempt_at <= now,
        ),
        # Past its window a request is for the expiry step, not for the portal.
        ConfirmationRequest.expires_at > now,
    ]


def _pick(
    session: Session, *, operator_id: int, count: int, now: dt.datetime
) -> list[ConfirmationRequest]:
    # SKIP LOCKED: two dispatchers on PostgreSQL take disjoint rows and never send one twice.
    # SQLite has no row locks (and renders no FOR UPDATE); it runs one writer at a time.
    return list(
        session.scalars(
            select(ConfirmationRequest)
            .where(ConfirmationRequest.operator_id == operator_id, *_due(now))
            .order_by(ConfirmationRequest.id)
            .limit(count)
            .with_for_update(skip_locked=True)
        )
    )


def _portal_requests(
    session: Session, vault: PersonalDataVault, picked: Sequence[ConfirmationRequest]
) -> tuple[list[PortalRequest], list[ConfirmationRequest]]:
    """Requests to send, and those whose registration ended (to cancel instead)."""
    rows = session.execute(
        select(Registration, PhoneNumber.msisdn, CorporateSubscriber.name, CorporateSubscriber.inn)
        .join(PhoneNumber, PhoneNumber.id == Registration.number_id)
        .join(CorporateSubscriber, CorporateSubscriber.id == PhoneNumber.subscriber_id)
        .where(Registration.id.in_([r.registration_id for r in picked]))
    ).all()
    by_registration = {reg.id: (reg, msisdn, name, inn) for reg, msisdn, name, inn in rows}
    to_send: list[PortalRequest] = []
    ended: list[ConfirmationRequest] = []
    for request in picked:
        registration, msisdn, company_name, company_inn = by_registration[request.registration_id]
        if registration.ended_at is not None or registration.pd_sealed is None:
            ended.append(request)
            continue
        pd = vault.open(registration.pd_sealed)
        to_send.append(
            PortalRequest(
                request_id=portal_request_key(request.id),
                msisdn=msisdn,
                company_name=company_name,
                company_inn=company_inn,
                last_name=registration.last_name or "",
                first_name=registration.first_name or "",
                patronymic=registration.patronymic,
                birth_date=str(pd["birth_date"]),
                doc_type=registration.doc_type or "",
                doc_series=str(pd.get("doc_series") or ""),
                doc_number=str(pd.get("doc_number") or ""),
                snils=pd.get("snils"),
            )
        )
    return to_send, ended


def _retry_later(
    request: ConfirmationRequest, error: str, *, now: dt.datetime, runtime: Runtime, longest: bool
) -> None:
    settings = runtime.settings
    request.attempts += 1
    request.last_error = error[:_ERROR_WIDTH]
    # A refused request waits the longest time: someone must fix it, but it is never dropped.
    attempts = 10**6 if longest else request.attempts
    delay = backoff_seconds(
        attempts, base=settings.portal_retry_base_seconds, cap=settings.portal_retry_max_seconds
    )
    request.next_attempt_at = now + dt.timedelta(seconds=delay)


def _apply(
    request: ConfirmationRequest,
    outcome: SendOutcome | None,
    *,
    now: dt.datetime,
    runtime: Runtime,
    report: SendReport,
) -> None:
    if outcome is not None and outcome.portal_request_id and outcome.error is None:
        request.status = RequestStatus.SENT
        request.portal_request_id = outcome.portal_request_id
        request.sent_at = now
        request.attempts += 1
        request.next_attempt_at = None
        request.last_error = None
        report.sent += 1
        return
    if outcome is None:
        _retry_later(request, "no outcome from the portal", now=now, runtime=runtime, longest=False)
        report.retry_later += 1
    elif outcome.retryable:
        _retry_later(request, outcome.error or "error", now=now, runtime=runtime, longest=False)
        report.retry_later += 1
    else:
        _retry_later(request, outcome.error or "refused", now=now, runtime=runtime, longest=True)
        report.refused += 1
    log.warning(
        "portal send failed",
        confirmation_request_id=request.id,
        attempts=request.attempts,
        retryable=outcome.retryable if outcome else True,
    )


def send_queued(runtime: Runtime, portal: IdentityPortal, *, limit: int = 1000) -> SendReport:
    """Send due queued requests, at most `limit`, within each operator's rate; commit per batch.

    A batch is one operator's share. When the portal is unavailable, the batch in hand waits
    for its backoff and the call stops: the rest stay queued and due.
    """
    settings = runtime.settings
    now = runtime.clock.now()
    limiter = limiter_for(runtime)
    report = SendReport()
    with runtime.sessions() as session:
        operators = list(
            session.scalars(
                select(ConfirmationRequest.operator_id)
                .where(*_due(now))
                .distinct()
                .order_by(ConfirmationRequest.operator_id)
            )
        )
    for operator_id in operators:
        room = limit - report.picked
        if room <= 0:
            break
        granted = limiter.reserve(
            operator_id, room, rate=settings.portal_rate_per_operator, now=now
        )
        if granted <= 0:
            continue
        with runtime.sessions() as session:
            picked = _pick(session, operator_id=operator_id, count=granted, now=now)
            limiter.refund(operator_id, granted - len(picked))
            if not picked:
                session.rollback()
                continue
            report.picked += len(picked)
            to_send, ended = _portal_requests(session, runtime.vault, picked)
            for request in ended:
                request.status = RequestStatus.CANCELLED
                request.last_error = "the registration ended before the request was sent"
                report.cancelled += 1
            by_key = {portal_request_key(r.id): r for r in picked if r not in ended}
            try:
                outcomes = portal.send(to_send) if to_send else []
            except PortalUnavailable as exc:
                for request in by_key.values():
                    _retry_later(
                        request,
                        f"portal unavailable: {exc}",
                        now=now,
                        runtime=runtime,
                        longest=False,
                    )
                report.retry_later += len(by_key)
                report.portal_unavailable = True
                report.errors.append(str(exc))
                session.commit()
                log.warning("portal unavailable", operator_id=operator_id, waiting=len(by_key))
                break
            results = {o.request_id: o for o in outcomes}
            for key, request in by_key.items():
                _apply(request, results.get(key), now=now, runtime=runtime, report=report)
            session.commit()
    if report.picked:
        log.info(
            "portal send",
            picked=report.picked,
            sent=report.sent,
            retry_later=report.retry_later,
            refused=report.refused,
            cancelled=report.cancelled,
        )
    return report


# --- answers --------------------------------------------------------------------------------

AnswerOutcome = Literal["recorded", "unknown", "late", "duplicate", "invalid"]


@dataclass
class CollectReport:
    """What one collect_answers call did."""

    fetched: int = 0
    recorded: int = 0
    unknown: int = 0  # no request has this portal_request_id
    late: int = 0  # the request expired or was cancelled before the answer came
    duplicate: int = 0  # the answer was recorded before
    invalid: int = 0  # the verified data could not be read


def _clean_doc_part(value: str) -> str:
    # Stored the way registration_rules normalises a company's row: no spaces, upper case.
    return "".join(value.split()).upper()


def record_answer(
    session: Session, vault: PersonalDataVault, message: PortalAnswerMessage, *, now: dt.datetime
) -> AnswerOutcome:
    """Store one answer on its SENT request as keyed hashes; anything else leaves it alone."""
    request = session.scalars(
        select(ConfirmationRequest)
        .where(ConfirmationRequest.portal_request_id == message.portal_request_id)
        .with_for_update()
    ).one_or_none()
    if request is None:
        ANSWERS_UNKNOWN.inc()
        # The portal's id is not personal data; it lets the portal's team trace the answer.
        log.warning(
            "portal answer for an unknown request", portal_request_id=message.portal_request_id
        )
        return "unknown"
    if request.status in (RequestStatus.ANSWERED, RequestStatus.MATCHED):
        return "duplicate"
    if request.status is not RequestStatus.SENT:
        log.info(
            "portal answer came late", confirmation_request_id=request.id, status=request.status
        )
        return "late"
    verified = message.verified
    name_key = doc_hash = birth_hash = None
    if message.answer == "confirmed":
        if verified is None:
            return "invalid"
        try:
            birth = dt.date.fromisoformat(verified.birth_date)
        except ValueError:
            return "invalid"
        name_key = normalize_full_name(verified.last_name, verified.first_name, verified.patronymic)
        doc_key = (
            f"{verified.doc_type}:{_clean_doc_part(verified.doc_series)}"
            f"{_clean_doc_part(verified.doc_number)}"
        )
        doc_hash = document_hash(vault, doc_key)
        birth_hash = birth_date_hash(vault, birth)
    request.answer = PortalAnswer(message.answer)
    request.portal_subject = message.portal_subject
    request.answered_at = now
    request.verified_name_key = name_key
    request.verified_doc_hash = doc_hash
    request.verified_birth_hash = birth_hash
    request.status = RequestStatus.ANSWERED
    session.flush()
    return "recorded"


def collect_answers(
    runtime: Runtime, portal: IdentityPortal, *, limit: int = 1000
) -> CollectReport:
    """Fetch the portal's answers, record them in one transaction, then acknowledge them.

    Acknowledging after the commit makes delivery at least once: a crash in between means the
    same answers come again and are counted as duplicates.
    """
    report = CollectReport()
    messages = portal.fetch_answers(limit=limit)
    report.fetched = len(messages)
    if not messages:
        return report
    handled: list[str] = []
    with runtime.sessions() as session:
        now = runtime.clock.now()
        for message in messages:
            outcome = record_answer(session, runtime.vault, message, now=now)
            if outcome == "invalid":
                # Left unacknowledged so the portal can see it was not taken.
                report.invalid += 1
                log.warning("portal answer without usable verified data")
                continue
            if outcome == "recorded":
                report.recorded += 1
            elif outcome == "unknown":
                report.unknown += 1
            elif outcome == "late":
                report.late += 1
            else:
                report.duplicate += 1
            handled.append(message.portal_request_id)
        session.commit()
    portal.acknowledge(handled)
    log.info(
        "portal answers",
        fetched=report.fetched,
        recorded=report.recorded,
        unknown=report.unknown,
        late=report.late,
        duplicate=report.duplicate,
        invalid=report.invalid,
    )
    return report
