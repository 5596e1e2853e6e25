"""Replacing a confirmed user takes the number's current registration version (If-Match with the
ETag of GET of the number) or replace=true; without either the answer is 409, and 412 when the
version sent is no longer the current one."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.core.runtime import Runtime
from tests.builders import device, employee, make_company_with_numbers
from tests.reports.builders import put_numbers_in_state

PETROV = employee(last_name="Петров", first_name="Пётр", doc_number="45 13 111222")
SIDOROV = employee(last_name="Сидоров", first_name="Сидор", doc_number="45 14 333444")


class Number:
    """One number of a company, reached through the API as its admin."""

    def __init__(self, client: TestClient, world: dict[str, Any]) -> None:
        self.client = client
        self.admin = world["admin"]
        self.url = f"/api/v1/companies/{world['company']['id']}/numbers/{world['numbers'][0]['id']}"
        self.id = world["numbers"][0]["id"]

    def get(self) -> Any:
        response = self.client.get(self.url, headers=self.admin)
        assert response.status_code == 200, response.text
        return response

    def put(self, body: dict[str, Any], query: str = "", **headers: str) -> Any:
        return self.client.put(
            f"{self.url}/registration?{query}", json=body, headers={**self.admin, **headers}
        )

    def current_user(self) -> str | None:
        registrations = self.get().json()["registrations"]
        current = [r["last_name"] or r["device_model"] for r in registrations if r["current"]]
        return current[0] if current else None


@pytest.fixture
def number(client: TestClient, runtime: Runtime) -> Number:
    """A number whose employee Иванов is confirmed: the number is active."""
    world = make_company_with_numbers(client, count=1)
    number = Number(client, world)
    assert number.put(employee()).status_code == 200
    put_numbers_in_state(runtime, [number.id], status="active", deadline_at=None)
    return number


def _problem(response: Any, status: int, slug: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["type"].endswith("/" + slug)
    return body


class TestWithoutTheVersion:
    def test_is_a_409_saying_how_and_changes_nothing(self, number: Number) -> None:
        body = _problem(number.put(PETROV), 409, "registration-version-required")

        assert body["title"] == "Нужна версия регистрации"
        assert "If-Match" in body["detail"]
        assert "replace=true" in body["detail"]
        assert number.current_user() == "Иванов"
        assert number.get().json()["status"] == "active"

    def test_reads_in_english_when_asked(self, number: Number) -> None:
        body = _problem(
            number.put(PETROV, **{"Accept-Language": "en"}), 409, "registration-version-required"
        )
        assert body["detail"].startswith(f"The user of number {number.id} is confirmed.")

    def test_a_confirmed_device_is_replaced_the_same_way(
        self, client: TestClient, runtime: Runtime
    ) -> None:
        number = Number(client, make_company_with_numbers(client, count=1))
        assert number.put(device()).status_code == 200
        put_numbers_in_state(runtime, [number.id], status="active", deadline_at=None)

        _problem(number.put(device(identifier="SN-200002")), 409, "registration-version-required")

    def test_the_same_user_again_needs_nothing(self, number: Number) -> None:
        response = number.put(employee())
        assert response.status_code == 200, response.text
        assert response.json()["outcome"] == "unchanged"

    def test_a_user_not_confirmed_yet_is_replaced_freely(
        self, client: TestClient, runtime: Runtime
    ) -> None:
        number = Number(client, make_company_with_numbers(client, count=1))
        assert number.put(employee()).status_code == 200  # pending confirmation

        response = number.put(PETROV)

        assert response.status_code == 200, response.text
        assert response.json()["outcome"] == "superseded"


class TestWithTheVersion:
    def test_the_etag_of_get_replaces_the_user(self, number: Number) -> None:
        etag = number.get().headers["etag"]

        response = number.put(PETROV, **{"If-Match": etag})

        assert response.status_code == 200, response.text
        assert response.json()["outcome"] == "superseded"
        assert response.json()["number"]["status"] == "pending_confirmation"
        assert response.headers["etag"] != etag
        assert response.headers["etag"] == number.get().headers["etag"]
        assert number.current_user() == "Петров"

    def test_replace_true_replaces_the_user(self, number: Number) -> None:
        response = number.put(PETROV, "replace=true")

        assert response.status_code == 200, response.text
        assert number.current_user() == "Петров"

    def test_a_stale_etag_is_412_and_changes_nothing(self, number: Number) -> None:
        read_before = number.get().headers["etag"]
        assert number.put(PETROV, "replace=true").status_code == 200

        body = _problem(
            number.put(SIDOROV, **{"If-Match": read_before}), 412, "precondition-failed"
        )

        assert body["title"] == "Данные изменились"
        assert "ETag" in body["detail"]
        assert number.current_user() == "Петров"

    def test_a_confirmation_since_the_read_makes_the_etag_stale(
        self, client: TestClient, runtime: Runtime
    ) -> None:
        number = Number(client, make_company_with_numbers(client, count=1))
        assert number.put(employee()).status_code == 200
        read_while_pending = number.get().headers["etag"]
        put_numbers_in_state(runtime, [number.id], status="active", deadline_at=None)

        _problem(number.put(PETROV, **{"If-Match": read_while_pending}), 412, "precondition-failed")
