"""Each kind of caller sees only its own part of the registry."""

from __future__ import annotations

import datetime as dt
from typing import Any

import jwt
import pytest
from fastapi.testclient import TestClient

from app.config import Settings
from tests.builders import (
    employee,
    make_company_with_numbers,
    make_person,
    staff_headers,
    token_headers,
)


@pytest.fixture
def two_companies(client: TestClient) -> tuple[dict[str, Any], dict[str, Any]]:
    return make_company_with_numbers(client, count=2), make_company_with_numbers(client, count=2)


def _assert_problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["detail"]
    return body


class TestTenantIsolation:
    def test_admin_of_a_gets_404_on_every_resource_of_b(
        self, client: TestClient, two_companies: tuple[dict[str, Any], dict[str, Any]]
    ) -> None:
        a, b = two_companies
        b_id = b["company"]["id"]
        b_number = b["numbers"][0]["id"]
        admin_a = a["admin"]
        for method, path, body in [
            ("GET", f"/api/v1/companies/{b_id}", None),
            ("GET", f"/api/v1/companies/{b_id}/numbers", None),
            ("GET", f"/api/v1/companies/{b_id}/contracts", None),
            ("GET", f"/api/v1/companies/{b_id}/numbers/{b_number}", None),
            ("PUT", f"/api/v1/companies/{b_id}/numbers/{b_number}/registration", employee()),
            ("DELETE", f"/api/v1/companies/{b_id}/numbers/{b_number}/registration", None),
        ]:
            response = client.request(method, path, json=body, headers=admin_a)
            _assert_problem(response, 404)

    def test_admin_cannot_reach_b_number_through_own_company_path(
        self, client: TestClient, two_companies: tuple[dict[str, Any], dict[str, Any]]
    ) -> None:
        a, b = two_companies
        path = f"/api/v1/companies/{a['company']['id']}/numbers/{b['numbers'][0]['id']}"
        _assert_problem(client.get(path, headers=a["admin"]), 404)
        response = client.put(path + "/registration", json=employee(), headers=a["admin"])
        _assert_problem(response, 404)

    def test_admin_lists_only_own_numbers(
        self, client: TestClient, two_companies: tuple[dict[str, Any], dict[str, Any]]
    ) -> None:
        a, _ = two_companies
        response = client.get(f"/api/v1/companies/{a['company']['id']}/numbers", headers=a["admin"])
        assert response.status_code == 200
        assert {n["id"] for n in response.json()["items"]} == {n["id"] for n in a["numbers"]}

    def test_operator_system_sees_only_its_numbers(
        self, client: TestClient, two_companies: tuple[dict[str, Any], dict[str, Any]]
    ) -> None:
        a, b = two_companies
        key = {"X-API-Key": a["operator"]["api_key"]}
        listed = client.get("/api/v1/operator/numbers", headers=key)
        assert listed.status_code == 200
        assert {n["id"] for n in listed.json()["items"]} == {n["id"] for n in a["numbers"]}
        own = client.get(f"/api/v1/operator/numbers/{a['numbers'][0]['id']}", headers=key)
        assert own.status_code == 200
        _assert_problem(
            client.get(f"/api/v1/operator/numbers/{b['numbers'][0]['id']}", headers=key), 404
        )
        _assert_problem(
            client.post(
                f"/api/v1/contracts/{b['contract']['id']}/numbers",
                json={"numbers": [{"msisdn": "+79990001122"}]},
                headers=key,
            ),
            404,
        )
        _assert_problem(
            client.post(
                f"/api/v1/numbers/{b['numbers'][0]['id']}/status",
                json={"status": "terminated", "reason": "contract ended"},
                headers=key,
            ),
            404,
        )

    def test_person_never_sees_another_persons_number(
        self, client: TestClient, two_companies: tuple[dict[str, Any], dict[str, Any]]
    ) -> None:
        a, _ = two_companies
        number = a["numbers"][0]
        path = f"/api/v1/companies/{a['company']['id']}/numbers/{number['id']}/registration"
        assert client.put(path, json=employee(), headers=a["admin"]).status_code == 200
        owner = make_person(client)
        stranger = make_person(client, passport="4600 111222", last_name="Петров")
        owner_view = client.get(
            "/api/v1/me/numbers",
            headers=token_headers(client, role="person", subject=owner["portal_subject"]),
        )
        stranger_view = client.get(
            "/api/v1/me/numbers",
            headers=token_headers(client, role="person", subject=stranger["portal_subject"]),
        )
        assert [n["id"] for n in owner_view.json()] == [number["id"]]
        assert stranger_view.json() == []


