"""The way in and out of the pages: the sandbox sign-in, sessions, CSRF, sign-out, `next`."""

from __future__ import annotations

import base64
import json
import re
import time
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.config import Environment, Settings
from app.core.messages import say
from app.main import create_app
from app.web import sessions
from app.web.sessions import SESSION_COOKIE
from tests.builders import make_company_with_numbers, make_person
from tests.web.signing import csrf_of, page_csrf, sign_in


def _cookie_header(response: Any) -> str:
    header: str = response.headers.get("set-cookie", "")
    assert header.startswith(SESSION_COOKIE + "="), header
    return header


def _signed_out(client: TestClient) -> bool:
    response = client.get("/", follow_redirects=False)
    return bool(response.headers["location"] == "/sign-in")


class TestTheFrontDoor:
    def test_the_root_leads_to_the_sign_in_page(self, client: TestClient) -> None:
        response = client.get("/", follow_redirects=False)
        assert response.status_code == 303
        assert response.headers["location"] == "/sign-in"

    def test_the_sign_in_page_lists_the_demo_accounts_in_russian(self, client: TestClient) -> None:
        world = make_company_with_numbers(client, count=1)
        person = make_person(client)
        page = client.get("/sign-in")
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        assert page.headers["content-language"] == "ru"
        assert "<h1>Вход</h1>" in page.text
        name = world["company"]["name"].replace('"', "&#34;")
        assert say("page.sign_in.as_admin", company=name) in page.text
        assert person["portal_subject"] in page.text
        assert "Войти как сотрудник оператора" in page.text

    def test_english_on_request(self, client: TestClient) -> None:
        page = client.get("/sign-in", headers={"Accept-Language": "en"})
        assert "<h1>Sign in</h1>" in page.text
        assert page.headers["content-language"] == "en"

    def test_pages_refuse_to_be_framed_or_to_run_others_scripts(self, client: TestClient) -> None:
        page = client.get("/sign-in")
        policy = page.headers["content-security-policy"]
        assert "default-src 'self'" in policy
        assert "frame-ancestors 'none'" in policy


class TestSandboxSignIn:
    def test_an_admin_lands_on_their_company(self, client: TestClient) -> None:
        company = make_company_with_numbers(client, count=1)["company"]
        data = {"csrf": page_csrf(client), "role": "company_admin", "company_id": company["id"]}
        response = client.post("/sign-in/sandbox", data=data, follow_redirects=False)
        assert response.status_code == 303
        assert response.headers["location"] == f"/companies/{company['id']}"
        cookie = _cookie_header(response).lower()
        assert "httponly" in cookie
        assert "samesite=lax" in cookie
        assert "secure" not in cookie  # plain http outside production
        assert client.get("/", follow_redirects=False).headers["location"] == (
            f"/companies/{company['id']}"
        )

    def test_a_person_lands_on_their_numbers(self, client: TestClient) -> None:
        person = make_person(client)
        sign_in(client, "person", subject=person["portal_subject"])
        assert client.get("/", follow_redirects=False).headers["location"] == "/me"

    def test_staff_land_on_the_ranking(self, client: TestClient) -> None:
        sign_in(client, "operator_staff", subject="staff@demo")
        assert client.get("/", follow_redirects=False).headers["location"] == "/staff"

    def test_a_form_without_its_csrf_token_is_refused(self, client: TestClient) -> None:
        company = make_company_with_numbers(client, count=1)["company"]
        client.get("/sign-in")
        for token in (None, "forged"):
            data = {"role": "company_admin", "company_id": str(company["id"])}
            if token:
                data["csrf"] = token
            response = client.post("/sign-in/sandbox", data=data, follow_redirects=False)
            assert response.status_code == 403
            assert say("page.csrf.refused") in response.text
            assert _signed_out(client)

    def test_an_unknown_company_is_refused_in_words(self, client: TestClient) -> None:
        data = {"csrf": page_csrf(client), "role": "company_admin", "company_id": "987654"}
        response = client.post("/sign-in/sandbox", data=data, follow_redirects=False)
        assert response.status_code == 404
        assert "987654" in response.text
        assert _signed_out(client)

    def test_an_unknown_person_is_refused(self, client: TestClient) -> None:
        data = {"csrf": page_csrf(client), "role": "person", "subject": "nobody-here"}
        response = client.post("/sign-in/sandbox", data=data, follow_redirects=False)
        assert response.status_code == 404
        assert _signed_out(client)

    def test_an_operator_system_has_no_pages(self, client: TestClient) -> None:
        world = make_company_with_numbers(client, count=1)
        data = {
            "csrf": page_csrf(client),
            "role": "operator_system",
            "company_id": str(world["company"]["id"]),
        }
        response = client.post("/sign-in/sandbox", data=data, follow_redirects=False)
        assert response.status_code == 401
        assert "operator_system" in response.text
        assert _signed_out(client)

    def test_a_wrong_field_is_named(self, client: TestClient) -> None:
        data = {"csrf": page_csrf(client), "role": "king"}
        response = client.post("/sign-in/sandbox", data=data, follow_redirects=False)
        assert response.status_code == 422
        assert "role" in response.text
        assert "<html" in response.text  # a page, not problem+json


