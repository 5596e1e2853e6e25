"""Builders for deadline tests: companies with legacy and new contracts, numbers with a
service start, users named through the API, and the deadline run at a chosen moment."""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from app.core.clock import MOSCOW, FixedClock
from app.core.runtime import Runtime
from app.deadlines.service import DeadlineRunReport, run_deadlines
from app.numbers.models import PhoneNumber, StatusEvent
from tests.builders import (
    make_company,
    make_contract,
    make_operator,
    mobile,
    staff_headers,
    token_headers,
)

_seq = itertools.count(1_000)
LEGACY_SIGNED = dt.date(2019, 5, 1)
NEW_SIGNED = dt.date(2024, 3, 1)


def msk(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> Any:
    """A Moscow wall-clock moment, aware."""
    return dt.datetime(year, month, day, hour, minute, second, tzinfo=MOSCOW)


def end_of(day: dt.date) -> dt.datetime:
    """23:59:59 Moscow of `day` in UTC, as deadlines are stored."""
    return dt.datetime.combine(day, dt.time(23, 59, 59), MOSCOW).astimezone(dt.UTC)


def world(client: TestClient, *, signed_on: dt.date = NEW_SIGNED) -> dict[str, Any]:
    """An operator, a company and one contract signed on `signed_on`."""
    operator = make_operator(client)
    company = make_company(client)
    contract = make_contract(
        client, company_id=company["id"], operator_id=operator["id"], signed_on=signed_on
    )
    admin = token_headers(client, role="company_admin", company_id=company["id"])
    return {"operator": operator, "company": company, "contract": contract, "admin": admin}


def numbers(
    client: TestClient, w: dict[str, Any], count: int, *, starts_on: dt.date | None = None
) -> list[int]:
    """`count` new numbers under the world's contract; ids."""
    base = next(_seq) * 5_000  # up to 5,000 numbers per call
    body = {
        "numbers": [
            {"msisdn": mobile(base + i)}
            | ({"service_start_on": starts_on.isoformat()} if starts_on else {})
            for i in range(count)
        ]
    }
    response = client.post(
        f"/api/v1/contracts/{w['contract']['id']}/numbers", json=body, headers=staff_headers(client)
    )
    assert response.status_code == 201, response.text
    return [n["id"] for n in response.json()["numbers"]]


def name_user(
    client: TestClient,
    w: dict[str, Any],
    number_id: int,
    body: dict[str, Any],
    *,
    replace: bool = False,
) -> str:
    """The admin names the number's user (`replace` a confirmed one); returns the outcome
    (created, superseded, …)."""
    response = client.put(
        f"/api/v1/companies/{w['company']['id']}/numbers/{number_id}/registration",
        json=body,
        params={"replace": "true"} if replace else None,
        headers=w["admin"],
    )
    assert response.status_code == 200, response.text
    outcome: str = response.json()["outcome"]
    return outcome


def run_at(runtime: Runtime, clock: FixedClock, at: dt.datetime) -> DeadlineRunReport:
    """One deadline run with the clock at `at`."""
    clock.set(at)
    return run_deadlines(runtime)


def number_row(runtime: Runtime, number_id: int) -> PhoneNumber:
    """The number as stored."""
    with runtime.sessions() as session:
        return session.get_one(PhoneNumber, number_id)


def status_events(runtime: Runtime, number_id: int, to_status: str) -> int:
    """How many times the number moved to `to_status`."""
    with runtime.sessions() as session:
        return int(
            session.scalar(
                select(func.count())
                .select_from(StatusEvent)
                .where(StatusEvent.number_id == number_id, StatusEvent.to_status == to_status)
            )
            or 0
        )


def ask(runtime: Runtime) -> None:
    """The matching step asks the named employees: their requests are created and sent."""
    from app.matching.jobs import matching_cycle

    matching_cycle(runtime)