class TestRoles:
    @pytest.mark.parametrize("role", ["person", "company_admin", "operator_system"])
    def test_only_staff_creates_companies(
        self, client: TestClient, role: str, two_companies: tuple[dict[str, Any], dict[str, Any]]
    ) -> None:
        a, _ = two_companies
        scope: dict[str, Any] = {
            "company_admin": {"company_id": a["company"]["id"]},
            "operator_system": {"operator_id": a["operator"]["id"]},
            "person": {"subject": make_person(client)["portal_subject"]},
        }[role]
        headers = token_headers(client, role=role, **scope)
        response = client.post(
            "/api/v1/companies",
            json={"name": "X", "inn": "7700042425", "ogrn": "1027700042424", "kpp": "770001001"},
            headers=headers,
        )
        body = _assert_problem(response, 403)
        assert role in body["detail"]

    def test_admin_may_not_move_status_by_hand(
        self, client: TestClient, two_companies: tuple[dict[str, Any], dict[str, Any]]
    ) -> None:
        a, _ = two_companies
        response = client.post(
            f"/api/v1/numbers/{a['numbers'][0]['id']}/status",
            json={"status": "active", "reason": "please"},
            headers=a["admin"],
        )
        _assert_problem(response, 403)

    def test_staff_reads_any_company(
        self, client: TestClient, two_companies: tuple[dict[str, Any], dict[str, Any]]
    ) -> None:
        _, b = two_companies
        response = client.get(
            f"/api/v1/companies/{b['company']['id']}/numbers", headers=staff_headers(client)
        )
        assert response.status_code == 200
        assert len(response.json()["items"]) == 2


class TestBadCredentials:
    def _claims(self, settings: Settings, **extra: Any) -> dict[str, Any]:
        now = dt.datetime.now(dt.UTC)
        claims = {
            "iss": settings.jwt_issuer,
            "aud": settings.jwt_audience,
            "sub": "staff@x",
            "role": "operator_staff",
            "iat": int(now.timestamp()),
            "exp": int((now + dt.timedelta(minutes=5)).timestamp()),
        }
        claims.update(extra)
        return claims

    def _get(self, client: TestClient, token: str) -> Any:
        return client.get("/api/v1/companies", headers={"Authorization": f"Bearer {token}"})

    def test_no_credentials(self, client: TestClient) -> None:
        response = client.get("/api/v1/companies")
        _assert_problem(response, 401)
        assert response.headers["www-authenticate"] == "Bearer"

    def test_valid_token_passes(self, client: TestClient, settings: Settings) -> None:
        token = jwt.encode(self._claims(settings), settings.jwt_secret, algorithm="HS256")
        assert self._get(client, token).status_code == 200

    def test_expired_token(self, client: TestClient, settings: Settings) -> None:
        past = int((dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)).timestamp())
        token = jwt.encode(self._claims(settings, exp=past), settings.jwt_secret, algorithm="HS256")
        body = _assert_problem(self._get(client, token), 401)
        assert "истёк" in body["detail"]

    def test_wrong_signature(self, client: TestClient, settings: Settings) -> None:
        token = jwt.encode(
            self._claims(settings), "another-secret-of-32-bytes-000000", algorithm="HS256"
        )
        _assert_problem(self._get(client, token), 401)

    def test_wrong_audience(self, client: TestClient, settings: Settings) -> None:
        token = jwt.encode(
            self._claims(settings, aud="someone-else"), settings.jwt_secret, algorithm="HS256"
        )
        _assert_problem(self._get(client, token), 401)

    def test_unknown_role(self, client: TestClient, settings: Settings) -> None:
        token = jwt.encode(
            self._claims(settings, role="root"), settings.jwt_secret, algorithm="HS256"
        )
        _assert_problem(self._get(client, token), 401)

    def test_admin_token_without_company(self, client: TestClient, settings: Settings) -> None:
        token = jwt.encode(
            self._claims(settings, role="company_admin"), settings.jwt_secret, algorithm="HS256"
        )
        _assert_problem(self._get(client, token), 401)

    def test_unsigned_token(self, client: TestClient, settings: Settings) -> None:
        token = jwt.encode(self._claims(settings), None, algorithm="none")
        _assert_problem(self._get(client, token), 401)

    def test_garbage_token(self, client: TestClient) -> None:
        _assert_problem(self._get(client, "not.a.jwt"), 401)

    def test_unknown_api_key(self, client: TestClient) -> None:
        response = client.get("/api/v1/operator/numbers", headers={"X-API-Key": "sk_nope"})
        _assert_problem(response, 401)

    def test_token_for_another_company(
        self, client: TestClient, two_companies: tuple[dict[str, Any], dict[str, Any]]
    ) -> None:
        a, b = two_companies
        response = client.get(f"/api/v1/companies/{b['company']['id']}/numbers", headers=a["admin"])
        _assert_problem(response, 404)


