"""Builders for report tests: numbers put straight into the state a report looks at."""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import update

from app.core.runtime import Runtime
from app.numbers.models import NumberStatus, PhoneNumber


def put_numbers_in_state(
    runtime: Runtime,
    number_ids: list[int],
    *,
    status: NumberStatus | str,
    deadline_at: dt.datetime | None,
    flag_days: int | None = None,
) -> None:
    """Set status and deadline directly, as the deadline run and the matching would leave them.

    The registry itself changes status only through its status machine; a report test only
    needs the end state. `deadline_stale` is cleared so no deadline run recomputes it.
    """
    with runtime.sessions() as session:
        session.execute(
            update(PhoneNumber)
            .where(PhoneNumber.id.in_(number_ids))
            .values(
                status=NumberStatus(status),
                deadline_at=deadline_at,
                flag_days=flag_days,
                deadline_stale=False,
            )
        )
        session.commit()


def problem(response: Any, status: int) -> dict[str, Any]:
    """The problem+json body of a response that must have failed with `status`."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    return body


def company_report(client: TestClient, company_id: int, headers: dict[str, str]) -> dict[str, Any]:
    """GET the company report, which must succeed."""
    response = client.get(f"/api/v1/companies/{company_id}/report", headers=headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body
