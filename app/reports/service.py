"""Deadline reports: which numbers are at risk of suspension, how soon, and in which companies.

A number is at risk when its user is not confirmed yet and it carries a deadline (DOMAIN.md,
"Deadlines and suspension": "At the deadline an unconfirmed number is suspended"). Every count
is one set-based statement (conditional aggregates over the numbers of a company, or grouped
by company); the thresholds become timestamps computed here and bound as parameters, so the
same SQL runs on SQLite and PostgreSQL and no row is counted in Python.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, case, func, or_, select
from sqlalchemy.orm import QueryableAttribute, Session, sessionmaker

from app.companies.models import CorporateSubscriber
from app.core.errors import NotFound
from app.core.messages import Text
from app.numbers.models import NumberStatus, PhoneNumber, Registration, SimKind
from app.portal.backlog import company_confirmations
from app.reports.schemas import AtRisk, CompanyReport, CompanyRisk, Confirmations

# Not confirmed yet: each of these is suspended when its deadline passes.
AT_RISK_STATUSES: tuple[NumberStatus, ...] = (
    NumberStatus.UNREGISTERED,
    NumberStatus.PENDING_CONFIRMATION,
    NumberStatus.MISMATCH,
    NumberStatus.DECLINED,
    NumberStatus.EXPIRED,
)
# A number's column, or the same column of a table that counts numbers.
Column = QueryableAttribute[Any] | ColumnElement[Any]
OVERDUE = "overdue"
LATER = "later"
# Each chunk re-reads the company's at-risk rows to find where the previous one ended. Reading
# 234k of them on PostgreSQL took 7.8 s in chunks of 5k, 5.8 s in 10k, 5.1 s in 20k; the CSV
# export at 10k peaked at 8 MiB of Python memory.
EXPORT_CHUNK = 10_000


def bucket_names(thresholds: Sequence[int]) -> list[str]:
    """Bucket keys nearest first: "overdue", each threshold ("1", "3", …), "later"."""
    return [OVERDUE, *(str(days) for days in sorted(thresholds)), LATER]


def bucket_conditions(
    *,
    now: dt.datetime,
    thresholds: Sequence[int],
    deadline: Column = PhoneNumber.deadline_at,
) -> list[ColumnElement[bool]]:
    """One disjoint condition per bucket, in the order of `bucket_names`.

    A number belongs to the nearest threshold T with deadline <= now + T days; it is overdue
    once deadline <= now, and "later" beyond the farthest threshold. `deadline` is the column
    read (a number's, or a tally's of numbers).
    """
    conditions: list[ColumnElement[bool]] = [deadline <= now]
    lower = now
    for days in sorted(thresholds):
        upper = now + dt.timedelta(days=days)
        conditions.append(and_(deadline > lower, deadline <= upper))
        lower = upper
    conditions.append(deadline > lower)
    return conditions


def at_risk(
    status: Column = PhoneNumber.status,
    deadline: Column = PhoneNumber.deadline_at,
) -> ColumnElement[bool]:
    """Not confirmed yet and carrying a deadline (of a number's columns, or a tally's)."""
    return and_(status.in_(AT_RISK_STATUSES), deadline.is_not(None))


def in_warning_window(
    *,
    now: dt.datetime,
    thresholds: Sequence[int],
    deadline: Column = PhoneNumber.deadline_at,
) -> ColumnElement[bool]:
    """Ahead, and within the farthest flag threshold: the report's threshold buckets."""
    return or_(*bucket_conditions(now=now, thresholds=thresholds, deadline=deadline)[1:-1])


def _risk_columns(
    *, now: dt.datetime, thresholds: Sequence[int], among_others: bool
) -> list[ColumnElement[Any]]:
    """Aggregates of at-risk numbers: total, one count per bucket, the next deadline ahead.

    With `among_others` the rows counted also hold numbers that are not at risk (suspended
    ones), so every aggregate checks the number is at risk itself.
    """
    risky = at_risk()

    def only(condition: ColumnElement[bool]) -> ColumnElement[bool]:
        return and_(risky, condition) if among_others else condition

    deadline = PhoneNumber.deadline_at
    total = func.count(case((risky, 1))) if among_others else func.count()
    columns: list[ColumnElement[Any]] = [total.label("at_risk")]
    for index, condition in enumerate(bucket_conditions(now=now, thresholds=thresholds)):
        columns.append(func.count(case((only(condition), 1))).label(f"bucket_{index}"))
    columns.append(func.min(case((only(deadline > now), deadline))).label("next_deadline_at"))
    return columns


