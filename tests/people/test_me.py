"""A person's own view: the numbers registered to them, and their data unmasked."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from app.core.errors import PROBLEM_JSON, TYPE_BASE
from tests.builders import (
    employee,
    make_company_with_numbers,
    make_person,
    staff_headers,
    token_headers,
    valid_snils,
)


def person_headers(client: TestClient, person: dict[str, Any]) -> dict[str, str]:
    return token_headers(client, role="person", subject=person["portal_subject"])


def register(client: TestClient, world: dict[str, Any], index: int, body: dict[str, Any]) -> int:
    """Name the user of the company's `index`-th number as its admin; returns the number id."""
    number_id: int = world["numbers"][index]["id"]
    response = client.put(
        f"/api/v1/companies/{world['company']['id']}/numbers/{number_id}/registration",
        json=body,
        headers=world["admin"],
    )
    assert response.status_code == 200, response.text
    return number_id


def my_numbers(client: TestClient, headers: dict[str, str]) -> list[dict[str, Any]]:
    response = client.get("/api/v1/me/numbers", headers=headers)
    assert response.status_code == 200, response.text
    numbers: list[dict[str, Any]] = response.json()
    return numbers


class TestMyNumbers:
    def test_a_person_sees_exactly_the_numbers_registered_to_them(self, client: TestClient) -> None:
        person = make_person(client)
        company_a = make_company_with_numbers(client, count=2)
        company_b = make_company_with_numbers(client, count=2)
        mine_a = register(client, company_a, 0, employee())
        mine_b = register(client, company_b, 0, employee())
        register(
            client,
            company_a,
            1,
            employee(last_name="Петров", first_name="Пётр", doc_number="4600 112233"),
        )
        # Their document with a birth date the company mistyped: still theirs to see.
        mistyped = register(client, company_b, 1, employee(birth_date="1990-01-01"))

        numbers = my_numbers(client, person_headers(client, person))

        assert [n["id"] for n in numbers] == sorted([mine_a, mine_b, mistyped])
        by_id = {n["id"]: n for n in numbers}
        assert by_id[mine_a]["company_name"] == company_a["company"]["name"]
        assert by_id[mine_b]["company_inn"] == company_b["company"]["inn"]
        assert {n["status"] for n in numbers} == {"pending_confirmation"}
        assert all(n["status_text"] and n["next_step"] for n in numbers)

    def test_their_own_data_is_unmasked_there(self, client: TestClient) -> None:
        person = make_person(client)
        world = make_company_with_numbers(client, count=1)
        register(client, world, 0, employee())

        [number] = my_numbers(client, person_headers(client, person))

        registration = number["registration"]
        assert registration["doc_number"] == "4512 345678"
        assert registration["birth_date"] == "1985-04-12"
        assert registration["snils"] == valid_snils(1)
        assert registration["last_name"] == "Иванов"
        assert registration["current"] is True

    def test_a_person_with_no_numbers_gets_an_empty_list(self, client: TestClient) -> None:
        person = make_person(client)
        world = make_company_with_numbers(client, count=1)
        register(client, world, 0, employee(doc_number="4600 998877"))

        assert my_numbers(client, person_headers(client, person)) == []

    def test_a_removed_registration_disappears(self, client: TestClient) -> None:
        person = make_person(client)
        world = make_company_with_numbers(client, count=2)
        kept = register(client, world, 0, employee())
        removed = register(client, world, 1, employee())
        headers = person_headers(client, person)
        assert [n["id"] for n in my_numbers(client, headers)] == [kept, removed]

        response = client.delete(
            f"/api/v1/companies/{world['company']['id']}/numbers/{removed}/registration",
            headers=world["admin"],
        )

        assert response.status_code == 200, response.text
        assert response.json()["status"] == "unregistered"
        assert [n["id"] for n in my_numbers(client, headers)] == [kept]


class TestOthersSeeTheDataMasked:
    def test_the_admin_sees_the_passport_and_birth_date_masked(self, client: TestClient) -> None:
        world = make_company_with_numbers(client, count=1)
        number_id = register(client, world, 0, employee())

        response = client.get(
            f"/api/v1/companies/{world['company']['id']}/numbers/{number_id}",
            headers=world["admin"],
        )

        assert response.status_code == 200, response.text
        [registration] = response.json()["registrations"]
        assert registration["doc_number"] == "45** ***678"
        assert registration["birth_date"] == "**.**.1985"
        assert registration["snils"] == "***-***-*** " + valid_snils(1)[-2:]
        assert "345678" not in response.text
        assert "1985-04-12" not in response.text


class TestMe:
    def test_a_person_reads_their_own_data_in_clear(self, client: TestClient) -> None:
        person = make_person(client)

        response = client.get("/api/v1/me", headers=person_headers(client, person))

        assert response.status_code == 200, response.text
        me = response.json()
        assert me["portal_subject"] == person["portal_subject"]
        assert me["passport"] == "4512 345678"
        assert me["birth_date"] == "1985-04-12"
        assert me["snils"] == valid_snils(1)
        assert (me["last_name"], me["first_name"], me["patronymic"]) == (
            "Иванов",
            "Иван",
            "Иванович",
        )

    def test_the_sandbox_portal_answers_staff_with_masked_data(self, client: TestClient) -> None:
        person = make_person(client)

        assert person["passport"] == "45** ***678"
        assert person["birth_date"] == "**.**.1985"


class TestPersonAccess:
    def test_no_token_for_a_subject_the_portal_does_not_know(self, client: TestClient) -> None:
        response = client.post(
            "/api/v1/sandbox/tokens", json={"role": "person", "subject": "sbx-nobody"}
        )

        assert response.status_code == 404, response.text
        assert response.headers["content-type"].startswith(PROBLEM_JSON)
        assert response.json()["type"] == TYPE_BASE + "not-found"
        assert "sbx-nobody" in response.json()["detail"]

    def test_a_person_cannot_list_a_companys_numbers(self, client: TestClient) -> None:
        person = make_person(client)
        world = make_company_with_numbers(client, count=1)
        register(client, world, 0, employee())

        response = client.get(
            f"/api/v1/companies/{world['company']['id']}/numbers",
            headers=person_headers(client, person),
        )

        assert response.status_code == 403, response.text
        assert response.headers["content-type"].startswith(PROBLEM_JSON)
        assert response.json()["type"] == TYPE_BASE + "forbidden"

    def test_only_a_person_may_call_me(self, client: TestClient) -> None:
        response = client.get("/api/v1/me/numbers", headers=staff_headers(client))

        assert response.status_code == 403, response.text
        assert response.headers["content-type"].startswith(PROBLEM_JSON)
        assert response.json()["type"] == TYPE_BASE + "forbidden"
