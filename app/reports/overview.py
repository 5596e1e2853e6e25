"""A company's overview, the data of its admin's dashboard: its numbers by status and kind,
those at risk of suspension and overdue, the nearest deadline, the confirmations still open
and the latest uploads.

At risk and overdue are the company report's own definitions (`service.at_risk`, its
buckets), evaluated over the company's numbers grouped by status, kind and deadline
(`repository.number_groups`): on PostgreSQL a few hundred tally rows stand for a million
numbers, so the overview stays within milliseconds whatever the company's size.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import and_, case, func, select
from sqlalchemy.orm import Session

from app.config import Settings
from app.numbers.models import NumberStatus, SimKind
from app.portal.models import LIVE_REQUEST_STATUSES, ConfirmationRequest, RequestStatus
from app.reports import repository, service
from app.reports.schemas import CompanyOverview, ConfirmationBacklogBrief, UploadBrief
from app.uploads.intake import list_uploads

RECENT_UPLOADS = 5
# The flag thresholds when the caller names none: the settings' default.
DEFAULT_THRESHOLDS: tuple[int, ...] = tuple(Settings.model_fields["deadline_flag_days"].default)


def company_overview(
    session: Session,
    company_id: int,
    *,
    now: dt.datetime,
    thresholds: Sequence[int] = DEFAULT_THRESHOLDS,
) -> CompanyOverview:
    """The company's overview at `now`; NotFound for an unknown company. `thresholds` are the
    flag thresholds (SIMREG_DEADLINE_FLAG_DAYS): the farthest is the warning window."""
    company = service.get_company(session, company_id=company_id)
    numbers = _numbers(session, company_id=company.id, now=now, thresholds=thresholds)
    nearest = numbers.next_deadline_at
    return CompanyOverview(
        company_id=company.id,
        generated_at=now,
        total=sum(numbers.by_status.values()),
        by_status=numbers.by_status,
        by_kind=numbers.by_kind,
        warning_days=max(thresholds),
        at_risk=numbers.at_risk,
        overdue=numbers.overdue,
        next_deadline_at=nearest,
        days_to_next_deadline=service.days_left(nearest, now=now) if nearest else None,
        confirmations=_confirmations(session, company_id=company.id),
        recent_uploads=[
            UploadBrief(
                id=u.id,
                filename=u.filename,
                mode=u.mode,
                status=u.status,
                created_at=u.created_at,
                accepted=u.accepted,
                rejected=u.rejected,
            )
            for u in list_uploads(
                session, subscriber_id=company.id, before_id=None, limit=RECENT_UPLOADS
            )
        ],
    )


@dataclass
class _Numbers:
    by_status: dict[str, int]
    by_kind: dict[str, int]
    at_risk: int = 0
    overdue: int = 0
    next_deadline_at: dt.datetime | None = None


def _numbers(
    session: Session, *, company_id: int, now: dt.datetime, thresholds: Sequence[int]
) -> _Numbers:
    """The company's numbers by status and kind, and the report's at-risk figures, from one
    statement over its groups (a row per status and kind)."""
    groups = repository.number_groups(session, company_id=company_id)
    deadline = groups.c.deadline_at
    risky = service.at_risk(groups.c.status, deadline)
    overdue = service.bucket_conditions(now=now, thresholds=thresholds, deadline=deadline)[0]
    window = service.in_warning_window(now=now, thresholds=thresholds, deadline=deadline)
    found = _Numbers(
        by_status={status.value: 0 for status in NumberStatus},
        by_kind={kind.value: 0 for kind in SimKind},
    )
    for row in session.execute(
        select(
            groups.c.status,
            groups.c.sim_kind,
            func.sum(groups.c.n).label("n"),
            func.sum(case((and_(risky, window), groups.c.n), else_=0)).label("at_risk"),
            func.sum(case((and_(risky, overdue), groups.c.n), else_=0)).label("overdue"),
            func.min(case((and_(risky, deadline > now), deadline))).label("next_deadline_at"),
        ).group_by(groups.c.status, groups.c.sim_kind)
    ):
        found.by_status[NumberStatus(row.status).value] += int(row.n)
        if row.sim_kind is not None:
            found.by_kind[SimKind(row.sim_kind).value] += int(row.n)
        found.at_risk += int(row.at_risk)
        found.overdue += int(row.overdue)
        ahead = row.next_deadline_at
        if ahead is not None and (found.next_deadline_at is None or ahead < found.next_deadline_at):
            found.next_deadline_at = ahead
    return found


def _confirmations(session: Session, *, company_id: int) -> ConfirmationBacklogBrief:
    """How many of the company's requests are open, and when the oldest waiting for the
    person was sent (each by its own partial index)."""
    request = ConfirmationRequest
    row = session.execute(
        select(
            select(func.count())
            .where(request.subscriber_id == company_id, request.status.in_(LIVE_REQUEST_STATUSES))
            .scalar_subquery()
            .label("open"),
            select(func.min(request.sent_at))
            .where(request.subscriber_id == company_id, request.status == RequestStatus.SENT)
            .scalar_subquery()
            .label("oldest_sent_at"),
        )
    ).one()
    return ConfirmationBacklogBrief(open=int(row.open or 0), oldest_sent_at=row.oldest_sent_at)
