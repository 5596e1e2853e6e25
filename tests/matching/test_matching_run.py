"""The matching run: devices activate, employees get one request each, answers are compared
through keyed hashes, silence expires; a second run changes nothing."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.core.clock import FixedClock
from app.core.runtime import Runtime
from app.matching import service
from app.numbers.models import PhoneNumber, Registration, StatusEvent
from app.portal.models import ConfirmationRequest, PortalAnswer, RequestStatus
from app.work.models import WorkItem
from tests.builders import device, employee, make_company_with_numbers, staff_headers

WINDOW = dt.timedelta(days=30)


def _register(client: TestClient, world: dict[str, Any], index: int, body: dict[str, Any]) -> int:
    number_id: int = world["numbers"][index]["id"]
    path = f"/api/v1/companies/{world['company']['id']}/numbers/{number_id}/registration"
    response = client.put(path, json=body, headers=world["admin"])
    assert response.status_code == 200, response.text
    return number_id


def _run(session: Session, clock: FixedClock) -> service.MatchReport:
    report = service.run_matching(session, now=clock.now(), window=WINDOW)
    session.commit()
    return report


def _status(session: Session, number_id: int) -> str:
    session.expire_all()
    return str(session.get_one(PhoneNumber, number_id).status.value)


def _answer(
    session: Session,
    runtime: Runtime,
    number_id: int,
    answer: PortalAnswer,
    *,
    birth_date: str = "1985-04-12",
    name_key: str | None = None,
) -> ConfirmationRequest:
    """Record an answer as the portal adapter does: verified data only as keyed hashes."""
    request = session.scalars(
        select(ConfirmationRequest).where(ConfirmationRequest.number_id == number_id)
    ).one()
    registration = session.get_one(Registration, request.registration_id)
    request.status = RequestStatus.ANSWERED
    request.answer = answer
    request.answered_at = dt.datetime(2026, 11, 24, tzinfo=dt.UTC)
    if answer is PortalAnswer.CONFIRMED:
        vault = runtime.vault
        request.verified_name_key = name_key or registration.name_key
        request.verified_doc_hash = vault.lookup_hash("doc", "ru_passport:4512345678")
        request.verified_birth_hash = vault.lookup_hash("birth", birth_date)
    session.commit()
    return request


@pytest.fixture
def world(client: TestClient) -> dict[str, Any]:
    return make_company_with_numbers(client, count=4)


class TestDevices:
    def test_a_device_becomes_active_at_once_with_a_work_item(
        self, client: TestClient, world: dict[str, Any], session: Session, clock: FixedClock
    ) -> None:
        number_id = _register(client, world, 0, device())
        report = _run(session, clock)
        assert report.devices_activated == 1
        assert _status(session, number_id) == "active"
        items = session.scalars(select(WorkItem)).all()
        assert [(i.number_id, i.kind) for i in items] == [(number_id, "activate")]

    def test_a_suspended_device_resumes(
        self, client: TestClient, world: dict[str, Any], session: Session, clock: FixedClock
    ) -> None:
        number_id = world["numbers"][0]["id"]
        client.post(
            f"/api/v1/numbers/{number_id}/status",
            json={"status": "suspended", "reason": "deadline passed"},
            headers=staff_headers(client),
        )
        _register(client, world, 0, device())
        _run(session, clock)
        assert _status(session, number_id) == "active"


class TestEmployees:
    def test_one_request_per_registration_however_often_it_runs(
        self, client: TestClient, world: dict[str, Any], session: Session, clock: FixedClock
    ) -> None:
        number_id = _register(client, world, 0, employee())
        first = _run(session, clock)
        second = _run(session, clock)
        assert (first.requests_created, second.requests_created) == (1, 0)
        request = session.scalars(select(ConfirmationRequest)).one()
        assert request.status is RequestStatus.QUEUED
        assert request.expires_at == clock.now() + WINDOW
        assert _status(session, number_id) == "pending_confirmation"

    def test_confirmed_with_equal_data_is_active(
        self,
        client: TestClient,
        world: dict[str, Any],
        session: Session,
        clock: FixedClock,
        runtime: Runtime,
    ) -> None:
        number_id = _register(client, world, 0, employee())
        _run(session, clock)
        _answer(session, runtime, number_id, PortalAnswer.CONFIRMED)
        report = _run(session, clock)
        assert report.confirmed_active == 1
        assert _status(session, number_id) == "active"
        request = session.scalars(select(ConfirmationRequest)).one()
        assert (request.status, request.outcome, request.mismatch_fields) == (
            RequestStatus.MATCHED,
            "active",
            None,
        )

    def test_confirmed_with_another_birth_date_is_a_mismatch_naming_the_field(
        self,
        client: TestClient,
        world: dict[str, Any],
        session: Session,
        clock: FixedClock,
        runtime: Runtime,
    ) -> None:
        number_id = _register(client, world, 0, employee())
        _run(session, clock)
        _answer(session, runtime, number_id, PortalAnswer.CONFIRMED, birth_date="1985-04-13")
        report = _run(session, clock)
        assert report.mismatched == 1
        assert _status(session, number_id) == "mismatch"
        requests = client.get(
            f"/api/v1/companies/{world['company']['id']}/numbers/{number_id}/confirmation-requests",
            headers=world["admin"],
        ).json()
        assert requests[0]["outcome"] == "mismatch"
        assert requests[0]["mismatch_fields"] == ["birth_date"]
        assert "1985-04-13" not in str(requests)

    def test_a_different_name_and_birth_date_are_both_named(
        self,
        client: TestClient,
        world: dict[str, Any],
        session: Session,
        clock: FixedClock,
        runtime: Runtime,
    ) -> None:
        number_id = _register(client, world, 0, employee())
        _run(session, clock)
        _answer(
            session,
            runtime,
            number_id,
            PortalAnswer.CONFIRMED,
            birth_date="1990-01-01",
            name_key="ПЕТРОВ ИВАН ИВАНОВИЧ",
        )
        _run(session, clock)
        request = session.scalars(select(ConfirmationRequest)).one()
        assert request.mismatch_fields == "full_name,birth_date"

    def test_declined(
        self,
        client: TestClient,
        world: dict[str, Any],
        session: Session,
        clock: FixedClock,
        runtime: Runtime,
    ) -> None:
        number_id = _register(client, world, 0, employee())
        _run(session, clock)
        _answer(session, runtime, number_id, PortalAnswer.DECLINED)
        assert _run(session, clock).declined == 1
        assert _status(session, number_id) == "declined"

    def test_a_suspended_number_is_reactivated_by_the_confirmation(
        self,
        client: TestClient,
        world: dict[str, Any],
        session: Session,
        clock: FixedClock,
        runtime: Runtime,
    ) -> None:
        number_id = _register(client, world, 0, employee())
        client.post(
            f"/api/v1/numbers/{number_id}/status",
            json={"status": "suspended", "reason": "deadline passed"},
            headers=staff_headers(client),
        )
        _run(session, clock)
        _answer(session, runtime, number_id, PortalAnswer.CONFIRMED)
        _run(session, clock)
        assert _status(session, number_id) == "active"

    def test_no_answer_in_the_window_expires_and_the_admin_resends(
        self, client: TestClient, world: dict[str, Any], session: Session, clock: FixedClock
    ) -> None:
        number_id = _register(client, world, 0, employee())
        _run(session, clock)
        clock.advance(WINDOW + dt.timedelta(seconds=1))
        assert _run(session, clock).expired == 1
        assert _status(session, number_id) == "expired"
        assert _run(session, clock).expired == 0
        path = (
            f"/api/v1/companies/{world['company']['id']}/numbers/{number_id}/confirmation-requests"
        )
        resent = client.post(path, headers=world["admin"])
        assert resent.status_code == 201, resent.text
        assert _status(session, number_id) == "pending_confirmation"
        again = client.post(path, headers=world["admin"])
        assert again.status_code == 409

    def test_a_replaced_user_cancels_the_old_request(
        self, client: TestClient, world: dict[str, Any], session: Session, clock: FixedClock
    ) -> None:
        _register(client, world, 0, employee())
        _run(session, clock)
        _register(client, world, 0, employee(last_name="Сидоров", doc_number="4600 111222"))
        report = _run(session, clock)
        assert (report.requests_cancelled, report.requests_created) == (1, 1)
        statuses = sorted(r.status.value for r in session.scalars(select(ConfirmationRequest)))
        assert statuses == ["cancelled", "queued"]


class TestIdempotentRun:
    def test_the_second_run_writes_nothing(
        self,
        client: TestClient,
        world: dict[str, Any],
        session: Session,
        clock: FixedClock,
        runtime: Runtime,
    ) -> None:
        _register(client, world, 0, device())
        employee_number = _register(client, world, 1, employee())
        _run(session, clock)
        _answer(session, runtime, employee_number, PortalAnswer.CONFIRMED)
        _run(session, clock)
        counts = (
            session.scalar(select(func.count()).select_from(StatusEvent)),
            session.scalar(select(func.count()).select_from(ConfirmationRequest)),
            session.scalar(select(func.count()).select_from(WorkItem)),
        )
        report = _run(session, clock)
        assert report.as_dict() == dict.fromkeys(report.as_dict(), 0)
        assert counts == (
            session.scalar(select(func.count()).select_from(StatusEvent)),
            session.scalar(select(func.count()).select_from(ConfirmationRequest)),
            session.scalar(select(func.count()).select_from(WorkItem)),
        )


class TestRunThroughTheApi:
    def test_an_operator_runs_matching_for_its_own_numbers_only(
        self, client: TestClient, world: dict[str, Any], session: Session
    ) -> None:
        other = make_company_with_numbers(client, count=1)
        mine = _register(client, world, 0, device())
        theirs = _register(client, other, 0, device())
        response = client.post(
            "/api/v1/operator/matching-runs", headers={"X-API-Key": world["operator"]["api_key"]}
        )
        assert response.status_code == 200, response.text
        assert response.json()["devices_activated"] == 1
        assert (_status(session, mine), _status(session, theirs)) == ("active", "unregistered")

    def test_an_admin_may_not_run_it(self, client: TestClient, world: dict[str, Any]) -> None:
        response = client.post("/api/v1/operator/matching-runs", headers=world["admin"])
        assert response.status_code == 403
