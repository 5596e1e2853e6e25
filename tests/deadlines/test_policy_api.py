"""The deadline policy API: who may read and change it, and every bad input named."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.builders import (
    make_company,
    make_company_with_numbers,
    make_person,
    staff_headers,
    token_headers,
)

RULES = "/api/v1/deadline-policy/rules"


def _campaign(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "code": "reverify",
        "title": "Re-verification campaign",
        "basis": "campaign",
        "notice_at": "2026-11-23T10:00:00+03:00",
        "offset_days": 15,
    }
    body.update(overrides)
    return body


def _problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    return body


def _fields(problem: dict[str, Any]) -> set[str]:
    return {e["field"] for e in problem.get("errors", [])}


class TestReading:
    def test_the_seeded_policy(self, client: TestClient) -> None:
        rules = client.get(RULES, headers=staff_headers(client)).json()
        by_code = {rule["code"]: rule for rule in rules}
        assert set(by_code) == {
            "legacy-employee", "legacy-device", "new-employee", "new-device", "change-of-user",
        }  # fmt: skip
        assert by_code["legacy-employee"]["deadline_at"] == "2021-11-30T20:59:59Z"
        assert by_code["legacy-employee"]["contracts_signed_to"] == "2021-05-31"
        assert by_code["new-device"]["offset_days"] == -3
        assert by_code["new-device"]["working_days"] is True
        assert by_code["change-of-user"]["offset_days"] == 15

    def test_admins_read_but_persons_do_not(self, client: TestClient) -> None:
        company = make_company(client)
        admin = token_headers(client, role="company_admin", company_id=company["id"])
        assert client.get(RULES, headers=admin).status_code == 200
        person = token_headers(client, role="person", subject=make_person(client)["portal_subject"])
        _problem(client.get(RULES, headers=person), 403)
        _problem(client.get(RULES), 401)

    def test_the_calendar_of_a_year(self, client: TestClient) -> None:
        days = client.get(
            "/api/v1/deadline-policy/calendar", params={"year": 2027}, headers=staff_headers(client)
        ).json()
        assert {"day": "2027-01-07", "is_working": False, "note": "Рождество Христово"} in days
        assert len(days) == 14

    def test_a_year_out_of_range(self, client: TestClient) -> None:
        problem = _problem(
            client.get(
                "/api/v1/deadline-policy/calendar",
                params={"year": 1900},
                headers=staff_headers(client),
            ),
            422,
        )
        assert "year" in str(problem["errors"])


class TestCompanyCampaigns:
    """A re-verification campaign of one company is that company's business: other companies'
    admins and operators that do not serve it see neither the rule nor that it exists."""

    def test_only_the_company_its_operators_and_staff_see_it(self, client: TestClient) -> None:
        world = make_company_with_numbers(client, count=1)
        other = make_company_with_numbers(client, count=1)
        created = client.post(
            RULES,
            json=_campaign(subscriber_id=world["company"]["id"], title="Перепроверка Ромашки"),
            headers=staff_headers(client),
        )
        assert created.status_code == 201, created.text
        rule_id = created.json()["rule"]["id"]
        own_operator = {"X-API-Key": world["operator"]["api_key"]}
        other_operator = {"X-API-Key": other["operator"]["api_key"]}

        for headers in (world["admin"], own_operator, staff_headers(client)):
            assert rule_id in [r["id"] for r in client.get(RULES, headers=headers).json()]
            assert client.get(f"{RULES}/{rule_id}", headers=headers).status_code == 200
        for headers in (other["admin"], other_operator):
            listed = client.get(RULES, headers=headers)
            assert rule_id not in [r["id"] for r in listed.json()]
            assert "Ромашки" not in listed.text
            _problem(client.get(f"{RULES}/{rule_id}", headers=headers), 404)
        # Rules of every company are everyone's.
        assert len(client.get(RULES, headers=other["admin"]).json()) == 5


class TestWriting:
    def test_only_staff_change_the_policy(self, client: TestClient) -> None:
        company = make_company(client)
        admin = token_headers(client, role="company_admin", company_id=company["id"])
        _problem(client.post(RULES, json=_campaign(), headers=admin), 403)
        _problem(client.patch(f"{RULES}/1", json={"version": 1}, headers=admin), 403)
        _problem(
            client.put(
                "/api/v1/deadline-policy/calendar/2026-12-31",
                json={"is_working": False, "note": "x"},
                headers=admin,
            ),
            403,
        )

    def test_a_rule_applies_at_the_next_run_and_warns_when_its_moment_passed(
        self, client: TestClient
    ) -> None:
        response = client.post(
            RULES,
            json={
                "code": "late-fixed",
                "title": "A fixed deadline already passed",
                "basis": "fixed",
                "sim_kind": "device",
                "deadline_at": "2026-01-01T00:00:00+03:00",
            },
            headers=staff_headers(client),
        )
        assert response.status_code == 201, response.text
        saved = response.json()
        assert saved["deadline_in_past"] is True
        assert "next deadline run" in saved["applies"]
        assert "suspended" in saved["warnings"][0]
        recomputes = client.get(
            "/api/v1/deadline-policy/recomputes", headers=staff_headers(client)
        ).json()
        assert recomputes[0]["status"] == "pending"
        assert "late-fixed" in recomputes[0]["reason"]

    def test_a_future_rule_gives_no_warning(self, client: TestClient) -> None:
        saved = client.post(RULES, json=_campaign(), headers=staff_headers(client)).json()
        assert (saved["deadline_in_past"], saved["warnings"]) == (False, [])

    def test_a_stale_version_is_refused(self, client: TestClient) -> None:
        staff = staff_headers(client)
        first = client.patch(f"{RULES}/1", json={"version": 1, "title": "A"}, headers=staff)
        assert first.status_code == 200, first.text
        problem = _problem(
            client.patch(f"{RULES}/1", json={"version": 1, "title": "B"}, headers=staff), 409
        )
        assert problem["current_version"] == 2

    def test_an_unknown_rule(self, client: TestClient) -> None:
        staff = staff_headers(client)
        _problem(client.get(f"{RULES}/999", headers=staff), 404)
        _problem(client.patch(f"{RULES}/999", json={"version": 1}, headers=staff), 404)

    def test_a_taken_code(self, client: TestClient) -> None:
        problem = _problem(
            client.post(
                RULES, json=_campaign(code="legacy-employee"), headers=staff_headers(client)
            ),
            409,
        )
        assert _fields(problem) == {"code"}

    def test_calendar_day_set_and_cleared(self, client: TestClient) -> None:
        staff = staff_headers(client)
        put = client.put(
            "/api/v1/deadline-policy/calendar/2026-12-31",
            json={"is_working": False, "note": "перенос выходного"},
            headers=staff,
        )
        assert put.status_code == 200, put.text
        assert (
            client.delete("/api/v1/deadline-policy/calendar/2026-12-31", headers=staff).status_code
            == 204
        )
        _problem(client.delete("/api/v1/deadline-policy/calendar/2026-12-31", headers=staff), 404)
        _problem(
            client.put(
                "/api/v1/deadline-policy/calendar/2026-13-01",
                json={"is_working": False, "note": "x"},
                headers=staff,
            ),
            422,
        )

    def test_a_recompute_on_request(self, client: TestClient) -> None:
        staff = staff_headers(client)
        response = client.post(
            "/api/v1/deadline-policy/recompute", json={"reason": "regulator letter"}, headers=staff
        )
        assert response.status_code == 202, response.text
        assert response.json()["status"] == "pending"
        _problem(client.post("/api/v1/deadline-policy/recompute", json={}, headers=staff), 422)


class TestBadRules:
    @pytest.mark.parametrize(
        ("body", "field", "code"),
        [
            (
                _campaign(contracts_signed_from="2021-06-01", contracts_signed_to="2021-05-01"),
                "contracts_signed_to",
                "rule.end_before_start",
            ),
            (
                {"code": "fx", "title": "t", "basis": "fixed"},
                "deadline_at",
                "rule.deadline_required",
            ),
            (_campaign(notice_at=None), "notice_at", "rule.notice_required"),
            (_campaign(offset_days=0), "offset_days", "rule.offset_positive"),
            (
                {"code": "uc", "title": "t", "basis": "user_change", "offset_days": -1},
                "offset_days",
                "rule.offset_not_negative",
            ),
            (
                {
                    "code": "ss",
                    "title": "t",
                    "basis": "service_start",
                    "deadline_at": "2027-01-01T00:00:00Z",
                },
                "deadline_at",
                "rule.deadline_not_allowed",
            ),
            (_campaign(subscriber_id=424242), "subscriber_id", "rule.unknown_subscriber"),
        ],
    )
    def test_a_rule_that_breaks_a_rule(
        self, client: TestClient, body: dict[str, Any], field: str, code: str
    ) -> None:
        problem = _problem(client.post(RULES, json=body, headers=staff_headers(client)), 422)
        assert {(e["field"], e["code"]) for e in problem["errors"]} >= {(field, code)}
        assert client.get(RULES, headers=staff_headers(client)).json()[-1]["code"] == (
            "change-of-user"
        )  # nothing was saved

    @pytest.mark.parametrize(
        "body",
        [
            _campaign(basis="weekly"),
            _campaign(code="Has Spaces"),
            _campaign(notice_at="2026-11-23T10:00:00"),  # no time zone
            _campaign(offset_days=100000),
            _campaign(surprise=1),
        ],
    )
    def test_unreadable_rules(self, client: TestClient, body: dict[str, Any]) -> None:
        problem = _problem(client.post(RULES, json=body, headers=staff_headers(client)), 422)
        assert problem["errors"]

    def test_a_change_that_ends_before_it_starts(self, client: TestClient) -> None:
        problem = _problem(
            client.patch(
                f"{RULES}/1",
                json={"version": 1, "contracts_signed_from": "2022-01-01"},
                headers=staff_headers(client),
            ),
            422,
        )
        assert _fields(problem) == {"contracts_signed_to"}
