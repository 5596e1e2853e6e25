"""Employees' claims: listed with the claimant, approved or rejected by the admin."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tests.builders import make_person, token_headers
from tests.web.signing import post_form, sign_in


def _claim(client: TestClient, world: dict[str, Any], person: dict[str, Any]) -> dict[str, Any]:
    """The person claims the world's number without a user: it waits for the admin."""
    response = client.post(
        "/api/v1/me/claims",
        json={
            "msisdn": world["numbers"][2]["msisdn"],
            "company_inn": world["company"]["inn"],
            "company_name": world["company"]["name"],
        },
        headers=token_headers(client, role="person", subject=person["portal_subject"]),
    )
    assert response.status_code == 201, response.text
    claim: dict[str, Any] = response.json()
    assert claim["status"] == "pending"
    return claim


class TestClaims:
    def test_a_pending_claim_is_listed_with_its_buttons(
        self, client: TestClient, world: dict[str, Any]
    ) -> None:
        _claim(client, world, make_person(client, last_name="Петрова", first_name="Анна"))
        sign_in(client, "company_admin", company_id=world["company"]["id"])
        page = client.get(f"/companies/{world['company']['id']}/claims?status=pending").text
        assert world["numbers"][2]["msisdn"] in page
        assert "Петрова Анна" in page
        assert "Ждёт вашего решения" in page
        assert ">Одобрить</button>" in page
        assert ">Отклонить</button>" in page
        assert "Причина отказа (её увидит сотрудник)" in page

    def test_approving_makes_the_number_active(
        self, client: TestClient, world: dict[str, Any]
    ) -> None:
        claim = _claim(client, world, make_person(client))
        company_id = world["company"]["id"]
        sign_in(client, "company_admin", company_id=company_id)

        sent: Any = post_form(client, f"/companies/{company_id}/claims/{claim['id']}/approve", {})

        assert sent.status_code == 303
        page = client.get(sent.headers["location"]).text
        assert f"Заявка на номер {world['numbers'][2]['msisdn']} одобрена: номер активен." in page
        assert "Одобрена" in page
        number = client.get(
            f"/api/v1/companies/{company_id}/numbers/{world['numbers'][2]['id']}",
            headers=world["admin"],
        ).json()
        assert number["status"] == "active"

    def test_rejecting_keeps_the_reason_for_the_person(
        self, client: TestClient, world: dict[str, Any]
    ) -> None:
        claim = _claim(client, world, make_person(client))
        company_id = world["company"]["id"]
        sign_in(client, "company_admin", company_id=company_id)
        path = f"/companies/{company_id}/claims/{claim['id']}/reject"

        short: Any = post_form(client, path, {"reason": "no"})
        told = client.get(short.headers["location"]).text
        assert "Решение не принято: " in told
        assert "Ждёт вашего решения" in told

        sent: Any = post_form(client, path, {"reason": "Номер выдан другому сотруднику"})

        page = client.get(sent.headers["location"]).text
        assert "отклонена." in page
        assert "Отклонена компанией" in page
        assert "Номер выдан другому сотруднику" in page

    def test_a_decided_claim_cannot_be_decided_again(
        self, client: TestClient, world: dict[str, Any]
    ) -> None:
        claim = _claim(client, world, make_person(client))
        company_id = world["company"]["id"]
        sign_in(client, "company_admin", company_id=company_id)
        post_form(client, f"/companies/{company_id}/claims/{claim['id']}/approve", {})

        again: Any = post_form(client, f"/companies/{company_id}/claims/{claim['id']}/reject", {})

        assert again.status_code == 303
        assert "Решение не принято: " in client.get(again.headers["location"]).text
