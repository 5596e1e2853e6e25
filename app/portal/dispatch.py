"""Between "queued" and "sent": handing confirmation requests to the identity portal.

The dispatch job drains each operator's queue, oldest request first, at the portal's rate per
operator (SIMREG_PORTAL_RATE_PER_OPERATOR, shared by every dispatcher through
`app.portal.allowance`) for as long as there is a backlog: a request waits for the portal,
never for the next matching run.

A request is sent exactly once. A dispatcher locks the rows it sends (SKIP LOCKED: a second
dispatcher takes the next ones) and marks them sent in the transaction that locked them; a
dispatcher killed after the portal took a batch leaves it queued, and the batch goes again
under the same request ids, which the portal delivers once. A request whose registration ended
while it waited is cancelled, never sent. A portal that is down pauses the operator's sending
(exponential backoff) and the queue keeps its order; a portal that refuses one request makes
only that request wait.

Within one run a dispatcher walks each operator's queue forward from where its last batch
ended: each batch reads only the rows it sends, whatever the planner believes of the table (a
backlog drained in one run would otherwise make every batch step over all the rows sent before
it until statistics catch up). Requests that fall due again behind that point, after a passing
error, go in the next run.
"""

from __future__ import annotations

import datetime as dt
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import structlog
from sqlalchemy import Row, or_, select
from sqlalchemy.orm import Session
from sqlalchemy.sql import ColumnElement

from app.companies.models import CorporateSubscriber, Operator
from app.core.personal_data import PersonalDataVault
from app.core.runtime import Runtime
from app.db.locks import one_at_a_time_on_sqlite
from app.db.session import unit_of_work
from app.db.units import commit_batch
from app.numbers.models import PhoneNumber, Registration
from app.portal import allowance, repository
from app.portal.allowance import Moment
from app.portal.models import ConfirmationRequest, RequestStatus
from app.portal.port import (
    IdentityPortal,
    PortalRequest,
    PortalUnavailable,
    SendOutcome,
    portal_request_key,
)

log = structlog.get_logger("simreg.portal")

_ERROR_WIDTH = 500
_PAUSE_CAP_SECONDS = 300.0
_SQLITE_SENDER_KEY = 0x51_4D_52_45_47_03  # one sender at a time on SQLite
_random = secrets.SystemRandom()


def backoff_seconds(attempts: int, *, base: float, cap: float) -> float:
    """Delay before the next try after `attempts` tries: base × 2^(attempts-1), at most `cap`,
    then ±10% jitter so requests that failed together do not all come back together."""
    exponent = min(max(attempts - 1, 0), 60)
    return min(base * 2.0**exponent, cap) * _random.uniform(0.9, 1.1)


