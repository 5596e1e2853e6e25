"""The company digest of a deadline run: per company, how many numbers were flagged at each
threshold, suspended and terminated, and when its next deadline falls."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, literal, select, update
from sqlalchemy.orm import Session

from app.companies.models import CorporateSubscriber
from app.db.base import UtcDateTime
from app.deadlines.flagging import AT_RISK
from app.deadlines.models import DeadlineNotice, DeadlineRun, NoticeKind
from app.notifications.outbox import digest_row, enqueue_many
from app.numbers.models import PhoneNumber

N = PhoneNumber
_CHUNK = 1000


def queue_company_digests(session: Session, *, run_id: str, now: dt.datetime) -> int:
    """One digest per company for this run (and for any earlier run that died before its
    digest): how many numbers were flagged at each threshold, suspended and terminated."""
    undigested = select(DeadlineRun.run_id).where(DeadlineRun.digested_at.is_(None))
    runs = list(session.scalars(undigested.with_for_update()))
    by_company = _counts_by_company(session, runs)
    rows: list[dict[str, Any]] = []
    companies = list(by_company)
    for start in range(0, len(companies), _CHUNK):
        chunk = companies[start : start + _CHUNK]
        rows += _digest_rows(session, chunk, by_company, run_id=run_id, now=now)
    enqueue_many(session, rows, now=now)
    session.execute(
        update(DeadlineRun)
        .where(DeadlineRun.run_id.in_(runs))
        .values(digested_at=now)
        .execution_options(synchronize_session=False)
    )
    return len(rows)


def _counts_by_company(session: Session, runs: Sequence[str]) -> dict[int, dict[str, Any]]:
    """The runs' notices counted per company: flagged per threshold, suspended, terminated."""
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
    return by_company


def _digest_rows(
    session: Session,
    chunk: Sequence[int],
    by_company: dict[int, dict[str, Any]],
    *,
    run_id: str,
    now: dt.datetime,
) -> list[dict[str, Any]]:
    """The outbox rows of the digests of the companies in `chunk`."""
    names = {
        row.id: row
        for row in session.execute(
            select(CorporateSubscriber.id, CorporateSubscriber.name, CorporateSubscriber.inn).where(
                CorporateSubscriber.id.in_(chunk)
            )
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
    rows = []
    for subscriber_id in chunk:
        company = names[subscriber_id]
        upcoming = next_deadlines.get(subscriber_id)
        payload = {
            "run_id": run_id,
            "company": {"id": company.id, "name": company.name, "inn": company.inn},
            **by_company[subscriber_id],
            "next_deadline_at": upcoming.isoformat() if upcoming else None,
            "report_url": f"/api/v1/companies/{subscriber_id}/report",
        }
        rows.append(digest_row(subscriber_id=subscriber_id, run_id=run_id, payload=payload))
    return rows
