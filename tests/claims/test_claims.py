"""Flow B: a person claims a number; rejected, confirmed at once, or decided by the admin."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.auth.service import Principal, Role
from app.claims.company_names import normalize_company_name
from app.claims.models import Claim
from app.core.clock import FixedClock
from app.numbers.models import Registration, StatusEvent
from app.portal.models import ConfirmationRequest, RequestStatus
from app.work.models import WorkItem
from tests.builders import (
    add_numbers,
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
)

ROMASHKA = 'Общество с ограниченной ответственностью "Ромашка"'


def world(
    client: TestClient,
    *,
    name: str = ROMASHKA,
    count: int = 2,
    operator: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A company with an explicit name, its operator, a contract, numbers and its admin."""
    operator = operator or make_operator(client)
    company = make_company(client, name=name)
    contract = make_contract(client, company_id=company["id"], operator_id=operator["id"])
    base = int(company["inn"][2:9]) * 10
    numbers = add_numbers(
        client, contract_id=contract["id"], msisdns=[mobile(base + i) for i in range(count)]
    )
    admin = token_headers(client, role="company_admin", company_id=company["id"])
    return {"operator": operator, "company": company, "numbers": numbers, "admin": admin}


def person_headers(client: TestClient, person: dict[str, Any]) -> dict[str, str]:
    return token_headers(client, role="person", subject=person["portal_subject"])


def domestic(msisdn: str) -> str:
    """+79121234567 written as people often do: 8 (912) 123-45-67."""
    d = msisdn[2:]
    return f"8 ({d[:3]}) {d[3:6]}-{d[6:8]}-{d[8:]}"


def claim(
    client: TestClient,
    headers: dict[str, str],
    w: dict[str, Any],
    index: int = 0,
    *,
    expect: int = 201,
    **overrides: Any,
) -> dict[str, Any]:
    """Claim the `index`-th number of world `w` (its own INN and name unless overridden)."""
    body = {
        "msisdn": domestic(w["numbers"][index]["msisdn"]),
        "company_inn": w["company"]["inn"],
        "company_name": w["company"]["name"],
        **overrides,
    }
    response = client.post("/api/v1/me/claims", json=body, headers=headers)
    assert response.status_code == expect, response.text
    result: dict[str, Any] = response.json()
    return result


def register(client: TestClient, w: dict[str, Any], index: int, body: dict[str, Any]) -> int:
    number_id: int = w["numbers"][index]["id"]
    response = client.put(
        f"/api/v1/companies/{w['company']['id']}/numbers/{number_id}/registration",
        json=body,
        headers=w["admin"],
    )
    assert response.status_code == 200, response.text
    return number_id


def set_status(client: TestClient, number_id: int, status: str) -> None:
    response = client.post(
        f"/api/v1/numbers/{number_id}/status",
        json={"status": status, "reason": "moved by staff for the test"},
        headers=staff_headers(client),
    )
    assert response.status_code == 200, response.text


def number_detail(client: TestClient, w: dict[str, Any], number_id: int) -> dict[str, Any]:
    response = client.get(
        f"/api/v1/companies/{w['company']['id']}/numbers/{number_id}", headers=w["admin"]
    )
    assert response.status_code == 200, response.text
    detail: dict[str, Any] = response.json()
    return detail


def decide(client: TestClient, w: dict[str, Any], claim_id: int, action: str, **kwargs: Any) -> Any:
    return client.post(
        f"/api/v1/companies/{w['company']['id']}/claims/{claim_id}/{action}",
        headers=kwargs.pop("headers", w["admin"]),
        **kwargs,
    )


def _problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    return body


def _claims_stored(session: Session) -> int:
    session.expire_all()
    return int(session.scalar(select(func.count()).select_from(Claim)) or 0)


