"""Builders for notification tests: outbox rows written the way the deadline run writes them."""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Sequence
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from app.config import Settings
from app.core.runtime import Runtime
from app.notifications.models import Audience, Notification
from app.notifications.outbox import digest_row, enqueue_many

# 1 December 2026, 00:00 in Moscow.
DEADLINE = dt.datetime(2026, 11, 30, 21, 0, tzinfo=dt.UTC)
SECRET = "receiver-secret-0123456789"

_seq = itertools.count(1)


def configure(runtime: Runtime, **changes: Any) -> Settings:
    """Change settings of the running app (routes and jobs read runtime.settings each time)."""
    runtime.settings = runtime.settings.model_copy(update=changes)
    return runtime.settings


def person_row(
    *,
    company_id: int,
    number: dict[str, Any],
    event: str = "flag",
    threshold: int = 30,
    deadline_at: dt.datetime = DEADLINE,
) -> dict[str, Any]:
    """A message to the person using `number` (as the deadline run writes it)."""
    threshold = threshold if event == "flag" else 0
    return {
        "dedupe_key": f"person:{number['id']}:{event}:{threshold}:{next(_seq)}",
        "audience": Audience.PERSON,
        "event": event,
        "subscriber_id": company_id,
        "number_id": number["id"],
        "msisdn": number["msisdn"],
        "threshold": threshold,
        "deadline_at": deadline_at,
    }


def digest(
    company: dict[str, Any],
    *,
    run_id: str | None = None,
    flagged: dict[str, int] | None = None,
    suspended: int = 3,
    terminated: int = 0,
    next_deadline_at: dt.datetime | None = DEADLINE,
) -> dict[str, Any]:
    """A company's digest of one deadline run."""
    run_id = run_id or f"run-{next(_seq)}"
    return digest_row(
        subscriber_id=company["id"],
        run_id=run_id,
        payload={
            "run_id": run_id,
            "company": {"id": company["id"], "name": company["name"], "inn": company["inn"]},
            "flagged": {"30": 4, "14": 2, "1": 1} if flagged is None else flagged,
            "suspended": suspended,
            "terminated": terminated,
            "next_deadline_at": next_deadline_at.isoformat() if next_deadline_at else None,
            "report_url": f"/api/v1/companies/{company['id']}/report",
        },
    )


def queue(runtime: Runtime, rows: Sequence[dict[str, Any]]) -> list[int]:
    """Write rows to the outbox now; their ids, in the order given."""
    with runtime.sessions() as session:
        enqueue_many(session, list(rows), now=runtime.clock.now())
        session.commit()
        found = session.execute(
            select(Notification.dedupe_key, Notification.id).where(
                Notification.dedupe_key.in_([r["dedupe_key"] for r in rows])
            )
        ).all()
    by_key = {row.dedupe_key: row.id for row in found}
    return [by_key[r["dedupe_key"]] for r in rows]


def load(runtime: Runtime, ids: Sequence[int]) -> list[Notification]:
    """The rows of `ids`, in that order, as stored now."""
    with runtime.sessions() as session:
        rows = {
            n.id: n for n in session.scalars(select(Notification).where(Notification.id.in_(ids)))
        }
    return [rows[i] for i in ids]


def set_targets(
    client: TestClient,
    company_id: int,
    headers: dict[str, str],
    **body: Any,
) -> dict[str, Any]:
    """PUT a company's notification settings through the API."""
    response = client.put(
        f"/api/v1/companies/{company_id}/notification-settings", json=body, headers=headers
    )
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()
    return data
