"""A company with numbers in several states, built through the API, for the cabinet's pages."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.builders import device, employee, make_company, make_company_with_numbers
from tests.conftest import START

# Service starts in three weeks: the employees' numbers are at risk, 21 days before their
# deadline.
STARTS_ON = START.date() + dt.timedelta(days=21)


@pytest.fixture
def world(client: TestClient) -> dict[str, Any]:
    """A company with three numbers (an employee waiting to confirm, a device, one without a
    user) and another company beside it."""
    built = make_company_with_numbers(client, count=3, starts_on=STARTS_ON)
    company_id = built["company"]["id"]
    first, second, _ = built["numbers"]
    for number, body in ((first, employee()), (second, device())):
        response = client.put(
            f"/api/v1/companies/{company_id}/numbers/{number['id']}/registration",
            json=body,
            headers=built["admin"],
        )
        assert response.status_code == 200, response.text
    built["other"] = make_company(client)
    return built