class TestCompanyNames:
    @pytest.mark.parametrize(
        ("register_name", "written"),
        [
            ("ООО «Ромашка»", 'Общество с ограниченной ответственностью "РОМАШКА"'),
            ("ООО 'Ромашка'", "ооо   ромашка"),
            ('АО "Берёзка"', "акционерное общество «Березка»"),
            ('ПАО "Газ"', "Публичное акционерное общество “ГАЗ”"),
            ('ЗАО "Лес"', "Закрытое  акционерное общество Лес"),
            ("ИП Петров Пётр Петрович", "Индивидуальный предприниматель ПЕТРОВ ПЕТР ПЕТРОВИЧ"),
            ("ИП Петров П. П.", "ИП Петров П.П."),
            ('ООО"Ромашка"', "ООО Ромашка"),
            ("ООО Ромашка", "OOO Ромашка"),  # Latin "OOO" typed in the wrong layout
        ],
    )
    def test_spellings_of_one_name_compare_equal(self, register_name: str, written: str) -> None:
        assert normalize_company_name(register_name) == normalize_company_name(written)

    @pytest.mark.parametrize(
        ("register_name", "written"),
        [
            ('ООО "Ромашка"', 'ООО "Лютик"'),
            ('ООО "Ромашка"', 'АО "Ромашка"'),
            ('ПАО "Газ"', 'АО "Газ"'),
            ('АО "Газ"', 'Непубличное акционерное общество "Газ"'),
            ('ООО "Ромашка"', 'ООО "Ромашка Плюс"'),
        ],
    )
    def test_other_names_and_other_legal_forms_differ(
        self, register_name: str, written: str
    ) -> None:
        assert normalize_company_name(register_name) != normalize_company_name(written)

    def test_the_normal_form_is_readable(self) -> None:
        assert normalize_company_name(ROMASHKA) == "ООО РОМАШКА"


class TestBadInput:
    def test_an_inn_with_a_bad_check_digit_is_422_and_nothing_is_stored(
        self, client: TestClient, session: Session
    ) -> None:
        w = world(client)
        person = make_person(client)
        inn = w["company"]["inn"]
        bad = inn[:-1] + str((int(inn[-1]) + 1) % 10)

        response = client.post(
            "/api/v1/me/claims",
            json={"msisdn": w["numbers"][0]["msisdn"], "company_inn": bad, "company_name": "x"},
            headers=person_headers(client, person),
        )

        body = _problem(response, 422)
        assert [(e["field"], e["code"]) for e in body["errors"]] == [
            ("company_inn", "inn.checksum")
        ]
        assert _claims_stored(session) == 0

    def test_a_bad_phone_and_a_bad_inn_are_both_named(
        self, client: TestClient, session: Session
    ) -> None:
        person = make_person(client)
        response = client.post(
            "/api/v1/me/claims",
            json={"msisdn": "8 (495) 123-45", "company_inn": "12345", "company_name": "ООО Х"},
            headers=person_headers(client, person),
        )
        body = _problem(response, 422)
        assert {e["field"] for e in body["errors"]} == {"msisdn", "company_inn"}
        assert _claims_stored(session) == 0

    @pytest.mark.parametrize(
        "body",
        [
            {"msisdn": "+79120000001", "company_inn": "7700000001"},
            {"msisdn": "+79120000001", "company_inn": "7700000001", "company_name": ""},
            {
                "msisdn": "+79120000001",
                "company_inn": "7700000001",
                "company_name": "ООО",
                "number_id": 1,
            },
        ],
        ids=["missing-name", "empty-name", "extra-field"],
    )
    def test_a_malformed_body_is_422(self, client: TestClient, body: dict[str, Any]) -> None:
        person = make_person(client)
        response = client.post(
            "/api/v1/me/claims", json=body, headers=person_headers(client, person)
        )
        _problem(response, 422)

    def test_a_caller_unknown_to_the_portal_gets_a_clear_404(
        self, client: TestClient, app: FastAPI
    ) -> None:
        w = world(client)
        # The sandbox provider mints person tokens only for its own people; a real portal
        # may sign in someone whose data it has not shared yet.
        token = app.state.tokens.mint(
            Principal(Role.PERSON, "never-seen"),
            now=dt.datetime.now(dt.UTC),
            ttl=dt.timedelta(hours=1),
        )
        headers = {"Authorization": f"Bearer {token}"}
        response = client.post(
            "/api/v1/me/claims",
            json={
                "msisdn": w["numbers"][0]["msisdn"],
                "company_inn": w["company"]["inn"],
                "company_name": ROMASHKA,
            },
            headers=headers,
        )
        assert "Госуслуги ещё не передали" in _problem(response, 404)["detail"]
        _problem(client.get("/api/v1/me/claims", headers=headers), 404)

    def test_only_a_person_may_claim(self, client: TestClient) -> None:
        w = world(client)
        response = client.post(
            "/api/v1/me/claims",
            json={
                "msisdn": "+79120000001",
                "company_inn": w["company"]["inn"],
                "company_name": "x",
            },
            headers=w["admin"],
        )
        _problem(response, 403)


