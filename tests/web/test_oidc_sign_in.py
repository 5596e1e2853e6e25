"""Signing in through OpenID Connect in Chromium: the sign-in page's provider buttons, a real
provider on loopback (authorization code, S256 PKCE, a public client), and what the registry
refuses in the ID token it gets back."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import Page, expect

from app.config import Settings
from tests.builders import make_company_with_numbers, make_person
from tests.web.chromium import Screens
from tests.web.oidc import OidcProvider

STAFF_PROVIDER = "Вход для администраторов компаний и сотрудников оператора"
PERSONS_PROVIDER = "Войти через Госуслуги"


@pytest.fixture
def settings(settings: Settings, oidc_provider: OidcProvider) -> Settings:
    """The app (built from these settings) signs staff and persons in at `oidc_provider`, as
    two public clients proving themselves by PKCE."""
    return settings.model_copy(
        update={
            "oidc_staff_issuer": oidc_provider.issuer,
            "oidc_staff_client_id": "simreg",
            "oidc_persons_issuer": oidc_provider.issuer,
            "oidc_persons_client_id": "simreg-persons",
        }
    )


def press_provider(page: Page, shot: Screens, name: str, *, start: str = "/sign-in") -> None:
    page.goto(start)
    expect(page.get_by_role("heading", name="Войти через")).to_be_visible()
    shot("sign-in", page)
    page.get_by_role("link", name=name, exact=True).click()


def signed_out(page: Page) -> bool:
    page.goto("/")
    return bool(re.search(r"/sign-in$", page.url))


def refused_in_words(page: Page, shot: Screens, words: str) -> None:
    expect(page.locator("h1")).to_have_text("Требуется вход")
    expect(page.locator("p.problem")).to_contain_text(words)
    shot("refused", page)


class TestSigningIn:
    def test_an_admin_lands_on_their_companys_dashboard(
        self, client: TestClient, oidc_provider: OidcProvider, page: Page, shot: Screens
    ) -> None:
        company = make_company_with_numbers(client, count=2)["company"]
        oidc_provider.next_user("admin-1", role="company_admin", company_id=company["id"])

        press_provider(page, shot, STAFF_PROVIDER)

        expect(page).to_have_url(re.compile(rf"/companies/{company['id']}$"))
        expect(page.locator("h1")).to_have_text(f"Сводка: {company['name']}")
        expect(page.locator(".who")).to_have_text("admin-1")
        shot("dashboard", page)

    def test_a_person_lands_on_their_numbers(
        self, client: TestClient, oidc_provider: OidcProvider, page: Page, shot: Screens
    ) -> None:
        person = make_person(client)
        oidc_provider.next_user(person["portal_subject"])

        press_provider(page, shot, PERSONS_PROVIDER)

        expect(page).to_have_url(re.compile(r"/me$"))
        expect(page.get_by_role("heading", name="Мои номера", level=1)).to_be_visible()
        shot("my numbers", page)

    def test_next_is_honoured(
        self, client: TestClient, oidc_provider: OidcProvider, page: Page, shot: Screens
    ) -> None:
        company = make_company_with_numbers(client, count=2)["company"]
        wanted = f"/companies/{company['id']}/numbers"
        page.goto(wanted)
        expect(page).to_have_url(re.compile(r"/sign-in\?next="))
        oidc_provider.next_user("admin-1", role="company_admin", company_id=company["id"])

        press_provider(page, shot, STAFF_PROVIDER, start=page.url)

        expect(page).to_have_url(re.compile(rf"{re.escape(wanted)}$"))
        expect(page.locator("h1")).to_have_text("Номера")
        shot("numbers", page)


class TestRefusals:
    def test_a_refused_sign_in_is_told_in_russian_and_leaves_no_session(
        self, oidc_provider: OidcProvider, page: Page, shot: Screens
    ) -> None:
        oidc_provider.refuse_next()

        press_provider(page, shot, STAFF_PROVIDER)

        refused_in_words(page, shot, "Вход отменён")
        expect(page.locator("main")).not_to_contain_text("access_denied")
        page.get_by_role("link", name="На главную").click()
        expect(page).to_have_url(re.compile(r"/sign-in$"))
        assert signed_out(page)

    def test_a_company_the_registry_does_not_hold_is_refused(
        self, oidc_provider: OidcProvider, page: Page, shot: Screens
    ) -> None:
        oidc_provider.next_user("admin-9", role="company_admin", company_id=987654)

        press_provider(page, shot, STAFF_PROVIDER)

        refused_in_words(page, shot, "987654")
        assert signed_out(page)

    def test_an_operator_system_has_no_pages(
        self, client: TestClient, oidc_provider: OidcProvider, page: Page, shot: Screens
    ) -> None:
        world = make_company_with_numbers(client, count=1)
        oidc_provider.next_user(
            "robot-1", role="operator_system", operator_id=world["operator"]["id"]
        )

        press_provider(page, shot, STAFF_PROVIDER)

        refused_in_words(page, shot, "operator_system")
        assert signed_out(page)
