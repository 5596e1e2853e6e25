"""`GET /me/numbers/status`: the quick check of one's numbers, the registry's hottest read."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.builders import (
    employee,
    make_company_with_numbers,
    make_person,
    staff_headers,
    token_headers,
)

STATUS = "/api/v1/me/numbers/status"


def _register(client: TestClient, world: dict[str, object], index: int, **overrides: str) -> int:
    company_id = world["company"]["id"]  # type: ignore[index]
    number_id: int = world["numbers"][index]["id"]  # type: ignore[index]
    response = client.put(
        f"/api/v1/companies/{company_id}/numbers/{number_id}/registration",
        json=employee(**overrides),
        headers=world["admin"],  # type: ignore[arg-type]
    )
    assert response.status_code == 200, response.text
    return number_id


class TestStatusRead:
    def test_the_callers_numbers_with_status_in_plain_words_and_deadline(
        self, client: TestClient
    ) -> None:
        world = make_company_with_numbers(client, count=3)
        mine = [_register(client, world, 0), _register(client, world, 2)]
        _register(client, world, 1, doc_number="45 12 999999")  # somebody else
        person = make_person(client)
        me = token_headers(client, role="person", subject=person["portal_subject"])

        response = client.get(STATUS, headers=me)

        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == "application/json"
        body = response.json()
        assert [n["id"] for n in body] == mine
        full = client.get("/api/v1/me/numbers", headers=me).json()
        for quick, whole in zip(body, full, strict=True):
            # Everything the full view says about the status, and nothing of the registration.
            assert quick == {k: whole[k] for k in quick}
            assert set(quick) == {
                "id", "msisdn", "status", "status_text", "next_step", "deadline_at",
                "company_name",
            }  # fmt: skip
        assert body[0]["status"] == "pending_confirmation"
        # Spoken to the employee: the request has not been sent yet; when it comes, confirm
        # it on the portal by the deadline.
        assert body[0]["next_step"].startswith("Когда запрос придёт, подтвердите его на Госуслугах")
        assert "Компания «" in body[0]["status_text"]
        assert body[0]["company_name"] == world["company"]["name"]

    def test_a_person_without_numbers_gets_an_empty_list(self, client: TestClient) -> None:
        person = make_person(client)
        me = token_headers(client, role="person", subject=person["portal_subject"])
        assert client.get(STATUS, headers=me).json() == []

    def test_an_ended_registration_is_no_longer_shown(self, client: TestClient) -> None:
        world = make_company_with_numbers(client, count=1)
        _register(client, world, 0)
        person = make_person(client)
        me = token_headers(client, role="person", subject=person["portal_subject"])
        assert len(client.get(STATUS, headers=me).json()) == 1

        liquidated = client.post(
            f"/api/v1/companies/{world['company']['id']}/liquidation",
            json={"liquidated_on": "2026-10-01"},
            headers=staff_headers(client),
        )
        assert liquidated.status_code == 200, liquidated.text

        assert client.get(STATUS, headers=me).json() == []

    def test_only_persons_may_read_it(self, client: TestClient) -> None:
        world = make_company_with_numbers(client, count=1)
        assert client.get(STATUS).status_code == 401
        refused = client.get(STATUS, headers=world["admin"])
        assert refused.status_code == 403
        assert refused.headers["content-type"] == "application/problem+json"