class TestRejectedClaims:
    def test_an_unknown_number_is_rejected_naming_the_number(self, client: TestClient) -> None:
        w = world(client)
        person = make_person(client)
        result = claim(client, person_headers(client, person), w, msisdn="+7 999 000 11 22")
        assert result["status"] == "rejected"
        assert result["reason"].startswith("Номер +79990001122 не найден")
        assert result["number_id"] is None

    def test_the_wrong_company_for_the_number_is_rejected_without_revealing_the_holder(
        self, client: TestClient
    ) -> None:
        holder = world(client, name='ООО "Тайный держатель"')
        other = world(client, name='ООО "Другая"')
        person = make_person(client)

        result = claim(
            client,
            person_headers(client, person),
            holder,
            company_inn=other["company"]["inn"],
            company_name=other["company"]["name"],
        )

        assert result["status"] == "rejected"
        assert "не найден среди корпоративных номеров компании" in result["reason"]
        assert holder["company"]["inn"] not in result["reason"]
        assert "Тайный" not in result["reason"]
        assert result["number_id"] is None
        # Neither company sees a claim that named the wrong company.
        for w in (holder, other):
            listed = client.get(
                f"/api/v1/companies/{w['company']['id']}/claims", headers=w["admin"]
            )
            assert listed.json()["items"] == []

    def test_a_valid_inn_nobody_holds_is_rejected_as_an_inn_mismatch(
        self, client: TestClient
    ) -> None:
        w = world(client)
        person = make_person(client)
        result = claim(
            client, person_headers(client, person), w, company_inn=valid_inn10(9_999_991)
        )
        assert result["status"] == "rejected"
        assert "не найден среди корпоративных номеров компании" in result["reason"]

    def test_a_number_not_in_the_registry_and_another_companys_get_the_same_answer(
        self, client: TestClient
    ) -> None:
        mine = world(client, name='ООО "Своя"')
        theirs = world(client, name='ООО "Чужая"')
        person = person_headers(client, make_person(client))
        as_mine = {"company_inn": mine["company"]["inn"], "company_name": mine["company"]["name"]}

        unknown = claim(client, person, mine, msisdn="+7 999 000 11 22", **as_mine)
        foreign = claim(client, person, mine, msisdn=theirs["numbers"][0]["msisdn"], **as_mine)

        def without_number(reason: str, msisdn: str) -> str:
            return reason.replace(msisdn, "N")

        assert (unknown["status"], foreign["status"]) == ("rejected", "rejected")
        assert without_number(unknown["reason"], "+79990001122") == without_number(
            foreign["reason"], theirs["numbers"][0]["msisdn"]
        )
        assert unknown["number_id"] is foreign["number_id"] is None

    def test_a_name_that_differs_is_rejected_without_revealing_the_registered_name(
        self, client: TestClient
    ) -> None:
        w = world(client, name='ООО "Ромашка"')
        person = make_person(client)

        result = claim(client, person_headers(client, person), w, company_name='ООО "Лютик"')

        assert result["status"] == "rejected"
        assert result["reason"].startswith("Название не совпадает")
        assert "Ромашка" not in result["reason"]
        assert result["company_name"] == 'ООО "Лютик"'
        # The company does see an attempt on its own number.
        listed = client.get(
            f"/api/v1/companies/{w['company']['id']}/claims?status=rejected", headers=w["admin"]
        ).json()["items"]
        assert [c["id"] for c in listed] == [result["id"]]

    def test_a_name_that_matches_after_normalisation_is_accepted(self, client: TestClient) -> None:
        w = world(client, name="ООО «Ромашка»")
        person = make_person(client)
        result = claim(
            client,
            person_headers(client, person),
            w,
            company_name='Общество с ограниченной ответственностью "РОМАШКА"',
        )
        assert result["status"] == "pending", result

    @pytest.mark.parametrize("status", ["terminated", "transferred"])
    def test_a_number_that_left_the_registry_is_rejected(
        self, client: TestClient, status: str
    ) -> None:
        w = world(client)
        person = make_person(client)
        set_status(client, w["numbers"][0]["id"], status)

        result = claim(client, person_headers(client, person), w)

        assert result["status"] == "rejected"
        assert "выбыл из реестра корпоративных номеров" in result["reason"]

    def test_a_liquidated_company_is_rejected(self, client: TestClient) -> None:
        w = world(client)
        person = make_person(client)
        response = client.post(
            f"/api/v1/companies/{w['company']['id']}/liquidation",
            json={"liquidated_on": "2026-11-01"},
            headers=staff_headers(client),
        )
        assert response.status_code == 200, response.text

        result = claim(client, person_headers(client, person), w)

        assert result["status"] == "rejected"
        assert "ликвидирована" in result["reason"]

    def test_a_number_that_left_one_operator_is_claimed_where_it_is_now(
        self, client: TestClient
    ) -> None:
        # One operator holds an msisdn at a time: the first number left (ported) before the
        # second operator added it for another company.
        first = world(client, name='ООО "Первая"', count=1)
        moved = client.post(
            f"/api/v1/numbers/{first['numbers'][0]['id']}/status",
            json={"status": "terminated", "reason": "ported to another operator"},
            headers=staff_headers(client),
        )
        assert moved.status_code == 200, moved.text
        second_operator = make_operator(client)
        second_company = make_company(client, name='ООО "Вторая"')
        contract = make_contract(
            client, company_id=second_company["id"], operator_id=second_operator["id"]
        )
        [twin] = add_numbers(
            client, contract_id=contract["id"], msisdns=[first["numbers"][0]["msisdn"]]
        )
        person = make_person(client)

        result = claim(
            client,
            person_headers(client, person),
            first,
            company_inn=second_company["inn"],
            company_name="ООО Вторая",
        )

        assert result["status"] == "pending"
        assert result["number_id"] == twin["id"]


