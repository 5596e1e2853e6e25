"""The deadline run (DOMAIN.md, "Deadlines and suspension"): recompute the deadlines that
changed, suspend unconfirmed numbers whose deadline passed, terminate long-suspended ones when
the policy says so, flag the numbers that crossed a threshold, and tell people exactly once.

Set-based and batched by ranges of number ids: each batch is one transaction of a few
statements; a run that dies mid-way leaves whole batches done and the next run finishes the
rest. Exactly-once: the status machine moves a number only from a status that allows it, the
`deadline_notices` ledger has one row per number, kind, threshold and deadline (ON CONFLICT DO
NOTHING), and each person message and company digest has its own outbox key. Runs never
overlap: a PostgreSQL advisory lock (and a process lock for SQLite) serialises them, so a run
started by hand beside the scheduler waits, then finds nothing left to do.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from functools import partial
from typing import Any

from sqlalchemy import (
    CTE,
    ColumnElement,
    Select,
    String,
    and_,
    case,
    cast,
    exists,
    func,
    literal,
    or_,
    select,
    update,
)
from sqlalchemy.orm import Session, aliased

from app.companies.models import CorporateSubscriber
from app.core.actors import Actor, ActorKind
from app.core.runtime import Runtime
from app.db.base import UtcDateTime
from app.db.batches import over_id_batches
from app.db.locks import one_at_a_time
from app.db.session import insert_ignoring_duplicates, is_postgres, unit_of_work
from app.deadlines.calendar import WorkingCalendar
from app.deadlines.models import (
    DeadlineNotice,
    DeadlineRecompute,
    DeadlineRun,
    NoticeKind,
    RecomputeStatus,
)
from app.deadlines.recompute import USER_OR_START_CHANGED, enabled_rules, recompute_batch
from app.notifications.models import Audience, Notification, NotificationStatus
from app.notifications.outbox import digest_row, enqueue_many
from app.numbers import lifecycle
from app.numbers.models import NumberStatus, PhoneNumber, Registration
from app.numbers.service import number_id_ranges
from app.portal.models import ConfirmationRequest, PortalAnswer, RequestStatus
from app.work.models import WorkKind

N = PhoneNumber
S = NumberStatus
DEADLINE_JOB = Actor(ActorKind.OPERATOR_JOB, "deadlines")
# Not yet confirmed: these are flagged ahead of their deadline and suspended at it.
AT_RISK = (S.UNREGISTERED, S.PENDING_CONFIRMATION, S.MISMATCH, S.DECLINED, S.EXPIRED)
_ADVISORY_KEY = 0x51_4D_52_45_47_01  # "simreg" deadline run


@dataclass
class DeadlineRunReport:
    """What one run did."""

    run_id: str
    deadlines_moved: int = 0
    suspended: int = 0
    terminated: int = 0
    flagged: int = 0
    person_messages: int = 0
    company_digests: int = 0
    batches: int = 0

    def as_dict(self) -> dict[str, Any]:
        """For the API, the command line and the job log."""
        return asdict(self)

    def add(self, part: DeadlineRunReport) -> None:
        """Count one batch's work in."""
        self.suspended += part.suspended
        self.terminated += part.terminated
        self.flagged += part.flagged
        self.person_messages += part.person_messages
        self.batches += part.batches


def run_deadlines(runtime: Runtime, *, actor: Actor = DEADLINE_JOB) -> DeadlineRunReport:
    """One whole deadline run at the runtime clock's now."""
    settings = runtime.settings
    with one_at_a_time(runtime.engine, _ADVISORY_KEY):
        now = runtime.clock.now()
        report = DeadlineRunReport(run_id=f"{now:%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:8]}")
        with unit_of_work(runtime.sessions) as session:
            session.add(DeadlineRun(run_id=report.run_id, started_at=now))
        report.deadlines_moved = recompute_deadlines(runtime, now=now, actor=actor)

        def one_batch(bounds: tuple[int, int]) -> DeadlineRunReport:
            return _run_batch(runtime, *bounds, now=now, run_id=report.run_id, actor=actor)

        for part in over_id_batches(
            runtime.sessions,
            partial(number_id_ranges, step=settings.deadline_batch_ids),
            one_batch,
            workers=settings.bulk_workers,
            name="deadlines",
        ):
            report.add(part)
        with unit_of_work(runtime.sessions) as session:
            report.company_digests = queue_company_digests(session, run_id=report.run_id, now=now)
            session.execute(
                update(DeadlineRun)
                .where(DeadlineRun.run_id == report.run_id)
                .values(finished_at=runtime.clock.now(), summary=json.dumps(report.as_dict()))
            )
        return report


