"""Who may read the deadline reports, and how bad input is answered."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.core.clock import FixedClock
from app.core.runtime import Runtime
from tests.builders import make_company_with_numbers, make_person, staff_headers, token_headers
from tests.reports.builders import problem, put_numbers_in_state

RANKING = "/api/v1/reports/companies-at-risk"
COMPANY_PATHS = ["/report", "/report/at-risk.csv", "/report/at-risk.xlsx", "/overview"]


@pytest.fixture
def two_companies(client: TestClient) -> tuple[dict[str, Any], dict[str, Any]]:
    return make_company_with_numbers(client, count=1), make_company_with_numbers(client, count=1)


def _person(client: TestClient) -> dict[str, str]:
    return token_headers(client, role="person", subject=make_person(client)["portal_subject"])


class TestCompanyReports:
    @pytest.mark.parametrize("path", COMPANY_PATHS)
    def test_no_token_is_401(
        self, client: TestClient, two_companies: tuple[dict[str, Any], dict[str, Any]], path: str
    ) -> None:
        company_id = two_companies[0]["company"]["id"]

        problem(client.get(f"/api/v1/companies/{company_id}{path}"), 401)

    @pytest.mark.parametrize("path", COMPANY_PATHS)
    def test_a_person_is_403(
        self, client: TestClient, two_companies: tuple[dict[str, Any], dict[str, Any]], path: str
    ) -> None:
        company_id = two_companies[0]["company"]["id"]

        body = problem(
            client.get(f"/api/v1/companies/{company_id}{path}", headers=_person(client)), 403
        )
        assert "person" in body["detail"]

    @pytest.mark.parametrize("path", COMPANY_PATHS)
    def test_an_operator_system_is_403(
        self, client: TestClient, two_companies: tuple[dict[str, Any], dict[str, Any]], path: str
    ) -> None:
        a, _ = two_companies
        key = {"X-API-Key": a["operator"]["api_key"]}

        problem(client.get(f"/api/v1/companies/{a['company']['id']}{path}", headers=key), 403)

    @pytest.mark.parametrize("path", COMPANY_PATHS)
    def test_the_admin_of_another_company_is_404(
        self,
        client: TestClient,
        runtime: Runtime,
        clock: FixedClock,
        two_companies: tuple[dict[str, Any], dict[str, Any]],
        path: str,
    ) -> None:
        a, b = two_companies
        put_numbers_in_state(
            runtime, [b["numbers"][0]["id"]], status="unregistered", deadline_at=clock.now()
        )

        response = client.get(f"/api/v1/companies/{b['company']['id']}{path}", headers=a["admin"])

        body = problem(response, 404)
        assert b["numbers"][0]["msisdn"] not in response.text
        assert body["type"].endswith("/not-found")

    @pytest.mark.parametrize("path", COMPANY_PATHS)
    def test_the_own_admin_and_staff_may_read(
        self, client: TestClient, two_companies: tuple[dict[str, Any], dict[str, Any]], path: str
    ) -> None:
        a, _ = two_companies
        url = f"/api/v1/companies/{a['company']['id']}{path}"

        assert client.get(url, headers=a["admin"]).status_code == 200
        assert client.get(url, headers=staff_headers(client)).status_code == 200

    @pytest.mark.parametrize("path", COMPANY_PATHS)
    def test_an_unknown_company_is_404(self, client: TestClient, path: str) -> None:
        body = problem(
            client.get(f"/api/v1/companies/987654{path}", headers=staff_headers(client)), 404
        )
        assert "987654" in body["detail"]

    def test_an_unknown_file_format_is_422_naming_it(
        self, client: TestClient, two_companies: tuple[dict[str, Any], dict[str, Any]]
    ) -> None:
        a, _ = two_companies

        body = problem(
            client.get(
                f"/api/v1/companies/{a['company']['id']}/report/at-risk.pdf", headers=a["admin"]
            ),
            422,
        )
        assert [e["field"] for e in body["errors"]] == ["path.fmt"]


class TestRanking:
    def test_no_token_is_401(self, client: TestClient) -> None:
        problem(client.get(RANKING), 401)

    def test_a_company_admin_is_403(
        self, client: TestClient, two_companies: tuple[dict[str, Any], dict[str, Any]]
    ) -> None:
        a, _ = two_companies

        problem(client.get(RANKING, headers=a["admin"]), 403)

    def test_a_person_is_403(self, client: TestClient) -> None:
        problem(client.get(RANKING, headers=_person(client)), 403)

    @pytest.mark.parametrize("limit", [0, 501, -1])
    def test_limit_out_of_range_is_422_naming_the_field(
        self, client: TestClient, limit: int
    ) -> None:
        body = problem(
            client.get(RANKING, params={"limit": limit}, headers=staff_headers(client)), 422
        )

        assert [e["field"] for e in body["errors"]] == ["query.limit"]

    def test_a_limit_that_is_no_number_is_422(self, client: TestClient) -> None:
        body = problem(
            client.get(RANKING, params={"limit": "many"}, headers=staff_headers(client)), 422
        )

        assert [e["field"] for e in body["errors"]] == ["query.limit"]

    def test_a_damaged_cursor_is_400_naming_the_cursor(self, client: TestClient) -> None:
        body = problem(
            client.get(RANKING, params={"cursor": "not-a-cursor"}, headers=staff_headers(client)),
            400,
        )

        assert [e["field"] for e in body["errors"]] == ["cursor"]

    def test_a_cursor_of_another_operators_ranking_is_refused(
        self,
        client: TestClient,
        runtime: Runtime,
        clock: FixedClock,
        two_companies: tuple[dict[str, Any], dict[str, Any]],
    ) -> None:
        a, b = two_companies
        ids = [a["numbers"][0]["id"], b["numbers"][0]["id"]]
        put_numbers_in_state(runtime, ids, status="unregistered", deadline_at=clock.now())
        first = client.get(RANKING, params={"limit": 1}, headers=staff_headers(client)).json()
        assert first["next_cursor"]

        response = client.get(
            RANKING,
            params={"limit": 1, "cursor": first["next_cursor"], "operator_id": a["operator"]["id"]},
            headers=staff_headers(client),
        )

        assert [e["field"] for e in problem(response, 400)["errors"]] == ["cursor"]