class TestConfirmedAtOnce:
    def test_a_person_the_company_named_already_activates_the_number(
        self, client: TestClient, session: Session, clock: FixedClock
    ) -> None:
        w = world(client)
        person = make_person(client, portal_subject="esia-ivanov")
        number_id = register(client, w, 0, employee())
        registration_id = number_detail(client, w, number_id)["registrations"][0]["id"]
        session.add(
            ConfirmationRequest(
                registration_id=registration_id,
                number_id=number_id,
                operator_id=w["operator"]["id"],
                subscriber_id=w["company"]["id"],
                status=RequestStatus.SENT,
                attempts=1,
                created_at=clock.now(),
                expires_at=clock.now() + dt.timedelta(days=30),
            )
        )
        session.commit()

        result = claim(client, person_headers(client, person), w)

        assert result["status"] == "confirmed"
        assert result["registration_id"] == registration_id
        detail = number_detail(client, w, number_id)
        assert detail["status"] == "active"
        last = detail["events"][-1]
        assert (last["from_status"], last["to_status"]) == ("pending_confirmation", "active")
        assert (last["actor_kind"], last["actor_id"]) == ("person", "esia-ivanov")
        assert last["reason"] == "confirmed by the person's own claim"
        session.expire_all()
        request = session.scalars(select(ConfirmationRequest)).one()
        assert request.status is RequestStatus.MATCHED
        assert request.outcome == "active"
        assert request.matched_at is not None
        assert request.verified_doc_hash is not None

    def test_a_suspended_number_is_reactivated(self, client: TestClient) -> None:
        w = world(client)
        person = make_person(client)
        number_id = register(client, w, 0, employee())
        set_status(client, number_id, "suspended")

        result = claim(client, person_headers(client, person), w)

        assert result["status"] == "confirmed"
        last = number_detail(client, w, number_id)["events"][-1]
        assert (last["from_status"], last["to_status"]) == ("suspended", "active")

    def test_an_active_number_is_confirmed_without_a_new_event(self, client: TestClient) -> None:
        w = world(client)
        person = make_person(client)
        number_id = register(client, w, 0, employee())
        set_status(client, number_id, "active")
        events_before = len(number_detail(client, w, number_id)["events"])

        result = claim(client, person_headers(client, person), w)

        assert result["status"] == "confirmed"
        detail = number_detail(client, w, number_id)
        assert detail["status"] == "active"
        assert len(detail["events"]) == events_before

    def test_a_registration_naming_someone_else_leaves_the_claim_pending(
        self, client: TestClient
    ) -> None:
        w = world(client)
        person = make_person(client)
        number_id = register(client, w, 0, employee(doc_number="4600 112233"))

        result = claim(client, person_headers(client, person), w)

        assert result["status"] == "pending"
        assert number_detail(client, w, number_id)["status"] == "pending_confirmation"

    def test_a_misspelt_name_is_not_confirmed_by_the_claim(self, client: TestClient) -> None:
        w = world(client)
        person = make_person(client)
        register(client, w, 0, employee(first_name="Иоанн"))
        assert claim(client, person_headers(client, person), w)["status"] == "pending"

    def test_a_mismatch_found_by_the_matching_step_waits_for_the_admin(
        self, client: TestClient
    ) -> None:
        w = world(client)
        person = make_person(client)
        number_id = register(client, w, 0, employee())
        set_status(client, number_id, "mismatch")

        result = claim(client, person_headers(client, person), w)

        assert result["status"] == "pending"
        assert number_detail(client, w, number_id)["status"] == "mismatch"