class TestTokensForWhatTheRegistryDoesNotHold:
    """A token of the identity provider can name any company or operator; one the registry
    does not hold is refused, not answered as an empty company."""

    def _token(self, settings: Settings, **claims: Any) -> dict[str, str]:
        token = jwt.encode(
            TestBadCredentials()._claims(settings, **claims), settings.jwt_secret, "HS256"
        )
        return {"Authorization": f"Bearer {token}"}

    def test_an_admin_of_a_company_that_does_not_exist(
        self, client: TestClient, settings: Settings
    ) -> None:
        headers = self._token(settings, role="company_admin", sub="admin@ghost", company_id=999)

        for path in ("/api/v1/companies/999/numbers", "/api/v1/companies/999/uploads"):
            body = _assert_problem(client.get(path, headers=headers), 401)
            assert "компании 999" in body["detail"]

    def test_an_operator_system_of_an_operator_that_does_not_exist(
        self, client: TestClient, settings: Settings
    ) -> None:
        headers = self._token(settings, role="operator_system", sub="op:x", operator_id=999)

        body = _assert_problem(client.get("/api/v1/operator/numbers", headers=headers), 401)
        assert "оператора 999" in body["detail"]

    def test_an_admin_of_a_company_that_exists_is_let_in(
        self, client: TestClient, settings: Settings, two_companies: tuple[Any, Any]
    ) -> None:
        company_id = two_companies[0]["company"]["id"]
        headers = self._token(settings, role="company_admin", company_id=company_id)

        for _ in range(2):  # the second time from what this process remembers
            response = client.get(f"/api/v1/companies/{company_id}/numbers", headers=headers)
            assert response.status_code == 200, response.text


class TestOversizedHeaders:
    def test_a_bearer_token_of_a_megabyte_is_refused_unread(self, client: TestClient) -> None:
        response = client.get(
            "/api/v1/companies", headers={"Authorization": "Bearer " + "a" * 1_300_000}
        )

        body = _assert_problem(response, 431)
        assert body["errors"][0]["field"] == "header.authorization"
        assert response.headers["X-Content-Type-Options"] == "nosniff"

    def test_an_api_key_longer_than_any_key(self, client: TestClient) -> None:
        response = client.get("/api/v1/operator/numbers", headers={"X-API-Key": "k" * 9000})
        body = _assert_problem(response, 431)
        assert body["errors"][0]["field"] == "header.x-api-key"

    def test_headers_too_large_in_all(self, client: TestClient) -> None:
        many = {f"X-Filler-{n}": "f" * 1000 for n in range(20)}
        body = _assert_problem(client.get("/healthz", headers=many), 431)
        assert body["errors"][0]["field"] == "headers"

    def test_a_token_of_ordinary_size_passes(self, client: TestClient) -> None:
        response = client.get(
            "/api/v1/companies", headers={**staff_headers(client), "X-Filler": "f" * 4000}
        )
        assert response.status_code == 200, response.text
