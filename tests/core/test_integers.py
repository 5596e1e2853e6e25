"""Integers are checked at the edge: an id of 2**63 or more anywhere in a request (path, query,
body) is a 422 problem naming the field, never a 500 from a database that cannot bind it. The
operations are read from the OpenAPI document, so a new route is checked without a new test."""

from __future__ import annotations

import datetime as dt

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from app.auth.service import Principal, Role
from app.core.integers import INT64_MAX, is_row_id
from tests.builders import make_company, make_operator, make_person, staff_headers, token_headers
from tests.operations import IntegerInput, Operation, integer_inputs, operations

TOO_BIG = 2**63


def callers(client: TestClient) -> dict[str, dict[str, str]]:
    """A token or key of each role: staff, an admin, a person, an operator system."""
    company = make_company(client)
    person = make_person(client)
    return {
        "staff": staff_headers(client),
        "admin": token_headers(client, role="company_admin", company_id=company["id"]),
        "person": token_headers(client, role="person", subject=person["portal_subject"]),
        "operator": {"X-API-Key": make_operator(client)["api_key"]},
    }


def send(
    client: TestClient, operation: Operation, target: IntegerInput, headers: dict[str, str]
) -> httpx.Response:
    """`operation` with 2**63 in `target` and nothing else that is not needed."""
    url = operation.url(**({target.name: TOO_BIG} if target.where == "path" else {}))
    params = {target.name: str(TOO_BIG)} if target.where == "query" else None
    body = target.body_with(TOO_BIG) if target.where == "body" else None
    if body is None and operation.json_body is not None:
        body = {}
    return client.request(operation.method, url, params=params, json=body, headers=headers)


def names_field(response: httpx.Response, target: IntegerInput) -> bool:
    if response.status_code != 422:
        return False
    fields = [error["field"] for error in response.json().get("errors", [])]
    return any(field.split(".")[-1] == target.name for field in fields)


class TestEveryIntegerOfEveryOperation:
    def test_two_to_the_63_is_a_422_naming_the_field_and_never_a_500(
        self, app: FastAPI, client: TestClient
    ) -> None:
        who = callers(client)
        checked: list[str] = []
        failures: list[str] = []
        for operation in operations(app):
            for target in integer_inputs(app, operation):
                answers: dict[str, tuple[int, bool]] = {}
                for role, headers in who.items():
                    response = send(client, operation, target, headers)
                    answers[role] = (response.status_code, names_field(response, target))
                label = f"{operation.key} {target.where}:{'.'.join(target.route)}"
                checked.append(label)
                if any(code >= 500 for code, _ in answers.values()) or not any(
                    named for _, named in answers.values()
                ):
                    failures.append(f"{label}: {answers}")

        assert failures == []
        # Ids in paths, queries and bodies: the document has dozens of them.
        assert len(checked) >= 60

    def test_the_problem_says_what_is_wrong(self, client: TestClient) -> None:
        response = client.get(f"/api/v1/companies/{TOO_BIG}", headers=staff_headers(client))

        assert response.status_code == 422, response.text
        assert response.headers["content-type"] == "application/problem+json"
        problem = response.json()
        assert problem["type"].endswith("/invalid-input")
        [error] = problem["errors"]
        assert error["field"] == "path.company_id"
        assert str(INT64_MAX) in error["message"]

    @pytest.mark.parametrize("value", [0, -1, TOO_BIG])
    def test_ids_the_database_never_hands_out_are_refused(
        self, client: TestClient, value: int
    ) -> None:
        response = client.get(f"/api/v1/companies/{value}", headers=staff_headers(client))
        assert response.status_code == 422, response.text

    def test_the_largest_id_is_a_plain_not_found(self, client: TestClient) -> None:
        response = client.get(f"/api/v1/companies/{INT64_MAX}", headers=staff_headers(client))
        assert response.status_code == 404, response.text


class TestTokenClaims:
    def test_a_token_naming_a_company_id_beyond_any_id_is_refused(
        self, app: FastAPI, client: TestClient
    ) -> None:
        token = app.state.tokens.mint(
            Principal(Role.COMPANY_ADMIN, "admin@x", company_id=TOO_BIG),
            now=dt.datetime.now(dt.UTC),
            ttl=dt.timedelta(minutes=5),
        )
        response = client.get("/api/v1/companies/1", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 401, response.text
        assert "company_id" in response.json()["detail"]


class TestRowId:
    def test_from_one_to_the_largest_64_bit_integer(self) -> None:
        assert is_row_id(1)
        assert is_row_id(INT64_MAX)
        assert not is_row_id(0)
        assert not is_row_id(TOO_BIG)
