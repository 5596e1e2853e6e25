"""The whole flow through the API alone: the admin uploads, matching runs, the employee
confirms in the sandbox portal, the number turns active; a mismatch names the field."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tests.builders import make_company_with_numbers, make_person, token_headers
from tests.uploads.builders import EMPLOYEE_HEADER, csv_bytes, employee_row, upload


def _run_matching(client: TestClient, world: dict[str, Any]) -> dict[str, Any]:
    response = client.post(
        "/api/v1/operator/matching-runs", headers={"X-API-Key": world["operator"]["api_key"]}
    )
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def _number(client: TestClient, world: dict[str, Any], index: int) -> dict[str, Any]:
    number_id = world["numbers"][index]["id"]
    response = client.get(
        f"/api/v1/companies/{world['company']['id']}/numbers/{number_id}", headers=world["admin"]
    )
    detail: dict[str, Any] = response.json()
    return detail


class TestWalkThrough:
    def test_upload_match_confirm_active(self, client: TestClient) -> None:
        world = make_company_with_numbers(client, count=2)
        phones = [n["msisdn"] for n in world["numbers"]]
        rows = [
            employee_row(phones[0], n=0),  # Иванов Иван Иванович, 01.01.1970, 45 10 300000
            employee_row(phones[1], n=0, birth="02.01.1970", passport="45 10 300001"),
        ]
        sent = upload(
            client, world["company"]["id"], world["admin"], csv_bytes(EMPLOYEE_HEADER, rows)
        )
        assert sent.status_code == 202, sent.text
        # The people as the identity portal knows them; the second one's birth date differs.
        ivan = make_person(
            client,
            last_name="Иванов",
            first_name="Иван",
            patronymic="Иванович",
            birth_date="1970-01-01",
            passport="4510 300000",
            snils=None,
        )
        twin = make_person(
            client,
            last_name="Иванов",
            first_name="Иван",
            patronymic="Иванович",
            birth_date="1971-01-02",
            passport="4510 300001",
            snils=None,
        )
        first = _run_matching(client, world)
        assert (first["requests_created"], first["requests_sent"]) == (2, 2)
        assert _number(client, world, 0)["status"] == "pending_confirmation"

        for person in (ivan, twin):
            me = token_headers(client, role="person", subject=person["portal_subject"])
            requests = client.get("/api/v1/me/confirmation-requests", headers=me).json()
            assert len(requests) == 1, requests
            confirmed = client.post(
                f"/api/v1/me/confirmation-requests/{requests[0]['id']}/confirm", headers=me
            )
            assert confirmed.status_code == 200, confirmed.text

        second = _run_matching(client, world)
        assert (second["confirmed_active"], second["mismatched"]) == (1, 1)
        assert _number(client, world, 0)["status"] == "active"
        assert _number(client, world, 1)["status"] == "mismatch"
        requests = client.get(
            f"/api/v1/companies/{world['company']['id']}/numbers/{world['numbers'][1]['id']}"
            "/confirmation-requests",
            headers=world["admin"],
        ).json()
        assert requests[0]["mismatch_fields"] == ["birth_date"]
        me = token_headers(client, role="person", subject=ivan["portal_subject"])
        mine = client.get("/api/v1/me/numbers", headers=me).json()
        assert [(n["msisdn"], n["status"]) for n in mine] == [(phones[0], "active")]
        # Nothing left to do: a third run changes nothing.
        third = _run_matching(client, world)
        assert third["confirmed_active"] == third["requests_created"] == third["requests_sent"] == 0