@dataclass
class SendReport:
    """What one pass (or a whole dispatch run) did."""

    picked: int = 0
    sent: int = 0
    retry_later: int = 0  # passing errors: tried again after the backoff
    refused: int = 0  # the portal refused the request itself; tried again after the longest wait
    cancelled: int = 0  # the registration ended before its request went out
    portal_unavailable: bool = False
    errors: list[str] = field(default_factory=list)
    # Whether a pass left work: an operator sent all it was allowed (there may be more due),
    # or had requests due and no allowance left until the rate refills it.
    more: bool = False
    waiting_for_rate: bool = False
    passes: int = 0

    def add(self, other: SendReport) -> None:
        """Count another pass in."""
        for name in ("picked", "sent", "retry_later", "refused", "cancelled", "passes"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.portal_unavailable = self.portal_unavailable or other.portal_unavailable
        self.errors += other.errors[: max(0, 10 - len(self.errors))]

    def as_dict(self) -> dict[str, Any]:
        """For the job log and the API."""
        return {
            "requests_sent": self.sent,
            "requests_retry_later": self.retry_later,
            "requests_refused": self.refused,
            "requests_cancelled": self.cancelled,
            "portal_unavailable": self.portal_unavailable,
            "passes": self.passes,
        }


def _moment(runtime: Runtime) -> Moment:
    return Moment(clock=runtime.clock.now(), simulated=runtime.clock.fixed)


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


def _anything_due(session: Session, operator_id: int, now: dt.datetime, after: int) -> bool:
    return (
        session.scalar(
            select(ConfirmationRequest.id)
            .where(
                ConfirmationRequest.operator_id == operator_id,
                ConfirmationRequest.id > after,
                *_due(now),
            )
            .limit(1)
        )
        is not None
    )


def _pick(
    session: Session, *, operator_id: int, count: int, now: dt.datetime, after: int
) -> list[Row[Any]]:
    """The operator's oldest due requests after id `after` with what the portal needs, locked
    for this sender. SKIP LOCKED: two dispatchers on PostgreSQL take disjoint rows. SQLite has
    no row locks (it renders no FOR UPDATE) and one writer at a time."""
    return list(
        session.execute(
            select(
                ConfirmationRequest.id,
                Registration.ended_at,
                Registration.pd_sealed,
                Registration.last_name,
                Registration.first_name,
                Registration.patronymic,
                Registration.doc_type,
                PhoneNumber.msisdn,
                CorporateSubscriber.name,
                CorporateSubscriber.inn,
            )
            .join(Registration, Registration.id == ConfirmationRequest.registration_id)
            .join(PhoneNumber, PhoneNumber.id == ConfirmationRequest.number_id)
            .join(CorporateSubscriber, CorporateSubscriber.id == ConfirmationRequest.subscriber_id)
            .where(
                ConfirmationRequest.operator_id == operator_id,
                ConfirmationRequest.id > after,
                *_due(now),
            )
            .order_by(ConfirmationRequest.id)
            .limit(count)
            .with_for_update(skip_locked=True, of=ConfirmationRequest)
        )
    )


def _portal_request(row: Row[Any], vault: PersonalDataVault) -> PortalRequest:
    """What goes to the portal for one picked row; built in memory, never stored or logged."""
    pd = vault.open(row.pd_sealed)
    return PortalRequest(
        request_id=portal_request_key(row.id),
        msisdn=row.msisdn,
        company_name=row.name,
        company_inn=row.inn,
        last_name=row.last_name or "",
        first_name=row.first_name or "",
        patronymic=row.patronymic,
        birth_date=str(pd["birth_date"]),
        doc_type=row.doc_type or "",
        doc_series=str(pd.get("doc_series") or ""),
        doc_number=str(pd.get("doc_number") or ""),
        snils=pd.get("snils"),
    )


def _record_failures(
    session: Session,
    failed: Sequence[tuple[int, SendOutcome | None]],
    *,
    now: dt.datetime,
    runtime: Runtime,
    report: SendReport,
) -> None:
    """Per-request errors: a passing one waits its backoff, a refusal the longest wait (someone
    must fix the request; it is never dropped)."""
    settings = runtime.settings
    for request_id, outcome in failed:
        request = session.get_one(ConfirmationRequest, request_id)
        request.attempts += 1
        refused = outcome is not None and not outcome.retryable
        error = "no outcome from the portal" if outcome is None else outcome.error or "error"
        request.last_error = error[:_ERROR_WIDTH]
        delay = backoff_seconds(
            10**6 if refused else request.attempts,
            base=settings.portal_retry_base_seconds,
            cap=settings.portal_retry_max_seconds,
        )
        request.next_attempt_at = now + dt.timedelta(seconds=delay)
        if refused:
            report.refused += 1
        else:
            report.retry_later += 1
        log.warning(
            "portal send failed",
            confirmation_request_id=request_id,
            attempts=request.attempts,
            retryable=not refused,
        )


def _pause_operator(runtime: Runtime, operator_id: int, at: Moment, error: str) -> None:
    settings = runtime.settings

    def delay(failures: int) -> float:
        # A portal that is down is tried again at least every few minutes, so the queue moves
        # soon after it is back (a refused request alone waits the longest).
        return backoff_seconds(
            failures,
            base=settings.portal_retry_base_seconds,
            cap=min(settings.portal_retry_max_seconds, _PAUSE_CAP_SECONDS),
        )

    with unit_of_work(runtime.sessions) as session:
        until = allowance.pause(
            session,
            operator_id=operator_id,
            rate=settings.portal_rate_per_operator,
            at=at,
            backoff=delay,
        )
    log.warning("portal unavailable", operator_id=operator_id, paused_until=until, error=error)


def _send_operator(
    runtime: Runtime,
    portal: IdentityPortal,
    operator_id: int,
    wanted: int,
    report: SendReport,
    walked: dict[int, int],
) -> None:
    """One batch of one operator's queue: take the allowance, send, record, give back the rest.
    `walked` holds, per operator, the last request id this run has picked."""
    # SQLite has no row locks: its senders take the allowance and send one at a time, or two
    # could both spend the same refill.
    with one_at_a_time_on_sqlite(runtime.engine, _SQLITE_SENDER_KEY):
        _send_batch(runtime, portal, operator_id, wanted, report, walked)


def _send_batch(
    runtime: Runtime,
    portal: IdentityPortal,
    operator_id: int,
    wanted: int,
    report: SendReport,
    walked: dict[int, int],
) -> None:
    after = walked.get(operator_id, 0)
    rate = runtime.settings.portal_rate_per_operator
    reserved = _reserve(runtime, operator_id, wanted, report, after)
    if reserved is None:
        return
    granted, at = reserved
    now = at.clock
    with runtime.sessions() as session:
        rows = _pick(session, operator_id=operator_id, count=granted, now=now, after=after)
        report.picked += len(rows)
        report.more |= len(rows) == granted
        ended = [row.id for row in rows if row.ended_at is not None or row.pd_sealed is None]
        live = [row for row in rows if row.ended_at is None and row.pd_sealed is not None]
        try:
            # Nothing is written before the portal has answered: SQLite's one writer stays
            # free for the sandbox portal, and PostgreSQL holds row locks only.
            outcomes = (
                portal.send([_portal_request(row, runtime.vault) for row in live]) if live else []
            )
        except PortalUnavailable as exc:
            repository.cancel_requests(session, ended, now=now)
            report.cancelled += len(ended)
            commit_batch(session)  # the batch stays queued, in order
            report.portal_unavailable = True
            report.errors.append(str(exc))
            _pause_operator(runtime, operator_id, at, str(exc))
            _give_back(runtime, operator_id, granted, rate)
            return
        repository.cancel_requests(session, ended, now=now)
        report.cancelled += len(ended)
        _record_outcomes(session, live, outcomes, now=now, runtime=runtime, report=report)
        if live:
            allowance.resume(session, operator_id=operator_id)
        # The batch is marked sent in the transaction that locked its rows.
        commit_batch(session)
    if rows:
        walked[operator_id] = rows[-1].id
    _give_back(runtime, operator_id, granted - len(rows), rate)


def _reserve(
    runtime: Runtime, operator_id: int, wanted: int, report: SendReport, after: int
) -> tuple[int, Moment] | None:
    """Take up to `wanted` of the operator's allowance: how many were granted, and when; None
    when the allowance is spent (the report then says whether requests wait for it)."""
    with unit_of_work(runtime.sessions) as session:
        granted, at = allowance.reserve(
            session,
            operator_id=operator_id,
            wanted=wanted,
            rate=runtime.settings.portal_rate_per_operator,
            moment=lambda: _moment(runtime),
        )
        if granted == 0:
            report.waiting_for_rate |= _anything_due(session, operator_id, at.clock, after)
            return None
    return granted, at


def _record_outcomes(
    session: Session,
    live: Sequence[Row[Any]],
    outcomes: Sequence[SendOutcome],
    *,
    now: dt.datetime,
    runtime: Runtime,
    report: SendReport,
) -> None:
    """What the portal said of each request sent: the accepted are sent, the others wait."""
    by_key = {o.request_id: o for o in outcomes}
    window = dt.timedelta(days=runtime.settings.confirmation_window_days)
    accepted: list[tuple[int, str]] = []
    failed: list[tuple[int, SendOutcome | None]] = []
    for row in live:
        outcome = by_key.get(portal_request_key(row.id))
        if outcome is not None and outcome.portal_request_id and outcome.error is None:
            accepted.append((row.id, outcome.portal_request_id))
        else:
            failed.append((row.id, outcome))
    # The person's window to answer starts when the request reaches them.
    repository.mark_sent(session, accepted, now=now, expires_at=now + window)
    report.sent += len(accepted)
    _record_failures(session, failed, now=now, runtime=runtime, report=report)


def _give_back(runtime: Runtime, operator_id: int, count: int, rate: float) -> None:
    if count > 0 and rate > 0:
        with unit_of_work(runtime.sessions) as session:
            allowance.give_back(session, operator_id=operator_id, count=count, rate=rate)


def send_queued(
    runtime: Runtime,
    portal: IdentityPortal,
    *,
    limit: int | None = None,
    walked: dict[int, int] | None = None,
) -> SendReport:
    """One pass: each operator sends one batch of its due requests within its allowance (at most
    SIMREG_PORTAL_SEND_BATCH, and `limit` in all), after the ids in `walked` (see the module's
    docstring), which the pass moves on."""
    walked = {} if walked is None else walked
    batch = runtime.settings.portal_send_batch
    report = SendReport(passes=1)
    with runtime.sessions() as session:
        operators = list(session.scalars(select(Operator.id).order_by(Operator.id)))
    for operator_id in operators:
        room = batch if limit is None else min(batch, limit - report.picked)
        if room <= 0:
            report.more = True
            break
        _send_operator(runtime, portal, operator_id, room, report, walked)
    if report.picked:
        log.info(
            "portal send",
            at=runtime.clock.now().isoformat(),
            picked=report.picked,
            sent=report.sent,
            retry_later=report.retry_later,
            refused=report.refused,
            cancelled=report.cancelled,
        )
    return report


def dispatch(
    runtime: Runtime, portal: IdentityPortal, *, seconds: float, limit: int | None = None
) -> SendReport:
    """Send for up to `seconds` (wall time): pass after pass while requests are due, waiting for
    the rate to refill when every operator with a backlog has used its allowance. Stops early
    when nothing is due, or after `limit` requests."""
    stop_at = time.monotonic() + seconds
    total = SendReport()
    walked: dict[int, int] = {}
    while True:
        left = None if limit is None else limit - total.picked
        if left is not None and left <= 0:
            break
        report = send_queued(runtime, portal, limit=left, walked=walked)
        total.add(report)
        remaining = stop_at - time.monotonic()
        if remaining <= 0:
            break
        if report.more:
            continue
        # A dev clock standing at a set moment refills nothing until someone moves it.
        if not report.waiting_for_rate or runtime.clock.fixed:
            break
        time.sleep(min(allowance.BURST_SECONDS, remaining))
    return total