class TestAdminDecision:
    def test_approval_registers_the_verified_person_and_activates_the_number(
        self, client: TestClient, session: Session
    ) -> None:
        w = world(client)
        person = make_person(client, last_name="Петров", first_name="Пётр", passport="4600 112233")
        headers = person_headers(client, person)
        number_id = register(client, w, 0, employee())  # someone else, named earlier
        submitted = claim(client, headers, w)
        assert submitted["status"] == "pending"

        pending = client.get(
            f"/api/v1/companies/{w['company']['id']}/claims?status=pending", headers=w["admin"]
        ).json()["items"]
        assert [c["id"] for c in pending] == [submitted["id"]]
        assert pending[0]["claimant"]["last_name"] == "Петров"

        response = decide(client, w, submitted["id"], "approve")

        assert response.status_code == 200, response.text
        approved = response.json()
        assert approved["status"] == "approved"
        assert approved["decided_by"]
        assert approved["decided_at"]
        detail = number_detail(client, w, number_id)
        assert detail["status"] == "active"
        assert detail["sim_kind"] == "employee"
        new, old = detail["registrations"]
        assert approved["registration_id"] == new["id"]
        assert (new["source"], new["current"], new["last_name"]) == ("claim", True, "Петров")
        assert new["doc_type"] == "ru_passport"
        assert new["doc_number"] == "46** ***233"  # masked for the admin
        assert old["end_reason"] == "superseded by the person's approved claim"
        last = detail["events"][-1]
        assert (last["to_status"], last["actor_kind"]) == ("active", "company_admin")

        mine = client.get("/api/v1/me/numbers", headers=headers).json()
        assert [n["id"] for n in mine] == [number_id]
        assert mine[0]["registration"]["doc_number"] == "4600 112233"
        assert client.get("/api/v1/me/claims", headers=headers).json()[0]["status"] == "approved"
        session.expire_all()
        stored = session.get_one(Registration, new["id"])
        assert stored.submitted_by == approved["decided_by"]
        assert stored.snils_hash is not None

    def test_approving_an_unregistered_number(self, client: TestClient) -> None:
        w = world(client)
        person = make_person(client)
        submitted = claim(client, person_headers(client, person), w)
        assert decide(client, w, submitted["id"], "approve").status_code == 200
        detail = number_detail(client, w, w["numbers"][0]["id"])
        assert detail["status"] == "active"
        assert len(detail["registrations"]) == 1

    def test_approving_twice_is_409(self, client: TestClient) -> None:
        w = world(client)
        person = make_person(client)
        submitted = claim(client, person_headers(client, person), w)
        assert decide(client, w, submitted["id"], "approve").status_code == 200

        _problem(decide(client, w, submitted["id"], "approve"), 409)
        _problem(decide(client, w, submitted["id"], "reject"), 409)

    def test_deciding_a_rejected_or_confirmed_claim_is_409(self, client: TestClient) -> None:
        w = world(client)
        person = make_person(client)
        rejected = claim(client, person_headers(client, person), w, company_name="ООО Лютик")
        _problem(decide(client, w, rejected["id"], "approve"), 409)

    def test_rejection_keeps_the_number_and_tells_the_person_why(self, client: TestClient) -> None:
        w = world(client)
        person = make_person(client)
        headers = person_headers(client, person)
        submitted = claim(client, headers, w)

        response = decide(client, w, submitted["id"], "reject", json={"reason": "not our employee"})

        assert response.status_code == 200, response.text
        assert response.json()["status"] == "declined"
        [mine] = client.get("/api/v1/me/claims", headers=headers).json()
        assert (mine["status"], mine["reason"]) == ("declined", "not our employee")
        detail = number_detail(client, w, w["numbers"][0]["id"])
        assert (detail["status"], detail["registrations"]) == ("unregistered", [])
        _problem(decide(client, w, submitted["id"], "reject"), 409)

    def test_rejection_without_a_reason_gets_a_default_one(self, client: TestClient) -> None:
        w = world(client)
        person = make_person(client)
        submitted = claim(client, person_headers(client, person), w)
        response = decide(client, w, submitted["id"], "reject")
        assert response.status_code == 200, response.text
        assert response.json()["reason"]

    def test_another_companys_admin_gets_404(self, client: TestClient) -> None:
        w = world(client)
        stranger = world(client, name='ООО "Чужая"')
        person = make_person(client)
        submitted = claim(client, person_headers(client, person), w)
        company_id = w["company"]["id"]

        _problem(
            client.get(f"/api/v1/companies/{company_id}/claims", headers=stranger["admin"]), 404
        )
        for action in ("approve", "reject"):
            _problem(decide(client, w, submitted["id"], action, headers=stranger["admin"]), 404)
            # Through their own company's path the claim does not exist either.
            _problem(decide(client, stranger, submitted["id"], action), 404)
        pending = client.get(
            f"/api/v1/companies/{company_id}/claims?status=pending", headers=w["admin"]
        ).json()["items"]
        assert [c["status"] for c in pending] == ["pending"]

    def test_a_number_that_left_the_registry_since_cannot_be_approved(
        self, client: TestClient
    ) -> None:
        w = world(client)
        person = make_person(client)
        submitted = claim(client, person_headers(client, person), w)
        set_status(client, w["numbers"][0]["id"], "terminated")

        _problem(decide(client, w, submitted["id"], "approve"), 409)
        assert decide(client, w, submitted["id"], "reject").status_code == 200

    def test_staff_list_claims_but_do_not_decide_them(self, client: TestClient) -> None:
        w = world(client)
        person = make_person(client)
        submitted = claim(client, person_headers(client, person), w)
        staff = staff_headers(client)

        listed = client.get(f"/api/v1/companies/{w['company']['id']}/claims", headers=staff)
        assert [c["id"] for c in listed.json()["items"]] == [submitted["id"]]
        _problem(decide(client, w, submitted["id"], "approve", headers=staff), 403)
        _problem(client.get("/api/v1/companies/999999/claims", headers=staff), 404)
        _problem(
            client.get(
                f"/api/v1/companies/{w['company']['id']}/claims",
                headers=person_headers(client, person),
            ),
            403,
        )

    def test_the_list_pages_with_a_cursor(self, client: TestClient) -> None:
        w = world(client, count=3)
        person = make_person(client)
        headers = person_headers(client, person)
        ids = [claim(client, headers, w, i)["id"] for i in range(3)]
        url = f"/api/v1/companies/{w['company']['id']}/claims?status=pending&limit=2"

        first = client.get(url, headers=w["admin"]).json()
        second = client.get(url + f"&cursor={first['next_cursor']}", headers=w["admin"]).json()

        assert [c["id"] for c in first["items"] + second["items"]] == ids
        assert second["next_cursor"] is None


