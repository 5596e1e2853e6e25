"""Numbers through the API: bulk add, listing, detail and history, naming users, status changes."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.core.clock import FixedClock
from app.numbers.models import NumberStatus, PhoneNumber, Registration, StatusEvent
from app.numbers.schemas import NumberOut, NumberPage
from tests.builders import (
    device,
    employee,
    make_company,
    make_company_with_numbers,
    make_contract,
    make_operator,
    staff_headers,
)
from tests.uploads.builders import (
    EMPLOYEE_HEADER,
    csv_bytes,
    employee_row,
    upload,
    upload_result,
)

MSISDN = "+79123456789"


def _problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    return body


@pytest.fixture
def contract(client: TestClient) -> dict[str, Any]:
    operator = make_operator(client)
    company = make_company(client)
    return make_contract(client, company_id=company["id"], operator_id=operator["id"])


def _post_numbers(client: TestClient, contract_id: int, numbers: list[dict[str, Any]]) -> Any:
    return client.post(
        f"/api/v1/contracts/{contract_id}/numbers",
        json={"numbers": numbers},
        headers=staff_headers(client),
    )


def _count(session: Session, model: Any) -> int:
    session.expire_all()
    return int(session.scalar(select(func.count()).select_from(model)) or 0)


class TestAddingNumbers:
    def test_every_common_spelling_is_stored_as_e164(
        self, client: TestClient, contract: dict[str, Any]
    ) -> None:
        spellings = ["8 (912) 345-67-89", "+7 912 345 67 88", "79123456787", "9123456786"]
        response = _post_numbers(client, contract["id"], [{"msisdn": s} for s in spellings])
        assert response.status_code == 201, response.text
        assert response.json()["created"] == 4
        assert [n["msisdn"] for n in response.json()["numbers"]] == [
            "+79123456789",
            "+79123456788",
            "+79123456787",
            "+79123456786",
        ]

    def test_new_numbers_are_unregistered_with_a_first_event(
        self, client: TestClient, contract: dict[str, Any], session: Session
    ) -> None:
        _post_numbers(client, contract["id"], [{"msisdn": "+79123456789"}])
        number = session.scalars(select(PhoneNumber)).one()
        assert number.status == "unregistered"
        event = session.scalars(select(StatusEvent)).one()
        assert (event.from_status, event.to_status) == (None, "unregistered")

    def test_thousands_in_one_request(
        self, client: TestClient, contract: dict[str, Any], session: Session
    ) -> None:
        numbers = [{"msisdn": f"+7916{i:07d}"} for i in range(6_000)]
        response = _post_numbers(client, contract["id"], numbers)
        assert response.status_code == 201
        assert response.json()["created"] == 6_000
        assert _count(session, PhoneNumber) == 6_000
        assert _count(session, StatusEvent) == 6_000

    def test_landline_and_garbage_are_refused_and_nothing_is_added(
        self, client: TestClient, contract: dict[str, Any], session: Session
    ) -> None:
        response = _post_numbers(
            client,
            contract["id"],
            [
                {"msisdn": "+79123456789"},
                {"msisdn": "+7 495 123-45-67"},
                {"msisdn": "hello"},
                {"msisdn": "+44 20 7946 0958"},
            ],
        )
        body = _problem(response, 422)
        fields = {e["field"]: e["code"] for e in body["errors"]}
        assert fields == {
            "numbers[1].msisdn": "phone.not_russian_mobile",
            "numbers[2].msisdn": "phone.invalid",
            "numbers[3].msisdn": "phone.not_russian_mobile",
        }
        assert _count(session, PhoneNumber) == 0

    def test_iccid_with_a_bad_check_digit(
        self, client: TestClient, contract: dict[str, Any]
    ) -> None:
        response = _post_numbers(
            client, contract["id"], [{"msisdn": "+79123456789", "iccid": "8970101234567890124"}]
        )
        body = _problem(response, 422)
        assert body["errors"][0]["field"] == "numbers[0].iccid"

    def test_duplicate_msisdn_for_the_operator_is_a_conflict(
        self, client: TestClient, contract: dict[str, Any], session: Session
    ) -> None:
        assert (
            _post_numbers(client, contract["id"], [{"msisdn": "+79123456789"}]).status_code == 201
        )
        response = _post_numbers(
            client, contract["id"], [{"msisdn": "89123456789"}, {"msisdn": "+79123456700"}]
        )
        body = _problem(response, 409)
        assert body["duplicates"] == ["+79123456789"]
        assert _count(session, PhoneNumber) == 1

    def test_same_number_twice_in_one_request(
        self, client: TestClient, contract: dict[str, Any], session: Session
    ) -> None:
        response = _post_numbers(
            client, contract["id"], [{"msisdn": "+79123456789"}, {"msisdn": "8 912 345 67 89"}]
        )
        assert _problem(response, 409)["duplicates"] == ["+79123456789"]
        assert _count(session, PhoneNumber) == 0

    def test_a_number_another_operator_holds_is_a_conflict_naming_it(
        self, client: TestClient, contract: dict[str, Any], session: Session
    ) -> None:
        other = make_contract(
            client, company_id=contract["subscriber_id"], operator_id=make_operator(client)["id"]
        )
        assert (
            _post_numbers(client, contract["id"], [{"msisdn": "+79123456789"}]).status_code == 201
        )

        response = _post_numbers(
            client, other["id"], [{"msisdn": "+79123456700"}, {"msisdn": "8 912 345-67-89"}]
        )

        body = _problem(response, 409)
        assert body["held_elsewhere"] == ["+79123456789"]
        assert body["errors"] == [
            {
                "field": "msisdn",
                "code": "msisdn.held_by_another_operator",
                "message": "номер +79123456789 обслуживается другим оператором",
            }
        ]
        assert _count(session, PhoneNumber) == 1

    def test_malformed_json(self, client: TestClient, contract: dict[str, Any]) -> None:
        response = client.post(
            f"/api/v1/contracts/{contract['id']}/numbers",
            content=b'{"numbers": [{"msisdn": "+7912',
            headers={**staff_headers(client), "content-type": "application/json"},
        )
        body = _problem(response, 400)
        assert body["type"].endswith("/malformed-json")

    def test_unknown_field(self, client: TestClient, contract: dict[str, Any]) -> None:
        response = _post_numbers(client, contract["id"], [{"msisdn": "+79123456789", "imsi": "1"}])
        body = _problem(response, 422)
        assert body["errors"][0]["field"] == "numbers.0.imsi"
        assert body["errors"][0]["code"] == "extra_forbidden"

    def test_unknown_contract(self, client: TestClient) -> None:
        _problem(_post_numbers(client, 999_999, [{"msisdn": "+79123456789"}]), 404)


class TestListingNumbers:
    @pytest.fixture
    def world(self, client: TestClient) -> dict[str, Any]:
        world = make_company_with_numbers(client, count=5)
        cid = world["company"]["id"]
        ids = [n["id"] for n in world["numbers"]]
        base = f"/api/v1/companies/{cid}/numbers"
        client.put(f"{base}/{ids[0]}/registration", json=employee(), headers=world["admin"])
        client.put(f"{base}/{ids[1]}/registration", json=device(), headers=world["admin"])
        world["base"] = base
        world["ids"] = ids
        return world

    def _ids(self, client: TestClient, world: dict[str, Any], query: str) -> list[int]:
        response = client.get(f"{world['base']}?{query}", headers=world["admin"])
        assert response.status_code == 200, response.text
        return [n["id"] for n in response.json()["items"]]

    def test_each_status_is_in_plain_words_in_the_language_asked(
        self, client: TestClient, world: dict[str, Any]
    ) -> None:
        words = {}
        for language in ("ru", "en"):
            response = client.get(
                world["base"], headers={**world["admin"], "Accept-Language": language}
            )
            words[language] = {n["status"]: n["status_text"] for n in response.json()["items"]}
        assert words["ru"] == {
            "pending_confirmation": "Компания указала пользователя; пользователь ещё не "
            "подтвердил это.",
            "unregistered": "Пользователь номера ещё не указан.",
        }
        assert words["en"]["unregistered"] == "Nobody is registered as the user of this number yet."

    def test_each_page_is_the_numbers_as_their_view_shows_them(
        self, client: TestClient, world: dict[str, Any], session: Session
    ) -> None:
        number = session.get_one(PhoneNumber, world["ids"][2])
        number.iccid = "8970101234567890123"
        number.deadline_at = dt.datetime(2027, 3, 1, 12, 30, 15, 123456, tzinfo=dt.UTC)
        number.flag_days = 7
        number.service_start_on = dt.date(2026, 12, 1)
        session.commit()
        session.expire_all()
        numbers = session.scalars(
            select(PhoneNumber).where(PhoneNumber.id.in_(world["ids"])).order_by(PhoneNumber.id)
        ).all()
        for language in ("ru", "en"):
            response = client.get(
                f"{world['base']}?limit=3", headers={**world["admin"], "Accept-Language": language}
            )
            assert response.headers["content-type"] == "application/json"
            body = response.json()
            expected = NumberPage(
                items=[NumberOut.of(n, language) for n in numbers[:3]],
                next_cursor=body["next_cursor"],
            )
            assert body == json.loads(expected.model_dump_json())
            assert body["next_cursor"]

    def test_filter_by_status(self, client: TestClient, world: dict[str, Any]) -> None:
        ids = world["ids"]
        assert self._ids(client, world, "status=pending_confirmation") == [ids[0]]
        assert self._ids(client, world, "status=unregistered") == ids[1:]
        assert self._ids(client, world, "status=pending_confirmation&status=active") == [ids[0]]

    def test_filter_by_kind(self, client: TestClient, world: dict[str, Any]) -> None:
        assert self._ids(client, world, "kind=device") == [world["ids"][1]]
        assert self._ids(client, world, "kind=employee") == [world["ids"][0]]

    def test_filter_by_digits(self, client: TestClient, world: dict[str, Any]) -> None:
        msisdn = world["numbers"][3]["msisdn"]
        assert self._ids(client, world, f"q={msisdn[-5:]}") == [world["ids"][3]]

    def test_filter_by_deadline(
        self, client: TestClient, world: dict[str, Any], session: Session
    ) -> None:
        soon = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
        # Every number has its deadline from the moment it is added; move them apart.
        for number_id in world["ids"]:
            number = session.get_one(PhoneNumber, number_id)
            number.deadline_at = dt.datetime(2027, 3, 1, tzinfo=dt.UTC)
        session.get_one(PhoneNumber, world["ids"][2]).deadline_at = soon
        session.commit()
        assert self._ids(client, world, "deadline_before=2026-12-02T00:00:00Z") == [world["ids"][2]]
        assert self._ids(client, world, "deadline_before=2026-11-30T00:00:00Z") == []

    def test_cursor_pages_through_everything_once(
        self, client: TestClient, world: dict[str, Any]
    ) -> None:
        seen: list[int] = []
        url = f"{world['base']}?limit=2"
        while True:
            page = client.get(url, headers=world["admin"]).json()
            seen += [n["id"] for n in page["items"]]
            if not page["next_cursor"]:
                break
            url = f"{world['base']}?limit=2&cursor={page['next_cursor']}"
        assert seen == world["ids"]

    def test_tampered_cursor(self, client: TestClient, world: dict[str, Any]) -> None:
        page = client.get(f"{world['base']}?limit=2", headers=world["admin"]).json()
        cursor = page["next_cursor"]
        tampered = cursor[:-2] + ("AA" if cursor[-2:] != "AA" else "BB")
        body = _problem(
            client.get(f"{world['base']}?cursor={tampered}", headers=world["admin"]), 400
        )
        assert body["errors"][0]["field"] == "cursor"

    def test_cursor_of_another_listing_is_refused(
        self, client: TestClient, world: dict[str, Any]
    ) -> None:
        page = client.get(f"{world['base']}?limit=2", headers=world["admin"]).json()
        other = make_company_with_numbers(client, count=1)
        path = f"/api/v1/companies/{other['company']['id']}/numbers?cursor={page['next_cursor']}"
        _problem(client.get(path, headers=other["admin"]), 400)

    def test_unknown_status_value(self, client: TestClient, world: dict[str, Any]) -> None:
        body = _problem(client.get(f"{world['base']}?status=happy", headers=world["admin"]), 422)
        assert body["errors"][0]["field"] == "query.status.0"


class TestNamingTheUser:
    @pytest.fixture
    def world(self, client: TestClient) -> dict[str, Any]:
        world = make_company_with_numbers(client, count=2)
        number_id = world["numbers"][0]["id"]
        world["path"] = f"/api/v1/companies/{world['company']['id']}/numbers/{number_id}"
        return world

    def _put(self, client: TestClient, world: dict[str, Any], body: dict[str, Any]) -> Any:
        return client.put(world["path"] + "/registration", json=body, headers=world["admin"])

    def test_employee_waits_for_confirmation(
        self, client: TestClient, world: dict[str, Any]
    ) -> None:
        response = self._put(client, world, employee())
        assert response.status_code == 200, response.text
        assert response.json()["outcome"] == "created"
        assert response.json()["number"]["status"] == "pending_confirmation"
        detail = client.get(world["path"], headers=world["admin"]).json()
        assert [e["to_status"] for e in detail["events"]] == [
            "unregistered",
            "pending_confirmation",
        ]
        assert detail["events"][-1]["actor_kind"] == "company_admin"
        assert detail["registrations"][0]["doc_number"] == "45** ***678"

    def test_same_user_again_changes_nothing(
        self, client: TestClient, world: dict[str, Any], session: Session
    ) -> None:
        self._put(client, world, employee())
        events = _count(session, StatusEvent)
        response = self._put(client, world, employee(last_name="ИВАНОВ", doc_number="4512345678"))
        assert response.json()["outcome"] == "unchanged"
        assert _count(session, StatusEvent) == events
        assert _count(session, Registration) == 1

    def test_another_user_supersedes_and_history_is_kept(
        self, client: TestClient, world: dict[str, Any], session: Session
    ) -> None:
        self._put(client, world, employee())
        response = self._put(client, world, employee(last_name="Сидоров", doc_number="4600 111222"))
        assert response.json()["outcome"] == "superseded"
        detail = client.get(world["path"], headers=world["admin"]).json()
        current = [r for r in detail["registrations"] if r["current"]]
        past = [r for r in detail["registrations"] if not r["current"]]
        assert [r["last_name"] for r in current] == ["Сидоров"]
        assert [r["last_name"] for r in past] == ["Иванов"]
        assert past[0]["end_reason"] == "superseded by a new user"

    def test_active_number_with_a_new_employee_needs_a_new_confirmation(
        self, client: TestClient, world: dict[str, Any]
    ) -> None:
        self._put(client, world, employee())
        number_id = world["numbers"][0]["id"]
        client.post(
            f"/api/v1/numbers/{number_id}/status",
            json={"status": "active", "reason": "confirmed"},
            headers=staff_headers(client),
        )
        sidorov = employee(last_name="Сидоров", doc_number="4600 111222")
        assert self._put(client, world, sidorov).status_code == 409  # confirmed: needs consent
        response = client.put(
            world["path"] + "/registration?replace=true", json=sidorov, headers=world["admin"]
        )
        assert response.json()["number"]["status"] == "pending_confirmation"

    def test_device_waits_for_the_matching_step(
        self, client: TestClient, world: dict[str, Any]
    ) -> None:
        response = self._put(client, world, device())
        assert response.status_code == 200, response.text
        number = response.json()["number"]
        assert (number["status"], number["sim_kind"]) == ("unregistered", "device")
        detail = client.get(world["path"], headers=world["admin"]).json()
        assert detail["registrations"][0]["device_id"] == "490154203237518"
        assert detail["registrations"][0]["device_id_kind"] == "imei"

    def test_device_with_a_mac_address(self, client: TestClient, world: dict[str, Any]) -> None:
        response = self._put(client, world, device(identifier="00-1a-2b-3c-4d-5e"))
        detail = client.get(world["path"], headers=world["admin"]).json()
        assert response.status_code == 200
        assert detail["registrations"][0]["device_id"] == "00:1A:2B:3C:4D:5E"

    def test_device_with_a_bad_imei(self, client: TestClient, world: dict[str, Any]) -> None:
        body = _problem(
            self._put(client, world, device(identifier="490154203237519", identifier_kind="imei")),
            422,
        )
        assert body["errors"][0]["field"] == "identifier"

    def test_every_problem_of_an_employee_is_reported(
        self, client: TestClient, world: dict[str, Any], session: Session
    ) -> None:
        response = self._put(
            client,
            world,
            employee(
                last_name="Ivanov",
                doc_number="45 12 34567",
                birth_date="2030-01-01",
                snils="112-233-445 96",
                doc_issuer_code="12-345",
            ),
        )
        body = _problem(response, 422)
        # The issue date (2010) before a birth in 2030 is a problem of its own.
        assert {e["field"] for e in body["errors"]} == {
            "last_name",
            "doc_number",
            "birth_date",
            "snils",
            "doc_issuer_code",
            "doc_issued_on",
        }
        codes = {e["field"]: e["code"] for e in body["errors"]}
        assert codes["birth_date"] == "birth_date.future"
        assert codes["doc_number"] == "passport.length"
        assert _count(session, Registration) == 0

    def test_impossible_calendar_date(self, client: TestClient, world: dict[str, Any]) -> None:
        body = _problem(self._put(client, world, employee(birth_date="1990-02-31")), 422)
        # The location names the registration kind, then the field.
        assert body["errors"][0]["field"] == "employee.birth_date"

    def test_too_young(self, client: TestClient, world: dict[str, Any], clock: FixedClock) -> None:
        birth = clock.now().date().replace(year=clock.now().year - 13)
        body = _problem(self._put(client, world, employee(birth_date=birth.isoformat())), 422)
        assert body["errors"][0]["code"] == "birth_date.too_young"

    def test_terminated_number_gets_no_new_user(
        self, client: TestClient, world: dict[str, Any], session: Session
    ) -> None:
        number_id = world["numbers"][0]["id"]
        staff = staff_headers(client)
        client.post(
            f"/api/v1/numbers/{number_id}/status",
            json={"status": "terminated", "reason": "contract ended"},
            headers=staff,
        )
        body = _problem(self._put(client, world, employee()), 409)
        assert body["type"].endswith("/illegal-status-transition")
        assert _count(session, Registration) == 0

    def test_suspended_number_stays_suspended_until_confirmed(
        self, client: TestClient, world: dict[str, Any]
    ) -> None:
        number_id = world["numbers"][0]["id"]
        client.post(
            f"/api/v1/numbers/{number_id}/status",
            json={"status": "suspended", "reason": "deadline passed"},
            headers=staff_headers(client),
        )
        response = self._put(client, world, employee())
        assert response.json()["number"]["status"] == "suspended"

    def test_removing_the_user(self, client: TestClient, world: dict[str, Any]) -> None:
        self._put(client, world, employee())
        response = client.request(
            "DELETE",
            world["path"] + "/registration",
            json={"reason": "employee left the company"},
            headers=world["admin"],
        )
        assert response.status_code == 200, response.text
        assert response.json()["status"] == "unregistered"
        detail = client.get(world["path"], headers=world["admin"]).json()
        assert detail["registrations"][0]["current"] is False
        assert detail["events"][-1]["reason"] == "employee left the company"

    def test_removing_when_nobody_is_registered(
        self, client: TestClient, world: dict[str, Any]
    ) -> None:
        _problem(client.delete(world["path"] + "/registration", headers=world["admin"]), 409)

    def test_unknown_kind(self, client: TestClient, world: dict[str, Any]) -> None:
        body = _problem(self._put(client, world, {"kind": "robot"}), 422)
        assert body["errors"][0]["field"] == "kind"
        assert body["errors"][0]["code"] == "union_tag_invalid"
        assert "'employee', 'device'" in body["errors"][0]["message"]


class TestStatusByHand:
    def test_illegal_transition_is_409_and_changes_nothing(
        self, client: TestClient, session: Session
    ) -> None:
        world = make_company_with_numbers(client, count=1)
        number_id = world["numbers"][0]["id"]
        response = client.post(
            f"/api/v1/numbers/{number_id}/status",
            json={"status": "mismatch", "reason": "try"},
            headers=staff_headers(client),
        )
        body = _problem(response, 409)
        assert body["current_status"] == "unregistered"
        assert body["requested_status"] == "mismatch"
        assert "pending_confirmation" in body["allowed"]
        assert session.get_one(PhoneNumber, number_id).status == "unregistered"
        assert _count(session, StatusEvent) == 1

    def test_allowed_transition_writes_the_event(self, client: TestClient) -> None:
        world = make_company_with_numbers(client, count=1)
        number_id = world["numbers"][0]["id"]
        response = client.post(
            f"/api/v1/numbers/{number_id}/status",
            json={"status": "transferred", "reason": "re-registered to the person"},
            headers={"X-API-Key": world["operator"]["api_key"]},
        )
        assert response.status_code == 200
        detail = client.get(
            f"/api/v1/companies/{world['company']['id']}/numbers/{number_id}",
            headers=world["admin"],
        ).json()
        last = detail["events"][-1]
        assert (last["from_status"], last["to_status"]) == ("unregistered", "transferred")
        assert last["actor_kind"] == "operator_system"
        assert last["reason"] == "re-registered to the person"


class TestOneOperatorPerNumber:
    """A number in the registry belongs to one operator, and so one company, at a time."""

    @pytest.fixture
    def held(self, client: TestClient) -> dict[str, Any]:
        """Operator A holds +79123456789 for a company; operator B serves the same company."""
        world = make_company_with_numbers(client, count=1)
        company_id = world["company"]["id"]
        [number] = _post_numbers(client, world["contract"]["id"], [{"msisdn": MSISDN}]).json()[
            "numbers"
        ]
        other = make_operator(client)
        other_contract = make_contract(client, company_id=company_id, operator_id=other["id"])
        return {**world, "number": number, "other": other, "other_contract": other_contract}

    def test_another_operator_system_cannot_attach_it_to_the_company(
        self, client: TestClient, held: dict[str, Any]
    ) -> None:
        response = client.post(
            f"/api/v1/contracts/{held['other_contract']['id']}/numbers",
            json={"numbers": [{"msisdn": MSISDN}]},
            headers={"X-API-Key": held["other"]["api_key"]},
        )

        body = _problem(response, 409)
        assert body["errors"][0]["code"] == "msisdn.held_by_another_operator"
        # The company's lists still name the number once: a one-row file is one row.
        content = csv_bytes(EMPLOYEE_HEADER, [employee_row(MSISDN)])
        company_id = held["company"]["id"]
        sent = upload(client, company_id, held["admin"], content).json()
        result = upload_result(client, company_id, held["admin"], sent["id"])
        assert (result["status"], result["counts"]["accepted"]) == ("done", 1), result

    def test_nor_attach_it_to_another_company(
        self, client: TestClient, held: dict[str, Any]
    ) -> None:
        elsewhere = make_contract(
            client, company_id=make_company(client)["id"], operator_id=held["other"]["id"]
        )
        response = client.post(
            f"/api/v1/contracts/{elsewhere['id']}/numbers",
            json={"numbers": [{"msisdn": MSISDN}]},
            headers={"X-API-Key": held["other"]["api_key"]},
        )
        assert _problem(response, 409)["held_elsewhere"] == [MSISDN]

    def test_an_operator_adds_numbers_only_under_its_own_contracts(
        self, client: TestClient, held: dict[str, Any]
    ) -> None:
        response = client.post(
            f"/api/v1/contracts/{held['contract']['id']}/numbers",
            json={"numbers": [{"msisdn": "+79123450000"}]},
            headers={"X-API-Key": held["other"]["api_key"]},
        )
        _problem(response, 404)

    @pytest.mark.parametrize("leaves_as", ["terminated", "transferred"])
    def test_once_the_number_has_left_the_registry_another_operator_may_add_it(
        self, client: TestClient, held: dict[str, Any], leaves_as: str
    ) -> None:
        moved = client.post(
            f"/api/v1/numbers/{held['number']['id']}/status",
            json={"status": leaves_as, "reason": "ported to another operator"},
            headers=staff_headers(client),
        )
        assert moved.status_code == 200, moved.text

        response = client.post(
            f"/api/v1/contracts/{held['other_contract']['id']}/numbers",
            json={"numbers": [{"msisdn": MSISDN}]},
            headers={"X-API-Key": held["other"]["api_key"]},
        )
        assert response.status_code == 201, response.text

    def test_the_database_refuses_a_second_holder(
        self, held: dict[str, Any], session: Session, clock: FixedClock
    ) -> None:
        other_contract = held["other_contract"]
        session.add(
            PhoneNumber(
                operator_id=held["other"]["id"],
                subscriber_id=other_contract["subscriber_id"],
                contract_id=other_contract["id"],
                msisdn=MSISDN,
                status=NumberStatus.UNREGISTERED,
                status_changed_at=clock.now(),
                created_at=clock.now(),
            )
        )
        with pytest.raises(IntegrityError):
            session.flush()
        session.rollback()

    def test_a_number_back_at_its_company_through_another_operator_is_one_number(
        self, client: TestClient, held: dict[str, Any]
    ) -> None:
        client.post(
            f"/api/v1/numbers/{held['number']['id']}/status",
            json={"status": "terminated", "reason": "ported to another operator"},
            headers=staff_headers(client),
        )
        again = client.post(
            f"/api/v1/contracts/{held['other_contract']['id']}/numbers",
            json={"numbers": [{"msisdn": MSISDN}]},
            headers={"X-API-Key": held["other"]["api_key"]},
        )
        assert again.status_code == 201, again.text

        content = csv_bytes(EMPLOYEE_HEADER, [employee_row(MSISDN)])
        company_id = held["company"]["id"]
        sent = upload(client, company_id, held["admin"], content).json()
        result = upload_result(client, company_id, held["admin"], sent["id"])
        assert (result["status"], result["counts"]["accepted"]) == ("done", 1), result