def _at_risk_view(row: object, thresholds: Sequence[int]) -> AtRisk:
    names = bucket_names(thresholds)
    return AtRisk(
        total=int(getattr(row, "at_risk", 0) or 0),
        by_bucket={name: int(getattr(row, f"bucket_{i}") or 0) for i, name in enumerate(names)},
    )


def get_company(session: Session, *, company_id: int) -> CorporateSubscriber:
    """The company, or NotFound."""
    company = session.get(CorporateSubscriber, company_id)
    if company is None:
        raise NotFound(Text("company.not_found", company_id=company_id))
    return company


def company_report(
    session: Session,
    *,
    company_id: int,
    now: dt.datetime,
    thresholds: Sequence[int],
    rate: float,
) -> CompanyReport:
    """One company's numbers by status, its at-risk numbers by days left, the next deadline,
    and its confirmation requests on their way.

    Two statements over the company's numbers, found by its index: counts by status, and the
    at-risk aggregates; one over its live requests.
    """
    company = get_company(session, company_id=company_id)
    by_status = {status.value: 0 for status in NumberStatus}
    counted = session.execute(
        select(PhoneNumber.status, func.count())
        .where(PhoneNumber.subscriber_id == company_id)
        .group_by(PhoneNumber.status)
    )
    for status, count in counted:
        by_status[NumberStatus(status).value] = int(count)
    risk = session.execute(
        select(*_risk_columns(now=now, thresholds=thresholds, among_others=False)).where(
            PhoneNumber.subscriber_id == company_id, at_risk()
        )
    ).one()
    return CompanyReport(
        company_id=company.id,
        company_name=company.name,
        generated_at=now,
        thresholds=list(thresholds),
        by_status=by_status,
        at_risk=_at_risk_view(risk, thresholds),
        suspended=by_status[NumberStatus.SUSPENDED.value],
        next_deadline_at=risk.next_deadline_at,
        confirmations=Confirmations(
            **vars(company_confirmations(session, subscriber_id=company_id, rate=rate, now=now))
        ),
    )


def rank_companies(
    session: Session,
    *,
    now: dt.datetime,
    thresholds: Sequence[int],
    operator_id: int | None,
    after: tuple[int, int] | None,
    limit: int,
) -> list[CompanyRisk]:
    """Companies with numbers at risk or suspended, most at risk first (then by id).

    One GROUP BY company over the numbers in those statuses, joined to the companies (about
    0.2 s for 1M numbers on PostgreSQL, which reads every number: no index holds the status,
    see `PhoneNumber`); `after` is the (at-risk total, company id) of the previous page's
    last row.
    Companies with suspended numbers but none at risk come last: they still need a call.
    """
    per_company = (
        select(
            PhoneNumber.subscriber_id.label("subscriber_id"),
            *_risk_columns(now=now, thresholds=thresholds, among_others=True),
            func.count(case((PhoneNumber.status == NumberStatus.SUSPENDED, 1))).label("suspended"),
        )
        .where(PhoneNumber.status.in_((*AT_RISK_STATUSES, NumberStatus.SUSPENDED)))
        .group_by(PhoneNumber.subscriber_id)
    )
    if operator_id is not None:
        per_company = per_company.where(PhoneNumber.operator_id == operator_id)
    counts = per_company.subquery("counts")
    query = (
        select(CorporateSubscriber.id, CorporateSubscriber.name, CorporateSubscriber.inn, counts)
        .join(counts, counts.c.subscriber_id == CorporateSubscriber.id)
        .order_by(counts.c.at_risk.desc(), CorporateSubscriber.id)
        .limit(limit)
    )
    if after is not None:
        risk_total, company_id = after
        query = query.where(
            or_(
                counts.c.at_risk < risk_total,
                and_(counts.c.at_risk == risk_total, CorporateSubscriber.id > company_id),
            )
        )
    ranked = []
    for row in session.execute(query):
        risk = _at_risk_view(row, thresholds)
        ranked.append(
            CompanyRisk(
                id=row.id,
                name=row.name,
                inn=row.inn,
                at_risk=risk,
                overdue=risk.by_bucket[OVERDUE],
                suspended=int(row.suspended),
                next_deadline_at=row.next_deadline_at,
            )
        )
    return ranked