class TestTheCallersOwnClaims:
    def test_claiming_again_while_pending_returns_the_pending_claim(
        self, client: TestClient, session: Session
    ) -> None:
        w = world(client)
        person = make_person(client)
        headers = person_headers(client, person)
        first = claim(client, headers, w)

        again = claim(client, headers, w, expect=200, msisdn=w["numbers"][0]["msisdn"])

        assert again["id"] == first["id"]
        assert _claims_stored(session) == 1

    def test_a_person_sees_only_their_own_claims_newest_first(self, client: TestClient) -> None:
        w = world(client)
        me = make_person(client)
        other = make_person(client, passport="4600 112233", last_name="Петров")
        mine = [claim(client, person_headers(client, me), w, i)["id"] for i in range(2)]
        claim(client, person_headers(client, other), w, 0)

        listed = client.get("/api/v1/me/claims", headers=person_headers(client, me)).json()

        assert [c["id"] for c in listed] == list(reversed(mine))

    def test_events_of_a_confirmation_are_kept_in_the_number_history(
        self, client: TestClient, session: Session
    ) -> None:
        w = world(client)
        person = make_person(client)
        number_id = register(client, w, 0, employee())
        claim(client, person_headers(client, person), w)
        session.expire_all()
        reasons = session.scalars(
            select(StatusEvent.reason).where(StatusEvent.number_id == number_id)
        ).all()
        assert "confirmed by the person's own claim" in reasons


class TestClaimActivatesInTheNetwork:
    def test_a_claim_that_activates_queues_one_activation(
        self, client: TestClient, session: Session
    ) -> None:
        world = make_company_with_numbers(client, count=1)
        number_id = world["numbers"][0]["id"]
        path = f"/api/v1/companies/{world['company']['id']}/numbers/{number_id}/registration"
        assert client.put(path, json=employee(), headers=world["admin"]).status_code == 200
        person = make_person(client)
        me = token_headers(client, role="person", subject=person["portal_subject"])
        response = client.post(
            "/api/v1/me/claims",
            json={
                "msisdn": world["numbers"][0]["msisdn"],
                "company_inn": world["company"]["inn"],
                "company_name": world["company"]["name"],
            },
            headers=me,
        )
        assert response.json()["status"] == "confirmed", response.text
        items = session.scalars(select(WorkItem)).all()
        assert [(i.number_id, i.kind) for i in items] == [(number_id, "activate")]
