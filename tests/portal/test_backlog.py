"""The confirmation backlog is visible: to the admin on the number and in the report, to staff
per operator with the numbers that would reach their deadline before their request goes out,
and to Prometheus."""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi.testclient import TestClient

from app.core.clock import FixedClock
from app.core.runtime import Runtime
from app.numbers.models import PhoneNumber
from app.portal.backlog import refresh_backlog_gauges
from app.portal.dispatch import send_queued
from app.portal.sandbox_portal import SandboxPortal
from tests.builders import staff_headers
from tests.portal.test_dispatch import queued
from tests.portal.test_portal import load_request

RATE = 10


def company_of(runtime: Runtime, request_id: int) -> tuple[int, int]:
    request = load_request(runtime, request_id)
    return request.subscriber_id, request.number_id


def admin_get(client: TestClient, path: str, company_id: int) -> Any:
    from tests.builders import token_headers

    headers = token_headers(client, role="company_admin", company_id=company_id)
    response = client.get(path, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


def set_deadline(runtime: Runtime, number_id: int, at: dt.datetime) -> None:
    with runtime.sessions() as session:
        session.get_one(PhoneNumber, number_id).deadline_at = at
        session.commit()


class TestOnTheNumber:
    def test_a_queued_request_says_its_place_and_when_it_will_go(
        self, client: TestClient, runtime: Runtime, clock: FixedClock
    ) -> None:
        ids = queued(client, runtime, 25)
        company_id, number_id = company_of(runtime, ids[-1])

        detail = admin_get(
            client, f"/api/v1/companies/{company_id}/numbers/{number_id}", company_id
        )

        confirmation = detail["confirmation"]
        assert confirmation["status"] == "queued"
        assert confirmation["queued_ahead"] == 24
        expected = clock.now() + dt.timedelta(seconds=25 / RATE)
        assert dt.datetime.fromisoformat(confirmation["expected_send_at"]) == expected

    def test_a_sent_request_says_when(
        self, client: TestClient, runtime: Runtime, clock: FixedClock
    ) -> None:
        ids = queued(client, runtime, 1)
        send_queued(runtime, SandboxPortal.from_runtime(runtime))
        company_id, number_id = company_of(runtime, ids[0])

        detail = admin_get(
            client, f"/api/v1/companies/{company_id}/numbers/{number_id}", company_id
        )

        confirmation = detail["confirmation"]
        assert confirmation["status"] == "sent"
        assert confirmation["sent_at"].startswith(clock.now().date().isoformat())
        assert confirmation["expected_send_at"] is None


class TestInTheCompanyReport:
    def test_requests_by_state_and_when_the_queue_is_sent(
        self, client: TestClient, runtime: Runtime, clock: FixedClock
    ) -> None:
        ids = queued(client, runtime, 14)
        send_queued(runtime, SandboxPortal.from_runtime(runtime))  # one second's worth: 10
        company_id, _ = company_of(runtime, ids[0])

        report = admin_get(client, f"/api/v1/companies/{company_id}/report", company_id)

        confirmations = report["confirmations"]
        assert (confirmations["queued"], confirmations["sent"], confirmations["answered"]) == (
            4,
            10,
            0,
        )
        all_sent = dt.datetime.fromisoformat(confirmations["all_sent_by"])
        assert all_sent == clock.now() + dt.timedelta(seconds=4 / RATE)


class TestForStaff:
    def test_each_operators_queue_its_oldest_and_the_numbers_that_would_be_late(
        self, client: TestClient, runtime: Runtime, clock: FixedClock
    ) -> None:
        ids = queued(client, runtime, 30)
        clock.advance(dt.timedelta(minutes=5))
        now = clock.now()
        # The 25th in the queue goes out 2.5 s from now: a deadline in 1 s comes first.
        late = load_request(runtime, ids[24]).number_id
        set_deadline(runtime, late, now + dt.timedelta(seconds=1))
        early = load_request(runtime, ids[0]).number_id
        set_deadline(runtime, early, now + dt.timedelta(seconds=1))  # sent within 0.1 s
        for request_id in ids[1:24] + ids[25:]:
            set_deadline(
                runtime, load_request(runtime, request_id).number_id, now + dt.timedelta(days=20)
            )

        response = client.get("/api/v1/reports/confirmation-backlog", headers=staff_headers(client))

        assert response.status_code == 200, response.text
        body = response.json()
        assert body["rate_per_operator"] == RATE
        (operator,) = [o for o in body["operators"] if o["queued"]]
        assert operator["queued"] == 30
        assert operator["oldest_queued_age_seconds"] == 300
        assert operator["drain_seconds"] == 3
        assert operator["late_numbers"] == 1
        assert operator["paused_until"] is None

    def test_admins_do_not_see_it(self, client: TestClient, runtime: Runtime) -> None:
        from tests.builders import token_headers

        ids = queued(client, runtime, 1)
        company_id, _ = company_of(runtime, ids[0])
        headers = token_headers(client, role="company_admin", company_id=company_id)

        assert (
            client.get("/api/v1/reports/confirmation-backlog", headers=headers).status_code == 403
        )


class TestMetrics:
    def test_the_queue_per_operator_is_a_gauge(self, client: TestClient, runtime: Runtime) -> None:
        queued(client, runtime, 12)

        figures = refresh_backlog_gauges(runtime)

        assert figures["confirmation_queue"] == 12
        metrics = client.get("/metrics").text
        assert "simreg_confirmation_queue_requests{operator=" in metrics
        assert "simreg_confirmation_queue_late_numbers{operator=" in metrics