@dataclass(frozen=True)
class AtRiskNumber:
    """One line of the at-risk export: the number, its user as the admin sees them, its time.
    Suspended numbers are lines too (the admin still has to act on them); one suspended by
    hand may carry no deadline.

    The user is named by what the admin may see: an employee's names, a device's type and
    model. Documents, birth dates and SNILS are not read at all (DOMAIN.md, "Personal data").
    """

    id: int
    msisdn: str
    status: NumberStatus
    sim_kind: SimKind | None
    deadline_at: dt.datetime | None
    flag_days: int | None
    employee_name: str | None
    device_type: str | None
    device_model: str | None


def days_left(deadline: dt.datetime, *, now: dt.datetime) -> int:
    """Whole days until the deadline, rounded up: 0 or less once it has passed."""
    return math.ceil((deadline - now) / dt.timedelta(days=1))


def _in_export() -> ColumnElement[bool]:
    """At risk (overdue included), or suspended with a deadline; `_undated_suspended` the rest."""
    return or_(
        at_risk(),
        and_(PhoneNumber.status == NumberStatus.SUSPENDED, PhoneNumber.deadline_at.is_not(None)),
    )


def _undated_suspended() -> ColumnElement[bool]:
    return and_(PhoneNumber.status == NumberStatus.SUSPENDED, PhoneNumber.deadline_at.is_(None))


def _export_rows(company_id: int, which: ColumnElement[bool]) -> Select[*tuple[Any, ...]]:
    return (
        select(
            PhoneNumber.id,
            PhoneNumber.msisdn,
            PhoneNumber.status,
            PhoneNumber.sim_kind,
            PhoneNumber.deadline_at,
            PhoneNumber.flag_days,
            Registration.kind.label("registered_kind"),
            Registration.last_name,
            Registration.first_name,
            Registration.patronymic,
            Registration.device_type,
            Registration.device_model,
        )
        .outerjoin(
            Registration,
            and_(Registration.number_id == PhoneNumber.id, Registration.ended_at.is_(None)),
        )
        .where(PhoneNumber.subscriber_id == company_id, which)
    )


def _at_risk_page(
    company_id: int, after: tuple[dt.datetime, int] | None, limit: int
) -> Select[*tuple[Any, ...]]:
    query = (
        _export_rows(company_id, _in_export())
        .order_by(PhoneNumber.deadline_at, PhoneNumber.id)
        .limit(limit)
    )
    if after is not None:
        deadline, number_id = after
        query = query.where(
            or_(
                PhoneNumber.deadline_at > deadline,
                and_(PhoneNumber.deadline_at == deadline, PhoneNumber.id > number_id),
            )
        )
    return query


def at_risk_numbers(
    sessions: sessionmaker[Session], *, company_id: int, chunk: int = EXPORT_CHUNK
) -> Iterator[AtRiskNumber]:
    """A company's numbers at risk, overdue or suspended, earliest deadline first (suspended
    ones without a deadline last), read `chunk` rows at a time.

    Each chunk is its own short transaction, continued by keyset on (deadline, id): a slow
    download of 300k rows holds no connection and no snapshot between chunks.
    """
    after: tuple[dt.datetime, int] | None = None
    while True:
        with sessions() as session:
            rows = session.execute(_at_risk_page(company_id, after, chunk)).all()
        yield from map(_at_risk_number, rows)
        if len(rows) < chunk:
            break
        after = (rows[-1].deadline_at, rows[-1].id)
    after_id = 0
    while True:
        with sessions() as session:
            rows = session.execute(
                _export_rows(company_id, _undated_suspended())
                .where(PhoneNumber.id > after_id)
                .order_by(PhoneNumber.id)
                .limit(chunk)
            ).all()
        yield from map(_at_risk_number, rows)
        if len(rows) < chunk:
            return
        after_id = rows[-1].id


def _at_risk_number(row: Any) -> AtRiskNumber:
    names = [row.last_name, row.first_name, row.patronymic]
    return AtRiskNumber(
        id=row.id,
        msisdn=row.msisdn,
        status=NumberStatus(row.status),
        sim_kind=row.sim_kind or row.registered_kind,
        deadline_at=row.deadline_at,
        flag_days=row.flag_days,
        employee_name=" ".join(n for n in names if n) or None,
        device_type=row.device_type,
        device_model=row.device_model,
    )