def _run_batch(
    runtime: Runtime, low: int, high: int, *, now: dt.datetime, run_id: str, actor: Actor
) -> DeadlineRunReport:
    """Suspend, terminate, flag and tell, for numbers with ids in [low, high): one transaction."""
    settings = runtime.settings
    part = DeadlineRunReport(run_id=run_id, batches=1)
    with unit_of_work(runtime.sessions) as session:
        in_range = [N.id >= low, N.id < high]
        part.suspended, part.person_messages = suspend_overdue_numbers(
            session, in_range, now=now, run_id=run_id, actor=actor
        )
        if settings.deadline_termination_enabled:
            part.terminated, told = terminate_long_suspended(
                session,
                in_range,
                now=now,
                after=dt.timedelta(days=settings.deadline_termination_days),
                run_id=run_id,
                actor=actor,
            )
            part.person_messages += told
        part.flagged, told = flag_numbers_at_risk(
            session, in_range, now=now, thresholds=settings.deadline_flag_days, run_id=run_id
        )
        part.person_messages += told
        if not is_postgres(session):
            part.person_messages += queue_person_messages(
                session, low, high, run_id=run_id, now=now
            )
    return part


def recompute_deadlines(runtime: Runtime, *, now: dt.datetime, actor: Actor) -> int:
    """Numbers marked stale (a new user, a new service start) get their deadline again; after
    a change of policy, every number does. Returns how many deadlines moved."""
    step = runtime.settings.deadline_batch_ids
    with runtime.sessions() as session:
        rules = enabled_rules(session)
        calendar = WorkingCalendar.load(session)
        pending = session.execute(
            select(DeadlineRecompute.id, DeadlineRecompute.reason)
            .where(DeadlineRecompute.status == RecomputeStatus.PENDING)
            .order_by(DeadlineRecompute.id)
        ).all()
        stale_ranges = number_id_ranges(session, step, N.deadline_stale.is_(True))
        all_ranges = number_id_ranges(session, step) if pending else []
    moved = 0
    for low, high in stale_ranges:
        with unit_of_work(runtime.sessions) as session:
            moved += recompute_batch(
                session,
                rules=rules,
                calendar=calendar,
                scope=[N.id >= low, N.id < high, N.deadline_stale.is_(True)],
                clear_stale=True,
                actor=actor,
                reason=USER_OR_START_CHANGED,
                now=now,
            )
    if not pending:
        return moved
    reason = "deadline policy changed: " + "; ".join(row.reason for row in pending)
    policy_moved = 0
    for low, high in all_ranges:
        with unit_of_work(runtime.sessions) as session:
            policy_moved += recompute_batch(
                session,
                rules=rules,
                calendar=calendar,
                scope=[N.id >= low, N.id < high],
                clear_stale=False,
                actor=actor,
                reason=reason[:2000],
                now=now,
            )
    with unit_of_work(runtime.sessions) as session:
        session.execute(
            update(DeadlineRecompute)
            .where(DeadlineRecompute.id.in_([row.id for row in pending]))
            .values(status=RecomputeStatus.DONE, done_at=now, numbers_moved=policy_moved)
        )
    return moved + policy_moved


def _notices_of_moved(
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
        insert_ignoring_duplicates(
            session.get_bind().dialect.name, DeadlineNotice.__table__
        ).from_select(_NOTICE_COLUMNS, rows)
    )


_NOTICE_COLUMNS = [
    "number_id", "subscriber_id", "kind", "threshold", "deadline_at", "run_id", "created_at",
]  # fmt: skip
_MESSAGE_COLUMNS = [
    "dedupe_key", "audience", "event", "subscriber_id", "number_id", "msisdn", "threshold",
    "deadline_at", "status", "attempts", "next_attempt_at", "created_at",
]  # fmt: skip


def _message_rows(notice: Any, msisdn: Any, now: dt.datetime) -> Select[Any]:
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


def _notice_then_message(
    session: Session,
    source: CTE,
    *,
    kind: NoticeKind,
    threshold: Any,
    tell_person: Any,
    run_id: str,
    now: dt.datetime,
) -> list[CTE]:
    """PostgreSQL: from the rows a statement just changed (`source`: id, subscriber_id,
    msisdn, deadline_at, …), the ledger rows and the person messages, in the same statement."""
    noticed = (
        insert_ignoring_duplicates(session, DeadlineNotice.__table__)
        .from_select(
            _NOTICE_COLUMNS,
            select(
                source.c.id,
                source.c.subscriber_id,
                literal(kind.value, String()),
                threshold,
                source.c.deadline_at,
                literal(run_id, String()),
                literal(now, UtcDateTime()),
            ).where(source.c.deadline_at.is_not(None)),
        )
        .returning(*DeadlineNotice.__table__.c)
        .cte(f"noticed_{kind.value}")
    )
    messaged = (
        insert_ignoring_duplicates(session, Notification.__table__)
        .from_select(
            _MESSAGE_COLUMNS,
            _message_rows(noticed, source.c.msisdn, now)
            .select_from(noticed.join(source, source.c.id == noticed.c.number_id))
            .where(tell_person),
        )
        .returning(Notification.__table__.c.id)
        .cte(f"messaged_{kind.value}")
    )
    return [noticed, messaged]


