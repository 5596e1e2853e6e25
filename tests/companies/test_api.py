"""Operators, corporate subscribers, contracts and liquidation through the HTTP API."""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.companies.models import Contract, CorporateSubscriber
from app.core.errors import PROBLEM_JSON, TYPE_BASE
from tests.builders import (
    employee,
    make_company,
    make_company_with_numbers,
    make_contract,
    make_operator,
    make_person,
    mobile,
    staff_headers,
    token_headers,
    valid_inn10,
    valid_inn12,
    valid_ogrn,
    valid_ogrnip,
)


def assert_problem(response: Response, status: int, slug: str) -> dict[str, Any]:
    """The response is an RFC 9457 problem of the given status and type; returns its body."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM_JSON)
    body: dict[str, Any] = response.json()
    assert body["type"] == TYPE_BASE + slug
    assert body["status"] == status
    return body


def fields_of(problem: dict[str, Any]) -> dict[str, str]:
    """errors[] as {field: code}."""
    return {e["field"]: e["code"] for e in problem.get("errors", [])}


def company_count(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(CorporateSubscriber)) or 0


def with_wrong_last_digit(value: str) -> str:
    return value[:-1] + str((int(value[-1]) + 1) % 10)


# --- Operators ------------------------------------------------------------------------------


class TestOperatorCreation:
    def test_staff_creates_an_operator_and_gets_its_key_once(self, client: TestClient) -> None:
        response = client.post(
            "/api/v1/operators",
            json={"code": "mts", "name": "МТС"},
            headers=staff_headers(client),
        )

        assert response.status_code == 201, response.text
        body = response.json()
        assert body["code"] == "mts"
        assert body["name"] == "МТС"
        assert body["api_key"].startswith("sk_")
        listed = client.get("/api/v1/operators", headers=staff_headers(client))
        assert listed.status_code == 200
        assert [o["code"] for o in listed.json()] == ["mts"]
        assert "api_key" not in listed.json()[0]

    def test_the_key_authenticates_the_operator_system(self, client: TestClient) -> None:
        world = make_company_with_numbers(client, count=2)
        key = world["operator"]["api_key"]

        response = client.get("/api/v1/operator/numbers", headers={"X-API-Key": key})

        assert response.status_code == 200, response.text
        assert {n["id"] for n in response.json()["items"]} == {n["id"] for n in world["numbers"]}

    def test_a_duplicate_code_is_a_conflict(self, client: TestClient) -> None:
        make_operator(client, code="beeline")

        response = client.post(
            "/api/v1/operators",
            json={"code": "beeline", "name": "Another"},
            headers=staff_headers(client),
        )

        problem = assert_problem(response, 409, "conflict")
        assert fields_of(problem) == {"code": "operator.duplicate"}
        listed = client.get("/api/v1/operators", headers=staff_headers(client)).json()
        assert [o["code"] for o in listed] == ["beeline"]


class TestOperatorKeyRotation:
    def test_rotation_retires_the_old_key_and_issues_a_working_new_one(
        self, client: TestClient
    ) -> None:
        operator = make_operator(client)
        old_key = operator["api_key"]

        response = client.post(
            f"/api/v1/operators/{operator['id']}/api-key", headers=staff_headers(client)
        )

        assert response.status_code == 200, response.text
        new_key = response.json()["api_key"]
        assert new_key.startswith("sk_")
        assert new_key != old_key
        refused = client.get("/api/v1/operator/numbers", headers={"X-API-Key": old_key})
        assert_problem(refused, 401, "unauthorized")
        accepted = client.get("/api/v1/operator/numbers", headers={"X-API-Key": new_key})
        assert accepted.status_code == 200, accepted.text
        assert accepted.json() == {"items": [], "next_cursor": None}

    def test_an_unknown_key_is_refused(self, client: TestClient) -> None:
        response = client.get("/api/v1/operator/numbers", headers={"X-API-Key": "sk_nonsense"})

        problem = assert_problem(response, 401, "unauthorized")
        assert "X-API-Key" in problem["detail"]


# --- Companies -------------------------------------------------------------------------------


class TestCompanyRegistration:
    def test_a_legal_entity_is_registered_by_its_10_digit_inn(self, client: TestClient) -> None:
        body = {
            "name": 'ООО "Василёк"',
            "inn": valid_inn10(9001),
            "ogrn": valid_ogrn(9001),
            "kpp": "773601001",
        }

        response = client.post("/api/v1/companies", json=body, headers=staff_headers(client))

        assert response.status_code == 201, response.text
        company = response.json()
        assert company["kind"] == "legal_entity"
        assert company["status"] == "active"
        assert (company["inn"], company["ogrn"], company["kpp"]) == (
            body["inn"],
            body["ogrn"],
            "773601001",
        )
        assert company["liquidated_on"] is None

    def test_an_entrepreneur_is_registered_by_inn12_and_ogrnip_without_kpp(
        self, client: TestClient
    ) -> None:
        inn, ogrnip = valid_inn12(9002), valid_ogrnip(9002)

        response = client.post(
            "/api/v1/companies",
            json={"name": "ИП Сидоров", "inn": inn, "ogrn": ogrnip},
            headers=staff_headers(client),
        )

        assert response.status_code == 201, response.text
        company = response.json()
        assert company["kind"] == "entrepreneur"
        assert len(company["inn"]) == 12
        assert len(company["ogrn"]) == 15
        assert company["kpp"] is None

    def test_an_admin_reads_their_own_company_but_not_another(self, client: TestClient) -> None:
        mine, other = make_company(client), make_company(client)
        admin = token_headers(client, role="company_admin", company_id=mine["id"])

        own = client.get(f"/api/v1/companies/{mine['id']}", headers=admin)
        foreign = client.get(f"/api/v1/companies/{other['id']}", headers=admin)

        assert own.status_code == 200
        assert own.json()["inn"] == mine["inn"]
        assert_problem(foreign, 404, "not-found")


class TestCompanyRegistrationRefusals:
    def test_an_inn_with_a_wrong_check_digit(self, client: TestClient, session: Session) -> None:
        body = {
            "name": 'ООО "Опечатка"',
            "inn": with_wrong_last_digit(valid_inn10(9010)),
            "ogrn": valid_ogrn(9010),
            "kpp": "773601001",
        }

        response = client.post("/api/v1/companies", json=body, headers=staff_headers(client))

        problem = assert_problem(response, 422, "invalid-input")
        assert fields_of(problem) == {"inn": "inn.checksum"}
        assert company_count(session) == 0

    def test_an_ogrn_with_a_wrong_check_digit(self, client: TestClient, session: Session) -> None:
        body = {
            "name": 'ООО "Опечатка"',
            "inn": valid_inn10(9011),
            "ogrn": with_wrong_last_digit(valid_ogrn(9011)),
            "kpp": "773601001",
        }

        response = client.post("/api/v1/companies", json=body, headers=staff_headers(client))

        problem = assert_problem(response, 422, "invalid-input")
        assert fields_of(problem) == {"ogrn": "ogrn.checksum"}
        assert company_count(session) == 0

    def test_a_legal_entity_without_kpp(self, client: TestClient, session: Session) -> None:
        body = {"name": 'ООО "Без КПП"', "inn": valid_inn10(9012), "ogrn": valid_ogrn(9012)}

        response = client.post("/api/v1/companies", json=body, headers=staff_headers(client))

        problem = assert_problem(response, 422, "invalid-input")
        assert fields_of(problem) == {"kpp": "kpp.required"}
        assert company_count(session) == 0

    def test_an_entrepreneur_with_a_kpp(self, client: TestClient, session: Session) -> None:
        body = {
            "name": "ИП с КПП",
            "inn": valid_inn12(9013),
            "ogrn": valid_ogrnip(9013),
            "kpp": "773601001",
        }

        response = client.post("/api/v1/companies", json=body, headers=staff_headers(client))

        problem = assert_problem(response, 422, "invalid-input")
        assert fields_of(problem) == {"kpp": "kpp.not_for_entrepreneur"}
        assert company_count(session) == 0

    def test_a_duplicate_inn(self, client: TestClient, session: Session) -> None:
        first = make_company(client)
        body = {
            "name": 'ООО "Двойник"',
            "inn": first["inn"],
            "ogrn": valid_ogrn(9014),
            "kpp": "773601001",
        }

        response = client.post("/api/v1/companies", json=body, headers=staff_headers(client))

        problem = assert_problem(response, 409, "conflict")
        assert fields_of(problem) == {"inn": "subscriber.duplicate"}
        assert company_count(session) == 1
        page = client.get("/api/v1/companies", headers=staff_headers(client)).json()
        assert [c["id"] for c in page["items"]] == [first["id"]]

    def test_an_entrepreneurs_mistyped_inn_blames_only_the_inn(
        self, client: TestClient, session: Session
    ) -> None:
        body = {
            "name": "ИП Опечаткин",
            "inn": with_wrong_last_digit(valid_inn12(9016)),
            "ogrn": valid_ogrnip(9016),
        }

        response = client.post("/api/v1/companies", json=body, headers=staff_headers(client))

        problem = assert_problem(response, 422, "invalid-input")
        assert company_count(session) == 0
        assert fields_of(problem) == {"inn": "inn.checksum"}

    def test_an_admin_cannot_register_companies(self, client: TestClient) -> None:
        company = make_company(client)
        admin = token_headers(client, role="company_admin", company_id=company["id"])
        body = {"name": "X", "inn": valid_inn10(9015), "ogrn": valid_ogrn(9015), "kpp": "773601001"}

        response = client.post("/api/v1/companies", json=body, headers=admin)

        assert_problem(response, 403, "forbidden")


class TestCompanyListing:
    def test_cursor_pagination_visits_every_company_once(self, client: TestClient) -> None:
        created = {make_company(client)["id"] for _ in range(5)}
        staff = staff_headers(client)

        seen: list[int] = []
        pages = 0
        cursor: str | None = None
        while True:
            params: dict[str, Any] = {"limit": 2}
            if cursor:
                params["cursor"] = cursor
            response = client.get("/api/v1/companies", params=params, headers=staff)
            assert response.status_code == 200, response.text
            page = response.json()
            assert len(page["items"]) <= 2
            seen += [c["id"] for c in page["items"]]
            pages += 1
            cursor = page["next_cursor"]
            if cursor is None:
                break

        assert pages == 3
        assert len(seen) == len(set(seen))
        assert set(seen) == created
        assert seen == sorted(seen)

    def test_a_tampered_cursor_is_refused(self, client: TestClient) -> None:
        for _ in range(3):
            make_company(client)
        staff = staff_headers(client)
        cursor = client.get("/api/v1/companies", params={"limit": 2}, headers=staff).json()[
            "next_cursor"
        ]
        assert cursor
        flipped = "A" if cursor[5] != "A" else "B"
        tampered = cursor[:5] + flipped + cursor[6:]

        response = client.get(
            "/api/v1/companies", params={"limit": 2, "cursor": tampered}, headers=staff
        )

        problem = assert_problem(response, 400, "bad-request")
        assert fields_of(problem) == {"cursor": "cursor.invalid"}

    def test_a_cursor_of_another_listing_is_refused(self, client: TestClient) -> None:
        world = make_company_with_numbers(client, count=3)
        staff = staff_headers(client)
        numbers_cursor = client.get(
            f"/api/v1/companies/{world['company']['id']}/numbers",
            params={"limit": 1},
            headers=staff,
        ).json()["next_cursor"]
        assert numbers_cursor

        response = client.get("/api/v1/companies", params={"cursor": numbers_cursor}, headers=staff)

        problem = assert_problem(response, 400, "bad-request")
        assert fields_of(problem) == {"cursor": "cursor.invalid"}

    def test_garbage_in_place_of_a_cursor_is_refused(self, client: TestClient) -> None:
        response = client.get(
            "/api/v1/companies", params={"cursor": "not a cursor!"}, headers=staff_headers(client)
        )

        problem = assert_problem(response, 400, "bad-request")
        assert fields_of(problem) == {"cursor": "cursor.invalid"}


# --- Contracts -------------------------------------------------------------------------------


class TestContracts:
    def test_contracts_are_listed_with_their_deadline_regime(self, client: TestClient) -> None:
        operator = make_operator(client)
        company = make_company(client)
        legacy = make_contract(
            client,
            company_id=company["id"],
            operator_id=operator["id"],
            signed_on=dt.date(2019, 9, 15),
        )
        current = make_contract(
            client,
            company_id=company["id"],
            operator_id=operator["id"],
            signed_on=dt.date(2024, 3, 1),
        )
        admin = token_headers(client, role="company_admin", company_id=company["id"])

        response = client.get(f"/api/v1/companies/{company['id']}/contracts", headers=admin)

        assert response.status_code == 200, response.text
        listed = {c["id"]: c for c in response.json()}
        assert set(listed) == {legacy["id"], current["id"]}
        assert listed[legacy["id"]]["is_legacy"] is True
        assert listed[legacy["id"]]["signed_on"] == "2019-09-15"
        assert listed[current["id"]]["is_legacy"] is False
        assert listed[current["id"]]["signed_on"] == "2024-03-01"
        assert {c["subscriber_id"] for c in listed.values()} == {company["id"]}

    def test_a_duplicate_contract_number_for_the_same_operator_is_a_conflict(
        self, client: TestClient, session: Session
    ) -> None:
        operator = make_operator(client)
        first, second = make_company(client), make_company(client)
        body = {"operator_id": operator["id"], "contract_no": "C-777", "signed_on": "2024-03-01"}
        staff = staff_headers(client)
        created = client.post(
            f"/api/v1/companies/{first['id']}/contracts", json=body, headers=staff
        )
        assert created.status_code == 201, created.text

        response = client.post(
            f"/api/v1/companies/{second['id']}/contracts", json=body, headers=staff
        )

        problem = assert_problem(response, 409, "conflict")
        assert fields_of(problem) == {"contract_no": "contract.duplicate"}
        assert session.scalar(select(func.count()).select_from(Contract)) == 1

    def test_the_same_contract_number_at_another_operator_is_fine(self, client: TestClient) -> None:
        one, two = make_operator(client), make_operator(client)
        company = make_company(client)
        staff = staff_headers(client)

        answers = [
            client.post(
                f"/api/v1/companies/{company['id']}/contracts",
                json={"operator_id": op["id"], "contract_no": "C-1", "signed_on": "2024-03-01"},
                headers=staff,
            )
            for op in (one, two)
        ]

        assert [a.status_code for a in answers] == [201, 201]
        assert {a.json()["operator_id"] for a in answers} == {one["id"], two["id"]}


class TestOperatorSystemContracts:
    def test_an_operator_system_signs_for_its_own_operator(self, client: TestClient) -> None:
        operator = make_operator(client)
        company = make_company(client)

        response = client.post(
            f"/api/v1/companies/{company['id']}/contracts",
            json={"operator_id": operator["id"], "contract_no": "OWN-1", "signed_on": "2024-03-01"},
            headers={"X-API-Key": operator["api_key"]},
        )

        assert response.status_code == 201, response.text
        assert response.json()["operator_id"] == operator["id"]
        assert response.json()["contract_no"] == "OWN-1"

    def test_another_operators_id_answers_not_found(
        self, client: TestClient, session: Session
    ) -> None:
        mine, theirs = make_operator(client), make_operator(client)
        company = make_company(client)

        response = client.post(
            f"/api/v1/companies/{company['id']}/contracts",
            json={"operator_id": theirs["id"], "contract_no": "X-1", "signed_on": "2024-03-01"},
            headers={"X-API-Key": mine["api_key"]},
        )

        assert_problem(response, 404, "not-found")
        assert session.scalar(select(func.count()).select_from(Contract)) == 0


# --- Liquidation -----------------------------------------------------------------------------


def liquidate(client: TestClient, company_id: int, **body: Any) -> Response:
    return client.post(
        f"/api/v1/companies/{company_id}/liquidation",
        json=body or {"liquidated_on": "2026-10-01"},
        headers=staff_headers(client),
    )


class TestLiquidation:
    def test_registrations_end_and_the_person_no_longer_sees_the_number(
        self, client: TestClient
    ) -> None:
        world = make_company_with_numbers(client, count=1)
        company_id = world["company"]["id"]
        number_id = world["numbers"][0]["id"]
        path = f"/api/v1/companies/{company_id}/numbers/{number_id}"
        client.put(path + "/registration", json=employee(), headers=world["admin"])
        person = make_person(client)
        me = token_headers(client, role="person", subject=person["portal_subject"])
        assert [n["id"] for n in client.get("/api/v1/me/numbers", headers=me).json()] == [number_id]

        assert liquidate(client, company_id).status_code == 200

        assert client.get("/api/v1/me/numbers", headers=me).json() == []
        detail = client.get(path, headers=staff_headers(client)).json()
        assert [r["current"] for r in detail["registrations"]] == [False]
        assert detail["registrations"][0]["end_reason"] == "the company was liquidated"

    def test_every_number_is_transferred(self, client: TestClient) -> None:
        world = make_company_with_numbers(client, count=3)
        company_id = world["company"]["id"]
        registered = world["numbers"][0]["id"]
        put = client.put(
            f"/api/v1/companies/{company_id}/numbers/{registered}/registration",
            json=employee(),
            headers=world["admin"],
        )
        assert put.status_code == 200, put.text

        response = liquidate(client, company_id)

        assert response.status_code == 200, response.text
        result = response.json()
        assert result["numbers_transferred"] == 3
        assert result["subscriber"]["status"] == "liquidated"
        assert result["subscriber"]["liquidated_on"] == "2026-10-01"
        staff = staff_headers(client)
        listing = client.get(f"/api/v1/companies/{company_id}/numbers", headers=staff).json()
        assert {n["status"] for n in listing["items"]} == {"transferred"}
        assert len(listing["items"]) == 3
        for number in world["numbers"]:
            detail = client.get(
                f"/api/v1/companies/{company_id}/numbers/{number['id']}", headers=staff
            )
            assert detail.status_code == 200, detail.text
            events = detail.json()["events"]
            assert events[-1]["to_status"] == "transferred"
            assert events[-1]["actor_kind"] == "operator_staff"
            assert events[-1]["reason"] == "company liquidated"
        reread = client.get(f"/api/v1/companies/{company_id}", headers=staff).json()
        assert reread["status"] == "liquidated"

    def test_liquidating_twice_is_a_conflict(self, client: TestClient) -> None:
        world = make_company_with_numbers(client, count=1)
        assert liquidate(client, world["company"]["id"]).status_code == 200

        again = liquidate(client, world["company"]["id"], liquidated_on="2026-11-01")

        problem = assert_problem(again, 409, "conflict")
        assert "уже ликвидирована" in problem["detail"]
        company = client.get(
            f"/api/v1/companies/{world['company']['id']}", headers=staff_headers(client)
        ).json()
        assert company["liquidated_on"] == "2026-10-01"

    def test_a_liquidated_company_gets_no_new_numbers(self, client: TestClient) -> None:
        world = make_company_with_numbers(client, count=1)
        assert liquidate(client, world["company"]["id"]).status_code == 200

        response = client.post(
            f"/api/v1/contracts/{world['contract']['id']}/numbers",
            json={"numbers": [{"msisdn": mobile(4_444_444)}]},
            headers=staff_headers(client),
        )

        assert_problem(response, 409, "conflict")
        listing = client.get(
            f"/api/v1/companies/{world['company']['id']}/numbers", headers=staff_headers(client)
        ).json()
        assert [n["id"] for n in listing["items"]] == [world["numbers"][0]["id"]]

    def test_an_admin_cannot_liquidate(self, client: TestClient) -> None:
        world = make_company_with_numbers(client, count=1)

        response = client.post(
            f"/api/v1/companies/{world['company']['id']}/liquidation",
            json={"liquidated_on": "2026-10-01"},
            headers=world["admin"],
        )

        assert_problem(response, 403, "forbidden")


class TestLiquidationRequestShape:
    def test_a_malformed_json_body(self, client: TestClient) -> None:
        company = make_company(client)

        response = client.post(
            f"/api/v1/companies/{company['id']}/liquidation",
            content=b'{"liquidated_on": "2026-10-01"',
            headers={**staff_headers(client), "Content-Type": "application/json"},
        )

        problem = assert_problem(response, 400, "malformed-json")
        assert problem["type"].endswith("malformed-json")
        still = client.get(f"/api/v1/companies/{company['id']}", headers=staff_headers(client))
        assert still.json()["status"] == "active"

    def test_an_unknown_field(self, client: TestClient) -> None:
        company = make_company(client)

        response = liquidate(client, company["id"], liquidated_on="2026-10-01", liquidaton="x")

        problem = assert_problem(response, 422, "invalid-input")
        assert fields_of(problem) == {"liquidaton": "extra_forbidden"}
        still = client.get(f"/api/v1/companies/{company['id']}", headers=staff_headers(client))
        assert still.json()["status"] == "active"

    def test_a_missing_date(self, client: TestClient) -> None:
        company = make_company(client)

        response = liquidate(client, company["id"], reason="closed")

        problem = assert_problem(response, 422, "invalid-input")
        assert fields_of(problem) == {"liquidated_on": "missing"}

    def test_an_unknown_company(self, client: TestClient) -> None:
        response = liquidate(client, 999_999)

        assert_problem(response, 404, "not-found")
