"""A deadline is known when the registration is made: adding numbers, naming or removing a user,
an upload and an approved claim set `deadline_at` in their own transaction, with no deadline
run in between."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from app.core.runtime import Runtime
from tests.builders import device, employee, make_person
from tests.claims.test_claims import claim, decide, person_headers, register
from tests.claims.test_claims import world as claims_world
from tests.deadlines.builders import end_of, name_user, number_row, numbers, world
from tests.uploads.builders import (
    DEVICE_HEADER,
    EMPLOYEE_HEADER,
    csv_bytes,
    device_row,
    employee_row,
    upload,
    upload_result,
)

STARTS = dt.date(2026, 12, 20)  # a Sunday
EMPLOYEE_DEADLINE = end_of(dt.date(2026, 12, 19))  # registered before use: the day before
DEVICE_DEADLINE = end_of(dt.date(2026, 12, 16))  # 3 working days before service starts
GRACE_DEADLINE = end_of(dt.date(2026, 12, 8))  # 15 days after a change of user (23 November)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as test_client:
        yield test_client


def settled(runtime: Runtime, number_id: int) -> tuple[dt.datetime | None, bool]:
    row = number_row(runtime, number_id)
    return row.deadline_at, row.deadline_stale


class TestByHand:
    def test_new_numbers_carry_their_deadline_from_the_start(
        self, client: TestClient, runtime: Runtime
    ) -> None:
        w = world(client)
        (number_id,) = numbers(client, w, 1, starts_on=STARTS)
        assert settled(runtime, number_id) == (EMPLOYEE_DEADLINE, False)

    def test_naming_a_device_answers_with_its_deadline(
        self, client: TestClient, runtime: Runtime
    ) -> None:
        w = world(client)
        (number_id,) = numbers(client, w, 1, starts_on=STARTS)
        response = client.put(
            f"/api/v1/companies/{w['company']['id']}/numbers/{number_id}/registration",
            json=device(),
            headers=w["admin"],
        )
        assert response.status_code == 200, response.text
        assert response.json()["number"]["deadline_at"] == "2026-12-16T20:59:59Z"
        assert settled(runtime, number_id) == (DEVICE_DEADLINE, False)

    def test_a_change_of_user_opens_the_grace_period_at_once(
        self, client: TestClient, runtime: Runtime
    ) -> None:
        w = world(client)
        (number_id,) = numbers(client, w, 1, starts_on=dt.date(2026, 11, 1))
        name_user(client, w, number_id, employee())
        assert name_user(client, w, number_id, employee(last_name="Петров")) == "superseded"
        assert settled(runtime, number_id) == (GRACE_DEADLINE, False)

    def test_removing_the_user_moves_the_deadline_back_to_the_employee_rules(
        self, client: TestClient, runtime: Runtime
    ) -> None:
        w = world(client)
        (number_id,) = numbers(client, w, 1, starts_on=STARTS)
        name_user(client, w, number_id, device())
        response = client.delete(
            f"/api/v1/companies/{w['company']['id']}/numbers/{number_id}/registration",
            headers=w["admin"],
        )
        assert response.status_code == 200, response.text
        assert response.json()["deadline_at"] == "2026-12-19T20:59:59Z"
        assert settled(runtime, number_id) == (EMPLOYEE_DEADLINE, False)


class TestByUpload:
    def test_an_applied_upload_leaves_every_number_with_its_deadline(
        self, client: TestClient, runtime: Runtime
    ) -> None:
        w = world(client)
        ids = numbers(client, w, 4, starts_on=STARTS)
        msisdns = [number_row(runtime, i).msisdn for i in ids]
        company_id = w["company"]["id"]
        employees = csv_bytes(
            EMPLOYEE_HEADER, [employee_row(m, n=k) for k, m in enumerate(msisdns[:3])]
        )
        devices = csv_bytes(DEVICE_HEADER, [device_row(msisdns[3])])

        for content, name in ((employees, "staff.csv"), (devices, "devices.csv")):
            response = upload(client, company_id, w["admin"], content, filename=name)
            assert response.status_code == 202, response.text
            done = upload_result(client, company_id, w["admin"], response.json()["id"])
            assert done["status"] == "done", done

        assert [settled(runtime, i) for i in ids] == [(EMPLOYEE_DEADLINE, False)] * 3 + [
            (DEVICE_DEADLINE, False)
        ]

    def test_an_upload_that_changes_users_gives_them_the_grace_period(
        self, client: TestClient, runtime: Runtime
    ) -> None:
        w = world(client)
        ids = numbers(client, w, 2, starts_on=dt.date(2026, 11, 1))
        msisdns = [number_row(runtime, i).msisdn for i in ids]
        company_id = w["company"]["id"]
        for n in (0, 1):  # a first user, then another one for each number
            content = csv_bytes(
                EMPLOYEE_HEADER, [employee_row(m, n=k + 2 * n) for k, m in enumerate(msisdns)]
            )
            response = upload(client, company_id, w["admin"], content, key=f"round-{n}")
            assert response.status_code == 202, response.text
        assert [settled(runtime, i) for i in ids] == [(GRACE_DEADLINE, False)] * 2


class TestByClaim:
    def test_an_approved_claim_settles_the_numbers_deadline(
        self, client: TestClient, runtime: Runtime
    ) -> None:
        w = claims_world(client)
        number_id = register(client, w, 0, device())
        person = make_person(client)
        pending = claim(client, person_headers(client, person), w, 0)
        assert pending["status"] == "pending", pending

        response = decide(client, w, pending["id"], "approve")

        assert response.status_code == 200, response.text
        # The person replaced the device's registration: a change of user, whose grace period
        # runs from today.
        assert settled(runtime, number_id) == (GRACE_DEADLINE, False)