def suspend_overdue_numbers(
    session: Session,
    in_range: list[ColumnElement[bool]],
    *,
    now: dt.datetime,
    run_id: str,
    actor: Actor,
) -> tuple[int, int]:
    """Unconfirmed numbers past their deadline → suspended, with event, network work item,
    notice and a message to the employee; returns how many moved and how many were told
    (PostgreSQL; on SQLite the messages are queued by `queue_person_messages`)."""
    overdue = [*in_range, N.status.in_(AT_RISK), N.deadline_at < literal(now, UtcDateTime())]
    return _move_and_tell(
        session,
        overdue,
        S.SUSPENDED,
        kind=NoticeKind.SUSPEND,
        in_range=in_range,
        reason="the deadline passed and no user of the number is confirmed",
        only_from=AT_RISK,
        work_kind=WorkKind.SUSPEND,
        now=now,
        run_id=run_id,
        actor=actor,
    )


def _move_and_tell(
    session: Session,
    numbers: list[ColumnElement[bool]],
    target: NumberStatus,
    *,
    kind: NoticeKind,
    in_range: list[ColumnElement[bool]],
    reason: str,
    only_from: Iterable[NumberStatus],
    work_kind: WorkKind,
    now: dt.datetime,
    run_id: str,
    actor: Actor,
) -> tuple[int, int]:
    if is_postgres(session):
        moved, (_, told) = lifecycle.transition_selected_with(
            session,
            numbers,
            target,
            actor=actor,
            reason=reason,
            at=now,
            only_from=only_from,
            work_kind=work_kind.value,
            pg_followers=lambda rows: _notice_then_message(
                session,
                rows,
                kind=kind,
                threshold=literal(0),
                tell_person=person_was_asked(rows.c.id),
                run_id=run_id,
                now=now,
            ),
        )
        return moved, told
    moved, _ = lifecycle.transition_selected_with(
        session,
        numbers,
        target,
        actor=actor,
        reason=reason,
        at=now,
        only_from=only_from,
        work_kind=work_kind.value,
    )
    if moved:
        _notices_of_moved(session, in_range, kind=kind, status=target, now=now, run_id=run_id)
    return moved, 0


def terminate_long_suspended(
    session: Session,
    in_range: list[ColumnElement[bool]],
    *,
    now: dt.datetime,
    after: dt.timedelta,
    run_id: str,
    actor: Actor,
) -> tuple[int, int]:
    """Numbers suspended for longer than `after` → terminated (when the policy turns it on);
    how many, and how many people were told (PostgreSQL)."""
    long_ago = [
        *in_range,
        N.status == S.SUSPENDED,
        N.status_changed_at <= literal(now - after, UtcDateTime()),
    ]
    return _move_and_tell(
        session,
        long_ago,
        S.TERMINATED,
        kind=NoticeKind.TERMINATE,
        in_range=in_range,
        reason=f"suspended for more than {after.days} days with no confirmed user",
        only_from=[S.SUSPENDED],
        work_kind=WorkKind.TERMINATE,
        now=now,
        run_id=run_id,
        actor=actor,
    )