class TestComingBack:
    def test_a_page_without_a_session_leads_to_sign_in_and_back(self, client: TestClient) -> None:
        wanted = "/staff?limit=5"
        response = client.get(wanted, follow_redirects=False)
        assert response.status_code == 303
        assert response.headers["location"] == "/sign-in?next=/staff%3Flimit%3D5"
        page = client.get(response.headers["location"])
        assert f'name="next" value="{wanted}"' in page.text
        data = {
            "csrf": csrf_of(page.text),
            "role": "operator_staff",
            "subject": "staff@demo",
            "next": wanted,
        }
        back = client.post("/sign-in/sandbox", data=data, follow_redirects=False)
        assert back.headers["location"] == wanted
        assert client.get(wanted).status_code == 200

    @pytest.mark.parametrize("elsewhere", ["//evil.example/x", "https://evil.example", "\\\\x"])
    def test_never_back_to_another_site(self, client: TestClient, elsewhere: str) -> None:
        company = make_company_with_numbers(client, count=1)["company"]
        data = {
            "csrf": page_csrf(client),
            "role": "company_admin",
            "company_id": str(company["id"]),
            "next": elsewhere,
        }
        back = client.post("/sign-in/sandbox", data=data, follow_redirects=False)
        assert back.headers["location"] == f"/companies/{company['id']}"


class TestSignOut:
    def test_sign_out_ends_the_session(self, client: TestClient) -> None:
        sign_in(client, "operator_staff", subject="staff@demo")
        refused = client.post("/sign-out", data={}, follow_redirects=False)
        assert refused.status_code == 403
        assert not _signed_out(client)
        response = client.post(
            "/sign-out", data={"csrf": page_csrf(client)}, follow_redirects=False
        )
        assert response.headers["location"] == "/sign-in"
        assert _signed_out(client)

    def test_a_session_ends_after_its_time(
        self, client: TestClient, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        sign_in(client, "operator_staff", subject="staff@demo")
        minutes = client.app.state.runtime.settings.session_minutes  # type: ignore[attr-defined]
        later = time.time() + minutes * 60 + 1
        monkeypatch.setattr(sessions.time, "time", lambda: later)
        assert _signed_out(client)

    def test_a_new_sign_in_gets_a_new_csrf_token(self, client: TestClient) -> None:
        before = page_csrf(client)
        sign_in(client, "operator_staff", subject="staff@demo")
        assert page_csrf(client) != before


class TestTheApiIgnoresTheCookie:
    def test_a_page_session_is_not_an_api_credential(self, client: TestClient) -> None:
        world = make_company_with_numbers(client, count=1)
        sign_in(client, "company_admin", company_id=world["company"]["id"])
        response = client.get(f"/api/v1/companies/{world['company']['id']}/numbers")
        assert response.status_code == 401
        assert response.headers["content-type"].startswith("application/problem+json")


class TestTheCookieHoldsNoSecrets:
    def test_only_the_principal_and_the_token(self, client: TestClient) -> None:
        person = make_person(client)
        client.get("/sign-in")
        data = {"csrf": page_csrf(client), "role": "person", "subject": person["portal_subject"]}
        response = client.post("/sign-in/sandbox", data=data, follow_redirects=False)
        value = re.match(SESSION_COOKIE + r"=([^;]+)", _cookie_header(response))
        assert value
        payload = value.group(1).split(".")[0]
        decoded = json.loads(base64.b64decode(payload + "=" * (-len(payload) % 4)))
        assert set(decoded) == {"principal", "csrf"}
        assert set(decoded["principal"]) == {"role", "sub", "company_id", "operator_id", "since"}


class TestAddressesThatAreNotThere:
    def test_a_browser_gets_a_page(self, client: TestClient) -> None:
        response = client.get("/no-such-page", headers={"Accept": "text/html"})
        assert response.status_code == 404
        assert say("page.not_found") in response.text

    def test_the_api_keeps_problem_json(self, client: TestClient) -> None:
        response = client.get("/api/v1/no-such", headers={"Accept": "text/html"})
        assert response.status_code == 404
        assert response.headers["content-type"].startswith("application/problem+json")


@pytest.fixture
def production_client(database_url: str) -> Iterator[TestClient]:
    settings = Settings(  # type: ignore[call-arg]
        env=Environment.PRODUCTION,
        database_url=database_url,
        jwt_secret="prod-jwt-secret-0123456789-abcdefghijklmnop",
        pd_keys="prod1:" + base64.b64encode(b"p" * 32).decode(),
        pd_active_key_id="prod1",
        pd_hash_key="prod-hash-key-0123456789-abcdef",
        cursor_secret="prod-cursor-secret-0123456789",
        portal_signing_secret="prod-portal-signing-secret-0123456789",
        session_secret="prod-session-secret-0123456789",
        upload_resume_on_start=False,
        scheduler_in_process=False,
        _env_file=None,
    )
    app = create_app(settings)
    with TestClient(app, base_url="https://simreg.example") as client:
        yield client
    app.state.runtime.engine.dispose()


class TestProduction:
    def test_no_demo_accounts_and_no_sandbox_door(self, production_client: TestClient) -> None:
        page = production_client.get("/sign-in")
        assert page.status_code == 200
        assert say("page.sign_in.demo") not in page.text
        assert say("page.sign_in.none") in page.text
        data = {"role": "operator_staff", "subject": "x"}
        response = production_client.post("/sign-in/sandbox", data=data, follow_redirects=False)
        assert response.status_code == 404
        assert _signed_out(production_client)

    def test_the_session_cookie_is_secure(self, production_client: TestClient) -> None:
        cookie = _cookie_header(production_client.get("/sign-in")).lower()
        assert "secure" in cookie
        assert "httponly" in cookie