def flag_numbers_at_risk(
    session: Session,
    in_range: list[ColumnElement[bool]],
    *,
    now: dt.datetime,
    thresholds: list[int],
    run_id: str,
) -> tuple[int, int]:
    """Mark each unconfirmed number with the nearest threshold it has crossed, and write one
    notice per number and threshold. A flag only ever gets nearer for the same deadline, so a
    repeated run (or a clock that went back) flags and tells nobody twice. Returns how many
    were flagged, and how many people asked to confirm were told (PostgreSQL)."""
    nearest_first = sorted(thresholds)
    crossed: Any = case(
        *[
            (N.deadline_at <= literal(now + dt.timedelta(days=days), UtcDateTime()), days)
            for days in nearest_first
        ]
    )
    due = [
        *in_range,
        N.status.in_(AT_RISK),
        N.deadline_at >= literal(now, UtcDateTime()),
        N.deadline_at <= literal(now + dt.timedelta(days=nearest_first[-1]), UtcDateTime()),
        or_(N.flag_days.is_(None), crossed < N.flag_days),
    ]
    if is_postgres(session):
        # One statement: the flags, their notices and the persons' messages, each row once.
        flagged = (
            update(N)
            .where(*due)
            .values(flag_days=crossed)
            .returning(
                N.id.label("id"),
                N.subscriber_id.label("subscriber_id"),
                N.msisdn.label("msisdn"),
                N.deadline_at.label("deadline_at"),
                N.status.label("status"),
                N.flag_days.label("flag_days"),
            )
            .cte("flagged")
        )
        followers = _notice_then_message(
            session,
            flagged,
            kind=NoticeKind.FLAG,
            threshold=flagged.c.flag_days,
            tell_person=and_(
                flagged.c.status == S.PENDING_CONFIRMATION.value,
                request_waits_for_person(flagged.c.id),
            ),
            run_id=run_id,
            now=now,
        )
        counted = select(
            select(func.count()).select_from(flagged).scalar_subquery(),
            *[select(func.count()).select_from(f).scalar_subquery() for f in followers],
        )
        n_flagged, _, told = session.execute(counted).one()
        return int(n_flagged or 0), int(told or 0)
    session.execute(
        insert_ignoring_duplicates(
            session.get_bind().dialect.name, DeadlineNotice.__table__
        ).from_select(
            _NOTICE_COLUMNS,
            select(
                N.id,
                N.subscriber_id,
                literal(NoticeKind.FLAG.value, String()),
                crossed,
                N.deadline_at,
                literal(run_id, String()),
                literal(now, UtcDateTime()),
            ).where(*due),
        )
    )
    result = session.execute(
        update(N).where(*due).values(flag_days=crossed).execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0), 0  # type: ignore[attr-defined]


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
            N.status == S.PENDING_CONFIRMATION,
            request_waits_for_person(N.id),
        ),
        and_(notice.kind != NoticeKind.FLAG, person_was_asked(N.id)),
    )
    table = DeadlineNotice.__table__
    rows = (
        _message_rows(table, N.msisdn, now)
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
        .from_select(_MESSAGE_COLUMNS, rows)
        .execution_options(preserve_rowcount=True)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def queue_company_digests(session: Session, *, run_id: str, now: dt.datetime) -> int:
    """One digest per company for this run (and for any earlier run that died before its
    digest): how many numbers were flagged at each threshold, suspended and terminated."""
    undigested = select(DeadlineRun.run_id).where(DeadlineRun.digested_at.is_(None))
    runs = list(session.scalars(undigested.with_for_update()))
    notice = DeadlineNotice
    counts = session.execute(
        select(notice.subscriber_id, notice.kind, notice.threshold, func.count())
        .where(notice.run_id.in_(runs))
        .group_by(notice.subscriber_id, notice.kind, notice.threshold)
    ).all()
    by_company: dict[int, dict[str, Any]] = {}
    for subscriber_id, kind, threshold, count in counts:
        entry = by_company.setdefault(
            subscriber_id, {"flagged": {}, "suspended": 0, "terminated": 0}
        )
        if kind == NoticeKind.FLAG:
            entry["flagged"][str(threshold)] = int(count)
        elif kind == NoticeKind.SUSPEND:
            entry["suspended"] += int(count)
        else:
            entry["terminated"] += int(count)
    rows: list[dict[str, Any]] = []
    companies = list(by_company)
    for start in range(0, len(companies), 1000):
        chunk = companies[start : start + 1000]
        names = {
            row.id: row
            for row in session.execute(
                select(
                    CorporateSubscriber.id, CorporateSubscriber.name, CorporateSubscriber.inn
                ).where(CorporateSubscriber.id.in_(chunk))
            )
        }
        next_deadlines = dict(
            session.execute(
                select(N.subscriber_id, func.min(N.deadline_at))
                .where(
                    N.subscriber_id.in_(chunk),
                    N.status.in_(AT_RISK),
                    N.deadline_at > literal(now, UtcDateTime()),
                )
                .group_by(N.subscriber_id)
            ).all()
        )
        for subscriber_id in chunk:
            company = names[subscriber_id]
            upcoming = next_deadlines.get(subscriber_id)
            rows.append(
                digest_row(
                    subscriber_id=subscriber_id,
                    run_id=run_id,
                    payload={
                        "run_id": run_id,
                        "company": {"id": company.id, "name": company.name, "inn": company.inn},
                        **by_company[subscriber_id],
                        "next_deadline_at": upcoming.isoformat() if upcoming else None,
                        "report_url": f"/api/v1/companies/{subscriber_id}/report",
                    },
                )
            )
    enqueue_many(session, rows, now=now)
    session.execute(
        update(DeadlineRun)
        .where(DeadlineRun.run_id.in_(runs))
        .values(digested_at=now)
        .execution_options(synchronize_session=False)
    )
    return len(rows)
